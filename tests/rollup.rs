//! Statistics from the rollup against an exact computation from the rows,
//! on both databases: for random histories of runs written by hand and by
//! the layer, closed by recovery, re-written, and deleted by retention;
//! for a history from before the rollup existed; and while a change made
//! by hand waits to be folded in.

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use support::TestDb;
use support::sql::FromRow;
use workflow_history::{HistoryStore, RunFilter, RunStatistics, WorkflowStatus};

const WORKFLOWS: [&str; 3] = ["ingest.daily", "ingest.weekly", "report"];
const DOMAINS: [Option<&str>; 3] = [Some("finra"), Some("sec"), None];
const STATUSES: [&str; 5] = ["COMPLETED", "FAILED", "CANCELLED", "RUNNING", "PENDING"];
const DEAD_WRITER: &str = "writer-that-died";

/// Around where the generated runs start: ±100 days of it.
fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap()
}

fn micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).expect("time in range")
}

/// A run as written by hand.
#[derive(Debug, Clone)]
struct NewRun {
    workflow: usize,
    domain: usize,
    status: usize,
    /// Microseconds after `base() - 100 days`; `None` for a run that never
    /// started.
    start_us: Option<i64>,
    /// `None`: a finished run without a duration.
    duration_us: Option<i64>,
    attempt: i64,
}

fn new_run() -> impl Strategy<Value = NewRun> {
    (
        0..WORKFLOWS.len(),
        0..DOMAINS.len(),
        prop_oneof![6 => Just(0usize), 3 => Just(1usize), 1 => Just(2usize), 1 => Just(3usize), 1 => Just(4usize)],
        prop_oneof![
            16 => (0i64..200 * 86_400_000_000).prop_map(Some),
            4 => near_boundary().prop_map(|us| Some(us - (base() - Duration::days(100)).timestamp_micros())),
            1 => Just(None),
        ],
        prop_oneof![
            20 => (0.0f64..16.0).prop_map(|ln| Some(ln.exp() as i64 * 1000)),
            2 => Just(Some(0)),
            1 => Just(None),
        ],
        prop_oneof![4 => Just(1i64), 1 => Just(2i64)],
    )
        .prop_map(|(workflow, domain, status, start_us, duration_us, attempt)| NewRun {
            workflow,
            domain,
            status,
            start_us,
            duration_us,
            attempt,
        })
}

fn literal_time(t: DateTime<Utc>) -> String {
    format!(
        "'{}'",
        t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    )
}

/// One multi-row insert for all the runs: open runs belong to a writer
/// that has stopped, so recovery closes them.
fn insert_sql(runs: &[NewRun], first_id: usize) -> String {
    let origin = (base() - Duration::days(100)).timestamp_micros();
    let rows: Vec<String> = runs
        .iter()
        .enumerate()
        .map(|(i, run)| {
            let status = STATUSES[run.status];
            let finished = run.status < 3;
            let started = run.start_us.map(|us| micros(origin + us));
            let (completed, duration) = match (finished, started, run.duration_us) {
                (true, Some(s), Some(d)) => (
                    literal_time(s + Duration::microseconds(d)),
                    format!("{}", d as f64 / 1000.0),
                ),
                _ => ("NULL".to_owned(), "NULL".to_owned()),
            };
            let domain = DOMAINS[run.domain].map_or("NULL".to_owned(), |d| format!("'{d}'"));
            // Open runs of a writer that died are closed by recovery; those
            // without a writer stay open, as if their writer lived.
            let writer = if finished || i % 3 == 0 {
                "NULL".to_owned()
            } else {
                format!("'{DEAD_WRITER}'")
            };
            format!(
                "('hand-{}', '{}', {domain}, '{status}', {}, {completed}, {duration}, {}, {}, {writer})",
                first_id + i,
                WORKFLOWS[run.workflow],
                started.map_or("NULL".to_owned(), literal_time),
                literal_time(base()),
                run.attempt,
            )
        })
        .collect();
    format!(
        "INSERT INTO workflow_runs (run_id, workflow_name, domain, status, started_at, \
         completed_at, duration_ms, created_at, attempt, writer_id) VALUES {};",
        rows.join(", ")
    )
}

