mod support;

use workflow_history::{StepStatus, WorkflowStatus};

backends! {
    fn one_run_with_one_step_is_recorded(db) {
        db.record(|| {
            tracing::info_span!("workflow", workflow = "smoke", tier = "T1").in_scope(|| {
                tracing::info_span!("step", step = "fetch", url = "x").in_scope(|| {
                    tracing::info!(rows = 3u64, "fetched");
                });
            });
        });
        let run = db.only_run();
        assert_eq!(run.workflow_name, "smoke");
        assert_eq!(run.status, WorkflowStatus::Completed);
        assert_eq!(run.params["tier"], "T1");
        let steps = db.steps(&run.run_id);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].status, StepStatus::Completed);
        assert_eq!(steps[0].step_id, format!("{}-1", run.run_id));
        assert_eq!(steps[0].input_params["url"], "x");
        let events = db.store().get_events(&run.run_id).expect("events");
        assert_eq!(events.len(), 5, "{events:#?}");
    }
}
