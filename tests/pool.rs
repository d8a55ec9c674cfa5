//! The store reads through a pool: readers run side by side while a writer
//! commits and always see whole runs; a saturated server answers 503 with
//! `Retry-After` after its longest wait, and never hangs.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::TestDb;
use support::http::{self, Served};
use workflow_history::{RunFilter, WorkflowStatus};

const READERS: usize = 8;

backends! {
    fn readers_in_parallel_with_a_writer_see_whole_runs(db) {
        let steps = ["fetch", "transform", "load"];
        db.record(|| support::one_workflow("seed", "seed", &steps));
        let store = db.store().max_connections(4).expect("pool");
        let (dispatch, guard) = db.dispatch(db.builder().flush_interval(Duration::from_millis(2)));
        let stop = AtomicBool::new(false);
        let checked = std::thread::scope(|scope| {
            scope.spawn(|| {
                tracing::dispatcher::with_default(&dispatch, || {
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        support::one_workflow("busy", &format!("busy-{i}"), &steps);
                        i += 1;
                    }
                });
            });
            let readers: Vec<_> = (0..READERS)
                .map(|_| {
                    scope.spawn(|| {
                        let mut checked = 0;
                        for _ in 0..40 {
                            let page = store
                                .list_runs(&RunFilter { limit: 20, ..RunFilter::default() })
                                .expect("list");
                            for run in page {
                                // A run and its steps commit together: a
                                // finished run always has all of them.
                                if run.status == WorkflowStatus::Completed {
                                    let found = store.get_steps(&run.run_id).expect("steps");
                                    assert_eq!(found.len(), steps.len(), "{}", run.run_id);
                                    checked += 1;
                                }
                            }
                            assert!(store.count_runs(&RunFilter::default()).expect("count") >= 1);
                        }
                        checked
                    })
                })
                .collect();
            let checked: usize = readers.into_iter().map(|r| r.join().expect("reader")).sum();
            stop.store(true, Ordering::Relaxed);
            checked
        });
        guard.shutdown().expect("writer stops cleanly");
        // Every page holds finished runs: one writer finishes one run at a time.
        assert!(checked >= READERS * 40, "{checked} runs checked");
    }
}

/// PostgreSQL can hold every reader still (a table lock), so the server's
/// pool is saturated for sure.
#[test]
fn a_saturated_server_answers_503_with_retry_after_and_recovers() {
    let Some(db) = TestDb::postgres() else {
        return support::skip("set WORKFLOW_HISTORY_TEST_PG_URL to run on PostgreSQL");
    };
    db.record(|| support::one_workflow("seed", "seed", &["fetch"]));
    let served = Served::start(
        &[
            "--db",
            &db.url,
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--max-wait-ms",
            "300",
        ],
        &[],
    );
    let mut locker = postgres::Client::connect(&db.url, postgres::NoTls).expect("connect");
    let mut lock = locker.transaction().expect("begin");
    lock.batch_execute("LOCK TABLE workflow_runs IN ACCESS EXCLUSIVE MODE")
        .expect("lock");
    // More requests than the pool has connections: those that get one
    // wait on the lock, the others give up after 300 ms.
    let answers: Vec<http::Response> = std::thread::scope(|scope| {
        let requests: Vec<_> = (0..24)
            .map(|_| scope.spawn(|| http::get(served.addr, "/history/runs?limit=5")))
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        lock.rollback().expect("release the lock");
        requests
            .into_iter()
            .map(|r| r.join().expect("request"))
            .collect()
    });
    let busy: Vec<&http::Response> = answers.iter().filter(|r| r.status == 503).collect();
    assert!(
        !busy.is_empty(),
        "some requests found every connection busy"
    );
    for answer in &busy {
        answer.assert_error(503, "busy");
        assert_eq!(answer.header("retry-after"), Some("1"));
    }
    let served_ok = answers.iter().filter(|r| r.status == 200).count();
    assert!(
        served_ok > 0,
        "the requests holding connections finish once the lock goes"
    );
    assert_eq!(busy.len() + served_ok, answers.len(), "no other answer");
    // The pool is whole again.
    assert_eq!(http::get(served.addr, "/history/runs?limit=5").status, 200);
}
