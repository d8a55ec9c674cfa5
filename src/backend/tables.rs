//! The three tables of history, each described once (see [`super::table`]),
//! and their rows read back as records.

use chrono::{DateTime, Utc};

use super::exec::{Exec, required};
use super::param::Param;
use super::table::{Column, Reader, Source, SqlType, Table};
use crate::Error;
use crate::model::{EventKind, JsonMap, RunEvent, StepRun, WorkflowRun};

/// Shorthand for a column taken from a field of the record.
macro_rules! field {
    ($name:literal, $ty:ident, |$r:ident| $value:expr) => {
        Column {
            name: $name,
            ty: SqlType::$ty,
            source: Source::Field(|$r| $value),
        }
    };
}

fn millis<'a>(seconds: Option<f64>) -> Param<'a> {
    Param::Float(seconds.map(|s| s * 1000.0))
}

pub(crate) static RUNS: Table<WorkflowRun> = Table {
    name: "workflow_runs",
    key: Some("run_id"),
    columns: &[
        field!("run_id", Text, |r| Param::text(r.run_id.as_str())),
        field!("workflow_name", Text, |r| Param::text(
            r.workflow_name.as_str()
        )),
        field!("domain", Text, |r| Param::opt_text(&r.domain)),
        field!("partition_key", Text, |r| Param::opt_text(&r.partition_key)),
        field!("status", Text, |r| Param::text(r.status.as_str())),
        field!("started_at", Time, |r| Param::Time(r.started_at)),
        field!("completed_at", Time, |r| Param::Time(r.completed_at)),
        field!("duration_ms", Float, |r| millis(r.duration_seconds())),
        field!("params", Json, |r| Param::json(&r.params)),
        field!("outputs", Json, |r| Param::json(&r.outputs)),
        field!("error", Text, |r| Param::opt_text(&r.error)),
        field!("error_category", Text, |r| Param::opt_text(
            &r.error_category
        )),
        field!("metrics", Json, |r| Param::json(&r.metrics)),
        field!("triggered_by", Text, |r| Param::text(
            r.triggered_by.as_str()
        )),
        field!("created_at", Time, |r| Param::Time(Some(r.created_at))),
        field!("parent_run_id", Text, |r| Param::opt_text(&r.parent_run_id)),
        field!("cancel_reason", Text, |r| Param::opt_text(&r.cancel_reason)),
        field!("attempt", Int, |r| Param::Int(Some(i64::from(r.attempt)))),
        field!("first_attempt_id", Text, |r| Param::opt_text(
            &r.first_attempt_id
        )),
        Column {
            name: "writer_id",
            ty: SqlType::Text,
            source: Source::WriterId,
        },
    ],
    kept_on_conflict: &["created_at"],
};

pub(crate) static STEPS: Table<StepRun> = Table {
    name: "workflow_step_runs",
    key: Some("step_id"),
    columns: &[
        field!("step_id", Text, |s| Param::text(s.step_id.as_str())),
        field!("run_id", Text, |s| Param::text(s.run_id.as_str())),
        field!("step_name", Text, |s| Param::text(s.step_name.as_str())),
        field!("step_type", Text, |s| Param::text(s.step_type.as_str())),
        field!("step_order", Int, |s| Param::Int(Some(i64::from(
            s.step_order
        )))),
        field!("status", Text, |s| Param::text(s.status.as_str())),
        field!("started_at", Time, |s| Param::Time(s.started_at)),
        field!("completed_at", Time, |s| Param::Time(s.completed_at)),
        field!("duration_ms", Float, |s| millis(s.duration_seconds())),
        field!("input_params", Json, |s| Param::json(&s.input_params)),
        field!("output_data", Json, |s| Param::json(&s.output_data)),
        field!("error", Text, |s| Param::opt_text(&s.error)),
        field!("error_category", Text, |s| Param::opt_text(
            &s.error_category
        )),
        field!("records_processed", Int, |s| Param::Int(
            s.records_processed
        )),
        field!("quality_passed", Bool, |s| Param::Bool(s.quality_passed)),
        field!("quality_metrics", Json, |s| Param::json(&s.quality_metrics)),
        field!("parent_step_id", Text, |s| Param::opt_text(
            &s.parent_step_id
        )),
        field!("skip_reason", Text, |s| Param::opt_text(&s.skip_reason)),
    ],
    kept_on_conflict: &["run_id", "step_order"],
};

