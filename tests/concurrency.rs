//! Many threads, async tasks moving between worker threads, flushing, a
//! large volume, and a database locked by someone else: nothing is lost
//! and every run and step is recorded once with the right status. Every
//! test runs on both databases (see `backends!`).

mod support;

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use support::TestDb;
use tracing::instrument::{Instrument, WithSubscriber};
use tracing::{Dispatch, info_span, instrument};
use workflow_history::{
    EventKind, HistoryStore, RunFilter, StepRun, StepStatus, WorkflowRun, WorkflowStatus,
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const STEPS: [&str; 3] = ["fetch", "transform", "load"];

/// Records run `run_id` of `workflow` with the three `STEPS`; when `fails`,
/// `transform` logs an ERROR event, which fails it and so the run.
fn sync_workflow(run_id: &str, workflow: &str, fails: bool) {
    let _run = info_span!("workflow", workflow, run_id).entered();
    for step in STEPS {
        info_span!("step", step).in_scope(|| {
            if fails && step == "transform" {
                tracing::error!("bad row");
            } else {
                workflow_history::records_processed(10);
            }
        });
    }
}

/// Records `runs` runs of `workflow` with `steps` steps each.
fn workflow_with_steps(workflow: &str, runs: usize, steps: usize) {
    for _ in 0..runs {
        let _run = info_span!("workflow", workflow).entered();
        for _ in 0..steps {
            info_span!("step", step = "unit").in_scope(|| {});
        }
    }
}

fn all() -> RunFilter {
    RunFilter {
        limit: u32::MAX,
        ..RunFilter::default()
    }
}

fn count_status(store: &HistoryStore, status: WorkflowStatus) -> u64 {
    let filter = RunFilter {
        status: Some(status),
        ..RunFilter::default()
    };
    store.count_runs(&filter).expect("count runs")
}

/// Step rows per status, from the table itself.
fn step_statuses(db: &TestDb) -> Vec<(String, i64)> {
    db.sql_query(
        "SELECT status, COUNT(*) FROM workflow_step_runs GROUP BY status ORDER BY status",
        &[],
    )
}

/// Every run has exactly the three `STEPS`, numbered 1..=3 in that order,
/// with `step_id` = `{run_id}-{step_order}`.
#[track_caller]
fn assert_every_run_has_the_three_steps(db: &TestDb, runs: i64) {
    let well_formed = db.count(
        "SELECT COUNT(*) FROM (SELECT run_id FROM workflow_step_runs \
         WHERE step_id = run_id || '-' || step_order \
           AND step_name = CASE step_order WHEN 1 THEN 'fetch' WHEN 2 THEN 'transform' \
                                           WHEN 3 THEN 'load' END \
         GROUP BY run_id HAVING COUNT(*) = 3) AS well_formed",
    );
    assert_eq!(well_formed, runs);
    assert_eq!(db.count_rows("workflow_step_runs"), runs * 3);
}

/// Started no later than completed, both set.
#[track_caller]
fn assert_timed(started: Option<DateTime<Utc>>, ended: Option<DateTime<Utc>>) {
    let (Some(started), Some(ended)) = (started, ended) else {
        panic!("missing times: {started:?} {ended:?}");
    };
    assert!(
        started <= ended,
        "started {started} after completed {ended}"
    );
}

// ---------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------

const THREADS: usize = 8;
const PER_THREAD: usize = 150;

/// Every tenth workflow of each thread fails.
fn fails(i: usize) -> bool {
    i.is_multiple_of(10)
}

backends! {
    fn eight_threads_record_all_their_workflows_with_the_right_statuses(db) {
        let (dispatch, guard) = db.dispatch(db.builder());
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let dispatch = &dispatch;
                scope.spawn(move || {
                    tracing::dispatcher::with_default(dispatch, || {
                        for i in 0..PER_THREAD {
                            sync_workflow(&format!("t{t}-{i}"), &format!("thread-{t}"), fails(i));
                        }
                    });
                });
            }
        });
        let stats = guard.shutdown().expect("clean shutdown");
        assert_eq!(
            (stats.messages_dropped, stats.records_lost),
            (0, 0),
            "{stats:?}"
        );

        let store = db.store();
        let runs = (THREADS * PER_THREAD) as u64;
        let failing = (THREADS * PER_THREAD.div_ceil(10)) as u64;
        assert_eq!(
            store.count_runs(&RunFilter::default()).expect("count"),
            runs
        );
        for t in 0..THREADS {
            let filter = RunFilter {
                workflow_name: Some(format!("thread-{t}")),
                ..RunFilter::default()
            };
            assert_eq!(store.count_runs(&filter).expect("count"), PER_THREAD as u64);
        }
        assert_eq!(
            count_status(&store, WorkflowStatus::Completed),
            runs - failing
        );
        let failed: BTreeSet<String> = store
            .list_runs(&RunFilter {
                status: Some(WorkflowStatus::Failed),
                ..all()
            })
            .expect("list")
            .into_iter()
            .map(|run| run.run_id)
            .collect();
        let expected: BTreeSet<String> = (0..THREADS)
            .flat_map(|t| {
                (0..PER_THREAD)
                    .filter(|i| fails(*i))
                    .map(move |i| format!("t{t}-{i}"))
            })
            .collect();
        assert_eq!(failed, expected);

        assert_every_run_has_the_three_steps(db, runs as i64);
        assert_eq!(
            step_statuses(db),
            [
                ("COMPLETED".to_owned(), (runs * 3 - failing) as i64),
                ("FAILED".to_owned(), failing as i64)
            ]
        );
    }
}

