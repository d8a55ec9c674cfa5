//! What the writer writes: whole rows of runs and steps (upserted, so a
//! batch needs no read) and new events, as parameters both databases bind.

use chrono::{DateTime, Utc};

use super::exec::Exec;
use super::param::Param;
use super::rows::{run_columns, step_columns};
use crate::Error;
use crate::model::{EventKind, JsonMap, StepRun, WorkflowRun};

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

/// Columns of a run as the writer inserts it: [`run_columns!`] and its writer.
pub(crate) const RUN_INSERT_COLUMNS: &str = concat!(run_columns!(), ", writer_id");
/// Columns of a step as the writer inserts it.
pub(crate) const STEP_INSERT_COLUMNS: &str = step_columns!();
/// Columns of an event as the writer inserts it (the id is generated).
pub(crate) const EVENT_INSERT_COLUMNS: &str =
    "run_id, step_id, timestamp, kind, level, target, message, fields";

/// What an upsert of a run changes when the run exists: everything but its id.
pub(crate) const RUN_CONFLICT: &str = " ON CONFLICT (run_id) DO UPDATE SET \
     workflow_name = excluded.workflow_name, domain = excluded.domain, \
     partition_key = excluded.partition_key, status = excluded.status, \
     started_at = excluded.started_at, completed_at = excluded.completed_at, \
     duration_ms = excluded.duration_ms, params = excluded.params, \
     outputs = excluded.outputs, error = excluded.error, \
     error_category = excluded.error_category, metrics = excluded.metrics, \
     triggered_by = excluded.triggered_by, parent_run_id = excluded.parent_run_id, \
     cancel_reason = excluded.cancel_reason, writer_id = excluded.writer_id";

/// What an upsert of a step changes when the step exists.
pub(crate) const STEP_CONFLICT: &str = " ON CONFLICT (step_id) DO UPDATE SET \
     step_name = excluded.step_name, step_type = excluded.step_type, \
     status = excluded.status, started_at = excluded.started_at, \
     completed_at = excluded.completed_at, duration_ms = excluded.duration_ms, \
     input_params = excluded.input_params, output_data = excluded.output_data, \
     error = excluded.error, error_category = excluded.error_category, \
     records_processed = excluded.records_processed, \
     quality_passed = excluded.quality_passed, quality_metrics = excluded.quality_metrics, \
     parent_step_id = excluded.parent_step_id, skip_reason = excluded.skip_reason";

fn text(s: &Option<String>) -> Param {
    Param::Text(s.clone())
}

fn millis(seconds: Option<f64>) -> Param {
    Param::Float(seconds.map(|s| s * 1000.0))
}

/// A run's values, in [`RUN_INSERT_COLUMNS`] order.
pub(crate) fn run_row(run: &WorkflowRun, writer_id: &str) -> [Param; 18] {
    [
        Param::text(run.run_id.as_str()),
        Param::text(run.workflow_name.as_str()),
        text(&run.domain),
        text(&run.partition_key),
        Param::text(run.status.as_str()),
        Param::Time(run.started_at),
        Param::Time(run.completed_at),
        millis(run.duration_seconds()),
        Param::Json(run.params.clone()),
        Param::Json(run.outputs.clone()),
        text(&run.error),
        text(&run.error_category),
        Param::Json(run.metrics.clone()),
        Param::text(run.triggered_by.as_str()),
        Param::Time(Some(run.created_at)),
        text(&run.parent_run_id),
        text(&run.cancel_reason),
        Param::text(writer_id),
    ]
}

/// A step's values, in [`STEP_INSERT_COLUMNS`] order.
pub(crate) fn step_row(step: &StepRun) -> [Param; 18] {
    [
        Param::text(step.step_id.as_str()),
        Param::text(step.run_id.as_str()),
        Param::text(step.step_name.as_str()),
        Param::text(step.step_type.as_str()),
        Param::Int(Some(i64::from(step.step_order))),
        Param::text(step.status.as_str()),
        Param::Time(step.started_at),
        Param::Time(step.completed_at),
        millis(step.duration_seconds()),
        Param::Json(step.input_params.clone()),
        Param::Json(step.output_data.clone()),
        text(&step.error),
        text(&step.error_category),
        Param::Int(step.records_processed),
        Param::Bool(step.quality_passed),
        Param::Json(step.quality_metrics.clone()),
        text(&step.parent_step_id),
        text(&step.skip_reason),
    ]
}

/// An event's values, in [`EVENT_INSERT_COLUMNS`] order.
pub(crate) fn event_row(event: &NewEvent) -> [Param; 8] {
    [
        Param::text(event.run_id.as_str()),
        text(&event.step_id),
        Param::Time(Some(event.timestamp)),
        Param::text(event.kind.as_str()),
        Param::Text(event.level.map(str::to_owned)),
        Param::Text(event.target.map(str::to_owned)),
        text(&event.message),
        Param::Json(event.fields.clone()),
    ]
}

/// Appends one event; part of the caller's transaction.
pub(crate) fn insert_event(db: &mut dyn Exec, event: &NewEvent) -> Result<u64, Error> {
    let sql = format!(
        "INSERT INTO workflow_events ({EVENT_INSERT_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    );
    db.execute(&sql, &event_row(event))
}
