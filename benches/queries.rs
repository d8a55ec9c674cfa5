//! Query latency on a large history, through `HistoryStore`: a filtered
//! page of runs (first and deep), one run with its steps and events,
//! counts, and statistics.
//!
//! `cargo bench --bench queries`
//!
//! The history (a million runs, see `examples/generate_history.rs`) is
//! generated once into `target/bench-data/history-1m.db` and reused;
//! `WORKFLOW_HISTORY_BENCH_RUNS=100000` uses (or makes) a smaller one for a
//! quick run. Besides criterion's means, every query runs up to 500 times
//! with varied parameters to report its p50 and p99 (targets are about
//! tails), and the plan of the SQL it runs is printed. The statistics are
//! measured again answering from the runs table alone (as before the
//! rollup) and, with `WORKFLOW_HISTORY_BENCH_PG_URL` and the `postgres`
//! feature, on PostgreSQL. Deep pages are also
//! read the keyset way (SQL only: the store has no such call), to show what
//! would keep them fast.

#[allow(dead_code)] // the example's `main` and command line are not used here
#[path = "../examples/generate_history.rs"]
mod generate;
#[path = "support/runs_table_only.rs"]
mod runs_table_only;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use runs_table_only::RunsTableOnly;
use rusqlite::{Connection, OpenFlags, ToSql};
use workflow_history::{HistoryStore, RunFilter, WorkflowStatus};

/// The page size of a listing, as a dashboard shows it.
const PAGE: u32 = 50;
/// Deep pages, where `OFFSET` has to walk past what it skips.
const DEEP_OFFSETS: [u64; 2] = [5_000, 50_000];
/// Timed runs of each query for its percentiles...
const SAMPLES: usize = 500;
/// ...unless a slow one (statistics over everything) runs out of time first.
const SAMPLE_BUDGET: Duration = Duration::from_secs(15);
/// Run ids sampled for the run-detail queries.
const RUN_IDS: usize = 1_000;
/// Deep pages located for the keyset comparison (each costs a deep query).
const KEYSET_CURSORS: u64 = 20;

/// Criterion's measuring time per query (more for the slowest).
const MEASUREMENT: Duration = Duration::from_secs(5);

/// The issue's targets.
const LIST_AND_DETAIL_P99: Duration = Duration::from_millis(5);
const STATISTICS_30_DAYS_P99: Duration = Duration::from_millis(50);
/// Statistics for any combination of filters, and per workflow over the
/// whole history.
const STATISTICS_ANY_P99: Duration = Duration::from_millis(50);
const STATISTICS_BY_WORKFLOW_P99: Duration = Duration::from_millis(100);

const SELECT_RUNS: &str = "SELECT run_id, workflow_name, domain, partition_key, status, \
     started_at, completed_at, duration_ms, params, outputs, error, error_category, metrics, \
     triggered_by, created_at, parent_run_id, cancel_reason FROM workflow_runs";
const SELECT_STEPS: &str = "SELECT step_id, run_id, step_name, step_type, step_order, status, \
     started_at, completed_at, duration_ms, input_params, output_data, error, error_category, \
     records_processed, quality_passed, quality_metrics, parent_step_id, skip_reason \
     FROM workflow_step_runs";
const SELECT_EVENTS: &str = "SELECT event_id, run_id, step_id, timestamp, kind, level, target, \
     message, fields FROM workflow_events";
const STATISTICS: &str = "SELECT COUNT(*), COUNT(CASE WHEN status = 'COMPLETED' THEN 1 END), \
     COUNT(CASE WHEN status = 'FAILED' THEN 1 END), \
     COUNT(CASE WHEN status = 'CANCELLED' THEN 1 END), \
     COUNT(CASE WHEN status IN ('PENDING', 'RUNNING') THEN 1 END), \
     AVG(CASE WHEN status IN ('COMPLETED', 'FAILED', 'CANCELLED') THEN duration_ms END), \
     MAX(CASE WHEN status IN ('COMPLETED', 'FAILED', 'CANCELLED') THEN duration_ms END), \
     COUNT(CASE WHEN status IN ('COMPLETED', 'FAILED', 'CANCELLED') THEN duration_ms END) \
     FROM workflow_runs";
