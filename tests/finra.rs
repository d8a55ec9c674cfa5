//! The reference's weekly FINRA ingest, run from the example's own code:
//! one clean week and one whose quality check fails, on both databases.

mod support;

#[allow(dead_code)] // the example's `main` installs a global subscriber; not used here
#[path = "../examples/finra_ingest.rs"]
mod finra_ingest;

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
