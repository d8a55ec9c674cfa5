//! `Backpressure::DropNewest`: the caller never waits, drops are counted and
//! persisted, and what is recorded stays consistent.

mod support;

use support::TestDb;
use workflow_history::{Backpressure, RunFilter, StepStatus, WorkflowStatus};

fn one_workflow(i: u64) {
    support::one_workflow("flood", &format!("run-{i}"), &["extract", "load"]);
}

#[test]
fn a_stalled_writer_does_not_block_callers_and_drops_are_counted() {
    let db = TestDb::new();
    let (dispatch, guard) = db.dispatch(
        db.builder()
            .queue_capacity(8)
            .backpressure(Backpressure::DropNewest),
    );
    // Another connection holds the write lock: no commit succeeds, and the
    // application records far faster than the writer takes messages in, so
    // the tiny queue overflows. With `Block` the loop below would wait.
    let blocker = rusqlite::Connection::open(&db.path).expect("open");
    blocker.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    tracing::dispatcher::with_default(&dispatch, || (0..2_000).for_each(one_workflow));
    blocker.execute_batch("COMMIT").expect("unlock");

    guard.flush().expect("flush");
    let dropped = guard.stats().messages_dropped;
    assert!(dropped > 0, "the queue never overflowed");
    let final_stats = guard.shutdown().expect("shutdown");

    let persisted: i64 = rusqlite::Connection::open(&db.path)
        .and_then(|c| {
            c.query_row("SELECT messages_dropped FROM history_writers", [], |r| {
                r.get(0)
            })
        })
        .expect("writer row");
    assert_eq!(persisted as u64, final_stats.messages_dropped);

    // Closes are never dropped: nothing recorded is left open, and nothing
    // had to be closed as abandoned at shutdown.
    let store = db.store();
    let runs = store
        .list_runs(&RunFilter {
            limit: 10_000,
            ..RunFilter::default()
        })
        .expect("runs");
    assert!(
        !runs.is_empty() && runs.len() < 2_000,
        "{} runs",
        runs.len()
    );
    for run in &runs {
        assert_eq!(run.status, WorkflowStatus::Completed, "{run:#?}");
        for step in store.get_steps(&run.run_id).expect("steps") {
            assert_eq!(step.status, StepStatus::Completed, "{step:#?}");
        }
    }
}
