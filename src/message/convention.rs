//! The field-name conventions that turn spans and events into history.
//!
//! | span or field | becomes |
//! |---|---|
//! | span named `workflow` | a run |
//! | span named `step` | a step of the nearest enclosing run |
//! | `workflow`, `domain`, `partition_key`, `triggered_by`, `run_id` on a run | those columns |
//! | `step`, `step_type` on a step | `step_name`, `step_type` |
//! | any other field given at creation | `params` / `input_params` |
//! | `metric.<name>` recorded later | the run's `metrics` |
//! | `output.<name>`, or any other field recorded later on the span | `outputs` / `output_data` |
//! | `records_processed` | the step's `records_processed` |
//! | `quality_passed`, `quality.<name>` | the step's `quality_passed` / `quality_metrics` |
//! | `skip_reason` | the step ends `SKIPPED` |
//! | `cancel_reason` | the run ends `CANCELLED` |
//! | `error`, or an ERROR-level event | the innermost step or run ends `FAILED` |
//! | `error_category` | the category of that error |

/// The span names that are tracked.
pub(crate) const RUN_SPAN: &str = "workflow";
pub(crate) const STEP_SPAN: &str = "step";

/// The field that gives a run its id; the layer takes it (see
/// [`RunIdentity`](super::RunIdentity)), the writer never sees it.
pub(crate) const RUN_ID_FIELD: &str = "run_id";

/// Where a field given at a span's creation goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreationField<'a> {
    WorkflowName,
    Domain,
    PartitionKey,
    TriggeredBy,
    StepName,
    StepType,
    /// Any other field: a param.
    Param(&'a str),
}

impl<'a> CreationField<'a> {
    pub(crate) fn of_run(name: &'a str) -> Self {
        match name {
            "workflow" => CreationField::WorkflowName,
            "domain" => CreationField::Domain,
            "partition_key" => CreationField::PartitionKey,
            "triggered_by" => CreationField::TriggeredBy,
            other => CreationField::Param(other),
        }
    }

    pub(crate) fn of_step(name: &'a str) -> Self {
        match name {
            "step" => CreationField::StepName,
            "step_type" => CreationField::StepType,
            other => CreationField::Param(other),
        }
    }
}

/// What a field recorded during a run (by `Span::record` or an event) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LaterField<'a> {
    Metric(&'a str),
    Output(&'a str),
    RecordsProcessed,
    QualityPassed,
    Quality(&'a str),
    SkipReason,
    CancelReason,
    Error,
    ErrorCategory,
    /// No convention: an output when recorded on a span, only a log field
    /// when carried by an event.
    Other(&'a str),
}

impl<'a> LaterField<'a> {
    pub(crate) fn of(name: &'a str) -> Self {
        if let Some(metric) = name.strip_prefix("metric.") {
            return LaterField::Metric(metric);
        }
        if let Some(output) = name.strip_prefix("output.") {
            return LaterField::Output(output);
        }
        if let Some(quality) = name.strip_prefix("quality.") {
            return LaterField::Quality(quality);
        }
        match name {
            "records_processed" => LaterField::RecordsProcessed,
            "quality_passed" => LaterField::QualityPassed,
            "skip_reason" => LaterField::SkipReason,
            "cancel_reason" => LaterField::CancelReason,
            "error" => LaterField::Error,
            "error_category" => LaterField::ErrorCategory,
            other => LaterField::Other(other),
        }
    }

    /// Whether an event carrying this field changes a run or step, and so
    /// must reach the writer even when below the capture level.
    pub(crate) fn is_convention(name: &str) -> bool {
        !matches!(LaterField::of(name), LaterField::Other(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_stripped() {
        assert_eq!(LaterField::of("metric.rows"), LaterField::Metric("rows"));
        assert_eq!(LaterField::of("output.url"), LaterField::Output("url"));
        assert_eq!(
            LaterField::of("quality.nulls"),
            LaterField::Quality("nulls")
        );
        assert_eq!(LaterField::of("rows"), LaterField::Other("rows"));
        assert!(LaterField::is_convention("skip_reason"));
        assert!(!LaterField::is_convention("message"));
    }

    #[test]
    fn creation_fields_by_span_kind() {
        assert_eq!(
            CreationField::of_run("workflow"),
            CreationField::WorkflowName
        );
        assert_eq!(CreationField::of_run("step"), CreationField::Param("step"));
        assert_eq!(CreationField::of_step("step"), CreationField::StepName);
        assert_eq!(CreationField::of_step("tier"), CreationField::Param("tier"));
    }
}
