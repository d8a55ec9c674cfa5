//! Status semantics (issue #2, section 3) and captured events (section 4).
//! Every test runs on both databases (see `backends!`).

mod support;

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde_json::json;
use support::TestDb;
use tracing::field::Empty;
use tracing::{Level, Span, info_span, instrument};
use workflow_history::{
    EventKind, HistoryLayerBuilder, RunEvent, StepRun, StepStatus, WorkflowRun, WorkflowStatus,
};

/// Records `body` inside one workflow span (default layer configuration)
/// and returns the run with its steps.
fn record_run(db: &TestDb, body: impl FnOnce()) -> (WorkflowRun, Vec<StepRun>) {
    record_run_with(db, db.builder(), body)
}

/// As `record_run`, with a custom layer configuration.
fn record_run_with(
    db: &TestDb,
    builder: HistoryLayerBuilder,
    body: impl FnOnce(),
) -> (WorkflowRun, Vec<StepRun>) {
    db.record_with(builder, || {
        info_span!("workflow", workflow = "status").in_scope(body)
    });
    let run = db.only_run();
    let steps = db.steps(&run.run_id);
    (run, steps)
}

/// Runs `body` inside a step named `name`.
fn in_step(name: &str, body: impl FnOnce()) {
    info_span!("step", step = name).in_scope(body);
}

/// The single step of `steps`, by name.
#[track_caller]
fn step<'a>(steps: &'a [StepRun], name: &str) -> &'a StepRun {
    let mut found = steps.iter().filter(|s| s.step_name == name);
    let step = found
        .next()
        .unwrap_or_else(|| panic!("no step {name}: {steps:#?}"));
    assert!(found.next().is_none(), "several steps named {name}");
    step
}

fn events(db: &TestDb, run_id: &str) -> Vec<RunEvent> {
    db.store().get_events(run_id).expect("get events")
}

/// The run's log entries (not its status changes).
fn log_events(db: &TestDb, run_id: &str) -> Vec<RunEvent> {
    let mut events = events(db, run_id);
    events.retain(|e| e.kind == EventKind::Log);
    events
}

/// The run's audit trail as `(step_id, old, new)`.
fn transitions(db: &TestDb, run_id: &str) -> Vec<(Option<String>, String, String)> {
    events(db, run_id)
        .into_iter()
        .filter(|e| e.kind == EventKind::StatusChanged)
        .map(|e| {
            let text = |key: &str| e.fields[key].as_str().expect("status is text").to_owned();
            (e.step_id.clone(), text("old"), text("new"))
        })
        .collect()
}

fn transition(step_id: Option<&str>, old: &str, new: &str) -> (Option<String>, String, String) {
    (step_id.map(str::to_owned), old.to_owned(), new.to_owned())
}

// ---- final statuses ----

