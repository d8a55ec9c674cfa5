//! Configuration of the layer and its writer.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::Level;

use chrono::Utc;
use uuid::Uuid;

use super::stats::Counters;
use crate::backend::recovery::{self, DEFAULT_ABANDON_AFTER, Judge};
use crate::backend::writers::{WriterRow, register};
use crate::backend::{Database, DatabaseTarget, OpenMode};
use crate::capture::clock::TimeAnchor;
use crate::capture::{CaptureConfig, Sending, install_panic_hook};
use crate::writer::{self, Queues, WriterConfig};
use crate::{Error, HistoryGuard, HistoryLayer};

/// The variable naming the database when the builder is given none.
pub const DATABASE_URL_VAR: &str = "WORKFLOW_HISTORY_DATABASE_URL";

/// The database [`DATABASE_URL_VAR`] names, if it is set and not empty.
pub(crate) fn configured_url() -> Option<String> {
    std::env::var(DATABASE_URL_VAR)
        .ok()
        .filter(|url| !url.is_empty())
}

/// Where the builder was told to record, parsed at `build`.
#[derive(Debug, Clone)]
enum Destination {
    Target(DatabaseTarget),
    Url(String),
}

/// What the layer does when the queue to the writer is full.
///
/// ```
/// use workflow_history::{Backpressure, HistoryLayer};
/// let builder = HistoryLayer::builder().backpressure(Backpressure::DropNewest);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Backpressure {
    /// The instrumented thread waits for room: nothing is lost, and the
    /// application slows to the database's pace.
    #[default]
    Block,
    /// The instrumented thread never waits: the message is dropped and
    /// counted ([`Stats::messages_dropped`](crate::Stats::messages_dropped),
    /// also stored in `history_writers`). A run or step whose start is
    /// dropped is not recorded at all, and its events go to the enclosing
    /// run; a dropped event loses only that log line or field. Closes and
    /// panics are never dropped, so no run is left open by a full queue.
    DropNewest,
}

impl HistoryLayer {
    /// Messages the queue holds before callers wait.
    /// See also [`HistoryLayerBuilder::queue_capacity`].
    pub const DEFAULT_QUEUE_CAPACITY: usize = 16_384;
    /// Messages applied per transaction at most.
    /// See also [`HistoryLayerBuilder::batch_size`].
    pub const DEFAULT_BATCH_SIZE: usize = 1024;
    /// Longest a change waits before it is committed.
    /// See also [`HistoryLayerBuilder::flush_interval`].
    pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(100);
    /// Least severe level of events stored in a run's log.
    /// See also [`HistoryLayerBuilder::capture_level`].
    pub const DEFAULT_CAPTURE_LEVEL: Level = Level::INFO;
    /// Longest stored text of one field value, in bytes.
    /// See also [`HistoryLayerBuilder::max_field_bytes`].
    pub const DEFAULT_MAX_FIELD_BYTES: usize = 64 * 1024;
    /// Longest the writer keeps retrying at shutdown.
    /// See also [`HistoryLayerBuilder::shutdown_timeout`].
    pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
    /// The database file used when none is given.
    pub const DEFAULT_SQLITE_PATH: &'static str = "history.db";
    /// How often the writer refreshes its heartbeat.
    /// See also [`HistoryLayerBuilder::heartbeat_interval`].
    pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
    /// How long a silent writer's runs stay open before they are abandoned.
    /// See also [`HistoryLayerBuilder::abandon_after`].
    pub const DEFAULT_ABANDON_AFTER: Duration = DEFAULT_ABANDON_AFTER;
    /// Most records the writer keeps in memory while commits fail.
    /// See also [`HistoryLayerBuilder::max_pending_records`].
    pub const DEFAULT_MAX_PENDING_RECORDS: usize = 200_000;

    /// Starts configuring a layer; finish with [`HistoryLayerBuilder::build`].
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let (layer, guard) = workflow_history::HistoryLayer::builder()
    ///     .sqlite("history.db")
    ///     .capture_level(tracing::Level::DEBUG)
    ///     .retention(chrono::Duration::days(90))
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder() -> HistoryLayerBuilder {
        HistoryLayerBuilder::default()
    }
}

/// Configures a [`HistoryLayer`] and its writer; made by [`HistoryLayer::builder`].
#[derive(Debug, Clone)]
pub struct HistoryLayerBuilder {
    destination: Destination,
    queue_capacity: usize,
    backpressure: Backpressure,
    abandon_after: Duration,
    writer: WriterConfig,
    capture: CaptureConfig,
    capture_panic_messages: bool,
}

