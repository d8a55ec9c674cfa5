//! Two history layers in one subscriber, each with its own database: both
//! record everything, apart from each other.

mod support;

use support::TestDb;
use tracing_subscriber::prelude::*;
use workflow_history::{StepStatus, WorkflowStatus};

backends! {
    fn two_history_layers_in_one_subscriber_both_record(db) {
        let other = TestDb::new();
        let (first, first_guard) = db.builder().build().expect("first layer");
        let (second, second_guard) = other.builder().build().expect("second layer");
        let subscriber = tracing_subscriber::registry().with(first).with(second);
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..20 {
                support::one_workflow("twice", &format!("run-{i}"), &["fetch", "load"]);
            }
            tracing::info_span!("workflow", workflow = "twice", run_id = "late").in_scope(|| {
                let step = tracing::info_span!("step", step = "check", rows = tracing::field::Empty);
                step.record("rows", 7);
                step.in_scope(|| workflow_history::records_processed(7));
            });
        });
        // Nothing is left waiting in either writer: both saw every open.
        let first_stats = first_guard.shutdown().expect("first stops cleanly");
        let second_stats = second_guard.shutdown().expect("second stops cleanly");
        assert_eq!(first_stats.records_lost + second_stats.records_lost, 0);
        for db in [db, &other] {
            let runs = db.runs();
            assert_eq!(runs.len(), 21, "{}", db.url);
            assert!(runs.iter().all(|r| r.status == WorkflowStatus::Completed));
            let steps = db.steps("late");
            assert_eq!(steps.len(), 1);
            assert_eq!(steps[0].status, StepStatus::Completed);
            assert_eq!(steps[0].records_processed, Some(7));
            assert_eq!(steps[0].input_params.get("rows"), None);
            assert_eq!(steps[0].output_data["rows"], 7);
            assert_eq!(db.steps("run-3").len(), 2);
        }
    }
}

backends! {
    fn layers_that_see_different_runs_number_steps_in_their_own(db) {
        use tracing_subscriber::filter::LevelFilter;
        let other = TestDb::new();
        let (first, first_guard) = db.builder().build().expect("first layer");
        let (second, second_guard) = other.builder().build().expect("second layer");
        // The first layer does not see the DEBUG sub-workflow: it puts its
        // steps in the outer run, the second in the sub-workflow.
        let subscriber = tracing_subscriber::registry()
            .with(first.with_filter(LevelFilter::INFO))
            .with(second);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("workflow", workflow = "outer", run_id = "outer").in_scope(|| {
                tracing::debug_span!("workflow", workflow = "inner", run_id = "inner").in_scope(|| {
                    tracing::info_span!("step", step = "one").in_scope(|| {});
                    tracing::info_span!("step", step = "two").in_scope(|| {});
                });
            });
        });
        first_guard.shutdown().expect("first stops");
        second_guard.shutdown().expect("second stops");
        let steps = |db: &TestDb, run: &str| -> Vec<(String, String)> {
            db.steps(run).into_iter().map(|s| (s.step_id, s.step_name)).collect()
        };
        let expected = |run: &str| {
            vec![(format!("{run}-1"), "one".to_owned()), (format!("{run}-2"), "two".to_owned())]
        };
        assert_eq!(steps(db, "outer"), expected("outer"));
        assert_eq!(steps(&other, "inner"), expected("inner"));
        assert!(steps(&other, "outer").is_empty());
    }
}