const PERCENTILE: &str = "SELECT duration_ms FROM workflow_runs";
const PERCENTILE_ORDER: &str = "status IN ('COMPLETED', 'FAILED', 'CANCELLED') \
     AND duration_ms IS NOT NULL ORDER BY duration_ms LIMIT 1 OFFSET";

/// The cached database: `history-1m.db`, or one named by its size.
fn database() -> (PathBuf, u64) {
    let runs = std::env::var("WORKFLOW_HISTORY_BENCH_RUNS")
        .ok()
        .map(|n| {
            n.replace('_', "")
                .parse()
                .expect("WORKFLOW_HISTORY_BENCH_RUNS: a number")
        })
        .unwrap_or(generate::DEFAULT_RUNS);
    let name = if runs == 1_000_000 {
        "history-1m.db".to_owned()
    } else {
        format!("history-{runs}.db")
    };
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("bench-data");
    std::fs::create_dir_all(&dir).expect("create target/bench-data");
    let path = dir.join(name);
    if !path.exists() {
        eprintln!("generating {} ({runs} runs), once", path.display());
        generate::generate(&path, runs).expect("generate history");
    }
    (path, runs)
}

/// What the varied parameters are drawn from.
struct Fixture {
    store: HistoryStore,
    /// The database file, for the comparison with the runs table alone.
    path: PathBuf,
    /// A read-only connection of our own, for plans and setup only.
    raw: Connection,
    workflows: Vec<String>,
    /// Workflows by their number of COMPLETED runs, for deep pages.
    completed: Vec<(String, u64)>,
    run_ids: Vec<String>,
    /// The newest start: "the last 30 days" ends there, so an old cached
    /// database measures the same window as a new one.
    latest: DateTime<Utc>,
    /// How many runs the history has.
    runs: u64,
}

impl Fixture {
    fn open() -> Self {
        let (path, runs) = database();
        // What the HTTP server and a dashboard use.
        let store = HistoryStore::open_sqlite_read_only(&path).expect("open store");
        let raw = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open read-only");
        let workflows = generate::workflow_names();
        let completed = workflows
            .iter()
            .map(|w| {
                let n = store
                    .count_runs(&filter(w, WorkflowStatus::Completed))
                    .expect("count");
                (w.clone(), n)
            })
            .collect();
        // Rows were inserted in order and never deleted: rowids are 1..=runs.
        let mut rng = generate::Rng::new(7);
        let run_ids = (0..RUN_IDS)
            .map(|_| {
                raw.query_row(
                    "SELECT run_id FROM workflow_runs WHERE rowid = ?1",
                    [1 + rng.below(runs) as i64],
                    |row| row.get(0),
                )
                .expect("sample run id")
            })
            .collect();
        let latest: String = raw
            .query_row("SELECT MAX(started_at) FROM workflow_runs", [], |row| {
                row.get(0)
            })
            .expect("latest run");
        let latest = DateTime::parse_from_rfc3339(&latest)
            .expect("timestamp")
            .with_timezone(&Utc);
        Fixture {
            store,
            path,
            raw,
            workflows,
            completed,
            run_ids,
            latest,
            runs,
        }
    }

    fn workflow(&self, i: u64) -> &str {
        &self.workflows[mix(i) as usize % self.workflows.len()]
    }

    /// The statuses people filter on, as often as they look for them.
    fn status(&self, i: u64) -> WorkflowStatus {
        match mix(i ^ 0xABCD) % 20 {
            0..10 => WorkflowStatus::Completed,
            10..17 => WorkflowStatus::Failed,
            _ => WorkflowStatus::Cancelled,
        }
    }

    /// A workflow with at least `offset + PAGE` completed runs, if any.
    fn deep_workflow(&self, i: u64, offset: u64) -> Option<&str> {
        let deep: Vec<&str> = self
            .completed
            .iter()
            .filter(|(_, n)| *n >= offset + u64::from(PAGE))
            .map(|(w, _)| w.as_str())
            .collect();
        (!deep.is_empty()).then(|| deep[mix(i) as usize % deep.len()])
    }

