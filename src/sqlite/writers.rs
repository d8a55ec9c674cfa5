//! The `history_writers` registry and the closing of abandoned runs.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::write::{NewEvent, insert_event};
use crate::model::{StepStatus, WorkflowStatus};
use crate::time::{format_timestamp, parse_timestamp};

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
}

/// What a writer reports with each heartbeat.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WriterCounts {
    pub(crate) messages_dropped: u64,
    pub(crate) records_lost: u64,
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn register(conn: &Connection, writer: &WriterRow) -> rusqlite::Result<()> {
    let now = format_timestamp(writer.heartbeat_at);
    conn.execute(
        "INSERT INTO history_writers (writer_id, host, pid, started_at, heartbeat_at) \
         VALUES (?1, ?2, ?3, ?4, ?4)",
        params![writer.writer_id, writer.host, writer.pid, now],
    )?;
    Ok(())
}

pub(crate) fn heartbeat(
    conn: &Connection,
    writer_id: &str,
    at: DateTime<Utc>,
    counts: WriterCounts,
    stopped: bool,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE history_writers SET heartbeat_at = ?2, messages_dropped = ?3, \
         records_lost = ?4, stopped_at = CASE WHEN ?5 THEN ?2 ELSE stopped_at END \
         WHERE writer_id = ?1",
    )?
    .execute(params![
        writer_id,
        format_timestamp(at),
        int(counts.messages_dropped),
        int(counts.records_lost),
        stopped,
    ])?;
    Ok(())
}

/// The writers that still have runs open, with their last signs of life.
pub(crate) fn writers_with_open_runs(conn: &Connection) -> Result<Vec<WriterRow>, crate::Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT writer_id, host, pid, heartbeat_at, stopped_at FROM history_writers \
         WHERE writer_id IN (SELECT writer_id FROM workflow_runs \
                             WHERE status IN ('PENDING', 'RUNNING'))",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, u32>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, Option<String>>(4)?,
        ))
    })?;
    rows.map(|row| {
        let (writer_id, host, pid, heartbeat_at, stopped_at) = row?;
        Ok(WriterRow {
            writer_id,
            host,
            pid,
            heartbeat_at: parse_timestamp("heartbeat_at", &heartbeat_at)?,
            stopped_at: stopped_at
                .map(|t| parse_timestamp("stopped_at", &t))
                .transpose()?,
        })
    })
    .collect()
}

/// An open run or step as found by recovery.
struct Open {
    id: String,
    run_id: String,
    status: String,
    started_at: Option<DateTime<Utc>>,
}

fn open_rows(conn: &Connection, sql: &str, key: &str) -> Result<Vec<Open>, crate::Error> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([key], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, Option<String>>(3)?,
        ))
    })?;
    rows.map(|row| {
        let (id, run_id, status, started_at) = row?;
        Ok(Open {
            id,
            run_id,
            status,
            started_at: started_at
                .map(|t| parse_timestamp("started_at", &t))
                .transpose()?,
        })
    })
    .collect()
}

/// Closes every run `writer` left open, and their open steps, as FAILED
/// with category `ABANDONED`, each with its status-change event. Returns
/// how many runs were closed.
///
/// They end at the writer's last sign of life (its stop, or last
/// heartbeat), but never before they started.
pub(crate) fn abandon_runs_of(
    conn: &mut Connection,
    writer: &WriterRow,
    now: DateTime<Utc>,
) -> Result<u64, crate::Error> {
    let last_seen = writer.stopped_at.unwrap_or(writer.heartbeat_at);
    let why = format!(
        "abandoned: the writer on {} (pid {}) stopped without closing it; last seen {}",
        writer.host,
        writer.pid,
        format_timestamp(last_seen)
    );
    let tx = conn.transaction()?;
    let runs = open_rows(
        &tx,
        "SELECT run_id, run_id, status, started_at FROM workflow_runs \
         WHERE writer_id = ?1 AND status IN ('PENDING', 'RUNNING')",
        &writer.writer_id,
    )?;
    for run in &runs {
        let steps = open_rows(
            &tx,
            "SELECT step_id, run_id, status, started_at FROM workflow_step_runs \
             WHERE run_id = ?1 AND status IN ('PENDING', 'RUNNING')",
            &run.run_id,
        )?;
        for step in &steps {
            close(&tx, "workflow_step_runs", "step_id", step, last_seen, &why)?;
            insert_event(
                &tx,
                &NewEvent::status_change(
                    &step.run_id,
                    Some(&step.id),
                    now,
                    &step.status,
                    StepStatus::Failed.as_str(),
                ),
            )?;
        }
        close(&tx, "workflow_runs", "run_id", run, last_seen, &why)?;
        insert_event(
            &tx,
            &NewEvent::status_change(
                &run.run_id,
                None,
                now,
                &run.status,
                WorkflowStatus::Failed.as_str(),
            ),
        )?;
    }
    tx.commit()?;
    Ok(runs.len() as u64)
}

fn close(
    conn: &Connection,
    table: &str,
    key: &str,
    open: &Open,
    last_seen: DateTime<Utc>,
    why: &str,
) -> rusqlite::Result<()> {
    let completed = open.started_at.map_or(last_seen, |s| s.max(last_seen));
    let duration_ms = open
        .started_at
        .and_then(|s| (completed - s).num_microseconds())
        .map(|us| us as f64 / 1000.0);
    conn.prepare_cached(&format!(
        "UPDATE {table} SET status = 'FAILED', error = COALESCE(error, ?2), \
         error_category = ?3, completed_at = ?4, duration_ms = ?5 \
         WHERE {key} = ?1 AND status IN ('PENDING', 'RUNNING')"
    ))?
    .execute(params![
        open.id,
        why,
        ABANDONED,
        format_timestamp(completed),
        duration_ms
    ])?;
    Ok(())
}
