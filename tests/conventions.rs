//! The field conventions (issue #2, section 2): which span and event fields
//! become which columns of runs and steps, and how values are stored.
//! Every test runs on both databases (see `backends!`).

mod support;

use std::error::Error;
use std::fmt;

use serde_json::json;
use support::TestDb;
use tracing::field::Empty;
use tracing::{Span, info_span, instrument};
use workflow_history::{StepRun, StepStatus, WorkflowRun, WorkflowStatus};

/// Records `body` inside one plain workflow span and returns the run with its steps.
fn record_run(db: &TestDb, body: impl FnOnce()) -> (WorkflowRun, Vec<StepRun>) {
    db.record(|| info_span!("workflow", workflow = "conventions").in_scope(body));
    let run = db.only_run();
    let steps = db.steps(&run.run_id);
    (run, steps)
}

/// Records `body` inside one step of one workflow and returns both.
fn record_step(db: &TestDb, body: impl FnOnce()) -> (WorkflowRun, StepRun) {
    let (run, mut steps) = record_run(db, || info_span!("step", step = "only").in_scope(body));
    assert_eq!(steps.len(), 1, "expected exactly one step: {steps:#?}");
    (run, steps.remove(0))
}

/// An error with a two-level source chain, to see how chains are stored.
#[derive(Debug)]
struct Chained {
    message: &'static str,
    source: Option<Box<Chained>>,
}

impl Chained {
    fn new(outer: &'static str, middle: &'static str, root: &'static str) -> Self {
        let leaf = |message| Chained {
            message,
            source: None,
        };
        Chained {
            message: outer,
            source: Some(Box::new(Chained {
                message: middle,
                source: Some(Box::new(leaf(root))),
            })),
        }
    }
}

impl fmt::Display for Chained {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl Error for Chained {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

// ---- workflow span fields ----

backends! {
    fn workflow_fields_become_run_columns_not_params(db) {
        db.record(|| {
            info_span!(
                "workflow",
                workflow = "finra.ingest",
                domain = "finra",
                partition_key = "2025-01-10",
                triggered_by = "schedule",
                run_id = "run-given-1",
            )
            .in_scope(|| {});
        });
        let run = db.only_run();
        assert_eq!(run.workflow_name, "finra.ingest");
        assert_eq!(run.domain.as_deref(), Some("finra"));
        assert_eq!(run.partition_key.as_deref(), Some("2025-01-10"));
        assert_eq!(run.triggered_by, "schedule");
        assert_eq!(run.run_id, "run-given-1");
        assert!(run.params.is_empty(), "{:?}", run.params);
    }

    fn triggered_by_defaults_to_manual_and_run_id_is_a_fresh_uuid_v7(db) {
        db.record(|| {
            for _ in 0..2 {
                info_span!("workflow", workflow = "defaults").in_scope(|| {});
            }
        });
        let runs = db.runs();
        assert_eq!(runs.len(), 2);
        for run in &runs {
            assert_eq!(run.triggered_by, "manual");
            assert_eq!(run.domain, None);
            assert_eq!(run.partition_key, None);
            let id = uuid::Uuid::parse_str(&run.run_id).expect("run id is a UUID");
            assert_eq!(id.get_version_num(), 7, "{}", run.run_id);
        }
        assert_ne!(runs[0].run_id, runs[1].run_id);
    }

    fn other_creation_fields_become_params_with_their_json_types(db) {
        db.record(|| {
            info_span!(
                "workflow",
                workflow = "params",
                tier = "T1",
                week = 3u64,
                offset = -2i64,
                ratio = 0.5,
                dry_run = true,
                label = %"shown",
                dates = ?vec!["2025-01-03", "2025-01-10"],
            )
            .in_scope(|| {});
        });
        let run = db.only_run();
        let expected = json!({
            "tier": "T1",
            "week": 3,
            "offset": -2,
            "ratio": 0.5,
            "dry_run": true,
            "label": "shown",
            "dates": r#"["2025-01-03", "2025-01-10"]"#,
        });
        assert_eq!(serde_json::Value::Object(run.params), expected);
    }
}

#[instrument(name = "workflow", fields(workflow = "instrumented"))]
fn instrumented_workflow(tier: &str, limit: u32, partition_key: &str, dates: Vec<&str>) {
    fetch_step("https://example.com/data", 3);
}

#[instrument(name = "step", fields(step = "fetch"))]
fn fetch_step(url: &str, retries: u8) {}

backends! {
    fn instrument_arguments_are_fields_like_any_other(db) {
        db.record(|| instrumented_workflow("T2", 500, "2025-01-10", vec!["a"]));
        let run = db.only_run();
        assert_eq!(run.workflow_name, "instrumented");
        // An argument named like a convention field fills that column.
        assert_eq!(run.partition_key.as_deref(), Some("2025-01-10"));
        // Primitive arguments keep their type; others are their Debug string.
        let expected = json!({ "tier": "T2", "limit": 500, "dates": r#"["a"]"# });
        assert_eq!(serde_json::Value::Object(run.params.clone()), expected);

        let steps = db.steps(&run.run_id);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].step_name, "fetch");
        let expected = json!({ "url": "https://example.com/data", "retries": 3 });
        assert_eq!(
            serde_json::Value::Object(steps[0].input_params.clone()),
            expected
        );
    }
}

// ---- step span fields ----

backends! {
    fn step_fields_become_step_columns_and_input_params(db) {
        let (_, steps) = record_run(db, || {
            info_span!(
                "step",
                step = "fetch",
                step_type = "extract",
                url = "s3://bucket/x",
                batch = 10u64
            )
            .in_scope(|| {});
            info_span!("step", step = "transform").in_scope(|| {});
        });
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].step_name, "fetch");
        assert_eq!(steps[0].step_type, "extract");
        let expected = json!({ "url": "s3://bucket/x", "batch": 10 });
        assert_eq!(
            serde_json::Value::Object(steps[0].input_params.clone()),
            expected
        );

