//! Reading history back: runs, steps, events, statistics, and retention.

mod filter;
mod lookups;
mod pool;
mod run_ids;
mod statistics;

#[cfg(feature = "server")]
pub(crate) use run_ids::names_attempt;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::Error;
use crate::backend::exec::{query, query_opt};
use crate::backend::param::Param;
use crate::backend::recovery::{self, Judge};
use crate::backend::tables::{EVENTS, RUNS, STEPS, event_from_row, run_from_row, step_from_row};
use crate::backend::{Database, DatabaseTarget, OpenMode, retention, rollup};
use crate::model::{RunEvent, RunFilter, StepRun, WorkflowRun};
use filter::filter_conditions;

/// Runs deleted per transaction by [`HistoryStore::delete_runs_older_than`].
const DELETE_CHUNK: u32 = 1000;

/// Queries recorded history. Safe to use while a writer is recording.
///
/// ```no_run
/// use workflow_history::{HistoryStore, RunFilter, WorkflowStatus};
/// # fn docs() -> Result<(), workflow_history::Error> {
/// let store = HistoryStore::open_sqlite("history.db")?;
/// let failed = store.list_runs(&RunFilter {
///     workflow_name: Some("finra.otc_transparency.ingest_week".into()),
///     status: Some(WorkflowStatus::Failed),
///     since: Some(chrono::Utc::now() - chrono::Duration::days(7)),
///     ..RunFilter::default()
/// })?;
/// for run in failed {
///     let steps = store.get_steps(&run.run_id)?;
///     let failed_step = steps.iter().find(|s| s.error.is_some());
///     println!("{} {:?} {:?}", run.run_id, run.error, failed_step.map(|s| &s.step_name));
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct HistoryStore {
    pool: r2d2::Pool<pool::Connector>,
    /// How the pool opens connections, to build it again at another size.
    connector: pool::Connector,
    /// Longest a query waits for a free connection.
    max_wait: Duration,
    read_only: bool,
    /// Runs of writers that are gone, left open because this store cannot
    /// write.
    abandoned_left_open: u64,
}

