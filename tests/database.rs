//! The database side: opening and migrating the database (and refusing bad
//! ones), the store's queries and statistics, and retention.
//!
//! Everything but the SQLite file handling runs on both databases (see
//! `backends!`); the tests about SQLite files themselves (a missing
//! directory, a file that is not a database, WAL mode, many processes
//! creating one new file) are SQLite's alone.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Barrier;

use chrono::{DateTime, Utc};
use support::TestDb;
use support::sql::SqlValue;
use tracing_subscriber::prelude::*;
use workflow_history::{Error, EventKind, HistoryStore, RunFilter, SCHEMA_VERSION, WorkflowStatus};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// How a recorded run ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Completed,
    Failed,
    Cancelled,
}

/// Records one run with two steps, `fetch` then `load`; `load` decides how
/// the run ends. Needs a subscriber with the layer (see `TestDb::record`).
fn run_workflow(run_id: &str, workflow: &str, domain: &str, partition_key: &str, outcome: Outcome) {
    let _run = tracing::info_span!("workflow", workflow, run_id, domain, partition_key).entered();
    tracing::info_span!("step", step = "fetch").in_scope(|| tracing::info!("fetched"));
    tracing::info_span!("step", step = "load").in_scope(|| match outcome {
        Outcome::Completed => tracing::info!("loaded"),
        Outcome::Failed => workflow_history::fail_with_category("disk full", "IO"),
        Outcome::Cancelled => workflow_history::cancel("market holiday"),
    });
}

/// Records `count` completed runs of `workflow` with generated run ids.
fn run_many(workflow: &str, count: usize) {
    for i in 0..count {
        run_workflow(
            &format!("{workflow}-{i}"),
            workflow,
            "d",
            "p",
            Outcome::Completed,
        );
    }
}

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().expect("RFC 3339 time")
}

/// A default filter with some fields set.
fn filter(set: impl FnOnce(&mut RunFilter)) -> RunFilter {
    let mut filter = RunFilter::default();
    set(&mut filter);
    filter
}

fn some(text: &str) -> Option<String> {
    Some(text.to_owned())
}

fn ids(store: &HistoryStore, filter: &RunFilter) -> Vec<String> {
    store
        .list_runs(filter)
        .expect("list runs")
        .into_iter()
        .map(|run| run.run_id)
        .collect()
}

/// Steps and events whose run no longer exists.
fn orphans(db: &TestDb) -> (i64, i64) {
    (
        db.count(
            "SELECT COUNT(*) FROM workflow_step_runs \
             WHERE run_id NOT IN (SELECT run_id FROM workflow_runs)",
        ),
        db.count(
            "SELECT COUNT(*) FROM workflow_events \
             WHERE run_id NOT IN (SELECT run_id FROM workflow_runs)",
        ),
    )
}

/// Rows of a run in the step and event tables.
fn rows_of(db: &TestDb, run_id: &str) -> (i64, i64) {
    let count_for = |table: &str| -> i64 {
        db.sql_one(
            &format!("SELECT COUNT(*) FROM {table} WHERE run_id = ?1"),
            &[SqlValue::Text(run_id)],
        )
    };
    (
        count_for("workflow_step_runs"),
        count_for("workflow_events"),
    )
}