backends! {
    fn a_run_without_errors_completes_with_its_steps(db) {
        let (run, steps) = record_run(db, || {
            in_step("fetch", || {});
            in_step("load", || {});
        });
        assert_eq!(run.status, WorkflowStatus::Completed);
        assert_eq!(run.error, None);
        assert!(run.is_terminal());
        assert!(steps.iter().all(|s| s.status == StepStatus::Completed));
        assert!(steps.iter().all(|s| s.error.is_none()));
    }

    fn skip_reason_ends_the_step_skipped_and_it_stays_skipped(db) {
        let (run, steps) = record_run(db, || {
            info_span!("step", step = "fetch", skip_reason = Empty).in_scope(|| {
                Span::current().record("skip_reason", "no new file");
            });
            in_step("load", || {});
        });
        let fetch = step(&steps, "fetch");
        // The prototype overwrote SKIPPED with COMPLETED at exit; this must not.
        assert_eq!(fetch.status, StepStatus::Skipped);
        assert_eq!(fetch.skip_reason.as_deref(), Some("no new file"));
        assert!(fetch.is_terminal());
        // The skip is final in the audit trail too: no later transition.
        let fetch_trail: Vec<_> = transitions(db, &run.run_id)
            .into_iter()
            .filter(|t| t.0.as_deref() == Some(fetch.step_id.as_str()))
            .collect();
        let id = Some(fetch.step_id.as_str());
        assert_eq!(
            fetch_trail,
            [
                transition(id, "PENDING", "RUNNING"),
                transition(id, "RUNNING", "SKIPPED")
            ]
        );
        // A skipped step is not a failure.
        assert_eq!(run.status, WorkflowStatus::Completed);
    }

    fn cancel_reason_on_the_run_span_ends_it_cancelled(db) {
        db.record(|| {
            let run = info_span!("workflow", workflow = "cancel", cancel_reason = Empty);
            run.in_scope(|| {
                in_step("fetch", || {});
                Span::current().record("cancel_reason", "market holiday");
            });
        });
        let run = db.only_run();
        assert_eq!(run.status, WorkflowStatus::Cancelled);
        assert_eq!(run.cancel_reason.as_deref(), Some("market holiday"));
        assert_eq!(run.error, None);
        assert_eq!(db.steps(&run.run_id)[0].status, StepStatus::Completed);
    }

    fn cancel_reason_from_inside_a_step_cancels_the_run(db) {
        let (run, _) = record_run(db, || {
            in_step("check_calendar", || {
                tracing::info!(cancel_reason = "market holiday");
            });
        });
        assert_eq!(run.status, WorkflowStatus::Cancelled);
        assert_eq!(run.cancel_reason.as_deref(), Some("market holiday"));
    }

    fn error_recorded_on_a_step_span_fails_the_step_and_the_run(db) {
        let (run, steps) = record_run(db, || {
            info_span!("step", step = "load", error = Empty).in_scope(|| {
                Span::current().record("error", "disk full");
            });
        });
        let load = step(&steps, "load");
        assert_eq!(load.status, StepStatus::Failed);
        assert_eq!(load.error.as_deref(), Some("disk full"));
        assert_eq!(run.status, WorkflowStatus::Failed);
        assert_eq!(run.error.as_deref(), Some("step 'load' failed: disk full"));
    }

    fn error_recorded_on_the_run_span_fails_only_the_run(db) {
        db.record(|| {
            let run = info_span!(
                "workflow",
                workflow = "run_error",
                error = Empty,
                error_category = Empty
            );
            run.in_scope(|| {
                in_step("fetch", || {});
                Span::current().record("error", "upstream missing");
                Span::current().record("error_category", "TRANSIENT");
            });
        });
        let run = db.only_run();
        assert_eq!(run.status, WorkflowStatus::Failed);
        assert_eq!(run.error.as_deref(), Some("upstream missing"));
        assert_eq!(run.error_category.as_deref(), Some("TRANSIENT"));
        assert_eq!(db.steps(&run.run_id)[0].status, StepStatus::Completed);
    }

    fn error_category_is_stored_with_the_step_error(db) {
        let (run, steps) = record_run(db, || {
            info_span!(
                "step",
                step = "quality_check",
                error = Empty,
                error_category = Empty
            )
            .in_scope(|| {
                Span::current().record("error", "null rate 12% > 5%");
                Span::current().record("error_category", "DATA_QUALITY");
            });
        });
        let check = step(&steps, "quality_check");
        assert_eq!(check.status, StepStatus::Failed);
        assert_eq!(check.error_category.as_deref(), Some("DATA_QUALITY"));
        assert_eq!(run.status, WorkflowStatus::Failed);
    }
}

// ---- the #[instrument(err)] path ----

#[instrument(name = "step", fields(step = "load"), err)]
fn load() -> Result<(), io::Error> {
    Err(io::Error::other("connection reset"))
}

#[instrument(name = "workflow", fields(workflow = "ingest"), err)]
fn ingest_wrapping_errors() -> Result<(), String> {
    load().map_err(|e| format!("ingest aborted: {e}"))
}