        assert_eq!(steps[1].step_name, "transform");
        assert_eq!(steps[1].step_type, "step", "step_type defaults to \"step\"");
        assert!(steps[1].input_params.is_empty());
    }

    fn steps_are_numbered_by_start_and_ids_derive_from_the_run_id(db) {
        let (run, steps) = record_run(db, || {
            for name in ["fetch", "transform", "load"] {
                info_span!("step", step = name).in_scope(|| {});
            }
        });
        let numbered: Vec<_> = steps
            .iter()
            .map(|s| (s.step_order, s.step_name.as_str(), s.step_id.clone()))
            .collect();
        let id = |n| format!("{}-{n}", run.run_id);
        assert_eq!(
            numbered,
            [
                (1, "fetch", id(1)),
                (2, "transform", id(2)),
                (3, "load", id(3))
            ]
        );
        assert!(steps.iter().all(|s| s.run_id == run.run_id));
    }

    fn step_order_follows_first_enter_not_creation(db) {
        let (_, steps) = record_run(db, || {
            let created_first = info_span!("step", step = "created_first");
            let created_second = info_span!("step", step = "created_second");
            created_second.in_scope(|| {});
            created_first.in_scope(|| {});
        });
        let order: Vec<_> = steps
            .iter()
            .map(|s| (s.step_order, s.step_name.as_str()))
            .collect();
        assert_eq!(order, [(1, "created_second"), (2, "created_first")]);
    }
}

// ---- fields recorded later ----

