//! The reference's weekly FINRA ingest, run from the example's own code:
//! one clean week and one whose quality check fails, on both databases.

mod support;

#[allow(dead_code)] // the example's `main` installs a global subscriber; not used here
#[path = "../examples/finra_ingest.rs"]
mod finra_ingest;
#[path = "support/finra_instrument.rs"]
mod finra_instrument;

use finra_ingest::{WORKFLOW, ingest_week};
use serde_json::json;
use support::TestDb;
use workflow_history::{RunFilter, StepRun, StepStatus, WorkflowRun, WorkflowStatus};

fn run_for_week(db: &TestDb, week_ending: &str) -> (WorkflowRun, Vec<StepRun>) {
    let runs = db
        .store()
        .list_runs(&RunFilter {
            workflow_name: Some(WORKFLOW.into()),
            partition_key: Some(format!("{week_ending}|T1")),
            ..RunFilter::default()
        })
        .expect("list runs");
    assert_eq!(runs.len(), 1, "one run for {week_ending}: {runs:#?}");
    let run = runs.into_iter().next().expect("one run");
    let steps = db.steps(&run.run_id);
    (run, steps)
}

fn names_and_statuses(steps: &[StepRun]) -> Vec<(u32, &str, &str, StepStatus)> {
    steps
        .iter()
        .map(|s| {
            (
                s.step_order,
                s.step_name.as_str(),
                s.step_type.as_str(),
                s.status,
            )
        })
        .collect()
}

backends! {
    fn a_clean_week_and_a_failing_week_are_recorded_step_by_step(db) {
        let (good, bad) = db.record(|| {
            (
                ingest_week("T1", "2025-01-10", false),
                ingest_week("T1", "2025-01-17", true),
            )
        });
        assert!(good.is_ok());
        assert!(bad.is_err());

        let (run, steps) = run_for_week(db, "2025-01-10");
        assert_eq!(run.status, WorkflowStatus::Completed);
        assert_eq!(run.domain.as_deref(), Some("finra"));
        assert_eq!(run.triggered_by, "schedule");
        assert_eq!(
            run.params,
            json!({"tier": "T1", "week_ending": "2025-01-10"})
                .as_object()
                .cloned()
                .unwrap()
        );
        assert_eq!(run.metrics["total_records"], 1000);
        assert_eq!(run.error, None);
        assert_eq!(
            names_and_statuses(&steps),
            [
                (1, "fetch_data", "lambda", StepStatus::Completed),
                (2, "transform", "lambda", StepStatus::Completed),
                (3, "quality_check", "pipeline", StepStatus::Completed),
                (4, "load_data", "lambda", StepStatus::Completed),
            ]
        );
        assert_eq!(steps[0].records_processed, Some(1000));
        assert!(
            steps[0].output_data["url"]
                .as_str()
                .unwrap()
                .ends_with("/T1/2025-01-10.csv")
        );
        assert_eq!(steps[2].quality_passed, Some(true));
        assert_eq!(steps[2].quality_metrics["null_rate"], 0.0);
        assert_eq!(steps[3].records_processed, Some(1000));

        let (run, steps) = run_for_week(db, "2025-01-17");
        assert_eq!(run.status, WorkflowStatus::Failed);
        let error = run.error.as_deref().expect("run error");
        assert!(error.contains("null rate 10.0% above 5%"), "{error}");
        assert_eq!(
            names_and_statuses(&steps),
            [
                (1, "fetch_data", "lambda", StepStatus::Completed),
                (2, "transform", "lambda", StepStatus::Completed),
                (3, "quality_check", "pipeline", StepStatus::Failed),
            ],
            "load_data never ran"
        );
        assert_eq!(steps[2].quality_passed, Some(false));
        assert_eq!(steps[2].quality_metrics["null_rate"], 0.1);
        assert_eq!(steps[2].error.as_deref(), Some(error));
        assert!(run.duration_seconds().is_some_and(|d| d >= 0.0));
    }
}

/// What two recordings of the same work must share: everything but ids,
/// times and durations.
fn comparable_run(run: &WorkflowRun) -> serde_json::Value {
    json!({
        "workflow_name": run.workflow_name,
        "domain": run.domain,
        "partition_key": run.partition_key,
        "status": run.status,
        "params": run.params,
        "outputs": run.outputs,
        "metrics": run.metrics,
        "error": run.error,
        "error_category": run.error_category,
        "triggered_by": run.triggered_by,
        "parent_run_id": run.parent_run_id,
        "cancel_reason": run.cancel_reason,
        "attempt": run.attempt,
    })
}

fn comparable_step(step: &StepRun) -> serde_json::Value {
    json!({
        "step_order": step.step_order,
        "step_name": step.step_name,
        "step_type": step.step_type,
        "status": step.status,
        "input_params": step.input_params,
        "output_data": step.output_data,
        "error": step.error,
        "error_category": step.error_category,
        "records_processed": step.records_processed,
        "quality_passed": step.quality_passed,
        "quality_metrics": step.quality_metrics,
        "parent_step_id": step.parent_step_id.is_some(),
        "skip_reason": step.skip_reason,
    })
}

backends! {
    fn the_attribute_form_records_what_the_instrument_form_does(db) {
        let plain = TestDb::new();
        for (db, ingest) in [
            (db, finra_ingest::ingest_week as fn(&str, &str, bool) -> _),
            (&plain, finra_instrument::ingest_week),
        ] {
            db.record(|| {
                assert!(ingest("T1", "2025-01-10", false).is_ok());
                assert!(ingest("T2", "2025-01-17", true).is_err());
            });
        }
        let recorded = |db: &TestDb| {
            let mut runs = db.runs();
            runs.sort_by(|a, b| a.partition_key.cmp(&b.partition_key));
            runs.iter()
                .map(|run| {
                    let steps: Vec<_> = db.steps(&run.run_id).iter().map(comparable_step).collect();
                    (comparable_run(run), steps)
                })
                .collect::<Vec<_>>()
        };
        let with_attributes = recorded(db);
        assert_eq!(with_attributes.len(), 2);
        assert_eq!(with_attributes[1].1.len(), 3, "the failing week stops at its quality check");
        assert_eq!(with_attributes, recorded(&plain));
    }
}