    fn run_id(&self, i: u64) -> &str {
        &self.run_ids[i as usize % self.run_ids.len()]
    }

    fn since_30_days(&self) -> DateTime<Utc> {
        self.latest - chrono::Duration::days(30)
    }

    /// The `i`th of all combinations of the filters statistics take: each
    /// of workflow, domain and status there or not, and a time window
    /// anywhere in the history, open or closed at either end.
    fn any_filter(&self, i: u64) -> RunFilter {
        let bits = mix(i ^ 0x5747);
        let first = self.latest - chrono::Duration::days(generate::HISTORY_DAYS);
        let span_us = (self.latest - first).num_microseconds().unwrap_or(i64::MAX);
        let at = |r: u64| first + chrono::Duration::microseconds((r % span_us as u64) as i64);
        let (a, b) = (at(mix(i ^ 1)), at(mix(i ^ 2)));
        let (since, until) = (a.min(b), a.max(b));
        RunFilter {
            workflow_name: (bits & 1 != 0).then(|| self.workflow(i).to_owned()),
            domain: (bits & 2 != 0).then(|| {
                generate::DOMAINS[(bits >> 8) as usize % generate::DOMAINS.len()]
                    .0
                    .to_owned()
            }),
            status: (bits & 4 != 0).then(|| self.status(i)),
            since: (bits & 8 != 0).then_some(since),
            until: (bits & 16 != 0).then_some(until),
            ..RunFilter::default()
        }
    }
}

/// Spreads consecutive counters over the parameter space.
fn mix(i: u64) -> u64 {
    generate::Rng::new(i).next_u64()
}

fn filter(workflow: &str, status: WorkflowStatus) -> RunFilter {
    RunFilter {
        workflow_name: Some(workflow.to_owned()),
        status: Some(status),
        limit: PAGE,
        ..RunFilter::default()
    }
}

/// How criterion measures a case.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sampling {
    /// Its usual ramp of iteration counts.
    Linear,
    /// Tens of milliseconds or more per call: ten samples of equal size.
    Flat,
    /// Not at all: a comparison for the latency table only.
    None,
}

/// One query as the benchmark runs it: the `i`th set of parameters.
struct Case<'f> {
    name: String,
    /// The issue's bound on its p99, if it has one.
    target: Option<Duration>,
    sampling: Sampling,
    run: Box<dyn Fn(u64) + 'f>,
}

fn cases(f: &Fixture) -> Vec<Case<'_>> {
    let mut cases = vec![Case {
        name: "list_runs workflow+status offset 0".into(),
        target: Some(LIST_AND_DETAIL_P99),
        sampling: Sampling::Linear,
        run: Box::new(|i| {
            let runs = f.store.list_runs(&filter(f.workflow(i), f.status(i)));
            black_box(runs.expect("list"));
        }),
    }];
    for offset in DEEP_OFFSETS {
        if f.deep_workflow(0, offset).is_none() {
            println!("(no workflow has {offset} completed runs: no page at offset {offset})");
            continue;
        }
        cases.push(Case {
            name: format!("list_runs workflow+status offset {offset}"),
            target: Some(LIST_AND_DETAIL_P99),
            sampling: if offset >= 50_000 {
                Sampling::Flat
            } else {
                Sampling::Linear
            },
            run: Box::new(move |i| {
                let workflow = f.deep_workflow(i, offset).expect("deep workflow");
                let runs = f.store.list_runs(&RunFilter {
                    offset,
                    ..filter(workflow, WorkflowStatus::Completed)
                });
                black_box(runs.expect("list"));
            }),
        });
    }
    cases.extend([
        Case {
            name: "get_run + get_steps + get_events".into(),
            target: Some(LIST_AND_DETAIL_P99),
            sampling: Sampling::Linear,
            run: Box::new(|i| {
                let run_id = f.run_id(i);
                black_box(f.store.get_run(run_id).expect("run").expect("recorded"));
                black_box(f.store.get_steps(run_id).expect("steps"));
                black_box(f.store.get_events(run_id).expect("events"));
            }),
        },
        Case {
            name: "count_runs workflow+status".into(),
            target: None,
            sampling: Sampling::Linear,
            run: Box::new(|i| {
                let count = f.store.count_runs(&filter(f.workflow(i), f.status(i)));
                black_box(count.expect("count"));
            }),
        },
    ]);
    cases.extend(statistics_cases(f, &f.store, "", Sampling::Linear));
    cases.extend(keyset_cases(f));
    cases
}

