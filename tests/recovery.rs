//! Crash recovery on either database: runs left RUNNING by a writer that is
//! gone are closed as abandoned when a store opens the database; a live
//! writer's runs are left alone.

mod support;

use chrono::{Duration, Utc};
use support::TestDb;
use workflow_history::{EventKind, StepStatus, WorkflowStatus};

/// A writer on another host, last heard from `silent` ago, with one
/// running run (`run_id`) and its running step.
fn writer_with_open_run(db: &TestDb, writer_id: &str, run_id: &str, silent: Duration) {
    let heartbeat = Utc::now() - silent;
    let started = heartbeat - Duration::minutes(5);
    db.sql_execute(
        "INSERT INTO history_writers (writer_id, host, pid, started_at, heartbeat_at) \
         VALUES (?1, 'another-host', 4242, ?2, ?3)",
        &[writer_id.into(), started.into(), heartbeat.into()],
    );
    db.sql_execute(
        "INSERT INTO workflow_runs (run_id, workflow_name, status, started_at, created_at, writer_id) \
         VALUES (?1, 'nightly', 'RUNNING', ?2, ?2, ?3)",
        &[run_id.into(), started.into(), writer_id.into()],
    );
    let step_id = format!("{run_id}-1");
    db.sql_execute(
        "INSERT INTO workflow_step_runs (step_id, run_id, step_name, step_order, status, started_at) \
         VALUES (?1, ?2, 'load', 1, 'RUNNING', ?3)",
        &[step_id.as_str().into(), run_id.into(), started.into()],
    );
}

backends! {
    fn runs_of_a_silent_writer_are_abandoned_and_a_live_ones_are_not(db) {
        // The schema, made by a writer that then stops cleanly.
        db.record(|| {});
        writer_with_open_run(db, "dead", "orphan", Duration::hours(2));
        writer_with_open_run(db, "alive", "ongoing", Duration::seconds(1));

        let store = db.store(); // opening recovers
        let orphan = store.get_run("orphan").expect("get").expect("run");
        assert_eq!(orphan.status, WorkflowStatus::Failed);
        assert_eq!(orphan.error_category.as_deref(), Some("ABANDONED"));
        let why = orphan.error.as_deref().unwrap_or_default();
        assert!(why.contains("another-host") && why.contains("4242"), "{why}");
        // It ended at the writer's last heartbeat, not at recovery time.
        let ended = orphan.completed_at.expect("completed");
        assert!(Utc::now() - ended > Duration::minutes(100), "{ended}");
        let steps = store.get_steps("orphan").expect("steps");
        assert_eq!(steps[0].status, StepStatus::Failed);
        assert_eq!(steps[0].error_category.as_deref(), Some("ABANDONED"));
        let changes: Vec<_> = store
            .get_events("orphan")
            .expect("events")
            .into_iter()
            .filter(|e| e.kind == EventKind::StatusChanged)
            .map(|e| (e.step_id.is_some(), e.fields["old"].clone(), e.fields["new"].clone()))
            .collect();
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(changes.iter().all(|(_, old, new)| old == "RUNNING" && new == "FAILED"));

        let ongoing = store.get_run("ongoing").expect("get").expect("run");
        assert_eq!(ongoing.status, WorkflowStatus::Running, "a live writer's run");

        // Recovery is idempotent: running it again changes nothing.
        assert_eq!(store.recover_abandoned(std::time::Duration::from_secs(60)).expect("again"), 0);
    }
}

backends! {
    fn opening_never_fails_while_another_writer_commits(db) {
        db.record(|| {});
        let stop = std::sync::atomic::AtomicBool::new(false);
        let opened = std::thread::scope(|scope| {
            // Another writer commits all the time, every few milliseconds.
            scope.spawn(|| {
                let builder = db.builder().flush_interval(std::time::Duration::from_millis(2));
                let (dispatch, guard) = db.dispatch(builder);
                let mut i = 0;
                tracing::dispatcher::with_default(&dispatch, || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        support::one_workflow("busy", &format!("busy-{i}"), &["load"]);
                        i += 1;
                    }
                });
                guard.shutdown().expect("the other writer stops cleanly");
            });
            // Each open finds work: runs a dead writer left open, whose
            // recovery reads, then writes, while the other writer commits.
            let opened: Vec<Result<(), String>> = (0..200)
                .map(|i| {
                    writer_with_open_run(db, &format!("gone-{i}"), &format!("orphan-{i}"), Duration::hours(1));
                    workflow_history::HistoryStore::connect(&db.url)
                        .map(drop)
                        .map_err(|e| e.to_string())
                })
                .collect();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            opened
        });
        let failed: Vec<&String> = opened.iter().filter_map(|o| o.as_ref().err()).collect();
        assert!(failed.is_empty(), "{} of 200 opens failed: {:?}", failed.len(), failed.first());
        let store = db.store();
        for i in 0..200 {
            let orphan = store.get_run(&format!("orphan-{i}")).expect("get").expect("run");
            assert_eq!(orphan.status, WorkflowStatus::Failed, "orphan-{i}");
        }
    }
}
