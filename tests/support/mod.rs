//! Shared test harness: a real database (an SQLite file in a temp dir, or a
//! PostgreSQL schema of its own), the real layer on a thread-local
//! subscriber, and the real store to read it back.
//!
//! [`backends!`] runs a test body once per database: SQLite always,
//! PostgreSQL when `WORKFLOW_HISTORY_TEST_PG_URL` names a server (and the
//! `postgres` feature is on); otherwise the PostgreSQL case [`skip`]s.
#![allow(dead_code)] // each test binary uses a different part

pub mod child;
#[cfg(feature = "server")]
pub mod http;
#[cfg(feature = "postgres")]
mod pg;
/// Plain SQL on either database, for what the store does not show.
pub mod sql;

use std::io::Write;
use std::path::PathBuf;

use tracing::Dispatch;
use tracing_subscriber::prelude::*;
use workflow_history::{
    HistoryGuard, HistoryLayer, HistoryLayerBuilder, HistoryStore, RunFilter, StepRun, WorkflowRun,
};

/// A history database of its own, for one test.
pub struct TestDb {
    pub dir: tempfile::TempDir,
    /// The SQLite file (unused on PostgreSQL).
    pub path: PathBuf,
    /// What the builder and the store connect to.
    pub url: String,
    #[cfg(feature = "postgres")]
    schema: Option<pg::Schema>,
}

/// Runs each body once per database, as `name::sqlite` and `name::postgres`:
///
/// ```ignore
/// backends! {
///     fn records_a_run(db) { db.record(|| ...); assert_eq!(db.runs().len(), 1); }
/// }
/// ```
#[macro_export]
macro_rules! backends {
    ($($(#[$meta:meta])* fn $name:ident($db:ident) $body:block)*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($db: &$crate::support::TestDb) $body

            #[test]
            fn sqlite() {
                body(&$crate::support::TestDb::new());
            }

            #[test]
            fn postgres() {
                match $crate::support::TestDb::postgres() {
                    Some(db) => body(&db),
                    None => $crate::support::skip(
                        "set WORKFLOW_HISTORY_TEST_PG_URL (and the postgres feature) to run on PostgreSQL",
                    ),
                }
            }
        }
    )*};
}

/// Set (to anything but empty or `0`) by `.ci/run`: there, every
/// precondition a test needs must hold, and one that does not fails the test.
pub const REQUIRE_ALL_VAR: &str = "WORKFLOW_HISTORY_TEST_REQUIRE_ALL";

/// Whether missing preconditions fail tests instead of skipping them.
pub fn require_all() -> bool {
    std::env::var(REQUIRE_ALL_VAR).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Ends a test whose precondition is missing: a failure under
/// [`REQUIRE_ALL_VAR`], else a `SKIPPED` line written straight to stderr
/// (libtest hides what `eprintln!` prints for tests that pass), so a local
/// run shows what it did not check. Return from the test right after.
#[track_caller]
pub fn skip(why: impl std::fmt::Display) {
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    if require_all() {
        panic!("{test}: precondition missing under {REQUIRE_ALL_VAR}: {why}");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// A multi-threaded tokio runtime with `workers` threads, timers and I/O.
pub fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A small workflow: `steps` steps named as given, one INFO line each.
pub fn one_workflow(workflow: &str, run_id: &str, steps: &[&str]) {
    tracing::info_span!("workflow", workflow, run_id).in_scope(|| {
        for (i, name) in steps.iter().enumerate() {
            tracing::info_span!("step", step = *name).in_scope(|| tracing::info!(i, "working"));
        }
    });
}

impl TestDb {
    /// An SQLite file in a new temporary directory.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("history.db");
        TestDb {
            url: path.display().to_string(),
            dir,
            path,
            #[cfg(feature = "postgres")]
            schema: None,
        }
    }

    /// A new, empty PostgreSQL schema on the test server, dropped with the
    /// `TestDb`; `None` when no server is configured.
    pub fn postgres() -> Option<Self> {
        #[cfg(feature = "postgres")]
        {
            let schema = pg::Schema::create()?;
            let mut db = TestDb::new();
            db.url = schema.url.clone();
            db.schema = Some(schema);
            Some(db)
        }
        #[cfg(not(feature = "postgres"))]
        None
    }

    /// Whether this database is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }

    /// A builder pointed at this database.
    pub fn builder(&self) -> HistoryLayerBuilder {
        HistoryLayer::builder().database_url(&self.url)
    }

    /// Runs `body` with the layer (default configuration) as this thread's
    /// subscriber, then shuts the writer down so everything is committed.
    pub fn record<R>(&self, body: impl FnOnce() -> R) -> R {
        self.record_with(self.builder(), body)
    }

    /// As `record`, with a custom builder.
    pub fn record_with<R>(&self, builder: HistoryLayerBuilder, body: impl FnOnce() -> R) -> R {
        let (layer, guard) = builder.build().expect("build layer");
        let result =
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), body);
        let stats = guard.shutdown().expect("clean shutdown");
        assert_eq!(stats.messages_dropped, 0, "{stats:?}");
        result
    }

    /// The layer as a `Dispatch` (for async tests and other threads) and its guard.
    pub fn dispatch(&self, builder: HistoryLayerBuilder) -> (Dispatch, HistoryGuard) {
        let (layer, guard) = builder.build().expect("build layer");
        (
            Dispatch::new(tracing_subscriber::registry().with(layer)),
            guard,
        )
    }

    pub fn store(&self) -> HistoryStore {
        HistoryStore::connect(&self.url).expect("open store")
    }

    /// Every run, newest first.
    pub fn runs(&self) -> Vec<WorkflowRun> {
        self.store()
            .list_runs(&RunFilter {
                limit: u32::MAX,
                ..RunFilter::default()
            })
            .expect("list runs")
    }

    /// The only run recorded; fails the test if there is not exactly one.
    #[track_caller]
    pub fn only_run(&self) -> WorkflowRun {
        let mut runs = self.runs();
        assert_eq!(runs.len(), 1, "expected exactly one run: {runs:#?}");
        runs.remove(0)
    }

    pub fn steps(&self, run_id: &str) -> Vec<StepRun> {
        self.store().get_steps(run_id).expect("get steps")
    }
}
