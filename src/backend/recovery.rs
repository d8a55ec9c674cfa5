//! Runs orphaned by a writer that died: recognised and closed as abandoned.
//!
//! A process killed mid-run (SIGKILL, power loss, OOM) cannot close its
//! runs. Every writer registers itself, holds a lock that the system
//! releases when the process ends (see [`super::liveness`]), and refreshes a
//! heartbeat. When a writer starts or a store opens the database, the runs
//! still open under a writer that is gone are closed as `FAILED` with
//! category `ABANDONED`, and so are their open steps.
//!
//! Who may judge, and on what evidence:
//!
//! 1. A writer that recorded its own stop is gone, for everyone.
//! 2. A writer whose lock is held lives, for everyone, however long it has
//!    been silent (stalled behind a lock, say): its runs are left alone.
//! 3. A starting writer also takes a free lock as proof: an SQLite writer's
//!    file lock is gone only with its process, so its runs are closed at
//!    once. A PostgreSQL writer's session lock also goes while it
//!    reconnects, so that proof needs half the abandon timeout of silence.
//! 4. Otherwise (a reader, or a writer of an older version without a lock)
//!    only a heartbeat older than the abandon timeout counts: a reader never
//!    closes the runs of a writer whose heartbeat is fresh.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Database;
use super::liveness::{FILE_LOCK, Liveness};
use super::writers::{WriterRow, abandon_runs_of, open_run_count, writers_with_open_runs};
use crate::Error;

/// How long a writer may go without a heartbeat before its open runs are
/// abandoned. See also [`HistoryLayerBuilder::abandon_after`](crate::HistoryLayerBuilder::abandon_after).
pub const DEFAULT_ABANDON_AFTER: Duration = Duration::from_secs(60);

/// Who is judging whether writers are gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Judge {
    /// A writer starting: it may act on a free lock.
    Writer,
    /// A store opened to read: it acts only on a stop or a stale heartbeat.
    Reader,
}

/// The name of this machine, as recorded for each writer.
pub(crate) fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The rule of the module documentation.
fn is_gone(
    writer: &WriterRow,
    liveness: Liveness,
    judge: Judge,
    now: DateTime<Utc>,
    abandon_after: Duration,
) -> bool {
    if writer.stopped_at.is_some() {
        return true;
    }
    let silent = (now - writer.heartbeat_at)
        .to_std()
        .unwrap_or(Duration::ZERO);
    match (liveness, judge) {
        (Liveness::Alive, _) => false,
        (Liveness::Gone, Judge::Writer) => {
            writer.lock_kind.as_deref() == Some(FILE_LOCK) || silent > abandon_after / 2
        }
        _ => silent > abandon_after,
    }
}

/// The writers with open runs that `judge` finds gone.
fn gone_writers(
    db: &mut Database,
    abandon_after: Duration,
    judge: Judge,
) -> Result<Vec<WriterRow>, Error> {
    let now = Utc::now();
    let mut gone = Vec::new();
    for writer in writers_with_open_runs(db.exec())? {
        let liveness = db.liveness(
            &writer.writer_id,
            writer.lock_kind.as_deref(),
            judge == Judge::Writer,
        )?;
        if is_gone(&writer, liveness, judge, now, abandon_after) {
            gone.push(writer);
        }
    }
    Ok(gone)
}

/// Closes the runs of every writer that is gone; returns how many runs.
/// Each writer's runs are closed in a transaction of their own.
pub(crate) fn recover_abandoned(
    db: &mut Database,
    abandon_after: Duration,
    judge: Judge,
) -> Result<u64, Error> {
    let now = Utc::now();
    let mut closed = 0;
    for writer in gone_writers(db, abandon_after, judge)? {
        closed += db.transaction(|tx| abandon_runs_of(tx, &writer, now))?;
    }
    Ok(closed)
}

/// How many open runs a reader would close, without writing anything: what
/// a store that cannot write leaves open.
pub(crate) fn count_abandoned(db: &mut Database, abandon_after: Duration) -> Result<u64, Error> {
    let mut open = 0;
    for writer in gone_writers(db, abandon_after, Judge::Reader)? {
        open += open_run_count(db.exec(), &writer.writer_id)?;
    }
    Ok(open)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(lock_kind: Option<&str>, silent_for: chrono::Duration) -> WriterRow {
        WriterRow {
            writer_id: "w".into(),
            host: "h".into(),
            pid: 1,
            heartbeat_at: Utc::now() - silent_for,
            stopped_at: None,
            lock_kind: lock_kind.map(str::to_owned),
        }
    }

    fn gone(w: &WriterRow, liveness: Liveness, judge: Judge) -> bool {
        is_gone(w, liveness, judge, Utc::now(), DEFAULT_ABANDON_AFTER)
    }

    #[test]
    fn a_stopped_writer_is_gone_for_everyone() {
        let mut stopped = writer(Some(FILE_LOCK), chrono::Duration::zero());
        stopped.stopped_at = Some(Utc::now());
        assert!(gone(&stopped, Liveness::Unknown, Judge::Reader));
    }

    #[test]
    fn a_held_lock_keeps_even_a_long_silent_writer_alive() {
        let stalled = writer(Some(FILE_LOCK), chrono::Duration::hours(3));
        assert!(!gone(&stalled, Liveness::Alive, Judge::Writer));
        assert!(!gone(&stalled, Liveness::Alive, Judge::Reader));
    }

    #[test]
    fn a_free_file_lock_is_proof_for_a_writer_only() {
        let fresh = writer(Some(FILE_LOCK), chrono::Duration::zero());
        assert!(gone(&fresh, Liveness::Gone, Judge::Writer));
        // A reader never closes the runs of a writer with a fresh heartbeat.
        assert!(!gone(&fresh, Liveness::Gone, Judge::Reader));
        let silent = writer(Some(FILE_LOCK), chrono::Duration::seconds(61));
        assert!(gone(&silent, Liveness::Gone, Judge::Reader));
    }

    #[test]
    fn a_free_session_lock_needs_some_silence_too() {
        let reconnecting = writer(Some("session"), chrono::Duration::seconds(5));
        assert!(!gone(&reconnecting, Liveness::Gone, Judge::Writer));
        let dead = writer(Some("session"), chrono::Duration::seconds(31));
        assert!(gone(&dead, Liveness::Gone, Judge::Writer));
    }

    #[test]
    fn without_a_lock_only_the_heartbeat_speaks() {
        // An older writer, or one in another PID namespace of this host:
        // no process id is trusted any more.
        let quiet = writer(None, chrono::Duration::seconds(30));
        assert!(!gone(&quiet, Liveness::Unknown, Judge::Writer));
        let silent = writer(None, chrono::Duration::seconds(61));
        assert!(gone(&silent, Liveness::Unknown, Judge::Writer));
    }
}
