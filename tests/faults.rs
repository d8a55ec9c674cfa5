//! Fault tests with real processes and real files: a writer killed with
//! SIGKILL, a disk that fills up, and `std::process::exit` without the guard.
//!
//! Child processes are this test binary run again with `--exact <test>` and
//! an environment variable naming their role.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::TestDb;
use support::child::{SAY, child_role, say, spawn_child};
use tracing::info_span;
use tracing_subscriber::prelude::*;
use workflow_history::{Error, HistoryLayer, HistoryStore, RunFilter, StepStatus, WorkflowStatus};

/// The child's database.
const DB: &str = "WORKFLOW_HISTORY_FAULT_DB";

/// Runs this binary's test `test` as a child with `role` on `db`.
fn spawn_on(test: &str, role: &str, db: &Path) -> Child {
    spawn_child(test, role, &[(DB, &db.display().to_string())])
}

/// The role this process plays, if it is a child, and the database it uses.
fn role_and_db() -> Option<(String, PathBuf)> {
    let role = child_role()?;
    let db = std::env::var(DB).expect("child needs a database");
    Some((role, PathBuf::from(db)))
}

fn one_workflow(i: u64) {
    support::one_workflow("faults", &format!("run-{i}"), &["extract", "load"]);
}

fn integrity_check(path: &Path) -> String {
    rusqlite::Connection::open(path)
        .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
        .expect("integrity check")
}

/// A time-seeded number in `0..n`: where the kill lands varies run to run.
fn pick(n: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    u64::from(nanos) % n
}

#[track_caller]
fn assert_completed_with_steps(store: &HistoryStore, run_id: &str) {
    let run = store
        .get_run(run_id)
        .expect("get run")
        .unwrap_or_else(|| panic!("{run_id} lost"));
    assert_eq!(run.status, WorkflowStatus::Completed, "{run:#?}");
    let steps = store.get_steps(run_id).expect("steps");
    assert_eq!(steps.len(), 2, "{run_id}: {steps:#?}");
    assert!(
        steps.iter().all(|s| s.status == StepStatus::Completed),
        "{steps:#?}"
    );
}

/// The child of the SIGKILL test: one run left open on purpose, then
/// workflows in a loop, reporting each one committed, until killed.
fn kill9_child(db: &Path) {
    let (layer, guard) = HistoryLayer::builder()
        .sqlite(db)
        .flush_interval(Duration::from_millis(5))
        .build()
        .expect("build");
    tracing_subscriber::registry().with(layer).init();
    let (open, opened) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        info_span!("workflow", workflow = "faults", run_id = "interrupted").in_scope(|| {
            info_span!("step", step = "forever").in_scope(|| {
                open.send(()).expect("signal");
                std::thread::park();
            });
        });
    });
    opened.recv().expect("open run");
    guard.flush().expect("flush");
    say("ready");
    for i in 0.. {
        one_workflow(i);
        if i % 3 == 0 {
            guard.flush().expect("flush");
            say(format!("committed {i}"));
        }
    }
}

#[test]
fn sigkill_keeps_committed_history_and_abandons_the_interrupted_run() {
    if let Some((_, db)) = role_and_db() {
        return kill9_child(&db);
    }
    let db = TestDb::new();
    let mut child = spawn_on(
        "sigkill_keeps_committed_history_and_abandons_the_interrupted_run",
        "kill9",
        &db.path,
    );
    let kill_after = 5 + pick(40);
    let mut committed = Vec::new();
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    for line in lines {
        let line = line.expect("child output");
        let Some(said) = line.strip_prefix(SAY) else {
            continue;
        };
        if let Some(i) = said.strip_prefix("committed ") {
            committed.push(i.parse::<u64>().expect("number"));
        }
        if committed.len() as u64 >= kill_after {
            break;
        }
    }
    // Child::kill sends SIGKILL; wait reaps it so its pid is really gone.
    child.kill().expect("kill");
    child.wait().expect("reap");
    assert_eq!(
        committed.len() as u64,
        kill_after,
        "the child stopped early"
    );

    assert_eq!(integrity_check(&db.path), "ok");
    // A reader does not judge a writer whose heartbeat is fresh...
    let reader = db.store();
    let left = reader.get_run("interrupted").expect("get").expect("run");
    assert_eq!(left.status, WorkflowStatus::Running);
    drop(reader);
    // ...but a writer starting finds the dead one's lock free: that process
    // is gone for sure, and its open runs are closed at once.
    let (_, next) = db.builder().build().expect("a new writer");
    drop(next);
    let store = db.store();
    for i in &committed {
        for j in i.saturating_sub(2)..=*i {
            assert_completed_with_steps(&store, &format!("run-{j}"));
        }
    }
    let interrupted = store
        .get_run("interrupted")
        .expect("get")
        .expect("recorded");
    assert_eq!(interrupted.status, WorkflowStatus::Failed);
    assert_eq!(interrupted.error_category.as_deref(), Some("ABANDONED"));
    assert!(
        interrupted
            .error
            .as_deref()
            .unwrap_or("")
            .contains("abandoned")
    );
    assert!(interrupted.completed_at >= interrupted.started_at);
    let steps = store.get_steps("interrupted").expect("steps");
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].status, StepStatus::Failed);
    assert_eq!(steps[0].error_category.as_deref(), Some("ABANDONED"));
    let last = store
        .get_events("interrupted")
        .expect("events")
        .pop()
        .expect("events");
    assert_eq!(last.fields["old"], "RUNNING");
    assert_eq!(last.fields["new"], "FAILED");
    // Nothing the dead writer left is still running.
    let running = RunFilter {
        status: Some(WorkflowStatus::Running),
        ..RunFilter::default()
    };
    assert_eq!(store.count_runs(&running).expect("count"), 0);
}