impl Default for HistoryLayerBuilder {
    fn default() -> Self {
        HistoryLayerBuilder {
            destination: match configured_url() {
                Some(url) => Destination::Url(url),
                None => Destination::Target(DatabaseTarget::Sqlite(PathBuf::from(
                    HistoryLayer::DEFAULT_SQLITE_PATH,
                ))),
            },
            queue_capacity: HistoryLayer::DEFAULT_QUEUE_CAPACITY,
            backpressure: Backpressure::Block,
            abandon_after: HistoryLayer::DEFAULT_ABANDON_AFTER,
            writer: WriterConfig {
                batch_size: HistoryLayer::DEFAULT_BATCH_SIZE,
                flush_interval: HistoryLayer::DEFAULT_FLUSH_INTERVAL,
                retention: None,
                shutdown_timeout: HistoryLayer::DEFAULT_SHUTDOWN_TIMEOUT,
                heartbeat_interval: HistoryLayer::DEFAULT_HEARTBEAT_INTERVAL,
                max_pending_records: HistoryLayer::DEFAULT_MAX_PENDING_RECORDS,
            },
            capture: CaptureConfig {
                capture_level: HistoryLayer::DEFAULT_CAPTURE_LEVEL,
                max_field_bytes: HistoryLayer::DEFAULT_MAX_FIELD_BYTES,
                error_events_fail: true,
            },
            capture_panic_messages: true,
        }
    }
}

impl HistoryLayerBuilder {
    /// Records into the SQLite database at `path`, created with its schema
    /// if missing. By default, this is `$WORKFLOW_HISTORY_DATABASE_URL` when
    /// set, else `history.db` in the working directory.
    pub fn sqlite(mut self, path: impl Into<PathBuf>) -> Self {
        self.destination = Destination::Target(DatabaseTarget::Sqlite(path.into()));
        self
    }