// ---------------------------------------------------------------------------
// Async
// ---------------------------------------------------------------------------

const ASYNC_RUNS: usize = 32;

/// Which threads polled each workflow: shows the spans really moved. One
/// per test, as the test runs once per database, perhaps at the same time.
type PolledOn = Arc<Mutex<Vec<(usize, ThreadId)>>>;

fn note_thread(polled: &PolledOn, i: usize) {
    let thread = std::thread::current().id();
    polled.lock().expect("lock").push((i, thread));
}

/// Suspends the task many times, at yields and timers, so its spans are
/// exited and re-entered, possibly on another worker thread.
async fn await_points(i: usize, polled: &PolledOn) {
    for _ in 0..5 {
        tokio::task::yield_now().await;
        note_thread(polled, i);
        tokio::time::sleep(Duration::from_millis(1)).await;
        note_thread(polled, i);
    }
}

#[instrument(name = "workflow", fields(workflow = "async_ingest"), skip(polled))]
async fn async_workflow(i: usize, polled: PolledOn) {
    fetch(i, &polled).await;
    transform(i, &polled).await;
    // A step in a task of its own, which any worker may run.
    let load = load(i, polled).in_current_span().with_current_subscriber();
    tokio::spawn(load).await.expect("load task");
}

#[instrument(name = "step", fields(step = "fetch"), skip(polled))]
async fn fetch(i: usize, polled: &PolledOn) {
    await_points(i, polled).await;
}

#[instrument(name = "step", fields(step = "transform"), skip(polled))]
async fn transform(i: usize, polled: &PolledOn) {
    await_points(i, polled).await;
}

#[instrument(name = "step", fields(step = "load"), skip(polled))]
async fn load(i: usize, polled: PolledOn) {
    await_points(i, &polled).await;
}

/// Steps are in start order, each inside its run, none overlapping.
#[track_caller]
fn assert_steps_in_start_order(run: &WorkflowRun, steps: &[StepRun]) {
    let names: Vec<&str> = steps.iter().map(|s| s.step_name.as_str()).collect();
    assert_eq!(names, STEPS, "{}", run.run_id);
    for (k, step) in steps.iter().enumerate() {
        assert_eq!(step.step_order as usize, k + 1);
        assert_eq!(step.status, StepStatus::Completed, "{step:?}");
        assert_timed(step.started_at, step.completed_at);
        assert!(step.started_at >= run.started_at && step.completed_at <= run.completed_at);
        if k > 0 {
            assert!(step.started_at >= steps[k - 1].completed_at, "{steps:#?}");
        }
    }
}

backends! {
    fn async_spans_across_await_points_and_threads_are_one_run_and_one_step_each(db) {
        let (dispatch, guard) = db.dispatch(db.builder());
        let polled = PolledOn::default();
        let runtime = support::runtime(4);
        runtime.block_on(async {
            let tasks: Vec<_> = (0..ASYNC_RUNS)
                .map(|i| {
                    let workflow = async_workflow(i, Arc::clone(&polled));
                    tokio::spawn(workflow.with_subscriber(dispatch.clone()))
                })
                .collect();
            for task in tasks {
                task.await.expect("workflow task");
            }
        });
        drop(runtime);
        guard.shutdown().expect("clean shutdown");

        // The premise: some workflow was polled on more than one thread.
        let polled = polled.lock().expect("lock");
        let moved = (0..ASYNC_RUNS).any(|i| {
            let threads: HashSet<_> = polled
                .iter()
                .filter(|(run, _)| *run == i)
                .map(|(_, t)| t)
                .collect();
            threads.len() > 1
        });
        assert!(
            moved,
            "no workflow changed threads; the test proves nothing"
        );

        let store = db.store();
        let runs = store.list_runs(&all()).expect("list");
        assert_eq!(runs.len(), ASYNC_RUNS, "one run per workflow");
        let numbers: BTreeSet<u64> = runs
            .iter()
            .map(|r| r.params["i"].as_u64().expect("i"))
            .collect();
        assert_eq!(numbers, (0..ASYNC_RUNS as u64).collect());
        for run in &runs {
            assert_eq!(run.status, WorkflowStatus::Completed, "{run:?}");
            assert_timed(run.started_at, run.completed_at);
            let steps = store.get_steps(&run.run_id).expect("steps");
            assert_steps_in_start_order(run, &steps);
            // Re-entering a span is not a new start: one open and one close each.
            let changes = store
                .get_events(&run.run_id)
                .expect("events")
                .into_iter()
                .filter(|e| e.kind == EventKind::StatusChanged)
                .count();
            assert_eq!(changes, 2 * (1 + STEPS.len()), "{}", run.run_id);
        }
    }
}