impl HistoryStore {
    /// Opens an existing SQLite history database, migrating it if it was
    /// written by an older version.
    ///
    /// Runs left open by writers that are gone are closed as abandoned
    /// first (see [`HistoryStore::recover_abandoned`]), so a reader does not
    /// show a dead process's run as still running. A file this process may
    /// only read is opened read-only: reading works, and what recovery would
    /// have closed is counted in [`HistoryStore::abandoned_left_open`].
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no file (a mistyped path is not an
    /// empty history), [`Error::NotADatabase`], [`Error::SchemaTooNew`],
    /// [`Error::SchemaTooOld`] (an old schema in a read-only file),
    /// [`Error::Open`].
    pub fn open_sqlite(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open(
            &DatabaseTarget::Sqlite(path.as_ref().to_owned()),
            OpenMode::Existing,
        )
    }

    /// Opens the history database a URL names: a path or `sqlite://path`
    /// for SQLite, `postgres://user@host/db` for PostgreSQL (feature
    /// `postgres`), as [`HistoryStore::open_sqlite`] does.
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let url = std::env::var(workflow_history::DATABASE_URL_VAR)
    ///     .unwrap_or_else(|_| "history.db".into());
    /// let store = workflow_history::HistoryStore::connect(&url)?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::UnsupportedUrl`] for a URL this build cannot use, and the
    /// errors of [`HistoryStore::open_sqlite`].
    pub fn connect(url: &str) -> Result<Self, Error> {
        Self::open(&url.parse()?, OpenMode::Existing)
    }

    /// Opens the database a layer built without one records to, as
    /// [`init`](crate::init) does: the one `WORKFLOW_HISTORY_DATABASE_URL`
    /// names, else `history.db` in the working directory.
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let store = workflow_history::HistoryStore::open_default()?;
    /// println!("{} runs", store.count_runs(&Default::default())?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`HistoryStore::connect`].
    pub fn open_default() -> Result<Self, Error> {
        match crate::setup::builder::configured_url() {
            Some(url) => Self::connect(&url),
            None => Self::open_sqlite(crate::HistoryLayer::DEFAULT_SQLITE_PATH),
        }
    }

    fn open(target: &DatabaseTarget, mode: OpenMode) -> Result<Self, Error> {
        // The first connection is opened here, for its errors (no such
        // file, a newer schema) and for recovery; the pool opens its own.
        let mut db = Database::open(target, mode)?;
        let read_only = db.is_read_only();
        let abandon_after = recovery::DEFAULT_ABANDON_AFTER;
        let abandoned_left_open = if read_only {
            recovery::count_abandoned(&mut db, abandon_after)?
        } else {
            recovery::recover_abandoned(&mut db, abandon_after, Judge::Reader)?;
            // Changes made by hand since the last writer: folded in now, so
            // statistics read the rollup again.
            if rollup::has_pending(db.exec())? {
                db.transaction(rollup::fold_pending)?;
            }
            0
        };
        drop(db);
        // A file this process may only read is read the same way by every
        // connection, without trying to write it first.
        let mode = if read_only { OpenMode::ReadOnly } else { mode };
        let connector = pool::Connector {
            target: target.clone(),
            mode,
        };
        Ok(HistoryStore {
            pool: pool::build(connector.clone(), pool::default_size())?,
            connector,
            max_wait: Self::DEFAULT_MAX_WAIT,
            read_only,
            abandoned_left_open,
        })
    }

    /// How long a query waits for a free connection by default.
    pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(2);

    /// Sets how long a query waits for a free connection when all are busy
    /// (the store keeps one per core, at least two) before it fails with
    /// [`Error::Busy`]; by default [`HistoryStore::DEFAULT_MAX_WAIT`].
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let store = workflow_history::HistoryStore::open_sqlite_read_only("history.db")?
    ///     .max_wait(std::time::Duration::from_millis(500));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// Sets how many connections the store opens at most (by default one
    /// per core, at least two): the queries that run at once. On
    /// PostgreSQL, each is a session of the server's.
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let store = workflow_history::HistoryStore::connect_read_only("postgres://reader@db/history")?
    ///     .max_connections(8)?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Busy`] if the pool cannot be made (it opens nothing yet).
    pub fn max_connections(mut self, connections: u32) -> Result<Self, Error> {
        self.pool = pool::build(self.connector.clone(), connections)?;
        Ok(self)
    }

    /// Whether this store cannot write: opened read-only, or on a database
    /// file this process may only read.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// How many runs, when the store was opened, belonged to writers that
    /// are gone but were left `RUNNING` because this store cannot write
    /// (see [`HistoryStore::recover_abandoned`]); 0 for a store that can.
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let store = workflow_history::HistoryStore::open_sqlite("history.db")?;
    /// if store.abandoned_left_open() > 0 {
    ///     eprintln!("some runs shown as running were abandoned by their writer");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn abandoned_left_open(&self) -> u64 {
        self.abandoned_left_open
    }

    /// Closes the runs (and their open steps) left open by writers that are
    /// gone as `FAILED` with error category `ABANDONED`, writing their
    /// status-change events; returns how many runs were closed.
    ///
    /// A writer is gone when it recorded its stop, or when its last heartbeat
    /// is older than `abandon_after` and its lock does not show it alive. A
    /// store is a reader: it never closes the runs of a writer whose
    /// heartbeat is fresh (a starting writer may, when the writer's lock
    /// proves it gone).
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let store = workflow_history::HistoryStore::open_sqlite("history.db")?;
    /// let closed = store.recover_abandoned(std::time::Duration::from_secs(300))?;
    /// println!("closed {closed} abandoned runs");
    /// # Ok(()) }
    /// ```
    pub fn recover_abandoned(&self, abandon_after: std::time::Duration) -> Result<u64, Error> {
        recovery::recover_abandoned(&mut *self.db()?, abandon_after, Judge::Reader)
    }

