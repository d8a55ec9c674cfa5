//! The writer thread: the only owner of the database connection and of the
//! open runs and steps. It takes messages in ([`intake`]), applies them
//! ([`records`]), and commits what changed when its policy says so
//! ([`policy`]).

mod chores;
mod claims;
mod intake;
mod policy;
mod records;
mod salvage;

use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use tracing::subscriber::NoSubscriber;

use crate::backend::Database;
use crate::backend::writers::WriterRow;
use crate::capture::clock::TimeAnchor;
use crate::message::Msg;
use crate::setup::stats::Counters;
use chores::Chores;
use claims::PendingBatch;
use intake::Intake;
use policy::Batching;
use records::Records;

/// How often a writer with a batch filling up looks at the queue again.
const FILL_TICK: Duration = Duration::from_millis(1);
/// The longest one commit attempt waits for a lock held by another
/// connection. While it waits the queue is not emptied, so this is the
/// longest a caller meeting a full queue waits during an outage; the
/// attempt then fails and is retried while the queue keeps draining.
pub(crate) const LOCK_WAIT: Duration = Duration::from_millis(100);
/// The longest one statement of the writer may run on PostgreSQL.
const STATEMENT_LIMIT: Duration = Duration::from_secs(30);
/// What stopping may take beyond the shutdown timeout: recording the
/// writer's stop and closing the runs it leaves open.
pub(crate) const STOP_GRACE: Duration = Duration::from_millis(250);

/// How the writer batches, retries and stops.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriterConfig {
    pub(crate) batch_size: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) retention: Option<chrono::Duration>,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) max_pending_records: usize,
}

/// Where the writer takes its messages from.
pub(crate) struct Queues {
    /// The bounded queue every message goes through first.
    pub(crate) main: Receiver<Msg>,
    /// Closes and panics that found the main queue full under
    /// [`Backpressure::DropNewest`](crate::Backpressure::DropNewest).
    pub(crate) overflow: Receiver<Msg>,
    /// The capacity of each.
    pub(crate) capacity: usize,
}

/// The running writer: its thread, and a channel that disconnects when
/// the thread ends, however it ends, so the guard can wait for it with a
/// time limit (a `JoinHandle` has none).
#[derive(Debug)]
pub(crate) struct Handle {
    pub(crate) thread: JoinHandle<()>,
    pub(crate) ended: Receiver<()>,
}

/// Starts the writer thread on an open database, registered as `writer`.
pub(crate) fn spawn(
    mut db: Database,
    writer: WriterRow,
    queues: Queues,
    counters: Arc<Counters>,
    anchor: TimeAnchor,
    config: WriterConfig,
) -> Result<Handle, crate::Error> {
    db.limit_waits(LOCK_WAIT, STATEMENT_LIMIT)?;
    let (ended_tx, ended) = crossbeam_channel::bounded(0);
    let writer = Writer {
        db,
        chores: Chores::new(writer, config.heartbeat_interval, config.retention),
        intake: Intake::new(queues.main, queues.overflow, queues.capacity),
        counters,
        config,
        batching: Batching::new(config.batch_size, config.flush_interval),
        records: Records::new(anchor, config.max_pending_records),
        flush_waiters: Vec::new(),
        stopping: false,
        last_error: None,
    };
    let thread = thread::Builder::new()
        .name("workflow-history-writer".to_owned())
        .spawn(move || {
            let _ended = ended_tx;
            writer.run();
        })
        .map_err(crate::Error::Spawn)?;
    Ok(Handle { thread, ended })
}

struct Writer {
    db: Database,
    chores: Chores,
    intake: Intake,
    counters: Arc<Counters>,
    config: WriterConfig,
    batching: Batching,
    records: Records,
    flush_waiters: Vec<Sender<Result<(), String>>>,
    stopping: bool,
    last_error: Option<String>,
}

impl Writer {
    fn run(mut self) {
        // Anything this thread might emit must not come back into the layer.
        let _quiet = tracing::subscriber::set_default(NoSubscriber::default());
        loop {
            // First thing, so a retention pass due at start is done before
            // any flush is answered.
            self.chores.run_due(&mut self.db, &self.counters);
            self.rest();
            self.take_in();
            let urgent = !self.flush_waiters.is_empty() || self.stopping;
            if self
                .batching
                .commit_due(Instant::now(), self.records.has_pending(), urgent)
            {
                self.commit();
            }
            self.answer_flushes();
            if self.stopping {
                self.finish();
                return;
            }
        }
    }