backends! {
    fn instrument_err_fails_the_step_and_names_it_in_the_run_error(db) {
        let (run, steps) = record_run(db, || {
            let _ = load();
        });
        let load = step(&steps, "load");
        assert_eq!(load.status, StepStatus::Failed);
        assert_eq!(load.error.as_deref(), Some("connection reset"));
        assert_eq!(run.status, WorkflowStatus::Failed);
        assert_eq!(
            run.error.as_deref(),
            Some("step 'load' failed: connection reset")
        );
    }

    fn a_run_error_of_its_own_wins_over_the_failed_step(db) {
        db.record(|| {
            let _ = ingest_wrapping_errors();
        });
        let run = db.only_run();
        assert_eq!(run.status, WorkflowStatus::Failed);
        assert_eq!(
            run.error.as_deref(),
            Some("ingest aborted: connection reset")
        );
        let steps = db.steps(&run.run_id);
        assert_eq!(
            step(&steps, "load").error.as_deref(),
            Some("connection reset")
        );
    }
}

// ---- ERROR-level events ----

backends! {
    fn an_error_event_fails_the_innermost_step_only(db) {
        let (run, steps) = record_run(db, || {
            in_step("outer", || {
                in_step("inner", || tracing::error!("upstream returned 500"));
            });
        });
        let inner = step(&steps, "inner");
        assert_eq!(inner.status, StepStatus::Failed);
        assert_eq!(inner.error.as_deref(), Some("upstream returned 500"));
        assert_eq!(step(&steps, "outer").status, StepStatus::Completed);
        assert_eq!(run.status, WorkflowStatus::Failed);
        assert_eq!(
            run.error.as_deref(),
            Some("step 'inner' failed: upstream returned 500")
        );
    }

    fn an_error_event_at_run_level_fails_the_run(db) {
        let (run, _) = record_run(db, || tracing::error!("no input files"));
        assert_eq!(run.status, WorkflowStatus::Failed);
        assert_eq!(run.error.as_deref(), Some("no input files"));
    }

    fn error_events_do_not_fail_when_switched_off_but_are_still_logged(db) {
        let builder = db.builder().fail_on_error_events(false);
        let (run, steps) = record_run_with(db, builder, || {
            in_step("fetch", || tracing::error!("noisy library error"));
        });
        assert_eq!(step(&steps, "fetch").status, StepStatus::Completed);
        assert_eq!(step(&steps, "fetch").error, None);
        assert_eq!(run.status, WorkflowStatus::Completed);
        let logged = log_events(db, &run.run_id);
        assert_eq!(logged.len(), 1);
        assert_eq!(logged[0].level.as_deref(), Some("ERROR"));
        assert_eq!(logged[0].message.as_deref(), Some("noisy library error"));
    }

    fn an_error_event_with_an_error_field_fails_even_when_switched_off(db) {
        let builder = db.builder().fail_on_error_events(false);
        let (run, steps) = record_run_with(db, builder, || {
            in_step("fetch", || tracing::error!(error = "timeout", "giving up"));
        });
        let fetch = step(&steps, "fetch");
        assert_eq!(fetch.status, StepStatus::Failed);
        assert_eq!(fetch.error.as_deref(), Some("timeout"));
        assert_eq!(run.status, WorkflowStatus::Failed);
    }

    fn a_warn_event_with_an_error_field_does_not_fail(db) {
        // Deliberate: retry loops log `warn!(error = %e, "retrying")` and then
        // succeed; that must not fail the step.
        let (run, steps) = record_run(db, || {
            in_step("fetch", || {
                let e = io::Error::other("connection reset");
                tracing::warn!(error = %e, attempt = 1u64, "retrying");
            });
        });
        let fetch = step(&steps, "fetch");
        assert_eq!(fetch.status, StepStatus::Completed);
        assert_eq!(fetch.error, None);
        assert_eq!(run.status, WorkflowStatus::Completed);
        // It is still in the log, with its error field.
        let logged = log_events(db, &run.run_id);
        assert_eq!(logged.len(), 1);
        assert_eq!(logged[0].level.as_deref(), Some("WARN"));
        let fields = json!({ "error": "connection reset", "attempt": 1 });
        assert_eq!(serde_json::Value::Object(logged[0].fields.clone()), fields);
    }

    fn the_category_of_a_warned_retry_does_not_stick_to_a_later_failure(db) {
        // A retry logs its error and category at WARN (which does not fail);
        // the failure that follows must be stored with its own category.
        let (_, steps) = record_run(db, || {
            in_step("fetch", || {
                tracing::warn!(error = "timeout", error_category = "TRANSIENT", "retrying");
                workflow_history::fail_with_category("schema mismatch", "DATA_QUALITY");
            });
        });
        let fetch = step(&steps, "fetch");
        assert_eq!(fetch.status, StepStatus::Failed);
        assert_eq!(fetch.error.as_deref(), Some("schema mismatch"));
        assert_eq!(fetch.error_category.as_deref(), Some("DATA_QUALITY"));
    }
}

