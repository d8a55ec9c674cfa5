//! The writer's periodic chores: the heartbeat that tells other processes
//! this writer lives, and retention.

use std::time::{Duration, Instant};

use chrono::Utc;

use crate::backend::Database;
use crate::backend::retention::delete_runs_started_before;
use crate::backend::writers::{WriterCounts, WriterRow, abandon_runs_of, heartbeat};
use crate::setup::stats::Counters;

/// Runs deleted per retention transaction.
const RETENTION_CHUNK: u32 = 1000;
/// How often a retention pass starts once the previous one is done.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// How long a failed chore waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

pub(crate) struct Chores {
    writer: WriterRow,
    heartbeat_every: Duration,
    next_heartbeat: Instant,
    retention: Option<chrono::Duration>,
    next_retention: Option<Instant>,
}

fn counts(counters: &Counters) -> WriterCounts {
    let stats = counters.snapshot(0);
    WriterCounts {
        messages_dropped: stats.messages_dropped,
        records_lost: stats.records_lost,
    }
}

impl Chores {
    /// `writer` is this writer's registration; a retention pass is due at once.
    pub(crate) fn new(
        writer: WriterRow,
        heartbeat_every: Duration,
        retention: Option<chrono::Duration>,
    ) -> Self {
        let now = Instant::now();
        Chores {
            writer,
            heartbeat_every,
            next_heartbeat: now + heartbeat_every,
            retention,
            next_retention: retention.map(|_| now),
        }
    }

    pub(crate) fn writer_id(&self) -> &str {
        &self.writer.writer_id
    }

    /// When the next chore is due.
    pub(crate) fn next_due(&self) -> Instant {
        self.next_retention
            .map_or(self.next_heartbeat, |r| r.min(self.next_heartbeat))
    }

    /// Does what is due: at most one retention chunk, so the writer goes
    /// back to its queue between chunks.
    pub(crate) fn run_due(&mut self, db: &mut Database, counters: &Counters) {
        let now = Instant::now();
        if now >= self.next_heartbeat {
            let beat = heartbeat(
                db.exec(),
                self.writer_id(),
                Utc::now(),
                counts(counters),
                false,
            );
            self.next_heartbeat = now
                + if beat.is_ok() {
                    self.heartbeat_every
                } else {
                    RETRY_AFTER
                };
            if beat.is_err() {
                Counters::add(&counters.write_errors, 1);
            }
        }
        let (Some(keep), Some(due)) = (self.retention, self.next_retention) else {
            return;
        };
        if now < due {
            return;
        }
        let cutoff = Utc::now() - keep;
        match db.transaction(|tx| delete_runs_started_before(tx, cutoff, RETENTION_CHUNK)) {
            // A full chunk means more may be expired: carry on next time round.
            Ok(deleted) if deleted == u64::from(RETENTION_CHUNK) => {}
            Ok(_) => self.next_retention = Some(now + RETENTION_EVERY),
            Err(_) => {
                Counters::add(&counters.write_errors, 1);
                self.next_retention = Some(now + RETRY_AFTER);
            }
        }
    }

    /// Records this writer's stop with its final counts, and closes the runs
    /// it still has open as abandoned: their spans can no longer be recorded.
    pub(crate) fn stop(&mut self, db: &mut Database, counters: &Counters) {
        let now = Utc::now();
        self.writer.stopped_at = Some(now);
        let writer = &self.writer;
        let stopped = heartbeat(db.exec(), &writer.writer_id, now, counts(counters), true)
            .and_then(|()| db.transaction(|tx| abandon_runs_of(tx, writer, now)));
        if stopped.is_err() {
            Counters::add(&counters.write_errors, 1);
        }
    }
}
