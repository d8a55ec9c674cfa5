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

/// The name of this machine, as the library records it.
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

backends! {
    fn a_writer_whose_process_cannot_be_seen_is_not_taken_for_dead(db) {
        db.record(|| {});
        // A live writer of this host name that this process cannot see: in
        // another PID namespace (a container), or hidden by `hidepid`. Its
        // process id names no process here, and its heartbeat is fresh.
        writer_with_open_run(db, "elsewhere", "ongoing", Duration::seconds(1));
        db.sql_execute(
            "UPDATE history_writers SET host = ?1, pid = 999999999 WHERE writer_id = 'elsewhere'",
            &[this_host().as_str().into()],
        );
        let store = db.store();
        let (_, writer) = db.builder().build().expect("a writer starts");
        drop(writer);
        let ongoing = store.get_run("ongoing").expect("get").expect("run");
        assert_eq!(ongoing.status, WorkflowStatus::Running, "{ongoing:#?}");
    }
}

/// The child of the lock tests: a writer with one run left open on
/// purpose, which reports and then waits to be killed.
fn open_run_child(url: &str) {
    let (layer, guard) = workflow_history::HistoryLayer::builder()
        .database_url(url)
        .build()
        .expect("build");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::layer::SubscriberExt::with(
        tracing_subscriber::registry(),
        layer,
    ));
    let (opened, open) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info_span!("workflow", workflow = "nightly", run_id = "held").in_scope(|| {
                opened.send(()).expect("signal");
                std::thread::park();
            });
        });
    });
    open.recv().expect("run open");
    guard.flush().expect("flush");
    support::child::say("open");
    std::thread::park();
}

/// A writer process that lives is never abandoned, even silent for hours;
/// once it is killed, the next writer to start closes its runs at once.
fn a_writers_lock_speaks_for_it(db: &TestDb, test: &str) {
    use std::io::BufRead;
    const URL: &str = "WORKFLOW_HISTORY_LOCK_TEST_URL";
    let mut child = support::child::spawn_child(test, "writer", &[(URL, &db.url)]);
    let lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    for line in lines {
        if line.expect("child output").ends_with("open") {
            break;
        }
    }
    // Silent for hours, by its heartbeat: only its lock says it lives.
    let stale = Utc::now() - Duration::hours(3);
    db.sql_execute(
        "UPDATE history_writers SET heartbeat_at = ?1",
        &[stale.into()],
    );
    let (_, writer) = db.builder().build().expect("a second writer");
    drop(writer);
    let held = db.store().get_run("held").expect("get").expect("run");
    assert_eq!(held.status, WorkflowStatus::Running, "a live writer's run");

    child.kill().expect("kill");
    child.wait().expect("reap");
    // Its heartbeat made fresh again: only the free lock can tell.
    db.sql_execute(
        "UPDATE history_writers SET heartbeat_at = ?1",
        &[Utc::now().into()],
    );
    let (_, writer) = db.builder().build().expect("a third writer");
    drop(writer);
    let held = db.store().get_run("held").expect("get").expect("run");
    if db.is_postgres() {
        // A free session lock may be a reconnection: it needs half the
        // abandon timeout of silence as well.
        assert_eq!(held.status, WorkflowStatus::Running);
        let silent = Utc::now() - Duration::seconds(45);
        db.sql_execute(
            "UPDATE history_writers SET heartbeat_at = ?1",
            &[silent.into()],
        );
        // The server ends the killed client's session as soon as it reads
        // the closed socket; give it a moment if it has not yet.
        for _ in 0..20 {
            let (_, writer) = db.builder().build().expect("a fourth writer");
            drop(writer);
            let held = db.store().get_run("held").expect("get").expect("run");
            if held.status != WorkflowStatus::Running {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    let held = db.store().get_run("held").expect("get").expect("run");
    assert_eq!(held.status, WorkflowStatus::Failed, "{held:#?}");
    assert_eq!(held.error_category.as_deref(), Some("ABANDONED"));
}

#[test]
fn a_writers_lock_speaks_for_it_on_sqlite() {
    if support::child::child_role().is_some() {
        return open_run_child(&std::env::var("WORKFLOW_HISTORY_LOCK_TEST_URL").expect("url"));
    }
    a_writers_lock_speaks_for_it(&TestDb::new(), "a_writers_lock_speaks_for_it_on_sqlite");
}

#[test]
fn a_writers_lock_speaks_for_it_on_postgres() {
    if support::child::child_role().is_some() {
        return open_run_child(&std::env::var("WORKFLOW_HISTORY_LOCK_TEST_URL").expect("url"));
    }
    match TestDb::postgres() {
        Some(db) => a_writers_lock_speaks_for_it(&db, "a_writers_lock_speaks_for_it_on_postgres"),
        None => support::skip("set WORKFLOW_HISTORY_TEST_PG_URL to run on PostgreSQL"),
    }
}
