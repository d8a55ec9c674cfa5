//! The handle that owns the writer thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};

use super::stats::{Counters, Stats};
use crate::Error;
use crate::message::Msg;
use crate::writer::Handle;

/// Owns the writer thread: flushes on demand, reports counts, and on drop
/// commits everything queued and joins the thread.
///
/// Keep it alive for as long as history should be recorded, typically as a
/// local of `main`. Binding it to `_` drops it at once and stops recording;
/// a global subscriber is never dropped, so the guard must be kept
/// separately. `std::process::exit` skips destructors: call
/// [`HistoryGuard::shutdown`] (or drop the guard) before it, or the last
/// batch (at most one flush interval of history) is lost.
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
/// # fn docs() -> Result<(), workflow_history::Error> {
/// let (layer, guard) = workflow_history::HistoryLayer::builder()
///     .sqlite("history.db")
///     .build()?;
/// tracing_subscriber::registry().with(layer).init();
/// // ... run workflows ...
/// guard.flush()?; // everything recorded so far is now committed
/// let stats = guard.shutdown()?;
/// assert_eq!(stats.records_lost, 0);
/// # Ok(()) }
/// ```
#[must_use = "dropping the guard stops recording history; keep it alive while workflows run"]
#[derive(Debug)]
pub struct HistoryGuard {
    sender: Sender<Msg>,
    writer: Option<Handle>,
    counters: Arc<Counters>,
    /// The longest stopping may take: the shutdown timeout and a little
    /// for recording the stop.
    stop_limit: Duration,
}

impl HistoryGuard {
    pub(crate) fn new(
        sender: Sender<Msg>,
        writer: Handle,
        counters: Arc<Counters>,
        stop_limit: Duration,
    ) -> Self {
        HistoryGuard {
            sender,
            writer: Some(writer),
            counters,
            stop_limit,
        }
    }

    /// Blocks until everything recorded before the call is committed.
    ///
    /// # Errors
    /// [`Error::WriteFailed`] if the writer could not commit (the records are
    /// kept and retried), [`Error::WriterStopped`] if it is no longer running.
    pub fn flush(&self) -> Result<(), Error> {
        let (answer, reply) = crossbeam_channel::bounded(1);
        self.sender
            .send(Msg::Flush(answer))
            .map_err(|_| Error::WriterStopped)?;
        match reply.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(Error::WriteFailed(reason)),
            Err(_) => Err(Error::WriterStopped),
        }
    }

    /// Makes `std::process::exit` flush this writer first: it skips every
    /// destructor, the guard's included, but runs C `atexit` handlers. The
    /// handler waits up to 5 s for the commit. Returns whether the handler
    /// could be registered.
    ///
    /// Panics that abort, signals and crashes run no handler; for those,
    /// at most the last flush interval is lost.
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let (layer, guard) = workflow_history::HistoryLayer::builder().build()?;
    /// guard.flush_on_exit();
    /// // ... anywhere later, even in code you do not own:
    /// std::process::exit(2); // history recorded so far is committed first
    /// # }
    /// ```
    pub fn flush_on_exit(&self) -> bool {
        super::exit::flush_at_exit(self.sender.clone())
    }

    /// Counts of messages, rows and errors so far.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot(self.sender.len())
    }

    /// Commits everything queued, stops the writer and returns the final
    /// counts. This is what dropping the guard does, with the outcome visible.
    ///
    /// Stopping takes at most the shutdown timeout and a fraction of a
    /// second more, whatever the database does meanwhile.
    ///
    /// # Errors
    /// [`Error::WriteFailed`] if some records were lost: refused by the
    /// database, or still failing at the shutdown timeout (their number is
    /// in the message and in [`Stats::records_lost`]),
    /// [`Error::WriterStopped`] if the writer thread had died,
    /// [`Error::ShutdownTimedOut`] if it did not stop in time.
    pub fn shutdown(mut self) -> Result<Stats, Error> {
        self.stop()?;
        let stats = self.stats();
        if stats.records_lost > 0 {
            return Err(Error::WriteFailed(format!(
                "{} records could not be committed (refused by the database, or still failing at shutdown)",
                stats.records_lost
            )));
        }
        Ok(stats)
    }

    /// Asks the writer to stop and waits for it, for at most the stop
    /// limit: like `tracing-appender`'s guard, dropping never hangs. A
    /// writer that has not ended by then is left to finish on its own.
    fn stop(&mut self) -> Result<(), Error> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let deadline = Instant::now() + self.stop_limit;
        // Fails if the writer already died (waiting then says so at once),
        // or if the queue stayed full until the deadline.
        let _ = self.sender.send_deadline(Msg::Shutdown, deadline);
        match writer.ended.recv_deadline(deadline) {
            Err(RecvTimeoutError::Timeout) => Err(Error::ShutdownTimedOut {
                waited: self.stop_limit,
            }),
            // The thread is over: joining returns at once.
            _ => writer.thread.join().map_err(|_| Error::WriterStopped),
        }
    }
}

impl Drop for HistoryGuard {
    fn drop(&mut self) {
        // The outcome is visible through `shutdown`; drop stays quiet.
        let _ = self.stop();
    }
}