// ---- panics ----

/// Records a workflow whose body panics, catching the panic so the test
/// can read the history back.
fn record_panicking_run(db: &TestDb, body: impl FnOnce()) -> (WorkflowRun, Vec<StepRun>) {
    db.record(|| {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            info_span!("workflow", workflow = "panics").in_scope(body);
        }));
        assert!(outcome.is_err(), "the body was expected to panic");
    });
    let run = db.only_run();
    let steps = db.steps(&run.run_id);
    (run, steps)
}

backends! {
    fn a_panic_in_a_step_fails_the_step_and_the_run_with_its_message(db) {
        let (run, steps) = record_panicking_run(db, || {
            in_step("fetch", || {});
            in_step("transform", || panic!("disk on fire"));
        });
        assert_eq!(step(&steps, "fetch").status, StepStatus::Completed);
        let transform = step(&steps, "transform");
        assert_eq!(transform.status, StepStatus::Failed);
        let step_error = transform.error.as_deref().unwrap_or_default();
        assert!(step_error.contains("disk on fire"), "{step_error:?}");
        assert_eq!(run.status, WorkflowStatus::Failed);
        let run_error = run.error.as_deref().unwrap_or_default();
        assert!(
            run_error.starts_with("step 'transform' failed: "),
            "{run_error:?}"
        );
        assert!(run_error.contains("disk on fire"), "{run_error:?}");
        assert!(run.completed_at.is_some());
    }

    fn a_panic_at_run_level_fails_the_run_with_its_message(db) {
        let (run, _) = record_panicking_run(db, || panic!("config missing"));
        assert_eq!(run.status, WorkflowStatus::Failed);
        let run_error = run.error.as_deref().unwrap_or_default();
        assert!(run_error.contains("config missing"), "{run_error:?}");
    }
}

// ---- nesting ----

