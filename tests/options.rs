//! The builder's options that change when and how the writer works, each
//! shown to take effect: the batch size and flush interval (when a change
//! is committed), the heartbeat interval, and the abandon timeout.

mod support;

use std::time::{Duration, Instant};

use chrono::Utc;
use support::TestDb;
use workflow_history::WorkflowStatus;

/// Long enough that nothing commits by its flush interval during a test.
const NEVER: Duration = Duration::from_secs(3600);

/// How many runs the database holds, read on a connection of the test's.
fn committed_runs(db: &TestDb) -> i64 {
    db.count_rows("workflow_runs")
}

/// Waits up to `limit` for `done`; returns whether it happened.
fn within(limit: Duration, done: impl Fn() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

backends! {
    fn a_full_batch_commits_without_waiting_for_the_flush_interval(db) {
        // One workflow of one step is well over 2 messages.
        let (dispatch, guard) = db.dispatch(db.builder().batch_size(2).flush_interval(NEVER));
        tracing::dispatcher::with_default(&dispatch, || {
            support::one_workflow("batches", "small", &["load"]);
        });
        assert!(within(Duration::from_secs(10), || committed_runs(db) == 1));
        drop(guard);

        // The same work in a batch that never fills waits for its interval.
        let other = TestDb::new();
        let (dispatch, guard) =
            other.dispatch(other.builder().batch_size(10_000).flush_interval(NEVER));
        tracing::dispatcher::with_default(&dispatch, || {
            support::one_workflow("batches", "small", &["load"]);
        });
        assert!(!within(Duration::from_millis(300), || committed_runs(&other) > 0));
        guard.flush().expect("flush");
        assert_eq!(committed_runs(&other), 1);
    }

    fn a_change_is_committed_within_the_flush_interval(db) {
        let (dispatch, guard) =
            db.dispatch(db.builder().batch_size(10_000).flush_interval(Duration::from_millis(20)));
        tracing::dispatcher::with_default(&dispatch, || {
            support::one_workflow("interval", "soon", &["load"]);
        });
        assert!(within(Duration::from_secs(10), || committed_runs(db) == 1));
        // A run still open is written as it starts, not only when it ends.
        let open = tracing::dispatcher::with_default(&dispatch, || {
            tracing::info_span!("workflow", workflow = "interval", run_id = "open")
        });
        tracing::dispatcher::with_default(&dispatch, || open.in_scope(|| {}));
        assert!(within(Duration::from_secs(10), || committed_runs(db) == 2));
        let open_row = db.store().get_run("open").expect("get").expect("written");
        assert_eq!(open_row.status, WorkflowStatus::Running);
        drop(open);
        guard.shutdown().expect("shutdown");
    }

    fn the_heartbeat_is_refreshed_every_interval(db) {
        let (_dispatch, guard) =
            db.dispatch(db.builder().heartbeat_interval(Duration::from_millis(20)));
        let beat = || -> i64 {
            db.sql_one(
                "SELECT COUNT(*) FROM history_writers WHERE heartbeat_at > started_at",
                &[],
            )
        };
        assert!(within(Duration::from_secs(10), || beat() == 1), "no heartbeat");
        let first: String = db.sql_one(
            "SELECT CAST(heartbeat_at AS TEXT) FROM history_writers",
            &[],
        );
        let later = || -> bool {
            let now: String = db.sql_one(
                "SELECT CAST(heartbeat_at AS TEXT) FROM history_writers",
                &[],
            );
            now != first
        };
        assert!(within(Duration::from_secs(10), later), "the heartbeat stopped");
        guard.shutdown().expect("shutdown");
    }

    fn a_writer_abandons_silent_writers_after_its_own_timeout(db) {
        db.record(|| {});
        // A writer of an older version (no lock), silent for five seconds.
        let silent = Utc::now() - chrono::Duration::seconds(5);
        db.sql_execute(
            "INSERT INTO history_writers (writer_id, host, pid, started_at, heartbeat_at) \
             VALUES ('old', 'elsewhere', 7, ?1, ?1)",
            &[silent.into()],
        );
        db.sql_execute(
            "INSERT INTO workflow_runs (run_id, workflow_name, status, started_at, created_at, writer_id) \
             VALUES ('quiet', 'nightly', 'RUNNING', ?1, ?1, 'old')",
            &[silent.into()],
        );
        let status = || db.store().get_run("quiet").expect("get").expect("run").status;
        let patient = db.builder().abandon_after(Duration::from_secs(30));
        drop(patient.build().expect("a patient writer"));
        assert_eq!(status(), WorkflowStatus::Running);
        let hasty = db.builder().abandon_after(Duration::from_secs(2));
        drop(hasty.build().expect("a hasty writer"));
        assert_eq!(status(), WorkflowStatus::Failed);
    }
}
