//! Fields recorded during a run, by `Span::record` or carried by events,
//! applied to the open run or step they belong to by the conventions.

use tracing::Level;

use super::{Records, mark};
use crate::backend::tables::NewEvent;
use crate::message::convention::{CreationField, LaterField};
use crate::message::value::{Text, Value};
use crate::message::{Event, SpanKey};
use crate::model::{EventKind, JsonMap};

/// Where a later-recorded field came from: the rules differ slightly.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// `Span::record` on the span itself.
    Record,
    /// A field of an event inside the span, at this level.
    Event(Level),
}

impl Records {
    /// Applies an event's conventions and keeps it in the log; returns 1
    /// if the log entry could not be kept.
    pub(super) fn apply_event(&mut self, event: Event) -> u64 {
        let level = *event.metadata.level();
        let mut message = None;
        let mut fields = JsonMap::new();
        let mut has_error_field = false;
        for (name, value) in event.fields {
            if name == "message" {
                message = Some(value.into_text());
                continue;
            }
            has_error_field |= name == "error";
            if event.keep_in_log {
                fields.insert(name.to_owned(), value.to_json());
            }
            self.apply_later(event.span, name, value, Origin::Event(level));
        }
        if event.fails && !has_error_field {
            let text = message.clone().unwrap_or_else(|| "ERROR event".to_owned());
            self.apply_later(
                event.span,
                "error",
                Value::Text(Text::from(text)),
                Origin::Event(level),
            );
        }
        if !event.keep_in_log {
            return 0;
        }
        let (run, run_id, step_id) = if let Some(open) = self.steps.get(&event.span) {
            (
                open.run,
                open.step.run_id.clone(),
                Some(open.step.step_id.clone()),
            )
        } else if let Some(open) = self.runs.get(&event.span) {
            (event.span, open.run.run_id.clone(), None)
        } else {
            return 0;
        };
        if self.is_full() {
            return 1;
        }
        self.log(
            run,
            NewEvent {
                run_id,
                step_id,
                timestamp: self.anchor.to_utc(event.at),
                kind: EventKind::Log,
                level: Some(level.as_str()),
                target: Some(event.metadata.target()),
                message,
                fields,
            },
        );
        0
    }

    /// Applies a field recorded on, or logged inside, an open run or step.
    pub(super) fn apply_later(
        &mut self,
        span: SpanKey,
        name: &'static str,
        value: Value,
        origin: Origin,
    ) {
        let field = LaterField::of(name);
        // An `error` field fails its span when recorded on it, or when an
        // ERROR event carries it; a WARN "retrying" with an error field (and
        // category) must not mark a step that then succeeds or fails otherwise.
        let is_error = matches!(field, LaterField::Error | LaterField::ErrorCategory);
        if is_error && origin != Origin::Record && origin != Origin::Event(Level::ERROR) {
            return;
        }
        if let Some(open) = self.steps.get_mut(&span) {
            let step = &mut open.step;
            match field {
                LaterField::Metric(metric) => {
                    let run_key = open.run;
                    if let Some(run) = self.runs.get_mut(&run_key) {
                        run.run.metrics.insert(metric.to_owned(), value.into_json());
                        mark(&mut run.dirty, &mut self.dirty_runs, run_key);
                    }
                }
                LaterField::CancelReason => {
                    let run_key = open.run;
                    if let Some(run) = self.runs.get_mut(&run_key) {
                        run.run.cancel_reason = Some(value.into_text());
                        mark(&mut run.dirty, &mut self.dirty_runs, run_key);
                    }
                }
                LaterField::Output(key) => {
                    step.output_data.insert(key.to_owned(), value.into_json());
                }
                LaterField::RecordsProcessed => match value.as_i64() {
                    Some(n) => step.records_processed = Some(n),
                    None => {
                        step.output_data.insert(name.to_owned(), value.into_json());
                    }
                },
                LaterField::QualityPassed => match value.as_bool() {
                    Some(passed) => step.quality_passed = Some(passed),
                    None => {
                        step.output_data.insert(name.to_owned(), value.into_json());
                    }
                },
                LaterField::Quality(key) => {
                    step.quality_metrics
                        .insert(key.to_owned(), value.into_json());
                }
                LaterField::SkipReason => step.skip_reason = Some(value.into_text()),
                LaterField::Error => {
                    step.error.get_or_insert_with(|| value.into_text());
                }
                LaterField::ErrorCategory => {
                    step.error_category.get_or_insert_with(|| value.into_text());
                }
                LaterField::Other(_) if origin != Origin::Record => return,
                LaterField::Other(_) => match CreationField::of_step(name) {
                    CreationField::StepName => step.step_name = value.into_text(),
                    CreationField::StepType => step.step_type = value.into_text(),
                    _ => {
                        step.output_data.insert(name.to_owned(), value.into_json());
                    }
                },
            }
            mark(&mut open.dirty, &mut self.dirty_steps, span);
            return;
        }
        let Some(open) = self.runs.get_mut(&span) else {
            return;
        };
        let run = &mut open.run;
        match field {
            LaterField::Metric(metric) => {
                run.metrics.insert(metric.to_owned(), value.into_json());
            }
            LaterField::Output(key) => {
                run.outputs.insert(key.to_owned(), value.into_json());
            }
            LaterField::CancelReason => run.cancel_reason = Some(value.into_text()),
            LaterField::Error => {
                run.error.get_or_insert_with(|| value.into_text());
            }
            LaterField::ErrorCategory => {
                run.error_category.get_or_insert_with(|| value.into_text());
            }
            // Step conventions used directly in a run have no step to land
            // on; keep them visible as outputs.
            LaterField::RecordsProcessed
            | LaterField::QualityPassed
            | LaterField::SkipReason
            | LaterField::Quality(_) => {
                run.outputs.insert(name.to_owned(), value.into_json());
            }
            LaterField::Other(_) if origin != Origin::Record => return,
            LaterField::Other(_) => match CreationField::of_run(name) {
                CreationField::WorkflowName => run.workflow_name = value.into_text(),
                CreationField::Domain => run.domain = Some(value.into_text()),
                CreationField::PartitionKey => run.partition_key = Some(value.into_text()),
                CreationField::TriggeredBy => run.triggered_by = value.into_text(),
                _ => {
                    run.outputs.insert(name.to_owned(), value.into_json());
                }
            },
        }
        mark(&mut open.dirty, &mut self.dirty_runs, span);
    }
}