backends! {
    fn fields_recorded_later_on_a_run_span_become_metrics_and_outputs(db) {
        db.record(|| {
            let run = info_span!(
                "workflow",
                workflow = "later",
                metric.rows = Empty,
                output.path = Empty,
                summary = Empty,
            );
            run.in_scope(|| {
                Span::current().record("metric.rows", 1250u64);
                Span::current().record("output.path", "s3://out/2025-01-10.parquet");
                Span::current().record("summary", "ok");
            });
        });
        let run = db.only_run();
        assert_eq!(
            serde_json::Value::Object(run.metrics),
            json!({ "rows": 1250 })
        );
        let expected = json!({ "path": "s3://out/2025-01-10.parquet", "summary": "ok" });
        assert_eq!(serde_json::Value::Object(run.outputs), expected);
        // Empty fields are not params, not even as nulls.
        assert!(run.params.is_empty(), "{:?}", run.params);
    }

    fn fields_recorded_later_on_a_step_span_fill_the_step_and_run_metrics(db) {
        let (run, steps) = record_run(db, || {
            let step = info_span!(
                "step",
                step = "quality_check",
                output.file = Empty,
                records_processed = Empty,
                quality_passed = Empty,
                quality.null_rate = Empty,
                metric.bytes = Empty,
                note = Empty,
            );
            step.in_scope(|| {
                let step = Span::current();
                step.record("output.file", "week.csv");
                step.record("records_processed", 1250u64);
                step.record("quality_passed", true);
                step.record("quality.null_rate", 0.02);
                step.record("metric.bytes", 4096u64);
                step.record("note", "clean");
            });
        });
        let step = &steps[0];
        let expected = json!({ "file": "week.csv", "note": "clean" });
        assert_eq!(
            serde_json::Value::Object(step.output_data.clone()),
            expected
        );
        assert_eq!(step.records_processed, Some(1250));
        assert_eq!(step.quality_passed, Some(true));
        let quality = json!({ "null_rate": 0.02 });
        assert_eq!(
            serde_json::Value::Object(step.quality_metrics.clone()),
            quality
        );
        // Metrics always belong to the run, wherever they are recorded.
        assert_eq!(
            serde_json::Value::Object(run.metrics),
            json!({ "bytes": 4096 })
        );
    }

    fn convention_fields_recorded_before_the_first_enter_keep_their_meaning(db) {
        // Recording on an `Empty` field is "recorded later" even when it happens
        // before the span is entered, e.g. deciding to skip a step up front.
        let (run, steps) = record_run(db, || {
            let step = info_span!(
                "step",
                step = "fetch",
                skip_reason = Empty,
                metric.rows = Empty
            );
            step.record("skip_reason", "no new file");
            step.record("metric.rows", 0u64);
            step.in_scope(|| {});
        });
        let step = &steps[0];
        assert_eq!(step.status, StepStatus::Skipped);
        assert_eq!(step.skip_reason.as_deref(), Some("no new file"));
        assert_eq!(serde_json::Value::Object(run.metrics), json!({ "rows": 0 }));
        assert!(step.input_params.is_empty(), "{:?}", step.input_params);
    }

    fn convention_fields_of_events_apply_but_other_event_fields_are_not_outputs(db) {
        let (run, step) = record_step(db, || {
            tracing::info!(metric.total = 5u64);
            tracing::info!(output.url = "s3://x");
            tracing::info!(records_processed = 7u64);
            tracing::info!(quality_passed = false);
            tracing::info!(quality.dupes = 0u64);
            tracing::info!(rows = 3u64, "an ordinary log line");
        });
        assert_eq!(
            serde_json::Value::Object(run.metrics),
            json!({ "total": 5 })
        );
        let outputs = json!({ "url": "s3://x" });
        assert_eq!(serde_json::Value::Object(step.output_data), outputs);
        assert_eq!(step.records_processed, Some(7));
        assert_eq!(step.quality_passed, Some(false));
        let quality = json!({ "dupes": 0 });
        assert_eq!(serde_json::Value::Object(step.quality_metrics), quality);
    }

    fn metrics_from_the_run_and_from_nested_steps_all_reach_the_run(db) {
        let (run, _) = record_run(db, || {
            tracing::info!(metric.at_run = 1u64);
            info_span!("step", step = "outer").in_scope(|| {
                tracing::info!(metric.in_step = 2u64);
                info_span!("step", step = "inner").in_scope(|| {
                    tracing::info!(metric.in_nested_step = 3u64);
                });
            });
        });
        let expected = json!({ "at_run": 1, "in_step": 2, "in_nested_step": 3 });
        assert_eq!(serde_json::Value::Object(run.metrics), expected);
    }
}