fn dead_writer_sql() -> String {
    let t = literal_time(base());
    format!(
        "INSERT INTO history_writers (writer_id, host, pid, started_at, heartbeat_at, \
         stopped_at) VALUES ('{DEAD_WRITER}', 'gone', 1, {t}, {t}, {t});"
    )
}

/// A run as stored, read back with plain SQL for the exact computation.
#[derive(Debug, Clone)]
struct StoredRun {
    workflow_name: String,
    domain: Option<String>,
    status: String,
    started_at: Option<DateTime<Utc>>,
    duration_ms: Option<f64>,
    attempt: i64,
}

const STORED: &str = "SELECT workflow_name, domain, status, started_at, duration_ms, attempt \
                      FROM workflow_runs";

impl FromRow for StoredRun {
    fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let started: Option<String> = row.get(3)?;
        Ok(StoredRun {
            workflow_name: row.get(0)?,
            domain: row.get(1)?,
            status: row.get(2)?,
            started_at: started.map(|t| {
                DateTime::parse_from_rfc3339(&t)
                    .expect("stored time")
                    .with_timezone(&Utc)
            }),
            duration_ms: row.get(4)?,
            attempt: row.get(5)?,
        })
    }

    #[cfg(feature = "postgres")]
    fn from_postgres(row: &postgres::Row) -> Result<Self, postgres::Error> {
        Ok(StoredRun {
            workflow_name: row.try_get(0)?,
            domain: row.try_get(1)?,
            status: row.try_get(2)?,
            started_at: row.try_get(3)?,
            duration_ms: row.try_get(4)?,
            attempt: row.try_get(5)?,
        })
    }
}

/// The statistics of `runs` under `filter`, computed from the rows.
fn exact(runs: &[StoredRun], filter: &RunFilter) -> RunStatistics {
    let selected: Vec<&StoredRun> = runs
        .iter()
        .filter(|r| {
            filter
                .workflow_name
                .as_ref()
                .is_none_or(|w| *w == r.workflow_name)
        })
        .filter(|r| filter.domain.is_none() || filter.domain == r.domain)
        .filter(|r| filter.status.is_none_or(|s| s.as_str() == r.status))
        .filter(|r| {
            filter
                .since
                .is_none_or(|s| r.started_at.is_some_and(|t| t >= s))
        })
        .filter(|r| {
            filter
                .until
                .is_none_or(|u| r.started_at.is_some_and(|t| t <= u))
        })
        .collect();
    let count = |status: &str| selected.iter().filter(|r| r.status == status).count() as u64;
    let (completed, failed, cancelled) = (count("COMPLETED"), count("FAILED"), count("CANCELLED"));
    let finished = completed + failed + cancelled;
    let mut durations: Vec<f64> = selected
        .iter()
        .filter(|r| ["COMPLETED", "FAILED", "CANCELLED"].contains(&r.status.as_str()))
        .filter_map(|r| r.duration_ms)
        .collect();
    durations.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let n = durations.len();
        (n > 0).then(|| durations[((p * n as f64).ceil() as usize).clamp(1, n) - 1] / 1000.0)
    };
    let mut want = RunStatistics::default();
    want.total_runs = selected.len() as u64;
    want.completed = completed;
    want.failed = failed;
    want.cancelled = cancelled;
    want.running = count("RUNNING") + count("PENDING");
    want.retries = selected.iter().filter(|r| r.attempt > 1).count() as u64;
    want.success_rate = if finished == 0 {
        0.0
    } else {
        completed as f64 / finished as f64
    };
    want.avg_duration_seconds = (!durations.is_empty())
        .then(|| durations.iter().sum::<f64>() / durations.len() as f64 / 1000.0);
    want.p50_duration_seconds = rank(0.5);
    want.p95_duration_seconds = rank(0.95);
    want.max_duration_seconds = durations.last().map(|ms| ms / 1000.0);
    want
}