/// Counts and statistics through `store`: with targets (`sampling` other
/// than [`Sampling::None`]), or as a comparison named with `label`.
fn statistics_cases<'f>(
    f: &'f Fixture,
    store: &'f HistoryStore,
    label: &str,
    sampling: Sampling,
) -> Vec<Case<'f>> {
    let compared = sampling == Sampling::None;
    let case = |name: &str, target: Option<Duration>, run: Box<dyn Fn(u64) + 'f>| Case {
        name: format!("{name}{label}"),
        target: target.filter(|_| !compared),
        sampling,
        run,
    };
    vec![
        case(
            "count_runs all",
            None,
            Box::new(|_| {
                black_box(store.count_runs(&RunFilter::default()).expect("count"));
            }),
        ),
        case(
            "statistics workflow 30 days",
            Some(STATISTICS_30_DAYS_P99),
            Box::new(|i| {
                let stats = store.statistics(&RunFilter {
                    workflow_name: Some(f.workflow(i).to_owned()),
                    since: Some(f.since_30_days()),
                    ..RunFilter::default()
                });
                black_box(stats.expect("statistics"));
            }),
        ),
        case(
            "statistics all",
            Some(STATISTICS_ANY_P99),
            Box::new(|_| {
                black_box(store.statistics(&RunFilter::default()).expect("stats"));
            }),
        ),
        case(
            "statistics any filters",
            Some(STATISTICS_ANY_P99),
            Box::new(|i| {
                black_box(store.statistics(&f.any_filter(i)).expect("stats"));
            }),
        ),
        case(
            "statistics by workflow all",
            Some(STATISTICS_BY_WORKFLOW_P99),
            Box::new(|_| {
                let all = store.statistics_by_workflow(&RunFilter::default());
                black_box(all.expect("stats"));
            }),
        ),
    ]
}

/// The same deep pages as a keyset page would read them: after the last
/// run of the previous page, not past a count of runs. The store has no
/// such call; this is the SQL one would run, measured on a connection of
/// our own (rows read, not turned into `WorkflowRun`s), to show what would
/// keep deep pages within the target.
fn keyset_cases(f: &Fixture) -> Vec<Case<'_>> {
    let mut cases = Vec::new();
    for offset in DEEP_OFFSETS {
        if f.deep_workflow(0, offset).is_none() {
            continue;
        }
        // Where each page starts: the last run of the page before it.
        let cursors: Vec<(String, String, String)> = (0..KEYSET_CURSORS)
            .map(|i| {
                let workflow = f.deep_workflow(i, offset).expect("deep workflow");
                let (started_at, run_id) = f
                    .raw
                    .query_row(
                        "SELECT started_at, run_id FROM workflow_runs \
                         WHERE workflow_name = ?1 AND status = 'COMPLETED' \
                         ORDER BY started_at DESC, run_id DESC LIMIT 1 OFFSET ?2",
                        rusqlite::params![workflow, offset as i64 - 1],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .expect("cursor");
                (workflow.to_owned(), started_at, run_id)
            })
            .collect();
        cases.push(Case {
            name: format!("keyset page at {offset} (SQL only)"),
            target: Some(LIST_AND_DETAIL_P99),
            sampling: Sampling::None,
            run: Box::new(move |i| {
                let (workflow, started_at, run_id) = &cursors[i as usize % cursors.len()];
                let mut stmt = f.raw.prepare_cached(&keyset_sql()).expect("prepare");
                let mut rows = stmt
                    .query(rusqlite::params![
                        workflow,
                        "COMPLETED",
                        started_at,
                        run_id,
                        PAGE
                    ])
                    .expect("keyset page");
                let mut n = 0;
                while let Some(row) = rows.next().expect("row") {
                    black_box(row.get_ref(8).expect("params"));
                    n += 1;
                }
                assert_eq!(n, PAGE);
            }),
        });
    }
    cases
}