    /// Records into the database a URL names: a path or `sqlite://path` for
    /// SQLite, `postgres://user@host/db` for PostgreSQL (feature `postgres`),
    /// where many workers can share one history. The schema is created or
    /// migrated at `build`.
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let (layer, guard) = workflow_history::HistoryLayer::builder()
    ///     .database_url("postgres://history@db.internal/history")
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.destination = Destination::Url(url.into());
        self
    }

    /// How many messages may wait for the writer. When the queue is full,
    /// the instrumented thread waits for room: nothing is lost, and the
    /// application slows to the database's pace. By default, this is
    /// [`HistoryLayer::DEFAULT_QUEUE_CAPACITY`].
    pub fn queue_capacity(mut self, messages: usize) -> Self {
        self.queue_capacity = messages.max(1);
        self
    }

    /// What happens when the queue is full. By default, this is
    /// [`Backpressure::Block`]: nothing is lost.
    pub fn backpressure(mut self, policy: Backpressure) -> Self {
        self.backpressure = policy;
        self
    }

    /// At most this many messages go into one transaction. By default, this
    /// is [`HistoryLayer::DEFAULT_BATCH_SIZE`].
    pub fn batch_size(mut self, messages: usize) -> Self {
        self.writer.batch_size = messages.max(1);
        self
    }

    /// A change is committed at the latest this long after it arrived; a
    /// crash loses at most this window. By default, this is
    /// [`HistoryLayer::DEFAULT_FLUSH_INTERVAL`].
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.writer.flush_interval = interval;
        self
    }

    /// Events inside a run at this level or more severe are stored in its
    /// log. Convention fields (`metric.*`, `skip_reason`, ...) apply at any
    /// level. By default, this is `INFO`.
    pub fn capture_level(mut self, level: Level) -> Self {
        self.capture.capture_level = level;
        self
    }

    /// Text values longer than this many bytes are cut, ending in
    /// `…[truncated N bytes]`. By default, this is 64 KiB.
    pub fn max_field_bytes(mut self, bytes: usize) -> Self {
        self.capture.max_field_bytes = bytes;
        self
    }

    /// Whether an ERROR-level event fails its step or run even without an
    /// `error` field. An `error` field on an ERROR event, or recorded on the
    /// span, always fails it. By default, this is `true`.
    pub fn fail_on_error_events(mut self, enabled: bool) -> Self {
        self.capture.error_events_fail = enabled;
        self
    }

    /// Deletes runs started longer ago than `keep` (with their steps and
    /// events), at start and hourly, from the writer thread in small
    /// transactions. By default, nothing is deleted.
    pub fn retention(mut self, keep: chrono::Duration) -> Self {
        self.writer.retention = Some(keep);
        self
    }

    /// How long dropping the guard keeps retrying commits that fail before
    /// counting the rest as lost. By default, this is
    /// [`HistoryLayer::DEFAULT_SHUTDOWN_TIMEOUT`].
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.writer.shutdown_timeout = timeout;
        self
    }

    /// How often the writer records that it is alive. By default, this is
    /// [`HistoryLayer::DEFAULT_HEARTBEAT_INTERVAL`].
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.writer.heartbeat_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// When this writer starts, runs left open by another writer whose
    /// heartbeat is older than this are closed as abandoned, unless that
    /// writer's lock shows it alive (an SQLite writer whose process has
    /// ended is abandoned at once). Keep it well above the heartbeat
    /// interval of every writer of the database. By default, this is
    /// [`HistoryLayer::DEFAULT_ABANDON_AFTER`].
    pub fn abandon_after(mut self, timeout: Duration) -> Self {
        self.abandon_after = timeout;
        self
    }

    /// How many records (rows and log events) the writer keeps in memory
    /// while commits fail, before it refuses new runs, steps and log events
    /// and counts them in [`Stats::records_lost`](crate::Stats::records_lost).
    /// By default, this is [`HistoryLayer::DEFAULT_MAX_PENDING_RECORDS`].
    pub fn max_pending_records(mut self, records: usize) -> Self {
        self.writer.max_pending_records = records.max(1);
        self
    }

    /// Whether to wrap the process's panic hook to keep panic messages, so a
    /// run failed by a panic records the message; the previous hook still
    /// runs. By default, this is `true`.
    pub fn capture_panic_messages(mut self, enabled: bool) -> Self {
        self.capture_panic_messages = enabled;
        self
    }

    /// Opens (or creates) and migrates the database, starts the writer
    /// thread, and returns the layer with the guard that owns the writer.
    ///
    /// # Errors
    /// [`Error::MissingDirectory`], [`Error::NotADatabase`],
    /// [`Error::ReadOnly`], [`Error::SchemaTooNew`], [`Error::Open`] or
    /// [`Error::Migration`] when the database cannot be used;
    /// [`Error::WriterLock`] when the lock file beside an SQLite database
    /// cannot be made; [`Error::Spawn`] if the thread cannot start.
    pub fn build(self) -> Result<(HistoryLayer, HistoryGuard), Error> {
        let target = match self.destination {
            Destination::Target(target) => target,
            Destination::Url(url) => url.parse()?,
        };
        let mut db = Database::open(&target, OpenMode::Create)?;
        let writer_id = Uuid::now_v7().to_string();
        // Locked before it is registered: no other process ever sees this
        // writer without the lock that shows it alive.
        let lock_kind = db.hold_writer_lock(&writer_id)?;
        let registration = WriterRow {
            writer_id,
            host: recovery::this_host(),
            pid: std::process::id(),
            heartbeat_at: Utc::now(),
            stopped_at: None,
            lock_kind: Some(lock_kind.to_owned()),
        };
        register(db.exec(), &registration)?;
        recovery::recover_abandoned(&mut db, self.abandon_after, Judge::Writer)?;

        let (sender, main) = crossbeam_channel::bounded(self.queue_capacity);
        let (overflow_sender, overflow) = crossbeam_channel::bounded(self.queue_capacity);
        let counters = Arc::new(Counters::default());
        let anchor = TimeAnchor::new();
        let clock = anchor.source();
        let handle = writer::spawn(
            db,
            registration,
            Queues {
                main,
                overflow,
                capacity: self.queue_capacity,
            },
            Arc::clone(&counters),
            anchor,
            self.writer,
        )?;
        if self.capture_panic_messages {
            install_panic_hook();
        }
        let sending = Sending {
            queue: sender.clone(),
            overflow: overflow_sender,
            policy: self.backpressure,
        };
        let layer = HistoryLayer::new(sending, Arc::clone(&counters), self.capture, clock);
        let stop_limit = self.writer.shutdown_timeout + 4 * crate::writer::STOP_GRACE;
        Ok((
            layer,
            HistoryGuard::new(sender, handle, counters, stop_limit),
        ))
    }
}