// ---------------------------------------------------------------------------
// Flushing and volume
// ---------------------------------------------------------------------------

backends! {
    fn flush_makes_everything_recorded_before_it_visible_while_the_guard_lives(db) {
        let (dispatch, guard) = db.dispatch(db.builder());
        let store = db.store();
        tracing::dispatcher::with_default(&dispatch, || {
            for round in 1..=5u64 {
                workflow_with_steps("batch", 20, 3);
                guard.flush().expect("flush");
                assert_eq!(
                    store.count_runs(&RunFilter::default()).expect("count"),
                    20 * round
                );
                assert_eq!(count_status(&store, WorkflowStatus::Completed), 20 * round);
            }

            // A run and step still open are visible as running.
            let run = info_span!("workflow", workflow = "open", run_id = "open").entered();
            let step = info_span!("step", step = "slow").entered();
            guard.flush().expect("flush");
            let open = store
                .get_run("open")
                .expect("get")
                .expect("open run visible");
            assert_eq!(open.status, WorkflowStatus::Running);
            assert_eq!(
                store.get_steps("open").expect("steps")[0].status,
                StepStatus::Running
            );

            drop(step);
            drop(run);
            guard.flush().expect("flush");
            let closed = store.get_run("open").expect("get").expect("run");
            assert_eq!(closed.status, WorkflowStatus::Completed);
            assert_eq!(
                store.get_steps("open").expect("steps")[0].status,
                StepStatus::Completed
            );
        });
        drop(guard);
    }
}

const BIG_THREADS: usize = 4;
const BIG_RUNS_PER_THREAD: usize = 250;
const BIG_STEPS_PER_RUN: usize = 100;

backends! {
    /// 4 threads x 250 workflows x 100 steps = 100,000 steps; dropping the
    /// guard must commit every one of them.
    fn a_hundred_thousand_steps_are_all_committed_when_the_guard_is_dropped(db) {
        let (dispatch, guard) = db.dispatch(db.builder());
        std::thread::scope(|scope| {
            for _ in 0..BIG_THREADS {
                let dispatch = &dispatch;
                scope.spawn(move || {
                    tracing::dispatcher::with_default(dispatch, || {
                        workflow_with_steps("big", BIG_RUNS_PER_THREAD, BIG_STEPS_PER_RUN);
                    });
                });
            }
        });
        drop(guard);

        let runs = (BIG_THREADS * BIG_RUNS_PER_THREAD) as i64;
        let steps = runs * BIG_STEPS_PER_RUN as i64;
        assert_eq!(steps, 100_000);
        assert_eq!(db.count_rows("workflow_step_runs"), steps);
        assert_eq!(step_statuses(db), [("COMPLETED".to_owned(), steps)]);
        let full_runs = db.count(&format!(
            "SELECT COUNT(*) FROM (SELECT run_id FROM workflow_step_runs GROUP BY run_id \
             HAVING COUNT(*) = {BIG_STEPS_PER_RUN} AND MIN(step_order) = 1 \
                AND MAX(step_order) = {BIG_STEPS_PER_RUN}) AS full_runs"
        ));
        assert_eq!(full_runs, runs);
        let store = db.store();
        assert_eq!(count_status(&store, WorkflowStatus::Completed), runs as u64);
        assert_eq!(
            store.count_runs(&RunFilter::default()).expect("count"),
            runs as u64
        );
    }

    fn stats_count_messages_and_rows_without_errors(db) {
        let (dispatch, guard) = db.dispatch(db.builder());
        let before = guard.stats();
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..10 {
                sync_workflow(&format!("r{i}"), "stats", false);
            }
        });
        guard.flush().expect("flush");
        let stats = guard.stats();

        // Each run and step is at least opened and closed: two messages each.
        let spans = 10 * (1 + STEPS.len()) as u64;
        assert!(stats.messages_sent >= 2 * spans, "{stats:?}");
        assert!(stats.messages_sent > before.messages_sent);
        // Every row in the database was written at least once.
        let rows: i64 = ["workflow_runs", "workflow_step_runs", "workflow_events"]
            .iter()
            .map(|table| db.count_rows(table))
            .sum();
        assert!(rows > 0);
        assert!(stats.rows_written >= rows as u64, "{stats:?} < {rows} rows");
        let troubles = [
            stats.write_errors,
            stats.messages_dropped,
            stats.records_lost,
        ];
        assert_eq!((troubles, stats.queued), ([0; 3], 0), "{stats:?}");
        guard.shutdown().expect("clean shutdown");
    }
}