pub(crate) static EVENTS: Table<NewEvent> = Table {
    name: "workflow_events",
    key: None,
    columns: &[
        Column {
            name: "event_id",
            ty: SqlType::Int,
            source: Source::Generated,
        },
        field!("run_id", Text, |e| Param::text(e.run_id.as_str())),
        field!("step_id", Text, |e| Param::opt_text(&e.step_id)),
        field!("timestamp", Time, |e| Param::Time(Some(e.timestamp))),
        field!("kind", Text, |e| Param::text(e.kind.as_str())),
        field!("level", Text, |e| Param::Text(e.level.map(Into::into))),
        field!("target", Text, |e| Param::Text(e.target.map(Into::into))),
        field!("message", Text, |e| Param::opt_text(&e.message)),
        field!("fields", Json, |e| Param::json(&e.fields)),
    ],
    kept_on_conflict: &[],
};

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

/// Appends one event; part of the caller's transaction.
pub(crate) fn insert_event(db: &mut dyn Exec, event: &NewEvent) -> Result<u64, Error> {
    db.execute(&EVENTS.insert_one(), &EVENTS.values(event, ""))
}

/// A row of `RUNS.select()`.
pub(crate) fn run_from_row(row: &dyn super::exec::Row) -> Result<WorkflowRun, Error> {
    let r = Reader::new(row, &RUNS);
    Ok(WorkflowRun {
        run_id: r.required_text("run_id")?,
        workflow_name: r.required_text("workflow_name")?,
        domain: r.text("domain")?,
        partition_key: r.text("partition_key")?,
        status: r.parsed("status")?,
        started_at: r.time("started_at")?,
        completed_at: r.time("completed_at")?,
        params: r.json("params")?,
        outputs: r.json("outputs")?,
        error: r.text("error")?,
        error_category: r.text("error_category")?,
        metrics: r.json("metrics")?,
        triggered_by: r.required_text("triggered_by")?,
        created_at: required(r.time("created_at")?, "created_at")?,
        parent_run_id: r.text("parent_run_id")?,
        cancel_reason: r.text("cancel_reason")?,
        attempt: {
            let attempt = required(r.int("attempt")?, "attempt")?;
            u32::try_from(attempt).map_err(|_| Error::Corrupt {
                column: "attempt",
                detail: format!("{attempt} is not an attempt number"),
            })?
        },
        first_attempt_id: r.text("first_attempt_id")?,
    })
}

/// A row of `STEPS.select()`.
pub(crate) fn step_from_row(row: &dyn super::exec::Row) -> Result<StepRun, Error> {
    let r = Reader::new(row, &STEPS);
    let order = required(r.int("step_order")?, "step_order")?;
    Ok(StepRun {
        step_id: r.required_text("step_id")?,
        run_id: r.required_text("run_id")?,
        step_name: r.required_text("step_name")?,
        step_type: r.required_text("step_type")?,
        step_order: u32::try_from(order).map_err(|_| Error::Corrupt {
            column: "step_order",
            detail: format!("{order} is not a step position"),
        })?,
        status: r.parsed("status")?,
        started_at: r.time("started_at")?,
        completed_at: r.time("completed_at")?,
        input_params: r.json("input_params")?,
        output_data: r.json("output_data")?,
        error: r.text("error")?,
        error_category: r.text("error_category")?,
        records_processed: r.int("records_processed")?,
        quality_passed: r.boolean("quality_passed")?,
        quality_metrics: r.json("quality_metrics")?,
        parent_step_id: r.text("parent_step_id")?,
        skip_reason: r.text("skip_reason")?,
    })
}

/// A row of `EVENTS.select()`.
pub(crate) fn event_from_row(row: &dyn super::exec::Row) -> Result<RunEvent, Error> {
    let r = Reader::new(row, &EVENTS);
    let kind = r.required_text("kind")?;
    Ok(RunEvent {
        event_id: required(r.int("event_id")?, "event_id")?,
        run_id: r.required_text("run_id")?,
        step_id: r.text("step_id")?,
        timestamp: required(r.time("timestamp")?, "timestamp")?,
        kind: EventKind::from_db(&kind).ok_or_else(|| Error::Corrupt {
            column: "kind",
            detail: format!("unexpected value {kind:?}"),
        })?,
        level: r.text("level")?,
        target: r.text("target")?,
        message: r.text("message")?,
        fields: r.json("fields")?,
    })
}
