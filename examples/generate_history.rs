//! Writes a large, realistic workflow history into a new SQLite file with
//! this crate's schema, for measuring queries on it.
//!
//! `cargo run --release --example generate_history -- PATH [RUNS]`
//!
//! RUNS (default 1,000,000) runs of 50 workflows in 10 domains, started
//! over the last three years, five steps each (a failed or cancelled run
//! stops where it failed), with the status-change events the writer
//! records and a few log events per failed run. The rows are the ones the
//! layer's writer stores, but inserted with plain rusqlite: the layer
//! records at the pace of live code, and what this file is for is reading.
//! `benches/queries.rs` includes this file to build its cached database.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, Statement, params};

/// Runs written when the command line does not say.
pub const DEFAULT_RUNS: u64 = 1_000_000;
/// Steps of a run that goes to its end.
pub const STEPS_PER_RUN: u32 = 5;
/// How far back the first run starts.
pub const HISTORY_DAYS: i64 = 3 * 365;
/// Runs per transaction: large, so commits cost nothing next to inserts.
const RUNS_PER_TRANSACTION: u64 = 20_000;
/// The same seed gives the same history (relative to the time it is made).
const SEED: u64 = 0x5EED_2025_0F1A;
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// The last runs start in the last few minutes and are still running, as
/// on any live system: one every `RECENT_EVERY_US`.
const RECENT_RUNS: u64 = 5;
const RECENT_EVERY_US: i64 = 120_000_000;

/// Every workflow name is `{domain}.{dataset}.{pipeline}`.
pub const DOMAINS: [(&str, &str); 10] = [
    ("finra", "otc_transparency"),
    ("sec", "edgar_filings"),
    ("cme", "settlement_prices"),
    ("fred", "macro_series"),
    ("treasury", "yield_curve"),
    ("ecb", "fx_reference"),
    ("bls", "cpi_release"),
    ("noaa", "station_weather"),
    ("crypto", "exchange_trades"),
    ("billing", "usage_rollup"),
];

/// One of the five pipelines every domain runs.
struct Pipeline {
    name: &'static str,
    /// Relative number of runs: hourly jobs dwarf weekly ones, as in life.
    weight: u64,
    /// Median run time.
    typical_ms: f64,
    /// Step names and types, in order.
    steps: [(&'static str, &'static str); STEPS_PER_RUN as usize],
}

const INGEST_STEPS: [(&str, &str); 5] = [
    ("fetch_data", "lambda"),
    ("parse", "lambda"),
    ("transform", "lambda"),
    ("quality_check", "pipeline"),
    ("load_data", "lambda"),
];

const PIPELINES: [Pipeline; 5] = [
    Pipeline {
        name: "ingest_hourly",
        weight: 24,
        typical_ms: 40_000.0,
        steps: INGEST_STEPS,
    },
    Pipeline {
        name: "ingest_daily",
        weight: 8,
        typical_ms: 240_000.0,
        steps: INGEST_STEPS,
    },
    Pipeline {
        name: "ingest_week",
        weight: 1,
        typical_ms: 1_200_000.0,
        steps: INGEST_STEPS,
    },
    Pipeline {
        name: "quality_report",
        weight: 4,
        typical_ms: 90_000.0,
        steps: [
            ("load_snapshot", "sql"),
            ("compute_metrics", "sql"),
            ("compare_baseline", "step"),
            ("quality_check", "pipeline"),
            ("notify", "step"),
        ],
    },
    Pipeline {
        name: "publish",
        weight: 2,
        typical_ms: 180_000.0,
        steps: [
            ("collect_inputs", "sql"),
            ("render", "lambda"),
            ("upload", "lambda"),
            ("quality_check", "pipeline"),
            ("notify", "step"),
        ],
    },
];

/// Why runs fail: (category, error, the step it happens in).
const FAILURES: [(&str, &str, u32); 6] = [
    ("NETWORK", "connection reset by peer", 1),
    ("TIMEOUT", "request timed out after 30s", 1),
    ("SOURCE_MISSING", "HTTP 404: file not published yet", 1),
    ("SCHEMA", "column 'symbol' missing from source file", 2),
    (
        "DATA_QUALITY",
        "quality check failed: null rate 7.2% above 5%",
        4,
    ),
    ("DATABASE", "database is locked", 5),
];

const CANCEL_REASONS: [&str; 3] = [
    "superseded by a newer run",
    "cancelled by operator",
    "upstream holiday calendar: no data",
];

const TIERS: [&str; 3] = ["T1", "T2", "OTC"];