backends! {
    fn a_step_inside_a_step_records_its_parent_step(db) {
        let (_, steps) = record_run(db, || {
            in_step("load", || {
                in_step("load_partition", || {});
            });
            in_step("report", || {});
        });
        let load = step(&steps, "load");
        assert_eq!(load.parent_step_id, None);
        let partition = step(&steps, "load_partition");
        assert_eq!(
            partition.parent_step_id.as_deref(),
            Some(load.step_id.as_str())
        );
        assert_eq!(step(&steps, "report").parent_step_id, None);
        let order: Vec<_> = steps.iter().map(|s| s.step_order).collect();
        assert_eq!(order, [1, 2, 3]);
    }

    fn a_workflow_inside_a_workflow_is_its_own_run_with_its_own_steps(db) {
        db.record(|| {
            info_span!("workflow", workflow = "parent").in_scope(|| {
                in_step("prepare", || {});
                in_step("run_child", || {
                    info_span!("workflow", workflow = "child").in_scope(|| {
                        in_step("child_step", || tracing::info!(metric.rows = 9u64));
                    });
                });
            });
        });
        let runs = db.runs();
        assert_eq!(runs.len(), 2, "{runs:#?}");
        let by_name = |name: &str| runs.iter().find(|r| r.workflow_name == name).unwrap();
        let (parent, child) = (by_name("parent"), by_name("child"));
        assert_eq!(parent.parent_run_id, None);
        assert_eq!(child.parent_run_id.as_deref(), Some(parent.run_id.as_str()));
        assert_ne!(child.run_id, parent.run_id);

        let parent_steps: Vec<_> = db
            .steps(&parent.run_id)
            .into_iter()
            .map(|s| s.step_name)
            .collect();
        assert_eq!(parent_steps, ["prepare", "run_child"]);
        let child_steps = db.steps(&child.run_id);
        assert_eq!(child_steps.len(), 1);
        assert_eq!(child_steps[0].step_name, "child_step");
        assert_eq!(child_steps[0].step_id, format!("{}-1", child.run_id));
        // Metrics go to the innermost run only.
        assert_eq!(
            serde_json::Value::Object(child.metrics.clone()),
            json!({ "rows": 9 })
        );
        assert!(parent.metrics.is_empty());
    }
}

// ---- audit trail ----

backends! {
    fn every_status_change_is_an_event_in_order(db) {
        let (run, steps) = record_run(db, || {
            in_step("fetch", || {});
            in_step("load", || tracing::error!("refused"));
        });
        let (fetch, load) = (
            Some(steps[0].step_id.as_str()),
            Some(steps[1].step_id.as_str()),
        );
        assert_eq!(
            transitions(db, &run.run_id),
            [
                transition(None, "PENDING", "RUNNING"),
                transition(fetch, "PENDING", "RUNNING"),
                transition(fetch, "RUNNING", "COMPLETED"),
                transition(load, "PENDING", "RUNNING"),
                transition(load, "RUNNING", "FAILED"),
                transition(None, "RUNNING", "FAILED"),
            ]
        );
        // Status events are audit entries, not log lines.
        let status_events: Vec<_> = events(db, &run.run_id)
            .into_iter()
            .filter(|e| e.kind == EventKind::StatusChanged)
            .collect();
        assert!(
            status_events
                .iter()
                .all(|e| e.level.is_none() && e.message.is_none())
        );
    }
}

// ---- captured log events ----

backends! {
    fn log_events_are_stored_with_level_target_message_fields_and_step(db) {
        let (run, steps) = record_run(db, || {
            tracing::info!(target: "pipeline", "starting");
            in_step("fetch", || {
                tracing::warn!(target: "pipeline::fetch", rows = 3u64, slow = true, "fetched {} rows", 3);
            });
        });
        let logged = log_events(db, &run.run_id);
        assert_eq!(logged.len(), 2, "{logged:#?}");

        let at_run = &logged[0];
        assert_eq!(at_run.run_id, run.run_id);
        assert_eq!(at_run.step_id, None);
        assert_eq!(at_run.level.as_deref(), Some("INFO"));
        assert_eq!(at_run.target.as_deref(), Some("pipeline"));
        assert_eq!(at_run.message.as_deref(), Some("starting"));
        assert!(at_run.fields.is_empty());

        let in_fetch = &logged[1];
        assert_eq!(in_fetch.step_id.as_deref(), Some(steps[0].step_id.as_str()));
        assert_eq!(in_fetch.level.as_deref(), Some("WARN"));
        assert_eq!(in_fetch.target.as_deref(), Some("pipeline::fetch"));
        assert_eq!(in_fetch.message.as_deref(), Some("fetched 3 rows"));
        let fields = json!({ "rows": 3, "slow": true });
        assert_eq!(serde_json::Value::Object(in_fetch.fields.clone()), fields);
    }
}

