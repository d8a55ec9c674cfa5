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

backends! {
    /// The layer composes with other layers and with per-layer filters: the
    /// `fmt` layer filtered to WARN, ours filtered to INFO, so a DEBUG event
    /// inside the step reaches neither while the INFO one reaches ours.
    fn composes_with_other_layers_and_per_layer_filters(db) {
        use tracing_subscriber::filter::LevelFilter;
        use tracing_subscriber::prelude::*;

        let (layer, guard) = db.builder().capture_level(tracing::Level::TRACE).build().expect("build");
        let subscriber = tracing_subscriber::registry()
            .with(layer.with_filter(LevelFilter::INFO))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::sink)
                    .with_filter(LevelFilter::WARN),
            );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("workflow", workflow = "filtered").in_scope(|| {
                tracing::info_span!("step", step = "only").in_scope(|| {
                    tracing::debug!("filtered out before our layer");
                    tracing::info!("kept");
                });
            });
        });
        guard.shutdown().expect("shutdown");
        let run = db.only_run();
        assert_eq!(run.workflow_name, "filtered");
        assert_eq!(db.steps(&run.run_id).len(), 1);
        let logs: Vec<_> = db
            .store()
            .get_events(&run.run_id)
            .expect("events")
            .into_iter()
            .filter_map(|e| e.message)
            .collect();
        assert_eq!(logs, ["kept"]);
    }
}