fn close(got: Option<f64>, want: Option<f64>, tolerance: f64) -> bool {
    match (got, want) {
        (Some(g), Some(w)) => (g - w).abs() <= w.abs() * tolerance + 1e-9,
        (g, w) => g == w,
    }
}

/// Counts exact, mean to a microsecond, max exact, percentiles within the
/// rollup's stated error.
fn check_same(got: &RunStatistics, want: &RunStatistics, what: &str) -> Result<(), TestCaseError> {
    let counts = |s: &RunStatistics| {
        (
            s.total_runs,
            s.completed,
            s.failed,
            s.cancelled,
            s.running,
            s.retries,
            s.success_rate,
        )
    };
    prop_assert_eq!(counts(got), counts(want), "counts of {}", what);
    prop_assert!(
        close(got.avg_duration_seconds, want.avg_duration_seconds, 1e-9),
        "mean of {}: {:?} vs {:?}",
        what,
        got.avg_duration_seconds,
        want.avg_duration_seconds
    );
    prop_assert_eq!(
        got.max_duration_seconds,
        want.max_duration_seconds,
        "max of {}",
        what
    );
    let error = HistoryStore::PERCENTILE_ERROR * (1.0 + 1e-9);
    for (name, g, w) in [
        ("p50", got.p50_duration_seconds, want.p50_duration_seconds),
        ("p95", got.p95_duration_seconds, want.p95_duration_seconds),
    ] {
        prop_assert!(
            close(g, w, error),
            "{} of {}: {:?} vs exact {:?}",
            name,
            what,
            g,
            w
        );
    }
    Ok(())
}

/// A time on one of a few bucket boundaries (an hour, a day, 32, 512 days)
/// or within 2 µs of one, where off-by-one mistakes live, in microseconds
/// since the epoch. Runs and filters draw from the same few, so a run
/// often sits right at a filter's edge.
fn near_boundary() -> impl Strategy<Value = i64> {
    let origin = (base() - Duration::days(100)).timestamp();
    (
        prop::sample::select(vec![3_600i64, 86_400, 32 * 86_400, 512 * 86_400]),
        1i64..4,
        -2i64..=2,
    )
        .prop_map(move |(width, k, nudge)| {
            (origin.div_euclid(width) + k) * width * 1_000_000 + nudge
        })
}

/// A time filter bound: none, anywhere, or near a bucket boundary.
fn bound() -> impl Strategy<Value = Option<DateTime<Utc>>> {
    let origin = (base() - Duration::days(100)).timestamp_micros();
    prop_oneof![
        1 => Just(None),
        2 => (0i64..200 * 86_400_000_000).prop_map(move |us| Some(micros(origin + us))),
        2 => near_boundary().prop_map(|us| Some(micros(us))),
    ]
}

fn filter() -> impl Strategy<Value = RunFilter> {
    (
        prop::option::of(prop::sample::select(WORKFLOWS.to_vec())),
        prop::option::of(prop::sample::select(vec!["finra", "sec"])),
        prop::option::of(prop::sample::select(vec![
            WorkflowStatus::Completed,
            WorkflowStatus::Failed,
            WorkflowStatus::Cancelled,
            WorkflowStatus::Running,
        ])),
        bound(),
        bound(),
    )
        .prop_map(|(workflow, domain, status, since, until)| RunFilter {
            workflow_name: workflow.map(str::to_owned),
            domain: domain.map(str::to_owned),
            status,
            since,
            until,
            ..RunFilter::default()
        })
}

