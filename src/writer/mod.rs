//! The writer thread: the only owner of the database connection and of the
//! open runs and steps. It takes messages off the queue, applies them, and
//! commits what changed in batches.

mod chores;
mod records;
mod salvage;

use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use tracing::subscriber::NoSubscriber;

use crate::backend::Database;
use crate::backend::writers::WriterRow;
use crate::capture::clock::TimeAnchor;
use crate::message::Msg;
use crate::setup::stats::Counters;
use chores::Chores;
use records::Records;

/// First and longest wait before retrying a failed commit.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often a writer with a batch filling up looks at the queue again.
const FILL_TICK: Duration = Duration::from_millis(1);

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
    /// [`Backpressure::DropNewest`](crate::Backpressure::DropNewest): never
    /// dropped, so no run stays open because of a full queue.
    pub(crate) overflow: Receiver<Msg>,
}

/// Starts the writer thread on an open database, registered as `writer`.
pub(crate) fn spawn(
    db: Database,
    writer: WriterRow,
    queues: Queues,
    counters: Arc<Counters>,
    anchor: TimeAnchor,
    config: WriterConfig,
) -> std::io::Result<JoinHandle<()>> {
    let writer = Writer {
        db,
        chores: Chores::new(writer, config.heartbeat_interval, config.retention),
        queues,
        counters,
        config,
        records: Records::new(anchor, config.max_pending_records),
        oldest_change: None,
        taken_since_commit: 0,
        flush_waiters: Vec::new(),
        stopping: false,
        retry: None,
        last_error: None,
    };
    thread::Builder::new()
        .name("workflow-history-writer".to_owned())
        .spawn(move || writer.run())
}

/// A failed commit waiting for its next attempt.
struct Retry {
    at: Instant,
    backoff: Duration,
}

struct Writer {
    db: Database,
    chores: Chores,
    queues: Queues,
    counters: Arc<Counters>,
    config: WriterConfig,
    records: Records,
    /// When the oldest uncommitted change arrived: the flush interval runs from it.
    oldest_change: Option<Instant>,
    taken_since_commit: usize,
    flush_waiters: Vec<Sender<Result<(), String>>>,
    stopping: bool,
    retry: Option<Retry>,
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
            self.wait();
            self.drain();
            if self.commit_due() {
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
    /// wakes it. While a batch is filling it sleeps in short ticks instead
    /// of waiting on the queue: a thread blocked on the queue must be woken
    /// by every send, a system call paid by the instrumented application.
    fn wait(&mut self) {
        if self.records.has_pending() || self.retry.is_some() {
            thread::sleep(self.wait_budget().min(FILL_TICK));
            return;
        }
        match self.queues.main.recv_timeout(self.wait_budget()) {
            Ok(msg) => {
                Counters::add(&self.counters.received, 1);
                self.records.calibrate();
                self.take(msg);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => self.stopping = true,
        }
    }

    /// Takes queued messages, without waiting, until the batch is full.
    fn drain(&mut self) {
        self.records.calibrate();
        let mut taken = 0u64;
        while self.taken_since_commit < self.config.batch_size {
            match self.queues.main.try_recv() {
                Ok(msg) => {
                    self.take(msg);
                    taken += 1;
                }
                Err(TryRecvError::Empty) => {
                    // Only now: an overflowed close was sent after its
                    // span's open, which is no longer in the main queue.
                    taken += self.drain_overflow();
                    break;
                }
                Err(TryRecvError::Disconnected) => {
                    self.stopping = true;
                    break;
                }
            }
        }
        Counters::add(&self.counters.received, taken);
    }

    fn drain_overflow(&mut self) -> u64 {
        let mut taken = 0;
        while let Ok(msg) = self.queues.overflow.try_recv() {
            self.take(msg);
            taken += 1;
        }
        taken
    }

    fn take(&mut self, msg: Msg) {
        match msg {
            Msg::Flush(waiter) => self.flush_waiters.push(waiter),
            Msg::Shutdown => self.stopping = true,
            msg => {
                let refused = self.records.apply(msg);
                Counters::add(&self.counters.records_lost, refused);
                self.oldest_change.get_or_insert_with(Instant::now);
                self.taken_since_commit += 1;
            }
        }
    }

    fn wait_budget(&self) -> Duration {
        let now = Instant::now();
        let until = if let Some(retry) = &self.retry {
            retry.at
        } else if let Some(oldest) = self.oldest_change {
            oldest + self.config.flush_interval
        } else {
            self.chores.next_due()
        };
        until.saturating_duration_since(now)
    }

    fn commit_due(&self) -> bool {
        if !self.records.has_pending() {
            return false;
        }
        if !self.flush_waiters.is_empty() || self.stopping {
            return true;
        }
        let now = Instant::now();
        if let Some(retry) = &self.retry {
            return now >= retry.at;
        }
        self.taken_since_commit >= self.config.batch_size
            || self
                .oldest_change
                .is_some_and(|oldest| now >= oldest + self.config.flush_interval)
    }

    /// Writes everything pending in one transaction. On failure nothing is
    /// lost: the records stay pending and the next attempt waits longer.
    fn commit(&mut self) -> bool {
        self.taken_since_commit = 0;
        let (runs, steps, events) = self.records.pending();
        let written = self
            .db
            .write_batch(self.chores.writer_id(), runs, steps, events);
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
                self.oldest_change = None;
                self.retry = None;
                self.last_error = None;
                true
            }
            Err(e) => {
                Counters::add(&self.counters.write_errors, 1);
                let backoff = self
                    .retry
                    .as_ref()
                    .map_or(FIRST_BACKOFF, |r| (r.backoff * 2).min(MAX_BACKOFF));
                self.retry = Some(Retry {
                    at: Instant::now() + backoff,
                    backoff,
                });
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
    /// timeout; what is still pending then is counted as lost.
    ///
    /// The queue is first-in first-out, so every message sent before the
    /// shutdown request was taken before it: nothing more needs draining.
    fn finish(&mut self) {
        let deadline = Instant::now() + self.config.shutdown_timeout;
        let overflowed = self.drain_overflow();
        Counters::add(&self.counters.received, overflowed);
        while self.records.has_pending() && !self.commit() {
            let Some(retry) = &self.retry else { break };
            if retry.at >= deadline {
                break;
            }
            thread::sleep(retry.at.saturating_duration_since(Instant::now()));
        }
        Counters::add(
            &self.counters.records_lost,
            self.records.pending_count() as u64,
        );
        self.chores.stop(&mut self.db, &self.counters);
        self.answer_flushes();
    }
}
