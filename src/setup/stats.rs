//! Counters shared by the layer, the writer and the guard.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Counts kept while history is captured; read through [`Stats`].
///
/// The layer touches these only on failure paths, so the hot path writes no
/// shared cache line.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Messages the writer took off the queue.
    pub(crate) received: AtomicU64,
    /// Messages not queued: a full queue under `DropNewest`, or a writer
    /// that had stopped.
    pub(crate) dropped: AtomicU64,
    /// Rows inserted or updated by committed transactions.
    pub(crate) rows_written: AtomicU64,
    /// Failed transactions and chores.
    pub(crate) write_errors: AtomicU64,
    /// Records refused or given up on.
    pub(crate) records_lost: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, queued: usize) -> Stats {
        let received = self.received.load(Ordering::Relaxed);
        Stats {
            messages_sent: received + queued as u64,
            messages_dropped: self.dropped.load(Ordering::Relaxed),
            rows_written: self.rows_written.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
            records_lost: self.records_lost.load(Ordering::Relaxed),
            queued: queued as u64,
        }
    }
}

/// A snapshot of what the layer and its writer have done.
///
/// ```
/// # fn docs() -> Result<(), workflow_history::Error> {
/// let (_layer, guard) = workflow_history::HistoryLayer::builder()
///     .sqlite("history.db")
///     .build()?;
/// let stats = guard.stats();
/// assert_eq!(stats.write_errors, 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Stats {
    /// Messages the layer queued for the writer.
    pub messages_sent: u64,
    /// Messages the layer could not queue: the queue was full under
    /// [`Backpressure::DropNewest`](crate::Backpressure::DropNewest), or the
    /// writer had already stopped.
    pub messages_dropped: u64,
    /// Rows inserted or updated by committed transactions.
    pub rows_written: u64,
    /// Failed commits and chores (heartbeat, retention). A failed commit's
    /// records are kept and retried, unless the database refused them for
    /// their data (see `records_lost`).
    pub write_errors: u64,
    /// Runs, steps and log events that will never be committed: refused
    /// while `max_pending_records` were waiting, refused by the database
    /// for their data, or still uncommitted when the writer stopped.
    pub records_lost: u64,
    /// Messages waiting in the queue at the time of the snapshot.
    pub queued: u64,
}
