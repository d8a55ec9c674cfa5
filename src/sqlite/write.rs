//! The writer's SQL: one transaction per batch, prepared statements, upserts
//! of whole rows so a batch needs no read.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use crate::model::{EventKind, JsonMap, StepRun, WorkflowRun};
use crate::time::format_timestamp;

/// An event row not yet written.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    pub(crate) run_id: String,
    pub(crate) step_id: Option<String>,
    pub(crate) timestamp: DateTime<Utc>,
    pub(crate) kind: EventKind,
    pub(crate) level: Option<&'static str>,
    pub(crate) target: Option<&'static str>,
    pub(crate) message: Option<String>,
    pub(crate) fields: JsonMap,
}

impl NewEvent {
    /// The audit-trail entry of a status transition.
    pub(crate) fn status_change(
        run_id: &str,
        step_id: Option<&str>,
        at: DateTime<Utc>,
        old: &str,
        new: &str,
    ) -> Self {
        let mut fields = JsonMap::new();
        fields.insert("old".to_owned(), old.into());
        fields.insert("new".to_owned(), new.into());
        NewEvent {
            run_id: run_id.to_owned(),
            step_id: step_id.map(str::to_owned),
            timestamp: at,
            kind: EventKind::StatusChanged,
            level: None,
            target: None,
            message: None,
            fields,
        }
    }
}

const UPSERT_RUN: &str = concat!(
    "INSERT INTO workflow_runs (",
    run_columns!(),
    ", writer_id) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) \
     ON CONFLICT (run_id) DO UPDATE SET \
     workflow_name = excluded.workflow_name, domain = excluded.domain, \
     partition_key = excluded.partition_key, status = excluded.status, \
     started_at = excluded.started_at, completed_at = excluded.completed_at, \
     duration_ms = excluded.duration_ms, params = excluded.params, \
     outputs = excluded.outputs, error = excluded.error, \
     error_category = excluded.error_category, metrics = excluded.metrics, \
     triggered_by = excluded.triggered_by, parent_run_id = excluded.parent_run_id, \
     cancel_reason = excluded.cancel_reason, writer_id = excluded.writer_id"
);

const UPSERT_STEP: &str = concat!(
    "INSERT INTO workflow_step_runs (",
    step_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) \
     ON CONFLICT (step_id) DO UPDATE SET \
     step_name = excluded.step_name, step_type = excluded.step_type, \
     status = excluded.status, started_at = excluded.started_at, \
     completed_at = excluded.completed_at, duration_ms = excluded.duration_ms, \
     input_params = excluded.input_params, output_data = excluded.output_data, \
     error = excluded.error, error_category = excluded.error_category, \
     records_processed = excluded.records_processed, \
     quality_passed = excluded.quality_passed, quality_metrics = excluded.quality_metrics, \
     parent_step_id = excluded.parent_step_id, skip_reason = excluded.skip_reason"
);

const INSERT_EVENT: &str = "INSERT INTO workflow_events \
     (run_id, step_id, timestamp, kind, level, target, message, fields) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

fn time(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(format_timestamp)
}

fn json(map: &JsonMap) -> String {
    // A map of JSON values always serializes.
    serde_json::to_string(map).unwrap_or_else(|_| "{}".to_owned())
}

fn millis(seconds: Option<f64>) -> Option<f64> {
    seconds.map(|s| s * 1000.0)
}

/// Writes runs (as recorded by `writer_id`), then steps, then events in one
/// transaction; returns the number of rows written. Nothing is written if
/// any statement fails.
pub(crate) fn write_batch<'a>(
    conn: &mut Connection,
    writer_id: &str,
    runs: impl IntoIterator<Item = &'a WorkflowRun>,
    steps: impl IntoIterator<Item = &'a StepRun>,
    events: &[NewEvent],
) -> rusqlite::Result<u64> {
    let tx = conn.transaction()?;
    let mut rows = 0;
    {
        let mut upsert = tx.prepare_cached(UPSERT_RUN)?;
        for run in runs {
            rows += upsert.execute(params![
                run.run_id,
                run.workflow_name,
                run.domain,
                run.partition_key,
                run.status.as_str(),
                time(run.started_at),
                time(run.completed_at),
                millis(run.duration_seconds()),
                json(&run.params),
                json(&run.outputs),
                run.error,
                run.error_category,
                json(&run.metrics),
                run.triggered_by,
                format_timestamp(run.created_at),
                run.parent_run_id,
                run.cancel_reason,
                writer_id,
            ])? as u64;
        }
        let mut upsert = tx.prepare_cached(UPSERT_STEP)?;
        for step in steps {
            rows += upsert.execute(params![
                step.step_id,
                step.run_id,
                step.step_name,
                step.step_type,
                step.step_order,
                step.status.as_str(),
                time(step.started_at),
                time(step.completed_at),
                millis(step.duration_seconds()),
                json(&step.input_params),
                json(&step.output_data),
                step.error,
                step.error_category,
                step.records_processed,
                step.quality_passed,
                json(&step.quality_metrics),
                step.parent_step_id,
                step.skip_reason,
            ])? as u64;
        }
        for event in events {
            rows += insert_event(&tx, event)?;
        }
    }
    tx.commit()?;
    Ok(rows)
}

/// Appends one event; part of the caller's transaction.
pub(crate) fn insert_event(conn: &Connection, event: &NewEvent) -> rusqlite::Result<u64> {
    let mut insert = conn.prepare_cached(INSERT_EVENT)?;
    let rows = insert.execute(params![
        event.run_id,
        event.step_id,
        format_timestamp(event.timestamp),
        event.kind.as_str(),
        event.level,
        event.target,
        event.message,
        json(&event.fields),
    ])?;
    Ok(rows as u64)
}

/// Deletes up to `chunk` of the runs started before `cutoff`, with their
/// steps and events, in one short transaction; returns how many runs went.
///
/// Callers loop until it returns less than `chunk`, so a large retention
/// pass never holds the write lock for long.
pub(crate) fn delete_runs_started_before(
    conn: &mut Connection,
    cutoff: DateTime<Utc>,
    chunk: u32,
) -> rusqlite::Result<u64> {
    let tx = conn.transaction()?;
    tx.execute_batch("CREATE TEMP TABLE IF NOT EXISTS doomed_runs (run_id TEXT PRIMARY KEY)")?;
    tx.execute("DELETE FROM temp.doomed_runs", [])?;
    let runs = tx.execute(
        "INSERT INTO temp.doomed_runs (run_id) \
         SELECT run_id FROM workflow_runs WHERE started_at < ?1 ORDER BY started_at LIMIT ?2",
        params![format_timestamp(cutoff), chunk],
    )?;
    tx.execute(
        "DELETE FROM workflow_events WHERE run_id IN (SELECT run_id FROM temp.doomed_runs)",
        [],
    )?;
    tx.execute(
        "DELETE FROM workflow_step_runs WHERE run_id IN (SELECT run_id FROM temp.doomed_runs)",
        [],
    )?;
    tx.execute(
        "DELETE FROM workflow_runs WHERE run_id IN (SELECT run_id FROM temp.doomed_runs)",
        [],
    )?;
    tx.execute("DELETE FROM temp.doomed_runs", [])?;
    tx.commit()?;
    Ok(runs as u64)
}
