//! PostgreSQL as the shared history of a fleet: several writer processes at
//! once with a reader listing while they write, and a server restarted in
//! the middle of a stream.
#![cfg(feature = "postgres")]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use support::TestDb;
use support::child::{child_role, spawn_child};
use tracing_subscriber::prelude::*;
use workflow_history::{HistoryLayer, HistoryStore, RunFilter, StepStatus, WorkflowStatus};

const URL: &str = "WORKFLOW_HISTORY_PG_CHILD_URL";
const WRITERS: u64 = 4;
const WORKFLOWS: u64 = 150;
const STEPS: u32 = 4;

fn one_workflow(run_id: &str) {
    support::one_workflow("fleet", run_id, &["work"; STEPS as usize]);
}

fn all_runs() -> RunFilter {
    RunFilter {
        limit: 100_000,
        ..RunFilter::default()
    }
}

#[track_caller]
fn assert_complete(store: &HistoryStore, run_id: &str) {
    let run = store
        .get_run(run_id)
        .expect("get run")
        .unwrap_or_else(|| panic!("{run_id} lost"));
    assert_eq!(run.status, WorkflowStatus::Completed, "{run:#?}");
    let steps = store.get_steps(run_id).expect("steps");
    let orders: Vec<u32> = steps.iter().map(|s| s.step_order).collect();
    assert_eq!(orders, (1..=STEPS).collect::<Vec<_>>(), "{run_id}");
    assert!(
        steps.iter().all(|s| s.status == StepStatus::Completed),
        "{steps:#?}"
    );
}

/// One writer process of the fleet.
fn fleet_writer(url: &str, writer: &str) {
    let (layer, guard) = HistoryLayer::builder()
        .database_url(url)
        .build()
        .expect("build");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..WORKFLOWS {
            one_workflow(&format!("{writer}-{i}"));
        }
    });
    let stats = guard.shutdown().expect("shutdown");
    assert_eq!(stats.write_errors, 0, "{stats:?}");
}

#[test]
fn four_writer_processes_and_a_reader_share_one_database() {
    if let Some(writer) = child_role() {
        return fleet_writer(&std::env::var(URL).expect("url"), &writer);
    }
    let Some(db) = TestDb::postgres() else {
        return support::skip("set WORKFLOW_HISTORY_TEST_PG_URL to run on PostgreSQL");
    };
    // The writers start together on an empty schema: they also race to
    // migrate it, which the advisory lock serializes.
    let mut children: Vec<_> = (0..WRITERS)
        .map(|w| {
            spawn_child(
                "four_writer_processes_and_a_reader_share_one_database",
                &format!("w{w}"),
                &[(URL, &db.url)],
            )
        })
        .collect();

    // A reader lists while they write: counts only ever grow, and every
    // listing succeeds once the schema exists.
    let mut seen = 0;
    let mut listings = 0;
    while children
        .iter_mut()
        .any(|c| c.try_wait().expect("poll").is_none())
    {
        let Ok(store) = HistoryStore::connect(&db.url) else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        let before = store.count_runs(&all_runs()).expect("count while writing");
        let page = store
            .list_runs(&RunFilter::default())
            .expect("list while writing");
        // Writers go on between the statements: counts only grow, and a
        // page holds no more runs than were counted after it was read.
        let after = store.count_runs(&all_runs()).expect("count while writing");
        assert!(
            seen <= before && before <= after,
            "count went down: {seen} {before} {after}"
        );
        assert!(page.len() as u64 <= after);
        seen = after;
        listings += 1;
    }
    for mut child in children {
        assert!(child.wait().expect("writer").success(), "a writer failed");
    }
    assert!(listings > 0, "the reader never listed");

    let store = db.store();
    assert_eq!(
        store.count_runs(&all_runs()).expect("count"),
        WRITERS * WORKFLOWS
    );
    for w in 0..WRITERS {
        for i in 0..WORKFLOWS {
            assert_complete(&store, &format!("w{w}-{i}"));
        }
    }
    let stats = store.statistics(&all_runs()).expect("statistics");
    assert_eq!(stats.completed, WRITERS * WORKFLOWS);
    assert_eq!(stats.running, 0);
}

