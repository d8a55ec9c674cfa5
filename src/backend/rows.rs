//! Records read back from rows selected with the column lists below, the
//! same on every database.

use super::exec::{Row, required};
use crate::Error;
use crate::model::{EventKind, RunEvent, StepRun, WorkflowRun};

/// The columns of `workflow_runs`, in the order rows are bound and read.
macro_rules! run_columns {
    () => {
        "run_id, workflow_name, domain, partition_key, status, started_at, completed_at, \
         duration_ms, params, outputs, error, error_category, metrics, triggered_by, \
         created_at, parent_run_id, cancel_reason"
    };
}

/// The columns of `workflow_step_runs`, in the order rows are bound and read.
macro_rules! step_columns {
    () => {
        "step_id, run_id, step_name, step_type, step_order, status, started_at, \
         completed_at, duration_ms, input_params, output_data, error, error_category, \
         records_processed, quality_passed, quality_metrics, parent_step_id, skip_reason"
    };
}

pub(crate) use {run_columns, step_columns};

pub(crate) const SELECT_RUNS: &str = concat!("SELECT ", run_columns!(), " FROM workflow_runs");
pub(crate) const SELECT_STEPS: &str =
    concat!("SELECT ", step_columns!(), " FROM workflow_step_runs");
pub(crate) const SELECT_EVENTS: &str = "SELECT event_id, run_id, step_id, timestamp, kind, \
     level, target, message, fields FROM workflow_events";

fn parsed<T: std::str::FromStr>(column: &'static str, text: Option<String>) -> Result<T, Error> {
    let text = required(text, column)?;
    text.parse().map_err(|_| Error::Corrupt {
        column,
        detail: format!("unexpected value {text:?}"),
    })
}

/// A row of [`SELECT_RUNS`].
pub(crate) fn run_from_row(row: &dyn Row) -> Result<WorkflowRun, Error> {
    Ok(WorkflowRun {
        run_id: required(row.text(0)?, "run_id")?,
        workflow_name: required(row.text(1)?, "workflow_name")?,
        domain: row.text(2)?,
        partition_key: row.text(3)?,
        status: parsed("status", row.text(4)?)?,
        started_at: row.time(5, "started_at")?,
        completed_at: row.time(6, "completed_at")?,
        // 7 is duration_ms, derived from the two times.
        params: row.json(8, "params")?,
        outputs: row.json(9, "outputs")?,
        error: row.text(10)?,
        error_category: row.text(11)?,
        metrics: row.json(12, "metrics")?,
        triggered_by: required(row.text(13)?, "triggered_by")?,
        created_at: required(row.time(14, "created_at")?, "created_at")?,
        parent_run_id: row.text(15)?,
        cancel_reason: row.text(16)?,
    })
}

/// A row of [`SELECT_STEPS`].
pub(crate) fn step_from_row(row: &dyn Row) -> Result<StepRun, Error> {
    let order = required(row.int(4)?, "step_order")?;
    Ok(StepRun {
        step_id: required(row.text(0)?, "step_id")?,
        run_id: required(row.text(1)?, "run_id")?,
        step_name: required(row.text(2)?, "step_name")?,
        step_type: required(row.text(3)?, "step_type")?,
        step_order: u32::try_from(order).map_err(|_| Error::Corrupt {
            column: "step_order",
            detail: format!("{order} is not a step position"),
        })?,
        status: parsed("status", row.text(5)?)?,
        started_at: row.time(6, "started_at")?,
        completed_at: row.time(7, "completed_at")?,
        // 8 is duration_ms, derived from the two times.
        input_params: row.json(9, "input_params")?,
        output_data: row.json(10, "output_data")?,
        error: row.text(11)?,
        error_category: row.text(12)?,
        records_processed: row.int(13)?,
        quality_passed: row.boolean(14)?,
        quality_metrics: row.json(15, "quality_metrics")?,
        parent_step_id: row.text(16)?,
        skip_reason: row.text(17)?,
    })
}

/// A row of [`SELECT_EVENTS`].
pub(crate) fn event_from_row(row: &dyn Row) -> Result<RunEvent, Error> {
    let kind = required(row.text(4)?, "kind")?;
    Ok(RunEvent {
        event_id: required(row.int(0)?, "event_id")?,
        run_id: required(row.text(1)?, "run_id")?,
        step_id: row.text(2)?,
        timestamp: required(row.time(3, "timestamp")?, "timestamp")?,
        kind: EventKind::from_db(&kind).ok_or_else(|| Error::Corrupt {
            column: "kind",
            detail: format!("unexpected value {kind:?}"),
        })?,
        level: row.text(5)?,
        target: row.text(6)?,
        message: row.text(7)?,
        fields: row.json(8, "fields")?,
    })
}