// ---------------------------------------------------------------------------
// A busy database
// ---------------------------------------------------------------------------

/// How long another connection keeps the write lock: longer than one
/// commit attempt waits for it, so attempts fail and are retried.
const LOCK_HELD: Duration = Duration::from_millis(1500);
const BUSY_RUNS: usize = 50;

/// Holds the database's write lock until told the workflows are recorded,
/// then `LOCK_HELD` longer, so the writer meets the lock; returns when the
/// lock was released.
fn hold_write_lock(db: &TestDb, locked: mpsc::Sender<()>, recorded: mpsc::Receiver<()>) -> Instant {
    let lock = db.lock_writes();
    locked.send(()).expect("signal locked");
    recorded.recv().expect("wait for the workflows");
    std::thread::sleep(LOCK_HELD);
    let released = Instant::now();
    lock.release();
    released
}

fn record_busy_runs(dispatch: &Dispatch) {
    tracing::dispatcher::with_default(dispatch, || {
        for i in 0..BUSY_RUNS {
            sync_workflow(&format!("busy-{i}"), "busy", false);
        }
    });
}

backends! {
    fn a_database_locked_by_another_connection_delays_but_loses_nothing(db) {
        let (dispatch, guard) = db.dispatch(db.builder());
        let (locked_tx, locked) = mpsc::channel();
        let (recorded, recorded_rx) = mpsc::channel();
        let (released, flushed) = std::thread::scope(|scope| {
            let locker = scope.spawn(|| hold_write_lock(db, locked_tx, recorded_rx));
            locked.recv().expect("lock taken");
            // Recording finishes while the lock is held: the layer never waits
            // for the database on the caller's thread.
            record_busy_runs(&dispatch);
            recorded.send(()).expect("signal recorded");
            // A flush fails while the lock is held; the records are kept.
            let flushed = (0..200).any(|_| {
                guard.flush().is_ok() || {
                    std::thread::sleep(Duration::from_millis(50));
                    false
                }
            });
            let flushed_at = Instant::now();
            let released = locker.join().expect("locker thread");
            (released, flushed.then_some(flushed_at))
        });
        let flushed = flushed.expect("flush never succeeded");
        assert!(flushed >= released, "committed while the lock was held?");
        guard.shutdown().expect("clean shutdown");

        let store = db.store();
        assert_eq!(
            store.count_runs(&RunFilter::default()).expect("count"),
            BUSY_RUNS as u64
        );
        assert_eq!(
            count_status(&store, WorkflowStatus::Completed),
            BUSY_RUNS as u64
        );
        assert_every_run_has_the_three_steps(db, BUSY_RUNS as i64);
        assert_eq!(
            step_statuses(db),
            [("COMPLETED".to_owned(), 3 * BUSY_RUNS as i64)]
        );
    }
}

/// How long the database stays locked in the outage test: several seconds,
/// far longer than the application needs to record its workflows.
const OUTAGE: Duration = Duration::from_secs(4);

backends! {
    fn a_long_lock_never_holds_up_the_application(db) {
        // A small queue and small batches: with the writer stuck in the
        // database, the application would meet a full queue at once.
        let (dispatch, guard) = db.dispatch(db.builder().queue_capacity(64).batch_size(16));
        let lock = db.lock_writes();
        let locked_at = Instant::now();
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..300 {
                support::one_workflow("outage", &format!("outage-{i}"), &["extract", "load"]);
            }
        });
        let recording = locked_at.elapsed();
        std::thread::sleep(OUTAGE.saturating_sub(locked_at.elapsed()));
        lock.release();
        // The writer kept everything in memory and never made the
        // application wait for the lock.
        assert!(
            recording < Duration::from_secs(1),
            "300 workflows took {recording:?} while the database was locked"
        );
        let committed = (0..100).any(|_| {
            guard.flush().is_ok() || {
                std::thread::sleep(Duration::from_millis(100));
                false
            }
        });
        assert!(committed, "never committed after the lock: {:?}", guard.stats());
        let stats = guard.shutdown().expect("clean shutdown");
        assert_eq!(stats.records_lost, 0, "{stats:?}");
        let store = db.store();
        assert_eq!(count_status(&store, WorkflowStatus::Completed), 300);
        assert_eq!(db.count_rows("workflow_step_runs"), 600);
    }
}