/// A PostgreSQL server of this test's own, so restarting it disturbs no
/// other test. Needs root (to run it as the `postgres` user).
struct PrivateServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

fn as_postgres(bin: &Path, tool: &str) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(bin.join(tool));
    command.stdout(Stdio::null()).stderr(Stdio::null());
    command
}

impl PrivateServer {
    /// Why it could not start, when it could not.
    fn start() -> Result<PrivateServer, String> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|e| format!("no PostgreSQL binaries in /usr/lib/postgresql: {e}"))?
            .filter_map(Result::ok)
            .map(|version| version.path().join("bin"))
            .find(|bin| bin.join("initdb").exists())
            .ok_or("no initdb under /usr/lib/postgresql")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let owned = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !owned {
            return Err("cannot give a directory to the postgres user (needs root)".into());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let server = PrivateServer { dir, bin, port };
        let data = server.dir.path().join("data");
        let initialized = as_postgres(&server.bin, "initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data)
            .status()
            .is_ok_and(|s| s.success());
        if !initialized {
            return Err("initdb failed as the postgres user (runuser needs root)".into());
        }
        if !server.ctl(&["start"]) {
            return Err("pg_ctl start failed".into());
        }
        Ok(server)
    }

    fn ctl(&self, action: &[&str]) -> bool {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        as_postgres(&self.bin, "pg_ctl")
            .args(["-w", "-m", "fast", "-D"])
            .arg(self.dir.path().join("data"))
            .args(["-o", &options])
            .args(action)
            .status()
            .is_ok_and(|s| s.success())
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.ctl(&["stop"]);
    }
}

#[test]
fn a_server_restart_mid_stream_loses_nothing_and_the_writer_carries_on() {
    let server = match PrivateServer::start() {
        Ok(server) => server,
        Err(why) => return support::skip(format!("a private PostgreSQL server: {why}")),
    };
    let (layer, guard) = HistoryLayer::builder()
        .database_url(server.url())
        .flush_interval(Duration::from_millis(5))
        .build()
        .expect("build");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    const TOTAL: u64 = 300;
    let recorded = AtomicU64::new(0);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            tracing::dispatcher::with_default(&dispatch, || {
                for i in 0..TOTAL {
                    one_workflow(&format!("run-{i}"));
                    recorded.store(i + 1, Ordering::Release);
                    // Pace the stream so the restart falls in its middle.
                    std::thread::sleep(Duration::from_millis(2));
                }
            });
        });
        while recorded.load(Ordering::Acquire) < TOTAL / 3 {
            std::thread::sleep(Duration::from_millis(5));
        }
        guard.flush().expect("flush before the restart");
        assert!(server.ctl(&["restart"]), "restart the server");
    });

    // Once the server is back, the writer reconnects and commits what it
    // kept meanwhile; flushing may fail while it is still coming up.
    let flushed = (0..50).any(|_| {
        guard.flush().is_ok() || {
            std::thread::sleep(Duration::from_millis(100));
            false
        }
    });
    assert!(
        flushed,
        "never committed after the restart: {:?}",
        guard.stats()
    );
    let stats = guard.shutdown().expect("shutdown");
    assert_eq!(stats.records_lost, 0, "{stats:?}");
    // Commits failed while the server was down: the restart really fell
    // in the middle of the stream.
    assert!(stats.write_errors > 0, "{stats:?}");

    let store = HistoryStore::connect(&server.url()).expect("store");
    assert_eq!(store.count_runs(&all_runs()).expect("count"), TOTAL);
    for i in 0..TOTAL {
        assert_complete(&store, &format!("run-{i}"));
    }
}