fn keyset_sql() -> String {
    format!(
        "{SELECT_RUNS} WHERE workflow_name = ?1 AND status = ?2 \
         AND (started_at, run_id) < (?3, ?4) ORDER BY started_at DESC, run_id DESC LIMIT ?5"
    )
}

/// Nearest-rank percentiles of one query's own timing loop.
struct Latency {
    samples: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

fn measure(case: &Case<'_>) -> Latency {
    // Warm the page cache on parameters that are not measured.
    for i in 0..5 {
        (case.run)(u64::MAX - i);
    }
    let budget = Instant::now();
    let mut times = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES as u64 {
        let start = Instant::now();
        (case.run)(i);
        times.push(start.elapsed());
        if budget.elapsed() > SAMPLE_BUDGET && times.len() >= 5 {
            break;
        }
    }
    times.sort();
    let rank = |p: f64| times[((p * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
    Latency {
        samples: times.len(),
        p50: rank(0.50),
        p99: rank(0.99),
        max: times[times.len() - 1],
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// Prints the latency table; returns each case's median.
fn print_latencies(cases: &[Case<'_>]) -> Vec<Duration> {
    println!("\nlatency per query (own timing loop, varied parameters)");
    println!(
        "{:<40} {:>7} {:>12} {:>12} {:>12}  target",
        "query", "samples", "p50", "p99", "max"
    );
    let mut medians = Vec::new();
    for case in cases {
        let l = measure(case);
        medians.push(l.p50);
        let verdict = match case.target {
            Some(t) if l.p99 <= t => format!("p99 < {}: met", ms(t)),
            Some(t) => format!("p99 < {}: NOT MET", ms(t)),
            None => "-".to_owned(),
        };
        println!(
            "{:<40} {:>7} {:>12} {:>12} {:>12}  {verdict}",
            case.name,
            l.samples,
            ms(l.p50),
            ms(l.p99),
            ms(l.max)
        );
    }
    println!();
    medians
}

/// `EXPLAIN QUERY PLAN` of the SQL the store runs (the same text as in
/// `src/store`), as an indented tree.
fn print_plan(conn: &Connection, label: &str, sql: &str, params: &[&dyn ToSql]) {
    println!("{label}\n  {sql}");
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("explain");
    let rows = stmt
        .query_map(params, |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(3)?,
            ))
        })
        .expect("plan");
    let mut depth: Vec<(i64, usize)> = Vec::new();
    for row in rows {
        let (id, parent, detail) = row.expect("plan row");
        let level = depth
            .iter()
            .find(|(node, _)| *node == parent)
            .map_or(0, |(_, level)| level + 1);
        depth.push((id, level));
        println!("    {}{detail}", "  ".repeat(level));
    }
}

fn print_plans(f: &Fixture) {
    let (workflow, status) = (f.workflow(0), "COMPLETED");
    let since = f
        .since_30_days()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let run_id = f.run_id(0);
    let page = i64::from(PAGE);
    println!("\nquery plans (EXPLAIN QUERY PLAN)");
    let list = format!(
        "{SELECT_RUNS} WHERE workflow_name = ?1 AND status = ?2 \
         ORDER BY started_at DESC, run_id DESC LIMIT ?3 OFFSET ?4"
    );
    print_plan(
        &f.raw,
        "list_runs workflow+status",
        &list,
        &[&workflow, &status, &page, &5_000],
    );
    print_plan(
        &f.raw,
        "get_run",
        &format!("{SELECT_RUNS} WHERE run_id = ?1"),
        &[&run_id],
    );
    let steps = format!("{SELECT_STEPS} WHERE run_id = ?1 ORDER BY step_order");
    print_plan(&f.raw, "get_steps", &steps, &[&run_id]);
    let events = format!("{SELECT_EVENTS} WHERE run_id = ?1 ORDER BY timestamp, event_id");
    print_plan(&f.raw, "get_events", &events, &[&run_id]);
    let count = "SELECT COUNT(*) FROM workflow_runs WHERE workflow_name = ?1 AND status = ?2";
    print_plan(
        &f.raw,
        "count_runs workflow+status",
        count,
        &[&workflow, &status],
    );
    print_plan(
        &f.raw,
        "count_runs all",
        "SELECT COUNT(*) FROM workflow_runs",
        &[],
    );
    let window = "workflow_name = ?1 AND started_at >= ?2";
    let stats = format!("{STATISTICS} WHERE {window}");
    print_plan(
        &f.raw,
        "statistics workflow 30 days: counts",
        &stats,
        &[&workflow, &since],
    );
    let pct = format!("{PERCENTILE} WHERE {window} AND {PERCENTILE_ORDER} ?3");
    print_plan(
        &f.raw,
        "statistics workflow 30 days: p50, p95",
        &pct,
        &[&workflow, &since, &100],
    );
    print_plan(
        &f.raw,
        "statistics from the rollup: whole buckets of one level",
        "SELECT workflow_name, status, runs, retries, timed, duration_sum_us, duration_max_ms, \
         durations FROM workflow_rollup WHERE level = ?1 AND bucket_start >= ?2 \
         AND bucket_start < ?3 AND workflow_name = ?4",
        &[&1, &0, &i64::MAX, &workflow],
    );
    print_plan(
        &f.raw,
        "statistics all: counts (runs table only)",
        STATISTICS,
        &[],
    );
    let pct = format!("{PERCENTILE} WHERE {PERCENTILE_ORDER} ?1");
    print_plan(&f.raw, "statistics all: p50, p95", &pct, &[&500_000]);
    let (started_at, run_id) = ("2025-01-10T08:30:00.000000Z", run_id);
    print_plan(
        &f.raw,
        "keyset page (not in the API: the fix for deep pages)",
        &keyset_sql(),
        &[&workflow, &status, &started_at, &run_id, &page],
    );
}

fn queries(c: &mut Criterion) {
    let f = Fixture::open();
    print_plans(&f);
    let cases = cases(&f);
    let medians = print_latencies(&cases);
    {
        let _only = RunsTableOnly::new(&f.path);
        print_latencies(&statistics_cases(
            &f,
            &f.store,
            " (runs table only)",
            Sampling::None,
        ));
    }
    #[cfg(feature = "postgres")]
    postgres_side::compare(&f);

    // Criterion compares with the last run of the same name: a quick run on
    // a smaller history gets names of its own.
    let size = if f.runs == generate::DEFAULT_RUNS {
        String::new()
    } else {
        format!(" ({} runs)", f.runs)
    };
    let mut group = c.benchmark_group(format!("queries{size}"));
    for case in cases.iter().filter(|c| c.sampling == Sampling::Linear) {
        let mut i = 0;
        group.bench_function(&case.name, |b| {
            b.iter(|| {
                i += 1;
                (case.run)(i)
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group(format!("queries_slow{size}"));
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    for (case, median) in cases.iter().zip(medians) {
        if case.sampling != Sampling::Flat {
            continue;
        }
        // Ten samples of at least one call each: give them the time they
        // take rather than a warning that 5 s is too short.
        group.measurement_time(MEASUREMENT.max(median * 15));
        let mut i = 0;
        group.bench_function(&case.name, |b| {
            b.iter(|| {
                i += 1;
                (case.run)(i)
            })
        });
    }
    group.finish();
}

/// The statistics cases on PostgreSQL, when `WORKFLOW_HISTORY_BENCH_PG_URL`
/// names a server: the same runs (the runs table only: statistics read
/// nothing else), copied once into a schema of their own and rolled up
/// there by the library.
#[cfg(feature = "postgres")]
mod postgres_side {
    use super::*;
    use std::io::Write;

    const URL_VAR: &str = "WORKFLOW_HISTORY_BENCH_PG_URL";
    const COLUMNS: &str = "run_id, workflow_name, domain, partition_key, status, started_at, \
                           completed_at, duration_ms, created_at, triggered_by, attempt";

    pub fn compare(f: &Fixture) {
        let Some(base) = std::env::var(URL_VAR).ok().filter(|u| !u.is_empty()) else {
            println!("(set {URL_VAR} for the same statistics on PostgreSQL)");
            return;
        };
        let url = load(&base, f);
        let store = HistoryStore::connect_read_only(&url).expect("PostgreSQL store");
        print_latencies(&statistics_cases(
            f,
            &store,
            " (PostgreSQL)",
            Sampling::None,
        ));
    }

    /// The URL of the schema holding the runs, loaded on first use.
    fn load(base: &str, f: &Fixture) -> String {
        let schema = format!("wh_bench_history_{}", f.runs);
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-csearch_path%3D{schema}");
        let mut client = postgres::Client::connect(base, postgres::NoTls).expect("connect");
        // Loaded from this very file (a new one is generated when the
        // schema changes) and complete, or loaded again.
        let source = format!(
            "{:?}",
            std::fs::metadata(&f.path)
                .and_then(|m| m.modified())
                .expect("history file")
        );
        let marker = format!("{schema}.bench_loaded");
        let loaded: Option<String> = client
            .query_opt(&format!("SELECT source FROM {marker}"), &[])
            .ok()
            .flatten()
            .map(|row| row.get(0));
        if loaded.as_deref() == Some(source.as_str()) {
            return url;
        }
        let started = Instant::now();
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .expect("schema");
        let (layer, guard) = workflow_history::HistoryLayer::builder()
            .database_url(&url)
            .build()
            .expect("create the history's tables");
        drop(layer);
        guard.shutdown().expect("shutdown");
        let mut pg = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        let mut copy = pg
            .copy_in(&format!("COPY workflow_runs ({COLUMNS}) FROM STDIN"))
            .expect("copy");
        let mut stmt = f
            .raw
            .prepare(&format!("SELECT {COLUMNS} FROM workflow_runs"))
            .expect("select runs");
        let mut rows = stmt.query([]).expect("runs");
        let mut line = String::new();
        while let Some(row) = rows.next().expect("run") {
            line.clear();
            for i in 0..11 {
                if i > 0 {
                    line.push('\t');
                }
                match row.get_ref(i).expect("value") {
                    rusqlite::types::ValueRef::Null => line.push_str("\\N"),
                    rusqlite::types::ValueRef::Integer(n) => line.push_str(&n.to_string()),
                    rusqlite::types::ValueRef::Real(x) => line.push_str(&x.to_string()),
                    rusqlite::types::ValueRef::Text(t) => {
                        for c in String::from_utf8_lossy(t).chars() {
                            match c {
                                '\\' => line.push_str("\\\\"),
                                '\t' => line.push_str("\\t"),
                                '\n' => line.push_str("\\n"),
                                '\r' => line.push_str("\\r"),
                                c => line.push(c),
                            }
                        }
                    }
                    rusqlite::types::ValueRef::Blob(_) => panic!("no blobs in workflow_runs"),
                }
            }
            line.push('\n');
            copy.write_all(line.as_bytes()).expect("copy a run");
        }
        copy.finish().expect("finish the copy");
        let copied = started.elapsed();
        // A store that can write folds the copy's notes into the rollup.
        drop(HistoryStore::connect(&url).expect("roll up"));
        println!(
            "PostgreSQL: {} runs copied in {:.1} s, rolled up in {:.1} s",
            f.runs,
            copied.as_secs_f64(),
            (started.elapsed() - copied).as_secs_f64()
        );
        client
            .batch_execute(&format!(
                "ANALYZE {schema}.workflow_runs; CREATE TABLE {marker} (source TEXT)"
            ))
            .expect("mark the history loaded");
        client
            .execute(&format!("INSERT INTO {marker} VALUES ($1)"), &[&source])
            .expect("mark the history loaded");
        url
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(MEASUREMENT);
    targets = queries
}
criterion_main!(benches);