/// The names in the database's directory: shows stray -wal/-shm files.
fn dir_entries(path: &Path) -> BTreeSet<String> {
    std::fs::read_dir(path.parent().expect("parent"))
        .expect("read dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[track_caller]
fn assert_close(actual: Option<f64>, expected: Option<f64>, what: &str) {
    match (actual, expected) {
        (Some(a), Some(e)) => assert!((a - e).abs() < 1e-6, "{what}: {a} != {e}"),
        _ => assert_eq!(actual, expected, "{what}"),
    }
}

/// Nearest-rank percentile: the value at rank ceil(p * n) of sorted values.
fn nearest_rank(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

// ---------------------------------------------------------------------------
// Opening the database
// ---------------------------------------------------------------------------

#[test]
fn build_in_a_missing_directory_is_missing_directory() {
    let db = TestDb::new();
    let dir = db.dir.path().join("no-such-dir");
    let path = dir.join("history.db");
    match db.builder().sqlite(&path).build() {
        Err(Error::MissingDirectory { path: p, dir: d }) => {
            assert_eq!(p, path);
            assert_eq!(d, dir);
        }
        other => panic!("expected MissingDirectory, got {other:?}"),
    }
    assert!(!dir.exists(), "the directory must not be created");
}

#[test]
fn store_on_a_missing_file_is_not_found_and_creates_nothing() {
    let db = TestDb::new();
    match HistoryStore::open_sqlite(&db.path) {
        Err(Error::NotFound { path }) => assert_eq!(path, db.path),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(!db.path.exists(), "a store must not create the file");
}

/// Both a short text file and one longer than a database page.
#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_untouched() {
    let short = b"name,rows\nweekly,12\n".to_vec();
    let long: Vec<u8> = (0..20_000u32)
        .map(|i| b"not sqlite "[i as usize % 11])
        .collect();
    for original in [short, long] {
        let db = TestDb::new();
        std::fs::write(&db.path, &original).expect("write file");
        let before = dir_entries(&db.path);

        match db.builder().build() {
            Err(Error::NotADatabase { path }) => assert_eq!(path, db.path),
            other => panic!("build: expected NotADatabase, got {other:?}"),
        }
        match HistoryStore::open_sqlite(&db.path) {
            Err(Error::NotADatabase { path }) => assert_eq!(path, db.path),
            other => panic!("store: expected NotADatabase, got {other:?}"),
        }

        assert_eq!(std::fs::read(&db.path).expect("read file"), original);
        assert_eq!(dir_entries(&db.path), before, "no -wal/-shm/-journal files");
    }
}

backends! {
    fn a_schema_newer_than_this_crate_is_refused_by_builder_and_store(db) {
        db.record(|| run_workflow("kept", "ingest", "d", "p", Outcome::Completed));
        let future = SCHEMA_VERSION + 1;
        // Pretend a newer crate migrated the database.
        db.sql_execute(
            "INSERT INTO schema_migrations (version, name, applied_at) \
             VALUES (?1, '9999_future.sql', ?2)",
            &[
                SqlValue::Int(future),
                SqlValue::Time(utc("2030-01-01T00:00:00Z")),
            ],
        );

        let too_new = |result: Result<(), Error>, who: &str| match result {
            Err(Error::SchemaTooNew { found, supported }) => {
                assert_eq!((found, supported), (future, SCHEMA_VERSION), "{who}");
            }
            other => panic!("{who}: expected SchemaTooNew, got {other:?}"),
        };
        too_new(db.builder().build().map(drop), "builder");
        too_new(HistoryStore::connect(&db.url).map(drop), "store");

        // Refusing changed nothing: the newer version and the data are intact.
        assert_eq!(
            db.count("SELECT MAX(version) FROM schema_migrations"),
            future
        );
        assert_eq!(db.count_rows("workflow_runs"), 1);
    }

    fn reopening_an_existing_database_is_idempotent_and_keeps_earlier_runs(db) {
        db.record(|| run_workflow("first", "ingest", "d", "p", Outcome::Completed));
        db.record(|| run_workflow("second", "ingest", "d", "p", Outcome::Failed));
        // Stores migrate too: opening one on an up-to-date database changes nothing.
        drop(db.store());

        let store = db.store();
        assert_eq!(ids(&store, &RunFilter::default()).len(), 2);
        let first = store
            .get_run("first")
            .expect("get")
            .expect("first run kept");
        assert_eq!(first.status, WorkflowStatus::Completed);
        assert_eq!(store.get_steps("first").expect("steps").len(), 2);

        assert_eq!(
            db.count_rows("schema_migrations"),
            SCHEMA_VERSION,
            "each migration recorded exactly once"
        );
        assert_eq!(
            db.count("SELECT MAX(version) FROM schema_migrations"),
            SCHEMA_VERSION
        );
    }
}

#[test]
fn the_database_is_in_wal_mode() {
    let db = TestDb::new();
    let (_layer, guard) = db.builder().build().expect("build");
    let mode: String = rusqlite::Connection::open(&db.path)
        .expect("open with rusqlite")
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("journal mode");
    assert_eq!(mode.to_lowercase(), "wal");
    guard.shutdown().expect("shutdown");
}

/// Set in a child process started by the test below: the database to open.
const CHILD_DB_VAR: &str = "WORKFLOW_HISTORY_TEST_CHILD_DB";
const CONCURRENT_OPEN_TEST: &str =
    "many_threads_and_processes_can_create_the_same_new_file_at_once";
const THREADS: usize = 8;
const PROCESSES: usize = 2;

/// Opens the database and records one run under `workflow`.
fn open_and_record(path: &Path, workflow: &str) {
    let (layer, guard) = workflow_history::HistoryLayer::builder()
        .sqlite(path)
        .build()
        .unwrap_or_else(|e| panic!("{workflow}: build failed: {e}"));
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        run_workflow(workflow, workflow, "d", "p", Outcome::Completed);
    });
    guard.shutdown().expect("shutdown");
}

/// The test binary re-runs this very test in child processes (with the
/// database path in an environment variable), so threads of this process
/// and other processes all race to create and migrate the same new file.
#[test]
fn many_threads_and_processes_can_create_the_same_new_file_at_once() {
    if let Some(path) = std::env::var_os(CHILD_DB_VAR) {
        let name = format!("process-{}", std::process::id());
        open_and_record(Path::new(&path), &name);
        return;
    }
    let db = TestDb::new();
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", CONCURRENT_OPEN_TEST, "--test-threads=1", "-q"])
                .env(CHILD_DB_VAR, &db.path)
                // Captured, and shown only if the child fails.
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn child test process")
        })
        .collect();
    let start = Barrier::new(THREADS);
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (start, path) = (&start, &db.path);
            scope.spawn(move || {
                start.wait();
                open_and_record(path, &format!("thread-{t}"));
            });
        }
    });
    for child in children {
        let out = child.wait_with_output().expect("wait for child");
        assert!(
            out.status.success(),
            "child process failed: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let runs = db.runs();
    let processes = runs
        .iter()
        .filter(|r| r.workflow_name.starts_with("process-"));
    assert_eq!(processes.count(), PROCESSES, "every child recorded its run");
    assert_eq!(runs.len(), THREADS + PROCESSES);
    assert_eq!(
        db.count_rows("schema_migrations"),
        SCHEMA_VERSION,
        "migrations applied once"
    );
}

// ---------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------

type Text = &'static str;
/// (run_id, workflow, domain, partition_key, outcome, started_at)
type FixtureRun = (Text, Text, Text, Text, Outcome, Text);

/// Recorded in this order; the start times are shuffled so that "newest
/// started first" cannot pass by accident of insertion or creation order.
/// Newest started first: b-1, a-2, b-2, a-1, a-3.
#[rustfmt::skip]
const FIXTURE: &[FixtureRun] = &[
    ("a-1", "ingest", "finance", "W01", Outcome::Completed, "2024-01-08T00:00:00.000000Z"),
    ("a-2", "ingest", "finance", "W02", Outcome::Failed,    "2024-01-22T00:00:00.000000Z"),
    ("a-3", "ingest", "risk",    "W02", Outcome::Completed, "2024-01-01T00:00:00.000000Z"),
    ("b-1", "export", "finance", "W01", Outcome::Cancelled, "2024-01-29T00:00:00.000000Z"),
    ("b-2", "export", "risk",    "W03", Outcome::Completed, "2024-01-15T00:00:00.000000Z"),
];

fn record_fixture(db: &TestDb) -> HistoryStore {
    db.record(|| {
        for &(run_id, workflow, domain, partition_key, outcome, _) in FIXTURE {
            run_workflow(run_id, workflow, domain, partition_key, outcome);
        }
    });
    for &(run_id, .., started_at) in FIXTURE {
        db.set_started_at("run_id", run_id, utc(started_at));
    }
    db.store()
}

backends! {
    fn list_runs_is_newest_started_first(db) {
        let store = record_fixture(db);
        let runs = store.list_runs(&RunFilter::default()).expect("list");
        let listed: Vec<_> = runs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(listed, ["b-1", "a-2", "b-2", "a-1", "a-3"]);
        for run in &runs {
            let &(.., outcome, started_at) =
                FIXTURE.iter().find(|f| f.0 == run.run_id).expect("known");
            assert_eq!(run.started_at, Some(utc(started_at)));
            let expected = match outcome {
                Outcome::Completed => WorkflowStatus::Completed,
                Outcome::Failed => WorkflowStatus::Failed,
                Outcome::Cancelled => WorkflowStatus::Cancelled,
            };
            assert_eq!(run.status, expected, "{}", run.run_id);
        }
    }

    fn every_filter_field_selects_the_right_runs(db) {
        let store = record_fixture(db);
        let day = |d: &str| Some(utc(&format!("2024-01-{d}T00:00:00Z")));
        let cases = [
            (
                filter(|f| f.workflow_name = some("ingest")),
                vec!["a-2", "a-1", "a-3"],
            ),
            (filter(|f| f.domain = some("risk")), vec!["b-2", "a-3"]),
            (
                filter(|f| f.partition_key = some("W01")),
                vec!["b-1", "a-1"],
            ),
            (
                filter(|f| f.status = Some(WorkflowStatus::Completed)),
                vec!["b-2", "a-1", "a-3"],
            ),
            (
                filter(|f| f.status = Some(WorkflowStatus::Failed)),
                vec!["a-2"],
            ),
            (
                filter(|f| f.status = Some(WorkflowStatus::Cancelled)),
                vec!["b-1"],
            ),
            (filter(|f| f.status = Some(WorkflowStatus::Running)), vec![]),
            // since and until are inclusive bounds on started_at.
            (filter(|f| f.since = day("15")), vec!["b-1", "a-2", "b-2"]),
            (filter(|f| f.until = day("08")), vec!["a-1", "a-3"]),
            (
                filter(|f| (f.since, f.until) = (day("08"), day("22"))),
                vec!["a-2", "b-2", "a-1"],
            ),
            (
                filter(|f| {
                    f.workflow_name = some("ingest");
                    f.domain = some("finance");
                    f.status = Some(WorkflowStatus::Completed);
                }),
                vec!["a-1"],
            ),
            (filter(|f| f.limit = 2), vec!["b-1", "a-2"]),
            (filter(|f| (f.limit, f.offset) = (2, 2)), vec!["b-2", "a-1"]),
            (filter(|f| f.offset = 4), vec!["a-3"]),
            (filter(|f| f.offset = 5), vec![]),
            (
                filter(|f| (f.workflow_name, f.limit, f.offset) = (some("ingest"), 1, 1)),
                vec!["a-1"],
            ),
        ];
        for (filter, expected) in cases {
            assert_eq!(ids(&store, &filter), expected, "{filter:?}");
        }
    }

    fn count_runs_ignores_limit_and_offset(db) {
        let store = record_fixture(db);
        let paged = filter(|f| (f.limit, f.offset) = (1, 3));
        assert_eq!(store.count_runs(&paged).expect("count"), 5);
        let ingest = filter(|f| (f.workflow_name, f.limit, f.offset) = (some("ingest"), 1, 3));
        assert_eq!(store.count_runs(&ingest).expect("count"), 3);
        let none = filter(|f| f.domain = some("nowhere"));
        assert_eq!(store.count_runs(&none).expect("count"), 0);
    }

    fn list_runs_pages_one_hundred_by_default(db) {
        db.record(|| run_many("bulk", 120));
        let store = db.store();
        assert_eq!(
            store.list_runs(&RunFilter::default()).expect("list").len(),
            100
        );
        assert_eq!(store.count_runs(&RunFilter::default()).expect("count"), 120);
    }

    fn get_run_is_none_for_an_unknown_id(db) {
        let store = record_fixture(db);
        assert_eq!(store.get_run("no-such-run").expect("get"), None);
        assert_eq!(store.get_run("").expect("get"), None);
        let known = store.get_run("a-2").expect("get").expect("a-2 exists");
        assert_eq!(known.workflow_name, "ingest");
        assert_eq!(known.domain.as_deref(), Some("finance"));
        assert_eq!(known.partition_key.as_deref(), Some("W02"));
        assert!(store.get_steps("no-such-run").expect("steps").is_empty());
        assert!(store.get_events("no-such-run").expect("events").is_empty());
    }

    /// Twelve steps, so an order by text ("10" < "2") would show.
    fn get_steps_is_by_step_order(db) {
        let names: Vec<String> = (1..=12).map(|i| format!("s{i}")).collect();
        db.record(|| {
            let _run =
                tracing::info_span!("workflow", workflow = "many_steps", run_id = "r").entered();
            for name in &names {
                tracing::info_span!("step", step = name.as_str()).in_scope(|| {});
            }
        });
        let steps = db.steps("r");
        let orders: Vec<u32> = steps.iter().map(|s| s.step_order).collect();
        assert_eq!(orders, (1..=12).collect::<Vec<_>>());
        let stored: Vec<&str> = steps.iter().map(|s| s.step_name.as_str()).collect();
        assert_eq!(stored, names);
    }

    fn get_events_are_in_the_order_they_happened(db) {
        db.record(|| run_workflow("r", "ingest", "d", "p", Outcome::Completed));
        let events = db.store().get_events("r").expect("events");

        let keys: Vec<_> = events.iter().map(|e| (e.timestamp, e.event_id)).collect();
        assert!(keys.is_sorted(), "not in (timestamp, id) order: {keys:?}");
        // The audit trail and the log interleave as they happened.
        let trail: Vec<String> = events
            .iter()
            .map(|e| match e.kind {
                EventKind::StatusChanged => format!(
                    "{}:{}",
                    e.step_id
                        .as_deref()
                        .map_or("run", |s| s.trim_start_matches("r-")),
                    e.fields["new"].as_str().unwrap_or("?")
                ),
                EventKind::Log => e.message.clone().unwrap_or_default(),
            })
            .collect();
        assert_eq!(
            trail,
            [
                "run:RUNNING",
                "1:RUNNING",
                "fetched",
                "1:COMPLETED",
                "2:RUNNING",
                "loaded",
                "2:COMPLETED",
                "run:COMPLETED"
            ]
        );
    }

    fn a_sql_injection_filter_value_matches_nothing_and_changes_nothing(db) {
        let store = record_fixture(db);
        let tables =
            || ["workflow_runs", "workflow_step_runs", "workflow_events"].map(|t| db.count_rows(t));
        let before = tables();
        for hostile in [
            "x' OR 1=1 --",
            "x\" OR 1=1 --",
            "'; DROP TABLE workflow_runs; --",
            "ingest' --",
        ] {
            for filter in [
                filter(|f| f.workflow_name = some(hostile)),
                filter(|f| f.domain = some(hostile)),
                filter(|f| f.partition_key = some(hostile)),
            ] {
                assert!(ids(&store, &filter).is_empty(), "{filter:?}");
                assert_eq!(store.count_runs(&filter).expect("count"), 0, "{filter:?}");
                assert_eq!(
                    store.statistics(&filter).expect("stats").total_runs,
                    0,
                    "{filter:?}"
                );
            }
        }
        assert_eq!(tables(), before);
        assert_eq!(store.count_runs(&RunFilter::default()).expect("count"), 5);
    }
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

/// Records a run whose length grows with `work` (more logged events).
fn run_with_work(workflow: &str, work: usize, outcome: Outcome) {
    let _run = tracing::info_span!("workflow", workflow).entered();
    tracing::info_span!("step", step = "work").in_scope(|| {
        for i in 0..work * 20 {
            tracing::info!(i, "working");
        }
        match outcome {
            Outcome::Completed => {}
            Outcome::Failed => tracing::error!("failed"),
            Outcome::Cancelled => workflow_history::cancel("stopped"),
        }
    });
}

backends! {
    fn statistics_count_statuses_and_summarize_stored_durations(db) {
        const OPEN: &str = "still-open";
        // Enough finished runs that the nearest-rank p95 (rank 23 of 24) is
        // not simply the longest.
        let outcomes = [
            [Outcome::Completed; 17].as_slice(),
            &[Outcome::Failed; 5],
            &[Outcome::Cancelled; 2],
        ]
        .concat();
        let (dispatch, guard) = db.dispatch(db.builder());
        let filter = filter(|f| f.workflow_name = some("stats"));
        tracing::dispatcher::with_default(&dispatch, || {
            for (i, outcome) in outcomes.iter().enumerate() {
                run_with_work("stats", i + 1, *outcome);
            }
            run_with_work("other", 1, Outcome::Failed);
        });
        // One run still open: it counts as running and has no duration.
        let open = tracing::dispatcher::with_default(&dispatch, || {
            tracing::info_span!("workflow", workflow = "stats", run_id = OPEN)
        });
        tracing::dispatcher::with_default(&dispatch, || open.in_scope(|| {}));
        guard.flush().expect("flush");
        // Known, distinct, unevenly spread durations in place of measured
        // ones: the statistics must summarize the stored column.
        let ids: Vec<String> = db.sql_query(
            "SELECT run_id FROM workflow_runs WHERE workflow_name = 'stats' \
             AND status <> 'RUNNING' ORDER BY run_id",
            &[],
        );
        assert_eq!(ids.len(), 24);
        let mut durations = Vec::new();
        for (i, run_id) in ids.iter().enumerate() {
            let ms = ((i * i * 37 + 11) % 1000) as i64 * 10 + i as i64;
            db.sql_execute(
                "UPDATE workflow_runs SET duration_ms = CAST(?1 AS BIGINT) WHERE run_id = ?2",
                &[ms.into(), run_id.as_str().into()],
            );
            durations.push(ms as f64 / 1000.0);
        }
        // While the changes made by hand wait to be folded into the rollup,
        // statistics come from the runs table, exactly; a store that can
        // write folds them in, and the percentiles come from the rollup.
        let exact = HistoryStore::connect_read_only(&db.url)
            .expect("read-only store")
            .statistics(&filter)
            .expect("statistics");
        let stats = db.store().statistics(&filter).expect("statistics");
        assert_eq!(db.count_rows("workflow_rollup_pending"), 0);
        drop(open);
        guard.shutdown().expect("shutdown");

        assert_eq!(stats.total_runs, 25);
        let counts = [stats.completed, stats.failed, stats.cancelled];
        assert_eq!((counts, stats.running), ([17, 5, 2], 1));
        assert!((stats.success_rate - 17.0 / 24.0).abs() < 1e-12, "{stats:?}");
        durations.sort_by(f64::total_cmp);
        let mean = durations.iter().sum::<f64>() / durations.len() as f64;
        let (p50, p95) = (nearest_rank(&durations, 0.50), nearest_rank(&durations, 0.95));
        for stats in [&exact, &stats] {
            assert_close(stats.avg_duration_seconds, Some(mean), "avg");
            assert_close(stats.max_duration_seconds, durations.last().copied(), "max");
            assert!(stats.p95_duration_seconds < stats.max_duration_seconds);
        }
        assert_close(exact.p50_duration_seconds, p50, "exact p50");
        assert_close(exact.p95_duration_seconds, p95, "exact p95");
        assert_eq!(
            (exact.total_runs, exact.completed, exact.running),
            (stats.total_runs, stats.completed, stats.running)
        );
        let error = HistoryStore::PERCENTILE_ERROR;
        for (what, got, want) in [("p50", stats.p50_duration_seconds, p50), ("p95", stats.p95_duration_seconds, p95)] {
            let (got, want) = (got.expect(what), want.expect(what));
            assert!((got - want).abs() <= want * error, "{what}: {got} vs exact {want}");
        }
    }

    fn statistics_ignore_limit_and_offset(db) {
        let store = record_fixture(db);
        let whole = store.statistics(&RunFilter::default()).expect("stats");
        let paged = filter(|f| (f.limit, f.offset) = (1, 3));
        let paged = store.statistics(&paged).expect("stats");
        assert_eq!(paged, whole);
        assert_eq!(whole.total_runs, 5);
        // 3 completed of 5 finished.
        assert!((whole.success_rate - 0.6).abs() < 1e-12, "{whole:?}");
    }

    fn statistics_of_no_runs_are_zero_without_durations(db) {
        let store = record_fixture(db);
        let never = filter(|f| f.workflow_name = some("never-ran"));
        let stats = store.statistics(&never).expect("stats");
        assert_eq!(stats, workflow_history::RunStatistics::default());
        assert_eq!(stats.success_rate, 0.0);
    }

    /// Only running runs: nothing finished, so the rate is 0, not NaN.
    fn success_rate_is_zero_when_no_run_has_finished(db) {
        let (dispatch, guard) = db.dispatch(db.builder());
        let stats = tracing::dispatcher::with_default(&dispatch, || {
            let _open = tracing::info_span!("workflow", workflow = "open").entered();
            guard.flush().expect("flush");
            db.store().statistics(&RunFilter::default()).expect("stats")
        });
        guard.shutdown().expect("shutdown");
        assert_eq!((stats.total_runs, stats.running), (1, 1));
        assert_eq!(stats.success_rate, 0.0);
        assert_eq!(stats.avg_duration_seconds, None);
        assert_eq!(stats.p95_duration_seconds, None);
    }
}

// ---------------------------------------------------------------------------
// Retention
// ---------------------------------------------------------------------------

const LONG_AGO: &str = "2020-01-01T00:00:00Z";

/// Records `old` runs of workflow "old" (backdated to 2020) and `recent`
/// runs of workflow "recent", each with two steps and their events.
fn record_old_and_recent(db: &TestDb, old: usize, recent: usize) {
    db.record(|| {
        run_many("old", old);
        run_many("recent", recent);
    });
    db.set_started_at("workflow_name", "old", utc(LONG_AGO));
}

/// Old runs are gone with their steps and events; recent ones are intact.
#[track_caller]
fn assert_only_recent_runs_remain(db: &TestDb, recent: usize) {
    let runs = db.runs();
    assert_eq!(runs.len(), recent, "only the recent runs remain");
    assert!(runs.iter().all(|r| r.workflow_name == "recent"));
    assert_eq!(orphans(db), (0, 0), "no orphaned steps or events");
    assert_eq!(rows_of(db, "old-0"), (0, 0));
    let (steps, events) = rows_of(db, "recent-0");
    assert_eq!(steps, 2);
    assert!(events > 0);
}

backends! {
    fn delete_runs_older_than_removes_old_runs_with_steps_and_events(db) {
        record_old_and_recent(db, 3, 2);
        assert_eq!(rows_of(db, "old-0").0, 2, "old runs had steps to delete");
        let store = db.store();
        assert_eq!(
            store
                .delete_runs_older_than(chrono::Duration::days(30))
                .expect("delete"),
            3
        );
        assert_only_recent_runs_remain(db, 2);
        assert_eq!(
            store
                .delete_runs_older_than(chrono::Duration::days(30))
                .expect("again"),
            0
        );
    }

    /// More than one deletion chunk (1,000 runs) of old runs.
    fn delete_runs_older_than_handles_more_than_one_chunk(db) {
        record_old_and_recent(db, 2_500, 2);
        let store = db.store();
        assert_eq!(
            store
                .delete_runs_older_than(chrono::Duration::days(30))
                .expect("delete"),
            2_500
        );
        assert_only_recent_runs_remain(db, 2);
    }

    fn builder_retention_deletes_old_runs_from_the_writer_at_start(db) {
        record_old_and_recent(db, 3, 2);
        let (_layer, guard) = db
            .builder()
            .retention(chrono::Duration::days(30))
            .build()
            .expect("build");
        guard.flush().expect("flush");
        assert_only_recent_runs_remain(db, 2);
        guard.shutdown().expect("shutdown");
    }
}