/// The 50 workflow names, domain by domain.
pub fn workflow_names() -> Vec<String> {
    DOMAINS
        .iter()
        .flat_map(|(domain, dataset)| {
            PIPELINES
                .iter()
                .map(move |p| format!("{domain}.{dataset}.{}", p.name))
        })
        .collect()
}

/// SplitMix64: deterministic, fast, and enough randomness for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A log-normal factor with median 1: durations have a long right tail.
    fn spread(&mut self, sigma: f64) -> f64 {
        // Irwin-Hall: the sum of four uniforms is close enough to normal.
        let normal = ((0..4).map(|_| self.unit()).sum::<f64>() - 2.0) * 3f64.sqrt();
        (sigma * normal).exp()
    }
}

/// Writes the runs numbered `range`, a transaction per
/// [`RUNS_PER_TRANSACTION`].
fn write_runs(
    conn: &mut Connection,
    rng: &mut Rng,
    set: &Setting,
    range: std::ops::Range<u64>,
    started: Instant,
) -> rusqlite::Result<()> {
    let mut done = range.start;
    while done < range.end {
        let end = (done + RUNS_PER_TRANSACTION).min(range.end);
        let tx = conn.transaction()?;
        {
            let mut ins = Inserts::new(&tx)?;
            for i in done..end {
                write_run(&mut ins, rng, set, i)?;
            }
        }
        tx.commit()?;
        done = end;
        if done.is_multiple_of(100_000) || done == range.end {
            eprintln!(
                "generate_history: {done} runs, {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

/// The stored text of a time, as the writer formats it.
fn stamp(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .expect("time in range")
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn day(micros: i64) -> String {
    stamp(micros)[..10].to_owned()
}

/// A UUIDv7 from the start time, so ids sort like start times.
fn run_id(rng: &mut Rng, started_us: i64) -> String {
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    random[8..].copy_from_slice(&rng.next_u64().to_le_bytes()[..2]);
    uuid::Builder::from_unix_timestamp_millis((started_us / 1000) as u64, &random)
        .into_uuid()
        .to_string()
}

fn duration_ms(start_us: i64, end_us: Option<i64>) -> Option<f64> {
    end_us.map(|end| (end - start_us) as f64 / 1000.0)
}

fn status_change(old: &str, new: &str) -> String {
    format!(r#"{{"old":"{old}","new":"{new}"}}"#)
}

/// How a run ends, decided before it is laid out in time.
enum Outcome {
    Completed,
    Failed(usize),
    Cancelled(u32),
}

/// The prepared inserts, one per table.
struct Inserts<'c> {
    run: Statement<'c>,
    step: Statement<'c>,
    event: Statement<'c>,
}

impl<'c> Inserts<'c> {
    fn new(tx: &'c Connection) -> rusqlite::Result<Self> {
        Ok(Inserts {
            run: tx.prepare(
                "INSERT INTO workflow_runs (run_id, workflow_name, domain, partition_key, \
                 status, started_at, completed_at, duration_ms, params, outputs, error, \
                 error_category, metrics, triggered_by, created_at, parent_run_id, \
                 cancel_reason, writer_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, \
                 ?11, ?12, ?13, ?14, ?15, NULL, ?16, ?17)",
            )?,
            step: tx.prepare(
                "INSERT INTO workflow_step_runs (step_id, run_id, step_name, step_type, \
                 step_order, status, started_at, completed_at, duration_ms, input_params, \
                 output_data, error, error_category, records_processed, quality_passed, \
                 quality_metrics, parent_step_id, skip_reason) VALUES (?1, ?2, ?3, ?4, ?5, \
                 ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, NULL, NULL)",
            )?,
            event: tx.prepare(
                "INSERT INTO workflow_events (run_id, step_id, timestamp, kind, level, \
                 target, message, fields) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?,
        })
    }

    fn status_event(
        &mut self,
        run_id: &str,
        step_id: Option<&str>,
        at: &str,
        old: &str,
        new: &str,
    ) -> rusqlite::Result<()> {
        self.event.execute(params![
            run_id,
            step_id,
            at,
            "status_changed",
            None::<&str>,
            None::<&str>,
            None::<&str>,
            status_change(old, new)
        ])?;
        Ok(())
    }

    fn log_event(
        &mut self,
        run_id: &str,
        step_id: Option<&str>,
        at_us: i64,
        (level, target): (&str, &str),
        message: Option<&str>,
        fields: &str,
    ) -> rusqlite::Result<()> {
        self.event.execute(params![
            run_id,
            step_id,
            stamp(at_us),
            "log",
            level,
            target,
            message,
            fields
        ])?;
        Ok(())
    }
}

/// Everything that stays the same for the whole history.
struct Setting {
    names: Vec<String>,
    writer_id: Option<String>,
    now_us: i64,
    first_us: i64,
    slot_us: i64,
    /// The index of the first of the recent, still running runs.
    recent_from: u64,
}

/// Lays out run `i` in time and writes it with its steps and events.
fn write_run(ins: &mut Inserts<'_>, rng: &mut Rng, set: &Setting, i: u64) -> rusqlite::Result<()> {
    let domain_ix = rng.below(DOMAINS.len() as u64) as usize;
    let total_weight: u64 = PIPELINES.iter().map(|p| p.weight).sum();
    let mut pick = rng.below(total_weight);
    let pipeline_ix = PIPELINES
        .iter()
        .position(|p| {
            let hit = pick < p.weight;
            pick = pick.saturating_sub(p.weight);
            hit
        })
        .unwrap_or(0);
    let pipeline = &PIPELINES[pipeline_ix];
    let (domain, dataset) = DOMAINS[domain_ix];
    let name = &set.names[domain_ix * PIPELINES.len() + pipeline_ix];
    let target = format!("{domain}_pipeline::{}", pipeline.name);

    // One slot per run, the start anywhere in its first half: start times
    // (and so run ids) strictly increase. The recent runs come after all
    // the others.
    let recent = i >= set.recent_from;
    let started_us = if recent {
        let ago = (RECENT_RUNS - (i - set.recent_from)) as i64 * RECENT_EVERY_US;
        set.now_us - ago + rng.below(RECENT_EVERY_US as u64 / 2) as i64
    } else {
        set.first_us + i as i64 * set.slot_us + rng.below(set.slot_us as u64 / 2) as i64
    };
    let created_us = started_us - 3 - rng.below(40) as i64;
    let id = run_id(rng, started_us);
    let as_of = day(started_us);
    let tier = TIERS[rng.below(TIERS.len() as u64) as usize];

    // Failure rates differ by domain (4% to 9.4%); about 1.5% are cancelled.
    let roll = rng.unit();
    let fail_rate = 0.04 + 0.006 * domain_ix as f64;
    let outcome = if recent {
        Outcome::Completed
    } else if roll < fail_rate {
        Outcome::Failed(rng.below(FAILURES.len() as u64) as usize)
    } else if roll < fail_rate + 0.015 {
        Outcome::Cancelled(1 + rng.below(u64::from(STEPS_PER_RUN - 1)) as u32)
    } else {
        Outcome::Completed
    };
    let last_step = match outcome {
        Outcome::Completed => STEPS_PER_RUN,
        Outcome::Failed(f) => FAILURES[f].2,
        Outcome::Cancelled(after) => after,
    };
    let mut planned_ms = pipeline.typical_ms * rng.spread(0.6);
    if recent {
        // Long enough to be still running now, somewhere in its steps.
        let age_ms = (set.now_us - started_us) as f64 / 1000.0;
        planned_ms = planned_ms.max(age_ms * (1.2 + rng.unit()));
    }
    let records = 1_000 + rng.below(250_000);
    let dropped = rng.below(records / 100 + 1);

    let started = stamp(started_us);
    ins.status_event(&id, None, &started, "PENDING", "RUNNING")?;

    // Steps one after the other, each a share of the run's time; a step
    // that has not ended by now is still running, and later ones have not
    // started (so there is no row for them yet).
    let mut cursor = started_us + 200 + rng.below(3_000) as i64;
    let mut run_failure = None;
    let mut running = false;
    for order in 1..=last_step {
        let step_start = cursor + 100 + rng.below(2_000) as i64;
        if step_start > set.now_us {
            running = true;
            break;
        }
        let share = [0.25, 0.15, 0.3, 0.1, 0.2][order as usize - 1] * rng.spread(0.3);
        let step_end = step_start + (planned_ms * share * 1000.0) as i64;
        cursor = step_end;
        let (step_name, step_type) = pipeline.steps[order as usize - 1];
        let step_id = format!("{id}-{order}");
        let step_started = stamp(step_start);
        ins.status_event(&id, Some(&step_id), &step_started, "PENDING", "RUNNING")?;
        let failure = match outcome {
            Outcome::Failed(f) if order == last_step => Some(FAILURES[f]),
            _ => None,
        };
        let finished = step_end <= set.now_us;
        if let (Some((category, error, _)), true) = (failure, finished) {
            // What a retrying step logs before it gives up.
            let attempts = 1 + rng.below(2) as i64;
            for attempt in 1..=attempts {
                let at = step_start + (step_end - step_start) * attempt / (attempts + 1);
                let fields = format!(r#"{{"attempt":{attempt},"error":"{error}"}}"#);
                ins.log_event(
                    &id,
                    Some(&step_id),
                    at,
                    ("WARN", &target),
                    Some("retrying"),
                    &fields,
                )?;
            }
            let fields = format!(r#"{{"error":"{error}","error_category":"{category}"}}"#);
            ins.log_event(
                &id,
                Some(&step_id),
                step_end - 50,
                ("ERROR", &target),
                None,
                &fields,
            )?;
            run_failure = Some((format!("step '{step_name}' failed: {error}"), category));
        }
        let status = match (finished, failure) {
            (false, _) => "RUNNING",
            (true, Some(_)) => "FAILED",
            (true, None) => "COMPLETED",
        };
        let is_quality = step_name == "quality_check";
        let quality_passed = is_quality.then_some(!(failure.is_some() && finished));
        let quality_metrics = if is_quality {
            format!(
                r#"{{"null_rate":{:.4},"duplicates":{}}}"#,
                rng.unit() * 0.05,
                rng.below(20)
            )
        } else {
            "{}".to_owned()
        };
        let input_params = if order == 1 {
            format!(
                r#"{{"source":"https://data.{domain}.example.com/{dataset}/{as_of}.csv","tier":"{tier}"}}"#
            )
        } else {
            "{}".to_owned()
        };
        let output_data = if order == STEPS_PER_RUN && status == "COMPLETED" {
            format!(r#"{{"rows_written":{}}}"#, records - dropped)
        } else {
            "{}".to_owned()
        };
        let records_processed = (!is_quality && finished).then_some(if order < 3 {
            records
        } else {
            records - dropped
        });
        let step_completed = finished.then(|| stamp(step_end));
        ins.step.execute(params![
            step_id,
            id,
            step_name,
            step_type,
            order,
            status,
            step_started,
            step_completed,
            duration_ms(step_start, finished.then_some(step_end)),
            input_params,
            output_data,
            failure.filter(|_| finished).map(|f| f.1),
            failure.filter(|_| finished).map(|f| f.0),
            records_processed.map(|n| n as i64),
            quality_passed,
            quality_metrics,
        ])?;
        match step_completed {
            Some(at) => ins.status_event(&id, Some(&step_id), &at, "RUNNING", status)?,
            None => {
                running = true;
                break;
            }
        }
    }

    let completed_us = cursor + 100 + rng.below(2_000) as i64;
    running |= completed_us > set.now_us;
    let cancel_reason = match outcome {
        Outcome::Cancelled(_) if !running => {
            Some(CANCEL_REASONS[rng.below(CANCEL_REASONS.len() as u64) as usize])
        }
        _ => None,
    };
    if let Some(reason) = cancel_reason {
        // `workflow_history::cancel` at run level: a WARN event, kept in the log.
        let fields = format!(r#"{{"cancel_reason":"{reason}"}}"#);
        ins.log_event(
            &id,
            None,
            completed_us - 20,
            ("WARN", &target),
            Some("run cancelled"),
            &fields,
        )?;
    }
    let status = if running {
        "RUNNING"
    } else if run_failure.is_some() {
        "FAILED"
    } else if cancel_reason.is_some() {
        "CANCELLED"
    } else {
        "COMPLETED"
    };
    let completed = (!running).then(|| stamp(completed_us));
    let finished_ok = status == "COMPLETED";
    let params_json = format!(r#"{{"tier":"{tier}","as_of":"{as_of}"}}"#);
    let outputs = if finished_ok {
        format!(r#"{{"output_path":"s3://lake/{domain}/{dataset}/{as_of}/part-{i}.parquet"}}"#)
    } else {
        "{}".to_owned()
    };
    let metrics = if running || (run_failure.is_some() && last_step == 1) {
        "{}".to_owned()
    } else {
        format!(
            r#"{{"total_records":{records},"dropped_records":{dropped},"bytes_downloaded":{}}}"#,
            records * (90 + rng.below(40))
        )
    };
    // Hourly jobs partition by hour, the others by day.
    let partition_key = if pipeline_ix == 0 {
        stamp(started_us)[..13].to_owned()
    } else {
        as_of.clone()
    };
    let triggered_by = match rng.below(100) {
        0..90 => "schedule",
        90..97 => "manual",
        _ => "backfill",
    };
    ins.run.execute(params![
        id,
        name,
        domain,
        partition_key,
        status,
        started,
        completed,
        duration_ms(started_us, (!running).then_some(completed_us)),
        params_json,
        outputs,
        run_failure.as_ref().map(|f| f.0.as_str()),
        run_failure.as_ref().map(|f| f.1),
        metrics,
        triggered_by,
        stamp(created_us),
        cancel_reason,
        // Open runs belong to no writer, so opening a store leaves them open.
        if running {
            None
        } else {
            set.writer_id.as_deref()
        },
    ])?;
    if let Some(completed) = &completed {
        ins.status_event(&id, None, completed, "RUNNING", status)?;
    }
    Ok(())
}

/// The path a file is built at before it is renamed into place.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

/// Writes `runs` runs into a new database at `path`, ending now, and
/// returns how many rows it wrote. Refuses an existing file; builds at
/// `PATH.partial` and renames it at the end, so an interrupted run never
/// leaves a half-written history at `path`.
pub fn generate(path: &Path, runs: u64) -> Result<u64, Box<dyn std::error::Error>> {
    if path.exists() {
        return Err(format!("{} exists; remove it first", path.display()).into());
    }
    let partial = partial_path(path);
    remove_database(&partial);

    // The schema, exactly as a writer creates it; its writer registers and
    // stops, and is the one the finished runs are recorded by.
    let (layer, guard) = workflow_history::HistoryLayer::builder()
        .sqlite(&partial)
        .build()?;
    drop(layer);
    guard.shutdown()?;

    let mut conn = Connection::open(&partial)?;
    let writer_id: Option<String> = conn.query_row(
        "SELECT writer_id FROM history_writers ORDER BY started_at LIMIT 1",
        [],
        |row| row.get(0),
    )?;
    // Nothing here needs to survive a crash (the file is renamed into place
    // only when complete), so no journal and no syncs while loading.
    conn.query_row("PRAGMA journal_mode = OFF", [], |_| Ok(()))?;
    conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -131072;")?;

    let now_us = Utc::now().timestamp_micros();
    let first_us = now_us - HISTORY_DAYS * MICROS_PER_DAY;
    // Too small a history has no room for the recent runs.
    let recent = if runs >= 10 * RECENT_RUNS {
        RECENT_RUNS
    } else {
        0
    };
    let recent_window_us = (RECENT_RUNS as i64 + 1) * RECENT_EVERY_US;
    let older = (runs - recent).max(1) as i64;
    let set = Setting {
        names: workflow_names(),
        writer_id,
        now_us,
        first_us,
        slot_us: ((HISTORY_DAYS * MICROS_PER_DAY - recent_window_us) / older).max(2),
        recent_from: runs - recent,
    };
    let mut rng = Rng::new(SEED);
    let started = Instant::now();
    write_runs(&mut conn, &mut rng, &set, 0..set.recent_from, started)?;
    // Leave it as a writer would: in WAL mode, with the finished runs the
    // inserts noted for the statistics rollup folded in (the library does
    // that as it opens the file for writing). The runs still going are
    // written after, so that opening it does not close them as abandoned.
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    conn.close().map_err(|(_, e)| e)?;
    let folding = Instant::now();
    drop(workflow_history::HistoryStore::open_sqlite(&partial)?);
    eprintln!(
        "generate_history: statistics rollup in {:.1} s",
        folding.elapsed().as_secs_f64()
    );
    let mut conn = Connection::open(&partial)?;
    write_runs(&mut conn, &mut rng, &set, set.recent_from..runs, started)?;
    let pending: i64 =
        conn.query_row("SELECT COUNT(*) FROM workflow_rollup_pending", [], |row| {
            row.get(0)
        })?;
    if pending != 0 {
        return Err(format!("{pending} finished runs were left out of the rollup").into());
    }
    let rows: i64 = conn.query_row(
        "SELECT (SELECT COUNT(*) FROM workflow_runs) + (SELECT COUNT(*) FROM workflow_step_runs) \
         + (SELECT COUNT(*) FROM workflow_events)",
        [],
        |row| row.get(0),
    )?;
    conn.close().map_err(|(_, e)| e)?;
    std::fs::rename(&partial, path)?;
    remove_database(&partial);
    Ok(rows as u64)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let usage = "usage: generate_history PATH [RUNS]";
    let path = PathBuf::from(args.next().ok_or(usage)?);
    let runs = match args.next() {
        Some(n) => n
            .to_str()
            .and_then(|n| n.replace('_', "").parse().ok())
            .ok_or(usage)?,
        None => DEFAULT_RUNS,
    };
    let started = Instant::now();
    let rows = generate(&path, runs)?;
    println!(
        "{runs} runs ({rows} rows) written to {} in {:.1} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
