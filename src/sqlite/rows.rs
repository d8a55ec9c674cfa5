//! Turns rows read with the column macros back into records.

use rusqlite::Row;

use crate::Error;
use crate::model::{EventKind, JsonMap, RunEvent, StepRun, WorkflowRun};
use crate::time::parse_timestamp;

pub(crate) const SELECT_RUNS: &str = concat!("SELECT ", run_columns!(), " FROM workflow_runs");
pub(crate) const SELECT_STEPS: &str =
    concat!("SELECT ", step_columns!(), " FROM workflow_step_runs");
pub(crate) const SELECT_EVENTS: &str =
    concat!("SELECT ", event_columns!(), " FROM workflow_events");

fn json(column: &'static str, text: Option<String>) -> Result<JsonMap, Error> {
    match text {
        None => Ok(JsonMap::new()),
        Some(text) => serde_json::from_str(&text).map_err(|e| Error::Corrupt {
            column,
            detail: e.to_string(),
        }),
    }
}

fn time(
    column: &'static str,
    text: Option<String>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, Error> {
    text.map(|t| parse_timestamp(column, &t)).transpose()
}

fn parsed<T: std::str::FromStr>(column: &'static str, text: String) -> Result<T, Error> {
    text.parse().map_err(|_| Error::Corrupt {
        column,
        detail: format!("unexpected value {text:?}"),
    })
}

/// A row of `SELECT run_columns!() FROM workflow_runs`.
pub(crate) fn run_from_row(row: &Row<'_>) -> Result<WorkflowRun, Error> {
    Ok(WorkflowRun {
        run_id: row.get(0)?,
        workflow_name: row.get(1)?,
        domain: row.get(2)?,
        partition_key: row.get(3)?,
        status: parsed("status", row.get(4)?)?,
        started_at: time("started_at", row.get(5)?)?,
        completed_at: time("completed_at", row.get(6)?)?,
        // 7 is duration_ms, derived from the two times.
        params: json("params", row.get(8)?)?,
        outputs: json("outputs", row.get(9)?)?,
        error: row.get(10)?,
        error_category: row.get(11)?,
        metrics: json("metrics", row.get(12)?)?,
        triggered_by: row.get(13)?,
        created_at: parse_timestamp("created_at", &row.get::<_, String>(14)?)?,
        parent_run_id: row.get(15)?,
        cancel_reason: row.get(16)?,
    })
}

/// A row of `SELECT step_columns!() FROM workflow_step_runs`.
pub(crate) fn step_from_row(row: &Row<'_>) -> Result<StepRun, Error> {
    Ok(StepRun {
        step_id: row.get(0)?,
        run_id: row.get(1)?,
        step_name: row.get(2)?,
        step_type: row.get(3)?,
        step_order: row.get(4)?,
        status: parsed("status", row.get(5)?)?,
        started_at: time("started_at", row.get(6)?)?,
        completed_at: time("completed_at", row.get(7)?)?,
        // 8 is duration_ms, derived from the two times.
        input_params: json("input_params", row.get(9)?)?,
        output_data: json("output_data", row.get(10)?)?,
        error: row.get(11)?,
        error_category: row.get(12)?,
        records_processed: row.get(13)?,
        quality_passed: row.get(14)?,
        quality_metrics: json("quality_metrics", row.get(15)?)?,
        parent_step_id: row.get(16)?,
        skip_reason: row.get(17)?,
    })
}

/// A row of `SELECT event_columns!() FROM workflow_events`.
pub(crate) fn event_from_row(row: &Row<'_>) -> Result<RunEvent, Error> {
    let kind: String = row.get(4)?;
    Ok(RunEvent {
        event_id: row.get(0)?,
        run_id: row.get(1)?,
        step_id: row.get(2)?,
        timestamp: parse_timestamp("timestamp", &row.get::<_, String>(3)?)?,
        kind: EventKind::from_db(&kind).ok_or_else(|| Error::Corrupt {
            column: "kind",
            detail: format!("unexpected value {kind:?}"),
        })?,
        level: row.get(5)?,
        target: row.get(6)?,
        message: row.get(7)?,
        fields: json("fields", row.get(8)?)?,
    })
}