/// The child of the exit test: records workflows, then exits without
/// dropping the guard, with or without the exit flush.
fn exit_child(role: &str, db: &Path) {
    let (layer, guard) = HistoryLayer::builder()
        .sqlite(db)
        // Nothing commits on its own before the exit.
        .flush_interval(Duration::from_secs(600))
        .build()
        .expect("build");
    if role == "exit-with-flush" {
        assert!(guard.flush_on_exit());
    }
    tracing_subscriber::registry().with(layer).init();
    for i in 0..3 {
        one_workflow(i);
    }
    std::process::exit(0);
}

fn run_exit_child(test: &str, role: &str, db: &TestDb) {
    let status = spawn_on(test, role, &db.path).wait().expect("child");
    assert!(status.success(), "{status:?}");
}

#[test]
fn process_exit_with_the_exit_flush_commits_everything() {
    if let Some((role, db)) = role_and_db() {
        return exit_child(&role, &db);
    }
    let db = TestDb::new();
    run_exit_child(
        "process_exit_with_the_exit_flush_commits_everything",
        "exit-with-flush",
        &db,
    );
    let store = db.store();
    for i in 0..3 {
        assert_completed_with_steps(&store, &format!("run-{i}"));
    }
}

#[test]
fn process_exit_without_the_guard_loses_the_uncommitted_batch() {
    if let Some((role, db)) = role_and_db() {
        return exit_child(&role, &db);
    }
    let db = TestDb::new();
    run_exit_child(
        "process_exit_without_the_guard_loses_the_uncommitted_batch",
        "exit-plain",
        &db,
    );
    // What the documentation warns of: the batch waiting for its flush
    // interval never reached the database.
    assert_eq!(db.runs().len(), 0);
}

/// A small tmpfs, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounting needs root, as CI has; elsewhere it says why it could not.
    fn mount(size: &str) -> Result<SmallDisk, String> {
        let dir = tempfile::tempdir().expect("mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !mounted.status.success() {
            return Err(format!(
                "mounting a small tmpfs failed (it needs root): {}",
                String::from_utf8_lossy(&mounted.stderr).trim()
            ));
        }
        Ok(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the disk is full.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0u8; 16 * 1024];
        while file
            .write_all(&chunk)
            .and_then(|()| file.sync_all())
            .is_ok()
        {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_is_survived_and_the_records_written_when_space_returns() {
    let disk = match SmallDisk::mount("4m") {
        Ok(disk) => disk,
        Err(why) => return support::skip(why),
    };
    let path = disk.path().join("history.db");
    let (layer, guard) = HistoryLayer::builder()
        .sqlite(&path)
        .flush_interval(Duration::from_millis(5))
        .build()
        .expect("build");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let record = |range: std::ops::Range<u64>| {
        tracing::dispatcher::with_default(&dispatch, || range.for_each(one_workflow));
    };
    record(0..10);
    guard.flush().expect("flush before the disk fills");

    let filler = disk.fill();
    record(10..60);
    // The application went on; the writer reports why it could not commit.
    let Err(Error::WriteFailed(reason)) = guard.flush() else {
        panic!("flush on a full disk should fail");
    };
    assert!(reason.contains("full"), "{reason}");
    assert!(guard.stats().write_errors > 0);

    std::fs::remove_file(filler).expect("free space");
    guard.flush().expect("flush once space is back");
    let stats = guard.shutdown().expect("shutdown");
    assert_eq!(stats.records_lost, 0, "{stats:?}");

    assert_eq!(integrity_check(&path), "ok");
    let store = HistoryStore::open_sqlite(&path).expect("store");
    for i in 0..60 {
        assert_completed_with_steps(&store, &format!("run-{i}"));
    }
}

#[test]
fn beyond_the_pending_bound_whole_runs_are_refused_and_counted() {
    let disk = match SmallDisk::mount("4m") {
        Ok(disk) => disk,
        Err(why) => return support::skip(why),
    };
    let path = disk.path().join("history.db");
    let (layer, guard) = HistoryLayer::builder()
        .sqlite(&path)
        .max_pending_records(40)
        .build()
        .expect("build");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let filler = disk.fill();
    tracing::dispatcher::with_default(&dispatch, || (0..100).for_each(one_workflow));
    assert!(guard.flush().is_err());
    std::fs::remove_file(filler).expect("free space");
    guard.flush().expect("flush once space is back");
    let lost = guard.stats().records_lost;
    assert!(lost > 0, "the bound should have refused records");
    drop(guard);

    let store = HistoryStore::open_sqlite(&path).expect("store");
    let all = RunFilter {
        limit: 1000,
        ..RunFilter::default()
    };
    let runs = store.list_runs(&all).expect("runs");
    assert!(
        !runs.is_empty() && runs.len() < 100,
        "{} runs kept",
        runs.len()
    );
    // What was kept is whole: nothing half recorded, nothing left running.
    for run in runs {
        assert_eq!(run.status, WorkflowStatus::Completed, "{run:#?}");
        for step in store.get_steps(&run.run_id).expect("steps") {
            assert_eq!(step.status, StepStatus::Completed, "{step:#?}");
            assert!(step.completed_at.is_some());
        }
    }
}