// ---- helper functions and macros ----

backends! {
    fn step_helpers_fill_step_fields_and_run_metrics(db) {
        let (run, step) = record_step(db, || {
            workflow_history::records_processed(1250);
            workflow_history::quality_passed(true);
            workflow_history::metric!(total_records = 1250u64, null_rate = 0.02);
            workflow_history::output!(file = "week.csv", rows = 1250u64);
            workflow_history::quality!(null_rate = 0.02, duplicates = 0u64);
        });
        assert_eq!(step.records_processed, Some(1250));
        assert_eq!(step.quality_passed, Some(true));
        let metrics = json!({ "total_records": 1250, "null_rate": 0.02 });
        assert_eq!(serde_json::Value::Object(run.metrics), metrics);
        let outputs = json!({ "file": "week.csv", "rows": 1250 });
        assert_eq!(serde_json::Value::Object(step.output_data), outputs);
        let quality = json!({ "null_rate": 0.02, "duplicates": 0 });
        assert_eq!(serde_json::Value::Object(step.quality_metrics), quality);
        assert_eq!(step.status, StepStatus::Completed);
    }

    fn output_macro_at_run_level_fills_run_outputs(db) {
        let (run, _) = record_run(db, || workflow_history::output!(report = "r.html"));
        let expected = json!({ "report": "r.html" });
        assert_eq!(serde_json::Value::Object(run.outputs), expected);
    }

    fn skip_helper_skips_the_step_with_its_reason(db) {
        let (run, step) = record_step(db, || workflow_history::skip("no new file"));
        assert_eq!(step.status, StepStatus::Skipped);
        assert_eq!(step.skip_reason.as_deref(), Some("no new file"));
        assert_eq!(run.status, WorkflowStatus::Completed);
    }

    fn cancel_helper_cancels_the_run_with_its_reason(db) {
        let (run, _) = record_run(db, || workflow_history::cancel("market holiday"));
        assert_eq!(run.status, WorkflowStatus::Cancelled);
        assert_eq!(run.cancel_reason.as_deref(), Some("market holiday"));
    }

    fn fail_helper_fails_the_step_with_the_error_and_its_sources(db) {
        let err = Chained::new("load failed", "connection reset", "timeout");
        let (run, step) = record_step(db, || workflow_history::fail(&err));
        assert_eq!(step.status, StepStatus::Failed);
        let chain = "load failed: connection reset: timeout";
        assert_eq!(step.error.as_deref(), Some(chain));
        assert_eq!(run.status, WorkflowStatus::Failed);
    }

    fn fail_with_category_helper_sets_error_and_category(db) {
        let (_, step) = record_step(db, || {
            workflow_history::fail_with_category("null rate 12% > 5%", "DATA_QUALITY");
        });
        assert_eq!(step.status, StepStatus::Failed);
        assert_eq!(step.error.as_deref(), Some("null rate 12% > 5%"));
        assert_eq!(step.error_category.as_deref(), Some("DATA_QUALITY"));
    }
}

// ---- values ----