/// Every answer of the store for `filter` against the rows.
fn check_filter(
    store: &HistoryStore,
    runs: &[StoredRun],
    filter: &RunFilter,
) -> Result<(), TestCaseError> {
    let want = exact(runs, filter);
    let got = store.statistics(filter).expect("statistics");
    check_same(&got, &want, &format!("{filter:?}"))?;
    prop_assert_eq!(store.count_runs(filter).expect("count"), want.total_runs);
    let by_workflow = store.statistics_by_workflow(filter).expect("by workflow");
    let mut names: Vec<&str> = runs.iter().map(|r| r.workflow_name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.retain(|name| {
        let one = RunFilter {
            workflow_name: Some((*name).to_owned()),
            ..filter.clone()
        };
        filter.workflow_name.as_deref().is_none_or(|w| w == *name)
            && exact(runs, &one).total_runs > 0
    });
    let got_names: Vec<&str> = by_workflow
        .iter()
        .map(|w| w.workflow_name.as_str())
        .collect();
    prop_assert_eq!(got_names, names);
    for w in &by_workflow {
        let one = RunFilter {
            workflow_name: Some(w.workflow_name.clone()),
            ..filter.clone()
        };
        check_same(
            &w.statistics,
            &exact(runs, &one),
            &format!("{} in {filter:?}", w.workflow_name),
        )?;
    }
    Ok(())
}

/// The live layer's runs: a few completed and failed, at the current time.
fn record_live_runs(db: &TestDb) {
    db.record(|| {
        for i in 0..3 {
            support::one_workflow(WORKFLOWS[i % 3], &format!("live-{i}"), &["fetch", "load"]);
        }
        tracing::info_span!("workflow", workflow = "report", run_id = "live-failed").in_scope(
            || {
                tracing::info_span!("step", step = "load")
                    .in_scope(|| tracing::error!(error = "boom", "failed"));
            },
        );
    });
}

fn pending(db: &TestDb) -> i64 {
    db.count_rows("workflow_rollup_pending")
}

fn random_history_case(db: &TestDb) {
    let mut runner = TestRunner::new(Config {
        cases: if db.is_postgres() { 8 } else { 16 },
        failure_persistence: None,
        ..Config::default()
    });
    let case = (
        // Past 1,000 durations in whole buckets the percentiles come from
        // the sketch; below, from the runs: sizes on both sides.
        prop::collection::vec(new_run(), 1..2_500),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..3), 0..12),
        prop::option::of(bound()),
        prop::collection::vec(filter(), 12),
    );
    let round = std::cell::Cell::new(0);
    runner
        .run(&case, |(runs, rewrites, retention, filters)| {
            round.set(round.get() + 1);
            let round = round.get();
            // Each case gets a history of its own: the previous case's runs go.
            db.sql_batch(&format!(
                "DELETE FROM workflow_runs WHERE run_id LIKE 'hand-%'; \
                 DELETE FROM history_writers WHERE writer_id = '{DEAD_WRITER}'; {}{}",
                dead_writer_sql(),
                insert_sql(&runs, round * 1000)
            ));
            // Re-writes made by hand: a duration changed, a status flipped,
            // a run deleted, a start moved.
            for (which, how) in &rewrites {
                let id = format!("hand-{}", round * 1000 + which.index(runs.len()));
                let change = match how {
                    0 => "UPDATE workflow_runs SET duration_ms = duration_ms * 3 + 1".to_owned(),
                    1 => "UPDATE workflow_runs SET status = 'FAILED'".to_owned(),
                    _ => "DELETE FROM workflow_runs".to_owned(),
                };
                db.sql_batch(&format!(
                    "{change} WHERE run_id = '{id}' AND status <> 'RUNNING';"
                ));
            }
            // While those changes wait, a store that cannot fold them in
            // still answers exactly, from the rows.
            prop_assert!(
                pending(db) > 0 || runs.iter().all(|r| r.status >= 3 || r.start_us.is_none())
            );
            let reader = HistoryStore::connect_read_only(&db.url).expect("read-only store");
            let rows: Vec<StoredRun> = db.sql_query(STORED, &[]);
            check_filter(&reader, &rows, &filters[0])?;
            drop(reader);

            // A store that can write closes the dead writer's runs and
            // folds every change in.
            let store = db.store();
            prop_assert_eq!(pending(db), 0);
            let dead_writer_open = format!(
                "SELECT COUNT(*) FROM workflow_runs WHERE writer_id = '{DEAD_WRITER}' \
                 AND status IN ('PENDING', 'RUNNING')"
            );
            prop_assert_eq!(db.count(&dead_writer_open), 0);
            if let Some(cutoff) = retention.flatten() {
                store.delete_runs_started_before(cutoff).expect("retention");
                prop_assert_eq!(pending(db), 0);
            }
            let rows: Vec<StoredRun> = db.sql_query(STORED, &[]);
            for filter in &filters {
                check_filter(&store, &rows, filter)?;
            }
            check_filter(&store, &rows, &RunFilter::default())?;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

backends! {
    fn rollup_statistics_equal_the_rows_for_random_histories(db) {
        record_live_runs(db);
        random_history_case(db);
    }

    fn a_history_from_before_the_rollup_is_rolled_up_by_the_migration(db) {
        record_live_runs(db);
        let runs: Vec<NewRun> = (0..400)
            .map(|i| NewRun {
                workflow: i % 3,
                domain: i % 3,
                status: [0, 0, 1, 2][i % 4],
                start_us: Some(i as i64 * 7_919_000_000),
                duration_us: Some(((i * 7919) % 100_000) as i64 * 1000),
                attempt: 1 + (i % 5 == 0) as i64,
            })
            .collect();
        db.undo_rollup_migration();
        db.sql_batch(&insert_sql(&runs, 0));
        let store = db.store();
        assert_eq!(pending(db), 0);
        let buckets = db.count_rows("workflow_rollup");
        assert!(buckets > 0, "the migration rolled nothing up");
        let rows: Vec<StoredRun> = db.sql_query(STORED, &[]);
        let mut runner = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
        runner
            .run(&filter(), |filter| check_filter(&store, &rows, &filter))
            .unwrap_or_else(|e| panic!("{e}"));
        check_filter(&store, &rows, &RunFilter::default()).unwrap_or_else(|e| panic!("{e}"));
    }

    fn runs_at_the_edges_of_buckets_are_counted_once(db) {
        record_live_runs(db);
        // Runs one microsecond either side of, and on, a boundary of each
        // width; filters that start or end at each of those times.
        let origin_us = (base() - Duration::days(100)).timestamp_micros();
        let boundary = |width: i64| {
            let w = width * 1_000_000;
            (base().timestamp_micros().div_euclid(w) + 1) * w
        };
        let times: Vec<i64> = [3_600, 86_400, 32 * 86_400, 512 * 86_400]
            .into_iter()
            .flat_map(|width| [-2, -1, 0, 1, 2].map(|d| boundary(width) + d))
            .collect();
        let runs: Vec<NewRun> = times
            .iter()
            .enumerate()
            .map(|(i, t)| NewRun {
                workflow: 0,
                domain: 0,
                status: 0,
                start_us: Some(t - origin_us),
                duration_us: Some(1000 * (i as i64 + 1)),
                attempt: 1,
            })
            .collect();
        db.sql_batch(&insert_sql(&runs, 0));
        let store = db.store();
        assert_eq!(pending(db), 0);
        let rows: Vec<StoredRun> = db.sql_query(STORED, &[]);
        let bounds: Vec<Option<DateTime<Utc>>> =
            std::iter::once(None).chain(times.iter().map(|t| Some(micros(*t)))).collect();
        for since in &bounds {
            for until in &bounds {
                let filter = RunFilter { since: *since, until: *until, ..RunFilter::default() };
                check_filter(&store, &rows, &filter).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }

    fn more_changes_than_one_pass_takes_are_all_folded_in(db) {
        record_live_runs(db);
        let runs: Vec<NewRun> = (0..25_000)
            .map(|i| NewRun {
                workflow: i % 3,
                domain: i % 3,
                status: i % 3,
                start_us: Some(i as i64 * 600_000_000),
                duration_us: Some((i % 977) as i64 * 1000),
                attempt: 1,
            })
            .collect();
        db.sql_batch(&insert_sql(&runs, 0));
        assert!(pending(db) >= 25_000);
        let store = db.store();
        assert_eq!(pending(db), 0);
        let rows: Vec<StoredRun> = db.sql_query(STORED, &[]);
        check_filter(&store, &rows, &RunFilter::default()).unwrap_or_else(|e| panic!("{e}"));
    }

    fn a_damaged_bucket_is_summed_again_from_its_runs(db) {
        record_live_runs(db);
        // Every bucket's sketch made unreadable (text, or bytes twice over),
        // then a run of each bucket changed by hand.
        db.sql_batch("UPDATE workflow_rollup SET durations = durations || durations");
        db.sql_batch("UPDATE workflow_runs SET duration_ms = duration_ms + 1");
        let store = db.store();
        assert_eq!(pending(db), 0, "the fold went through");
        let rows: Vec<StoredRun> = db.sql_query(STORED, &[]);
        check_filter(&store, &rows, &RunFilter::default()).unwrap_or_else(|e| panic!("{e}"));
    }

    fn a_run_the_rollup_cannot_read_stops_no_writer(db) {
        record_live_runs(db);
        // A finished run written by hand with a start that is no time.
        let odd_start = if db.is_postgres() { "'infinity'" } else { "'not a time'" };
        db.sql_batch(&format!(
            "INSERT INTO workflow_runs (run_id, workflow_name, status, started_at, duration_ms, \
             created_at, attempt) VALUES ('odd', 'report', 'COMPLETED', {odd_start}, 5.0, {}, 1)",
            literal_time(base())
        ));
        // Writers go on writing; statistics come from the runs table.
        record_live_runs(db);
        assert_eq!(db.count_rows("workflow_runs"), 9);
        assert_eq!(pending(db), 1, "one standing note that the rollup cannot answer");
        let store = db.store();
        assert_eq!(store.statistics(&RunFilter::default()).expect("statistics").total_runs, 9);
        // Once the run is mended, a rebuild brings the rollup back.
        db.sql_batch("UPDATE workflow_runs SET started_at = created_at WHERE run_id = 'odd'");
        store.rebuild_statistics().expect("rebuild");
        assert_eq!(pending(db), 0);
        let rows: Vec<StoredRun> = db.sql_query(STORED, &[]);
        check_filter(&store, &rows, &RunFilter::default()).unwrap_or_else(|e| panic!("{e}"));
    }

    fn emptying_the_runs_table_empties_the_statistics(db) {
        record_live_runs(db);
        let empty = if db.is_postgres() { "TRUNCATE workflow_runs" } else { "DELETE FROM workflow_runs" };
        db.sql_batch(empty);
        let store = db.store();
        assert_eq!(store.statistics(&RunFilter::default()).expect("statistics").total_runs, 0);
        assert_eq!(store.count_runs(&RunFilter::default()).expect("count"), 0);
        assert_eq!(db.count_rows("workflow_rollup"), 0);
    }

    fn the_writer_folds_in_what_was_changed_by_hand(db) {
        record_live_runs(db);
        let before = db.store().statistics(&RunFilter::default()).expect("statistics");
        db.sql_batch("UPDATE workflow_runs SET status = 'CANCELLED' WHERE run_id = 'live-0'");
        assert_eq!(pending(db), 2, "one note for the old row, one for the new");
        // The next writer's first batch folds the notes in.
        record_live_runs(db);
        assert_eq!(pending(db), 0);
        let after = HistoryStore::connect_read_only(&db.url)
            .expect("read-only store")
            .statistics(&RunFilter::default())
            .expect("statistics");
        assert_eq!(after.total_runs, 2 * before.total_runs);
        assert_eq!(after.cancelled, before.cancelled + 1);
        let rows: Vec<StoredRun> = db.sql_query(STORED, &[]);
        check_same(&after, &exact(&rows, &RunFilter::default()), "all").unwrap_or_else(|e| panic!("{e}"));
    }
}