/// Logs one event at each level below INFO, inside a step.
fn log_verbose_events() {
    in_step("fetch", || {
        tracing::info!("info line");
        tracing::debug!("debug line");
        tracing::trace!("trace line");
    });
}

fn logged_levels(db: &TestDb, run_id: &str) -> Vec<String> {
    log_events(db, run_id)
        .into_iter()
        .filter_map(|e| e.level)
        .collect()
}

backends! {
    fn debug_events_are_not_stored_by_default(db) {
        let (run, _) = record_run(db, log_verbose_events);
        assert_eq!(logged_levels(db, &run.run_id), ["INFO"]);
    }

    fn debug_events_are_stored_when_the_capture_level_is_debug(db) {
        let builder = db.builder().capture_level(Level::DEBUG);
        let (run, _) = record_run_with(db, builder, log_verbose_events);
        assert_eq!(logged_levels(db, &run.run_id), ["INFO", "DEBUG"]);
    }

    fn convention_fields_of_unstored_debug_events_still_apply(db) {
        let (run, steps) = record_run(db, || {
            in_step("fetch", || {
                tracing::debug!(metric.rows = 42u64, records_processed = 42u64, "counted");
                tracing::trace!(skip_reason = "nothing new");
            });
        });
        assert_eq!(
            serde_json::Value::Object(run.metrics),
            json!({ "rows": 42 })
        );
        let fetch = step(&steps, "fetch");
        assert_eq!(fetch.records_processed, Some(42));
        assert_eq!(fetch.status, StepStatus::Skipped);
        assert!(log_events(db, &run.run_id).is_empty());
    }

    fn events_outside_any_workflow_are_not_stored(db) {
        db.record(|| {
            tracing::error!("before any run");
            info_span!("other_span").in_scope(|| tracing::warn!("in an untracked span"));
            info_span!("workflow", workflow = "w").in_scope(|| {});
            tracing::info!("after the run");
        });
        let run = db.only_run();
        assert_eq!(run.status, WorkflowStatus::Completed);
        assert!(log_events(db, &run.run_id).is_empty());
        // Only the run's two status changes exist in the whole table.
        assert_eq!(db.count_rows("workflow_events"), 2);
    }
}

// ---- timing ----

backends! {
    fn durations_and_timestamps_are_consistent(db) {
        let (run, steps) = record_run(db, || {
            in_step("fetch", || {});
            in_step("load", || {});
        });
        let (started, completed) = (run.started_at.unwrap(), run.completed_at.unwrap());
        assert!(run.created_at <= started);
        assert!(started <= completed);
        // The stored duration, which statistics summarize, is the span's.
        let stored: f64 = db.sql_one(
            "SELECT duration_ms FROM workflow_runs WHERE run_id = ?1",
            &[run.run_id.as_str().into()],
        );
        let expected_ms = (completed - started).num_microseconds().unwrap() as f64 / 1e3;
        assert!(
            (stored - expected_ms).abs() < 1e-3,
            "stored {stored} ms vs {expected_ms} ms"
        );
        for s in &steps {
            let (s_start, s_end) = (s.started_at.unwrap(), s.completed_at.unwrap());
            assert!(
                started <= s_start && s_start <= s_end && s_end <= completed,
                "{s:#?}"
            );
            let stored: f64 = db.sql_one(
                "SELECT duration_ms FROM workflow_step_runs WHERE step_id = ?1",
                &[s.step_id.as_str().into()],
            );
            let expected_ms = (s_end - s_start).num_microseconds().unwrap() as f64 / 1e3;
            assert!((stored - expected_ms).abs() < 1e-3, "{stored} vs {expected_ms}");
        }
        // Steps run one after the other.
        assert!(steps[0].completed_at <= steps[1].started_at);
    }
}
