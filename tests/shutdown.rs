//! Graceful shutdown under load (issue #3, section 4): eight producer
//! threads flood workflows through one layer with a small queue, so they
//! block on backpressure; the guard is dropped (or shut down explicitly)
//! while they are still sending. Everything closed before the drop is
//! committed, nothing is half-recorded, and the producers run on unharmed.
//! Both tests run on both databases (see `backends!`).

mod support;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use support::TestDb;
use tracing::{Dispatch, info, info_span};
use workflow_history::{
    EventKind, HistoryGuard, HistoryStore, RunFilter, StepStatus, WorkflowRun, WorkflowStatus,
};

const PRODUCERS: usize = 8;
/// Small enough that producers wait on the writer most of the time.
const QUEUE: usize = 64;
const STEPS: [&str; 3] = ["fetch", "transform", "load"];
/// Workflows known closed, across all producers, before the guard goes.
const CLOSED_BEFORE_DROP: usize = 400;
/// Workflows each producer still runs after it sees the writer stopped.
const AFTER_DROP: usize = 25;
/// A producer stops here whatever happens, so a failed test cannot spin.
const MAX_PER_PRODUCER: usize = 200_000;
/// Generous bounds that only a hang reaches; nothing waits on them.
const HANG: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// The flood
// ---------------------------------------------------------------------------

/// What producers and the main thread share.
#[derive(Default)]
struct Shared {
    /// Run ids whose workflow span has closed, in the order they closed.
    closed: Mutex<Vec<String>>,
    more_closed: Condvar,
    /// Set once the guard is gone (or the test is failing).
    stopped: AtomicBool,
}

/// What one producer did.
#[derive(Debug)]
struct Produced {
    thread: usize,
    /// Index of the first workflow started after it saw `stopped`.
    first_after_stop: usize,
    /// Workflows started in all.
    total: usize,
}

fn run_id(thread: usize, i: usize) -> String {
    format!("t{thread}-{i}")
}

/// One workflow: a run with the three steps, each with an INFO event.
fn workflow(run_id: &str) {
    info_span!("workflow", workflow = "flood", run_id).in_scope(|| {
        for (n, step) in STEPS.into_iter().enumerate() {
            info_span!("step", step).in_scope(|| {
                info!(n, "working");
            });
        }
    });
}

/// Floods workflows until `stopped`, then runs `AFTER_DROP` more.
fn produce(thread: usize, dispatch: Dispatch, shared: Arc<Shared>) -> Produced {
    tracing::dispatcher::with_default(&dispatch, || {
        let mut first_after_stop = None;
        let mut i = 0;
        while i < MAX_PER_PRODUCER {
            if first_after_stop.is_none() && shared.stopped.load(Ordering::SeqCst) {
                first_after_stop = Some(i);
            }
            if first_after_stop.is_some_and(|first| i >= first + AFTER_DROP) {
                break;
            }
            let id = run_id(thread, i);
            // The span has closed when this returns: its messages are queued.
            workflow(&id);
            shared.closed.lock().unwrap().push(id);
            shared.more_closed.notify_all();
            i += 1;
        }
        Produced {
            thread,
            first_after_stop: first_after_stop.unwrap_or(i),
            total: i,
        }
    })
}

/// Sets `stopped` when dropped, so producers wind down even if the main
/// thread's assertions fail first.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stopped.store(true, Ordering::SeqCst);
    }
}

struct Flood {
    shared: Arc<Shared>,
    producers: Vec<JoinHandle<Produced>>,
    done: mpsc::Receiver<()>,
    _stop: StopOnDrop,
}

/// Sends on `done` however the producer ends, panics included.
struct Done(mpsc::Sender<()>);

impl Drop for Done {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

impl Flood {
    fn start(dispatch: &Dispatch) -> Flood {
        let shared = Arc::new(Shared::default());
        let (done_tx, done) = mpsc::channel();
        let producers = (0..PRODUCERS)
            .map(|thread| {
                let dispatch = dispatch.clone();
                let shared = Arc::clone(&shared);
                let done = Done(done_tx.clone());
                thread::Builder::new()
                    .name(format!("producer-{thread}"))
                    .spawn(move || {
                        let _done = done;
                        produce(thread, dispatch, shared)
                    })
                    .expect("spawn producer")
            })
            .collect();
        Flood {
            _stop: StopOnDrop(Arc::clone(&shared)),
            shared,
            producers,
            done,
        }
    }

