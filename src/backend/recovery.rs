//! Runs orphaned by a writer that died: recognised and closed as abandoned.
//!
//! A process killed mid-run (SIGKILL, power loss, OOM) cannot close its
//! runs. Every writer registers itself (host, pid, start) and refreshes a
//! heartbeat; when a writer starts or a store opens the database, the runs
//! still open under a writer that is gone are closed as `FAILED` with
//! category `ABANDONED`, and so are their open steps. A writer is gone when:
//!
//! 1. it recorded its own stop (its guard was dropped with runs still open), or
//! 2. it ran on this host and its process no longer runs, or
//! 3. its last heartbeat is older than the abandon timeout (a writer on
//!    another host, or a process id since reused).

use std::time::Duration;

use super::Database;
use super::writers::{WriterRow, abandon_runs_of, writers_with_open_runs};
use crate::Error;
use chrono::{DateTime, Utc};

/// How long a writer may go without a heartbeat before its open runs are
/// abandoned. See also [`HistoryLayerBuilder::abandon_after`](crate::HistoryLayerBuilder::abandon_after).
pub const DEFAULT_ABANDON_AFTER: Duration = Duration::from_secs(60);

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

/// Whether process `pid` of this host still runs; `None` where the system
/// gives no cheap answer, and the heartbeat decides alone.
fn process_is_running(pid: u32) -> Option<bool> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // A zombie (Z) or dead (X) process has finished: it keeps its pid
        // only until its parent reaps it.
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            Some(!matches!(state, Some('Z' | 'X')))
        }
        Err(_) => Some(false),
    }
}

/// The rule of the module documentation.
fn is_gone(writer: &WriterRow, host: &str, now: DateTime<Utc>, abandon_after: Duration) -> bool {
    if writer.stopped_at.is_some() {
        return true;
    }
    if writer.host == host && process_is_running(writer.pid) == Some(false) {
        return true;
    }
    let silent = (now - writer.heartbeat_at)
        .to_std()
        .unwrap_or(Duration::ZERO);
    silent > abandon_after
}

/// Closes the runs of every writer that is gone; returns how many runs.
/// Each writer's runs are closed in a transaction of their own.
pub(crate) fn recover_abandoned(db: &mut Database, abandon_after: Duration) -> Result<u64, Error> {
    let host = this_host();
    let now = Utc::now();
    let mut closed = 0;
    for writer in writers_with_open_runs(db.exec())? {
        if is_gone(&writer, &host, now, abandon_after) {
            closed += db.transaction(|tx| abandon_runs_of(tx, &writer, now))?;
        }
    }
    Ok(closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(host: &str, pid: u32, silent_for: chrono::Duration) -> WriterRow {
        WriterRow {
            writer_id: "w".into(),
            host: host.into(),
            pid,
            heartbeat_at: Utc::now() - silent_for,
            stopped_at: None,
        }
    }

    #[test]
    fn a_live_writer_with_a_fresh_heartbeat_is_not_gone() {
        let me = writer(&this_host(), std::process::id(), chrono::Duration::zero());
        assert!(!is_gone(
            &me,
            &this_host(),
            Utc::now(),
            DEFAULT_ABANDON_AFTER
        ));
    }

    #[test]
    fn a_stopped_writer_is_gone() {
        let mut stopped = writer(&this_host(), std::process::id(), chrono::Duration::zero());
        stopped.stopped_at = Some(Utc::now());
        assert!(is_gone(
            &stopped,
            &this_host(),
            Utc::now(),
            DEFAULT_ABANDON_AFTER
        ));
    }

    #[test]
    fn a_silent_writer_elsewhere_is_gone_after_the_timeout() {
        let remote = writer("elsewhere", 1, chrono::Duration::seconds(30));
        assert!(!is_gone(
            &remote,
            &this_host(),
            Utc::now(),
            DEFAULT_ABANDON_AFTER
        ));
        let remote = writer("elsewhere", 1, chrono::Duration::seconds(61));
        assert!(is_gone(
            &remote,
            &this_host(),
            Utc::now(),
            DEFAULT_ABANDON_AFTER
        ));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_dead_process_on_this_host_is_gone_at_once() {
        // A child that has exited and been reaped leaves its pid unused.
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        let dead = writer(&this_host(), pid, chrono::Duration::zero());
        assert!(is_gone(
            &dead,
            &this_host(),
            Utc::now(),
            DEFAULT_ABANDON_AFTER
        ));
    }
}