    /// Waits for work; this is where the thread rests.
    ///
    /// With nothing pending it blocks on the queue, and the next message
    /// wakes it. While a batch is filling (or commits are failing) it
    /// sleeps in short ticks instead of waiting on the queue: a thread
    /// blocked on the queue must be woken by every send, a system call paid
    /// by the instrumented application.
    fn rest(&mut self) {
        let due = self.batching.next_due(self.chores.next_due());
        let budget = due.saturating_duration_since(Instant::now());
        if self.records.has_pending() || self.batching.is_retrying() {
            thread::sleep(budget.min(FILL_TICK));
            return;
        }
        if let Some(msg) = self.intake.next_timeout(budget) {
            Counters::add(&self.counters.received, 1);
            self.records.calibrate();
            self.take(msg);
        }
        self.stopping |= self.intake.is_closed();
    }

    /// Takes queued messages, without waiting, while the policy wants more.
    /// While commits fail that is everything queued when the round began,
    /// so the queue keeps draining and the round still ends.
    fn take_in(&mut self) {
        self.records.calibrate();
        let round = self.intake.queued() + 1;
        let mut taken = 0;
        while !self.stopping
            && self.batching.wants_more()
            && (taken < round || !self.batching.is_retrying())
        {
            let Some(msg) = self.intake.try_next() else {
                break;
            };
            self.take(msg);
            taken += 1;
        }
        Counters::add(&self.counters.received, taken as u64);
        self.stopping |= self.intake.is_closed();
    }

    fn take(&mut self, msg: Msg) {
        match msg {
            Msg::Flush(waiter) => self.flush_waiters.push(waiter),
            Msg::Shutdown => self.stopping = true,
            msg => {
                let refused = self.records.apply(msg);
                Counters::add(&self.counters.records_lost, refused);
                self.batching.took(Instant::now());
            }
        }
    }

    /// Writes everything pending in one transaction. On failure nothing is
    /// lost: the records stay pending and the next attempt waits longer.
    fn commit(&mut self) -> bool {
        let writer_id = self.chores.writer_id();
        let written = self.db.write_batch(
            writer_id,
            &mut PendingBatch {
                records: &mut self.records,
                writer_id,
            },
        );
        if written.is_err() {
            self.records.claims_failed();
        }
        // A batch refused for its data would be refused forever: keep what
        // can be kept, record by record, and drop the rest.
        let written = match written {
            Err(e) if e.is_data_error() => {
                Counters::add(&self.counters.write_errors, 1);
                self.salvage().map(|()| 0)
            }
            other => other,
        };
        match written {
            Ok(rows) => {
                Counters::add(&self.counters.rows_written, rows);
                self.records.committed();
                self.batching.committed();
                self.last_error = None;
                true
            }
            Err(e) => {
                Counters::add(&self.counters.write_errors, 1);
                self.batching.failed(Instant::now());
                self.last_error = Some(e.to_string());
                false
            }
        }
    }

    fn answer_flushes(&mut self) {
        if self.flush_waiters.is_empty() {
            return;
        }
        let answer = if self.records.has_pending() {
            Err(self
                .last_error
                .clone()
                .unwrap_or_else(|| "records are still pending".to_owned()))
        } else {
            Ok(())
        };
        for waiter in self.flush_waiters.drain(..) {
            // The asker may have given up waiting; that is fine.
            let _ = waiter.send(answer.clone());
        }
    }

    /// Commits what is pending, retrying failed commits until the shutdown
    /// timeout; what is still pending then is counted as lost. Then records
    /// the stop, within [`STOP_GRACE`]. Every wait on the database is cut to
    /// the time left, so the whole stop is bounded.
    ///
    /// The queue is first-in first-out, so every message sent before the
    /// shutdown request was taken before it; closes that overflowed may
    /// still be held back, and are applied now.
    fn finish(&mut self) {
        let deadline = Instant::now() + self.config.shutdown_timeout;
        let mut overflowed = 0;
        while let Some(msg) = self.intake.try_next_overflowed() {
            self.take(msg);
            overflowed += 1;
        }
        Counters::add(&self.counters.received, overflowed);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if !self.records.has_pending() || left.is_zero() {
                break;
            }
            if self.db.limit_waits(left, left).is_ok() && self.commit() {
                break;
            }
            let retry_at = self.batching.next_due(deadline);
            thread::sleep(retry_at.saturating_duration_since(Instant::now()));
        }
        Counters::add(
            &self.counters.records_lost,
            self.records.pending_count() as u64,
        );
        if self.db.limit_waits(STOP_GRACE, STOP_GRACE).is_ok() {
            self.chores.stop(&mut self.db, &self.counters);
        }
        self.answer_flushes();
    }
}