    /// Waits until at least `n` workflows have closed, then returns the
    /// run ids closed so far: all of them closed before this returned.
    fn closed_at_least(&self, n: usize) -> HashSet<String> {
        let closed = self.shared.closed.lock().unwrap();
        let (closed, timeout) = self
            .shared
            .more_closed
            .wait_timeout_while(closed, HANG, |closed| closed.len() < n)
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "producers closed only {} workflows",
            closed.len()
        );
        closed.iter().cloned().collect()
    }

    /// Lets producers see the writer is gone, then joins them all: none may
    /// panic or stay blocked.
    fn finish(self) -> Vec<Produced> {
        self.shared.stopped.store(true, Ordering::SeqCst);
        for _ in 0..PRODUCERS {
            self.done
                .recv_timeout(HANG)
                .expect("a producer is still blocked after the writer stopped");
        }
        self.producers
            .into_iter()
            .map(|handle| handle.join().expect("a producer panicked"))
            .collect()
    }
}

/// Drops (or shuts down) the guard on another thread, so a hang fails the
/// test instead of stalling it.
fn stop_writer<R: Send + 'static>(
    guard: HistoryGuard,
    how: impl FnOnce(HistoryGuard) -> R + Send + 'static,
) -> R {
    let (tx, rx) = mpsc::channel();
    let stopper = thread::spawn(move || {
        let _ = tx.send(how(guard));
    });
    let result = rx
        .recv_timeout(HANG)
        .expect("stopping the writer did not return");
    stopper.join().expect("stopping the writer panicked");
    result
}

// ---------------------------------------------------------------------------
// Checking the database
// ---------------------------------------------------------------------------

fn all_runs(store: &HistoryStore) -> Vec<WorkflowRun> {
    store
        .list_runs(&RunFilter {
            limit: u32::MAX,
            ..RunFilter::default()
        })
        .expect("list runs")
}

/// The thread and index encoded in a run id.
fn parse_run_id(run_id: &str) -> (usize, usize) {
    let (thread, i) = run_id
        .strip_prefix('t')
        .and_then(|rest| rest.split_once('-'))
        .unwrap_or_else(|| panic!("unexpected run id {run_id}"));
    (thread.parse().unwrap(), i.parse().unwrap())
}

/// Checks one recorded run is whole as far as it got. A completed run has
/// its three completed steps, three log events and every status change. A
/// run cut off by the stop has a prefix of its steps, all but the last
/// completed; it is either still `RUNNING` with its last step completed or
/// running, or, once recovery has closed it (the writer recorded its stop
/// with the run open), `FAILED` with category `ABANDONED`, its last step
/// completed or abandoned too. Returns whether the run completed.
fn assert_consistent(store: &HistoryStore, run: &WorkflowRun) -> bool {
    let steps = store.get_steps(&run.run_id).expect("get steps");
    let events = store.get_events(&run.run_id).expect("get events");
    let names: Vec<&str> = steps.iter().map(|s| s.step_name.as_str()).collect();
    let logs = events.iter().filter(|e| e.kind == EventKind::Log).count();
    let transitions = events
        .iter()
        .filter(|e| e.kind == EventKind::StatusChanged)
        .count();
    assert!(
        steps
            .iter()
            .enumerate()
            .all(|(n, s)| s.step_order as usize == n + 1),
        "{}: step orders {steps:#?}",
        run.run_id
    );
    if run.status == WorkflowStatus::Completed {
        assert_eq!(names, STEPS, "{}: steps of a completed run", run.run_id);
        assert!(
            steps.iter().all(|s| s.status == StepStatus::Completed),
            "{}: {steps:#?}",
            run.run_id
        );
        assert!(run.completed_at.is_some(), "{run:#?}");
        assert_eq!(logs, STEPS.len(), "{}: log events", run.run_id);
        // Pending->running and running->completed, for the run and each step.
        assert_eq!(transitions, 2 * (1 + STEPS.len()), "{}", run.run_id);
        return true;
    }

    let abandoned =
        run.status == WorkflowStatus::Failed && run.error_category.as_deref() == Some("ABANDONED");
    assert!(
        run.status == WorkflowStatus::Running || abandoned,
        "{}: neither completed, running nor abandoned: {run:#?}",
        run.run_id
    );
    assert_eq!(
        run.completed_at.is_some(),
        abandoned,
        "{}: {run:#?}",
        run.run_id
    );
    assert!(
        names.len() <= STEPS.len() && names == STEPS[..names.len()],
        "{}: steps {names:?}",
        run.run_id
    );
    assert!(
        logs <= names.len(),
        "{}: {logs} log events for {} steps",
        run.run_id,
        names.len()
    );
    if let Some((last, done)) = steps.split_last() {
        assert!(
            done.iter().all(|s| s.status == StepStatus::Completed),
            "{}: {steps:#?}",
            run.run_id
        );
        let last_ok = match last.status {
            StepStatus::Completed => true,
            StepStatus::Running => !abandoned,
            StepStatus::Failed => abandoned && last.error_category.as_deref() == Some("ABANDONED"),
            _ => false,
        };
        assert!(last_ok, "{}: last step {last:#?} of {run:#?}", run.run_id);
    }
    false
}

