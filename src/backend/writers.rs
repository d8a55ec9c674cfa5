//! The `history_writers` registry and the closing of abandoned runs.

use chrono::{DateTime, Utc};

use super::exec::{Exec, query, required};
use super::param::Param;
use super::tables::{NewEvent, insert_event};
use super::timestamp::format_timestamp;
use crate::Error;
use crate::model::{StepStatus, WorkflowStatus};

/// The error category of runs and steps closed because their writer is gone.
pub(crate) const ABANDONED: &str = "ABANDONED";

/// A registered writer, as recovery sees it.
#[derive(Debug, Clone)]
pub(crate) struct WriterRow {
    pub(crate) writer_id: String,
    pub(crate) host: String,
    pub(crate) pid: u32,
    pub(crate) heartbeat_at: DateTime<Utc>,
    pub(crate) stopped_at: Option<DateTime<Utc>>,
    /// How it shows that it lives (see [`super::liveness`]); `None` for
    /// writers of versions before such locks.
    pub(crate) lock_kind: Option<String>,
}

/// What a writer reports with each heartbeat.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WriterCounts {
    pub(crate) messages_dropped: u64,
    pub(crate) records_lost: u64,
}

pub(crate) fn register(db: &mut dyn Exec, writer: &WriterRow) -> Result<(), Error> {
    db.execute(
        "INSERT INTO history_writers (writer_id, host, pid, started_at, heartbeat_at, lock_kind) \
         VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
        &[
            Param::text(writer.writer_id.as_str()),
            Param::text(writer.host.as_str()),
            Param::Int(Some(i64::from(writer.pid))),
            Param::from(writer.heartbeat_at),
            Param::opt_text(&writer.lock_kind),
        ],
    )?;
    Ok(())
}

pub(crate) fn heartbeat(
    db: &mut dyn Exec,
    writer_id: &str,
    at: DateTime<Utc>,
    counts: WriterCounts,
    stopped: bool,
) -> Result<(), Error> {
    db.execute(
        "UPDATE history_writers SET heartbeat_at = ?2, messages_dropped = ?3, \
         records_lost = ?4, stopped_at = CASE WHEN ?5 THEN ?2 ELSE stopped_at END \
         WHERE writer_id = ?1",
        &[
            Param::text(writer_id),
            Param::from(at),
            Param::count(counts.messages_dropped),
            Param::count(counts.records_lost),
            Param::Bool(Some(stopped)),
        ],
    )?;
    Ok(())
}

/// The writers that still have runs open, with their last signs of life.
pub(crate) fn writers_with_open_runs(db: &mut dyn Exec) -> Result<Vec<WriterRow>, Error> {
    query(
        db,
        "SELECT writer_id, host, pid, heartbeat_at, stopped_at, lock_kind FROM history_writers \
         WHERE writer_id IN (SELECT writer_id FROM workflow_runs \
                             WHERE status IN ('PENDING', 'RUNNING'))",
        &[],
        |row| {
            let pid = required(row.int(2)?, "pid")?;
            Ok(WriterRow {
                writer_id: required(row.text(0)?, "writer_id")?,
                host: required(row.text(1)?, "host")?,
                pid: u32::try_from(pid).unwrap_or(u32::MAX),
                heartbeat_at: required(row.time(3, "heartbeat_at")?, "heartbeat_at")?,
                stopped_at: row.time(4, "stopped_at")?,
                lock_kind: row.text(5)?,
            })
        },
    )
}

/// How many runs `writer_id` has open.
pub(crate) fn open_run_count(db: &mut dyn Exec, writer_id: &str) -> Result<u64, Error> {
    let counts = query(
        db,
        "SELECT COUNT(*) FROM workflow_runs WHERE writer_id = ?1 \
         AND status IN ('PENDING', 'RUNNING')",
        &[Param::text(writer_id)],
        |row| required(row.int(0)?, "count"),
    )?;
    Ok(counts.first().copied().unwrap_or(0).max(0) as u64)
}

/// An open run or step as found by recovery.
struct Open {
    id: String,
    run_id: String,
    status: String,
    started_at: Option<DateTime<Utc>>,
}

fn open_rows(db: &mut dyn Exec, sql: &str, key: &str) -> Result<Vec<Open>, Error> {
    query(db, sql, &[Param::text(key)], |row| {
        Ok(Open {
            id: required(row.text(0)?, "id")?,
            run_id: required(row.text(1)?, "run_id")?,
            status: required(row.text(2)?, "status")?,
            started_at: row.time(3, "started_at")?,
        })
    })
}

/// Closes every run `writer` left open, and their open steps, as FAILED
/// with category `ABANDONED`, each with its status-change event. Returns
/// how many runs this call closed. Run it in a transaction.
///
/// They end at the writer's last sign of life (its stop, or last
/// heartbeat), but never before they started.
pub(crate) fn abandon_runs_of(
    db: &mut dyn Exec,
    writer: &WriterRow,
    now: DateTime<Utc>,
) -> Result<u64, Error> {
    let last_seen = writer.stopped_at.unwrap_or(writer.heartbeat_at);
    let why = format!(
        "abandoned: the writer on {} (pid {}) stopped without closing it; last seen {}",
        writer.host,
        writer.pid,
        format_timestamp(last_seen)
    );
    let runs = open_rows(
        db,
        "SELECT run_id, run_id, status, started_at FROM workflow_runs \
         WHERE writer_id = ?1 AND status IN ('PENDING', 'RUNNING')",
        &writer.writer_id,
    )?;
    let mut closed = 0;
    for run in &runs {
        let steps = open_rows(
            db,
            "SELECT step_id, run_id, status, started_at FROM workflow_step_runs \
             WHERE run_id = ?1 AND status IN ('PENDING', 'RUNNING')",
            &run.run_id,
        )?;
        for step in &steps {
            // Another process may be recovering the same writer: only the
            // one whose update closed the step writes its audit entry.
            if close(db, "workflow_step_runs", "step_id", step, last_seen, &why)? == 0 {
                continue;
            }
            insert_event(
                db,
                &NewEvent::status_change(
                    &step.run_id,
                    Some(&step.id),
                    now,
                    &step.status,
                    StepStatus::Failed.as_str(),
                ),
            )?;
        }
        if close(db, "workflow_runs", "run_id", run, last_seen, &why)? == 0 {
            continue;
        }
        closed += 1;
        insert_event(
            db,
            &NewEvent::status_change(
                &run.run_id,
                None,
                now,
                &run.status,
                WorkflowStatus::Failed.as_str(),
            ),
        )?;
    }
    Ok(closed)
}

fn close(
    db: &mut dyn Exec,
    table: &str,
    key: &str,
    open: &Open,
    last_seen: DateTime<Utc>,
    why: &str,
) -> Result<u64, Error> {
    let completed = open.started_at.map_or(last_seen, |s| s.max(last_seen));
    let duration_ms = open
        .started_at
        .and_then(|s| (completed - s).num_microseconds())
        .map(|us| us as f64 / 1000.0);
    db.execute(
        &format!(
            "UPDATE {table} SET status = 'FAILED', error = COALESCE(error, ?2), \
             error_category = ?3, completed_at = ?4, duration_ms = ?5 \
             WHERE {key} = ?1 AND status IN ('PENDING', 'RUNNING')"
        ),
        &[
            Param::text(open.id.as_str()),
            Param::text(why),
            Param::text(ABANDONED),
            Param::from(completed),
            Param::Float(duration_ms),
        ],
    )
}