    /// Opens an existing SQLite history database for reading only: the
    /// connection cannot write, so a reader (an HTTP server, an analyst's
    /// terminal) can never change history, and a user with read permission
    /// alone can open it.
    ///
    /// A database written by an older version is first migrated through a
    /// short read-write connection, which needs write permission once.
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let store = workflow_history::HistoryStore::open_sqlite_read_only("history.db")?;
    /// println!("{} runs", store.count_runs(&Default::default())?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`HistoryStore::open_sqlite`].
    pub fn open_sqlite_read_only(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open(
            &DatabaseTarget::Sqlite(path.as_ref().to_owned()),
            OpenMode::ReadOnly,
        )
    }

    /// As [`HistoryStore::connect`], read-only (see
    /// [`HistoryStore::open_sqlite_read_only`]); on PostgreSQL the session is
    /// set read-only.
    pub fn connect_read_only(url: &str) -> Result<Self, Error> {
        Self::open(&url.parse()?, OpenMode::ReadOnly)
    }

    /// A connection of the pool, for one query or transaction.
    fn db(&self) -> Result<r2d2::PooledConnection<pool::Connector>, Error> {
        self.pool
            .get_timeout(self.max_wait)
            .map_err(|e| Error::Busy {
                waited: self.max_wait,
                detail: e.to_string(),
            })
    }

    /// The run with this id, if recorded.
    pub fn get_run(&self, run_id: &str) -> Result<Option<WorkflowRun>, Error> {
        let sql = format!("{} WHERE run_id = ?1", RUNS.select());
        query_opt(
            self.db()?.exec(),
            &sql,
            &[Param::text(run_id)],
            run_from_row,
        )
    }

    /// Runs matching the filter, newest started first, one page of
    /// `filter.limit` after `filter.offset`.
    pub fn list_runs(&self, filter: &RunFilter) -> Result<Vec<WorkflowRun>, Error> {
        let mut conditions = filter_conditions(filter);
        let limit = conditions.extra(Param::count(u64::from(filter.limit)));
        let offset = conditions.extra(Param::count(filter.offset));
        let sql = format!(
            "{}{} ORDER BY started_at DESC, run_id DESC LIMIT {limit} OFFSET {offset}",
            RUNS.select(),
            conditions.sql()
        );
        query(self.db()?.exec(), &sql, &conditions.params, run_from_row)
    }

    /// The run's steps, by `step_order`.
    pub fn get_steps(&self, run_id: &str) -> Result<Vec<StepRun>, Error> {
        let sql = format!("{} WHERE run_id = ?1 ORDER BY step_order", STEPS.select());
        query(
            self.db()?.exec(),
            &sql,
            &[Param::text(run_id)],
            step_from_row,
        )
    }

    /// The run's log and status changes, in the order they happened.
    pub fn get_events(&self, run_id: &str) -> Result<Vec<RunEvent>, Error> {
        let sql = format!(
            "{} WHERE run_id = ?1 ORDER BY timestamp, event_id",
            EVENTS.select()
        );
        query(
            self.db()?.exec(),
            &sql,
            &[Param::text(run_id)],
            event_from_row,
        )
    }

    /// Deletes runs started more than `age` ago, with their steps and
    /// events, in small transactions; returns how many runs were deleted.
    pub fn delete_runs_older_than(&self, age: chrono::Duration) -> Result<u64, Error> {
        self.delete_runs_started_before(Utc::now() - age)
    }

    /// Deletes runs started before `cutoff`, with their steps and events, as
    /// [`HistoryStore::delete_runs_older_than`] does; returns how many runs
    /// were deleted. A fixed cutoff lets a caller count first and delete the
    /// same runs after.
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let store = workflow_history::HistoryStore::open_sqlite("history.db")?;
    /// let cutoff = chrono::Utc::now() - chrono::Duration::days(90);
    /// let deleted = store.delete_runs_started_before(cutoff)?;
    /// # Ok(()) }
    /// ```
    pub fn delete_runs_started_before(&self, cutoff: DateTime<Utc>) -> Result<u64, Error> {
        let mut total = 0;
        loop {
            // The lock is taken per chunk so readers interleave with a long purge.
            let deleted = self.db()?.transaction(|tx| {
                retention::delete_runs_started_before(tx, cutoff, DELETE_CHUNK)
            })?;
            total += deleted;
            if deleted < u64::from(DELETE_CHUNK) {
                return Ok(total);
            }
        }
    }
}