/// Everything that must hold after the writer stopped mid-flood, given the
/// run ids known closed before it was told to stop and what producers did.
fn assert_history_after_stop(db: &TestDb, closed_before: &HashSet<String>, produced: &[Produced]) {
    let store = db.store();
    let runs = all_runs(&store);

    // Every workflow closed before the stop is there, whole and completed.
    let recorded: BTreeMap<&str, &WorkflowRun> =
        runs.iter().map(|r| (r.run_id.as_str(), r)).collect();
    let mut missing: Vec<&String> = closed_before
        .iter()
        .filter(|id| recorded.get(id.as_str()).map(|r| r.status) != Some(WorkflowStatus::Completed))
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "{} of {} workflows closed before the stop are missing or not COMPLETED: {:?}",
        missing.len(),
        closed_before.len(),
        &missing[..missing.len().min(20)]
    );

    // Nothing is half-recorded; per producer, what reached the database is
    // a prefix of what it sent (one queue, first in first out), with at
    // most its last run still RUNNING, cut off by the stop.
    let mut per_thread: BTreeMap<usize, Vec<(usize, bool)>> = BTreeMap::new();
    for run in &runs {
        let completed = assert_consistent(&store, run);
        let (thread, i) = parse_run_id(&run.run_id);
        per_thread.entry(thread).or_default().push((i, completed));
    }
    for produced in produced {
        let mut indices = per_thread.remove(&produced.thread).unwrap_or_default();
        indices.sort_unstable();
        for (expected, &(i, completed)) in indices.iter().enumerate() {
            assert_eq!(
                i, expected,
                "producer {}: runs recorded with a gap",
                produced.thread
            );
            assert!(
                completed || expected + 1 == indices.len(),
                "producer {}: run {i} RUNNING but later runs recorded",
                produced.thread
            );
        }
        // Workflows begun after the writer was gone cannot have reached it.
        assert!(
            indices.len() <= produced.first_after_stop,
            "producer {}: {} runs recorded, but it started only {} before the stop",
            produced.thread,
            indices.len(),
            produced.first_after_stop
        );
        assert!(
            produced.total >= produced.first_after_stop + AFTER_DROP,
            "producer {} stopped early: {produced:?}",
            produced.thread
        );
    }
    assert!(
        per_thread.is_empty(),
        "runs of unknown producers: {per_thread:?}"
    );

    // No step or event belongs to a run that is not there.
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM workflow_step_runs \
             WHERE run_id NOT IN (SELECT run_id FROM workflow_runs)"
        ),
        0,
        "orphan steps"
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM workflow_events \
             WHERE run_id NOT IN (SELECT run_id FROM workflow_runs)"
        ),
        0,
        "orphan events"
    );
    // The SQLite file itself is sound.
    if !db.is_postgres() {
        let integrity: String = rusqlite::Connection::open(&db.path)
            .expect("open database")
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .expect("integrity check");
        assert_eq!(integrity, "ok");
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

backends! {
    fn dropping_the_guard_mid_flood_commits_everything_closed_before_it(db) {
        let (dispatch, guard) = db.dispatch(db.builder().queue_capacity(QUEUE));
        let flood = Flood::start(&dispatch);
        drop(dispatch);

        let closed_before = flood.closed_at_least(CLOSED_BEFORE_DROP);
        // While the writer runs, a full queue makes callers wait: nothing dropped.
        let before = guard.stats();
        assert_eq!(before.messages_dropped, 0, "{before:?}");
        assert_eq!(before.write_errors, 0, "{before:?}");
        assert!(before.queued <= QUEUE as u64, "{before:?}");
        stop_writer(guard, drop);

        let produced = flood.finish();
        assert_history_after_stop(db, &closed_before, &produced);
        // The producers were still flooding when the guard went.
        let started: usize = produced.iter().map(|p| p.first_after_stop).sum();
        assert!(
            started > closed_before.len(),
            "no workflow was started between the snapshot and the drop: {produced:?}"
        );
    }

    fn explicit_shutdown_mid_flood_loses_nothing_and_reports_consistent_stats(db) {
        let (dispatch, guard) = db.dispatch(db.builder().queue_capacity(QUEUE));
        let flood = Flood::start(&dispatch);
        drop(dispatch);

        let closed_before = flood.closed_at_least(CLOSED_BEFORE_DROP);
        let stats = stop_writer(guard, HistoryGuard::shutdown).expect("shutdown under load");
        assert_eq!(stats.records_lost, 0, "{stats:?}");
        assert_eq!(stats.write_errors, 0, "{stats:?}");

        // Counted before a store opens the database: recovery then closes the
        // runs cut off by the stop, adding rows the writer did not write.
        let rows = db.count_rows("workflow_runs")
            + db.count_rows("workflow_step_runs")
            + db.count_rows("workflow_events");

        let produced = flood.finish();
        assert_history_after_stop(db, &closed_before, &produced);

        // Every row in the database was written at least once, and each
        // workflow closed before the shutdown is 11 messages (run and 3 steps
        // opened and closed, 3 events).
        let messages_per_workflow = 2 + 3 * STEPS.len() as u64;
        assert!(stats.rows_written > 0, "{stats:?}");
        assert!(
            stats.rows_written >= rows as u64,
            "{} rows in the database but only {} written: {stats:?}",
            rows,
            stats.rows_written
        );
        assert!(
            stats.messages_sent >= messages_per_workflow * closed_before.len() as u64,
            "{} workflows closed before shutdown but only {} messages counted: {stats:?}",
            closed_before.len(),
            stats.messages_sent
        );
    }
}

// ---------------------------------------------------------------------------
// A stop that the database cannot hold up
// ---------------------------------------------------------------------------

backends! {
    fn stopping_takes_the_shutdown_timeout_and_little_more_whatever_the_database_does(db) {
        let timeout = Duration::from_millis(600);
        let (dispatch, guard) = db.dispatch(db.builder().shutdown_timeout(timeout));
        tracing::dispatcher::with_default(&dispatch, || {
            support::one_workflow("stuck", "stuck-1", &["load"]);
        });
        // Another connection keeps the database locked for longer than any
        // limit here: the final commit, the stop's heartbeat and the closing
        // of open runs would each wait on it.
        let lock = db.lock_writes();
        let started = std::time::Instant::now();
        let outcome = guard.shutdown();
        let took = started.elapsed();
        lock.release();
        assert!(
            took < timeout + Duration::from_secs(2),
            "stopping took {took:?} with a {timeout:?} shutdown timeout"
        );
        // What could not be committed is reported, not silently dropped.
        match outcome {
            Err(workflow_history::Error::WriteFailed(reason)) => {
                assert!(reason.contains("records"), "{reason}");
            }
            other => panic!("expected the loss to be reported: {other:?}"),
        }
    }
}