backends! {
    fn debug_values_and_error_values_are_stored_as_text(db) {
        let err = Chained::new("outer", "middle", "root");
        db.record(|| {
            info_span!(
                "workflow",
                workflow = "values",
                maybe = ?Some(3),
                cause = &err as &(dyn Error + 'static),
            )
            .in_scope(|| {});
        });
        let run = db.only_run();
        assert_eq!(run.params["maybe"], "Some(3)");
        // An error value is its Display followed by its sources.
        assert_eq!(run.params["cause"], "outer: middle: root");
    }

    fn non_finite_floats_and_wide_integers_are_kept_as_text(db) {
        let (run, _) = record_run(db, || {
            workflow_history::metric!(
                nan = f64::NAN,
                inf = f64::INFINITY,
                neg_inf = f64::NEG_INFINITY,
                huge = i128::MAX,
                huge_unsigned = u128::MAX,
                small = -5i128,
                small_unsigned = 7u128,
            );
        });
        let expected = json!({
            "nan": "NaN",
            "inf": "inf",
            "neg_inf": "-inf",
            "huge": i128::MAX.to_string(),
            "huge_unsigned": u128::MAX.to_string(),
            // Those that fit in 64 bits stay numbers.
            "small": -5,
            "small_unsigned": 7,
        });
        assert_eq!(serde_json::Value::Object(run.metrics), expected);
        assert_eq!(run.status, WorkflowStatus::Completed);
    }

    fn nan_params_keep_the_run_and_its_steps(db) {
        db.record(|| {
            info_span!("workflow", workflow = "nan", threshold = f64::NAN).in_scope(|| {
                info_span!("step", step = "s", ratio = f64::NEG_INFINITY).in_scope(|| {});
            });
        });
        let run = db.only_run();
        assert_eq!(run.params["threshold"], "NaN");
        let steps = db.steps(&run.run_id);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].input_params["ratio"], "-inf");
    }

    fn long_values_are_truncated_with_a_marker(db) {
        let err = Chained::new("0123456789", "abcdef", "xyz");
        db.record_with(db.builder().max_field_bytes(10), || {
            info_span!(
                "workflow",
                workflow = "short",
                text = "abcdefghijklmnopqrstuvwxyz",
                debug = ?"abcdefghijklmnopqrstuvwxyz",
                fits = "0123456789",
            )
            .in_scope(|| {
                info_span!("step", step = "s").in_scope(|| workflow_history::fail(&err));
            });
        });
        let run = db.only_run();
        assert_eq!(run.params["text"], "abcdefghij…[truncated 16 bytes]");
        // The Debug string has quotes: 28 bytes, 10 kept.
        assert_eq!(run.params["debug"], "\"abcdefghi…[truncated 18 bytes]");
        assert_eq!(run.params["fits"], "0123456789");
        // The whole error chain counts: "0123456789: abcdef: xyz" is 23 bytes.
        let steps = db.steps(&run.run_id);
        assert_eq!(
            steps[0].error.as_deref(),
            Some("0123456789…[truncated 13 bytes]")
        );
    }
}

// ---- what is not recorded ----

backends! {
    fn a_step_outside_any_workflow_is_not_recorded(db) {
        db.record(|| {
            info_span!("step", step = "stray").in_scope(|| {
                tracing::info!(records_processed = 1u64, "inside a stray step");
            });
            info_span!("workflow", workflow = "real").in_scope(|| {
                info_span!("step", step = "counted").in_scope(|| {});
            });
        });
        let run = db.only_run();
        let steps = db.steps(&run.run_id);
        assert_eq!(steps.len(), 1);
        // The stray step did not take a place in any numbering.
        assert_eq!(
            (steps[0].step_name.as_str(), steps[0].step_order),
            ("counted", 1)
        );
        assert_eq!(db.count_rows("workflow_step_runs"), 1);
    }

    fn a_workflow_span_never_entered_is_not_recorded(db) {
        db.record(|| {
            let span = info_span!("workflow", workflow = "never", summary = Empty);
            span.record("summary", "recorded but never entered");
            drop(span);
        });
        assert!(db.runs().is_empty());
        assert_eq!(db.count_rows("workflow_runs"), 0);
        assert_eq!(db.count_rows("workflow_events"), 0);
    }
}
