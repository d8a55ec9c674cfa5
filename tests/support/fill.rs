//! A history database filled by the real layer with a small, varied
//! history: clean, failed, cancelled and skipped work in three workflows,
//! one with a non-ASCII name, and two runs aged into the past.
//!
//! The layer stamps everything with the current time, so the fixture moves
//! a few runs afterwards with plain SQL: two are aged by weeks (for time
//! filters and retention) and one is stretched to 65 s (for human
//! durations and percentiles). Everything else is as the layer wrote it.
#![allow(dead_code)] // each test binary uses a different part

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use tracing::field;
use workflow_history::RunFilter;

use crate::support::TestDb;

pub const FINRA: &str = "finra.ingest";
pub const BILLING: &str = "billing.rollup";
pub const UNICODE: &str = "überwachung.täglich ✓";

/// The runs of the fixture, by what they are.
pub struct Fixture {
    pub db: TestDb,
    /// finra, COMPLETED, four steps, stretched to 65 s.
    pub finra_ok: String,
    /// finra, FAILED at its third step, `quality_check`.
    pub finra_failed: String,
    /// billing, COMPLETED, its `notify` step SKIPPED.
    pub billing_ok: String,
    /// billing, CANCELLED.
    pub billing_cancelled: String,
    /// The non-ASCII workflow, COMPLETED.
    pub unicode: String,
    /// finra, COMPLETED, started 100 days ago.
    pub finra_old: String,
    /// billing, COMPLETED, started 40 days ago.
    pub billing_old: String,
}

pub const QUALITY_ERROR: &str = "quality check failed: null rate 10.0% above 5%";

fn finra_week(partition: &str, corrupt: bool) {
    let run = tracing::info_span!(
        "workflow",
        workflow = FINRA,
        domain = "finra",
        partition_key = partition,
        triggered_by = "schedule",
        tier = "T1",
        metric.total_records = field::Empty,
    );
    let _run = run.enter();
    {
        let step = tracing::info_span!("step", step = "fetch_data", step_type = "lambda");
        let _step = step.enter();
        tracing::info!(rows = 1000, "downloaded weekly file");
        workflow_history::records_processed(1000);
    }
    run.record("metric.total_records", 1000);
    {
        let step = tracing::info_span!("step", step = "transform", step_type = "lambda");
        let _step = step.enter();
        tracing::warn!(dropped = 3, "rows without a symbol dropped");
        workflow_history::records_processed(997);
    }
    {
        let step = tracing::info_span!("step", step = "quality_check", step_type = "pipeline");
        let _step = step.enter();
        workflow_history::quality_passed(!corrupt);
        if corrupt {
            tracing::error!(error = QUALITY_ERROR, "quality check failed");
            return;
        }
    }
    let step = tracing::info_span!("step", step = "load_data", step_type = "lambda");
    let _step = step.enter();
    tracing::info!("loaded into the warehouse");
    workflow_history::records_processed(997);
}

fn billing(partition: &str, cancel: bool) {
    let run = tracing::info_span!(
        "workflow",
        workflow = BILLING,
        domain = "billing",
        partition_key = partition,
    );
    let _run = run.enter();
    {
        let step = tracing::info_span!("step", step = "aggregate");
        let _step = step.enter();
        workflow_history::records_processed(42);
    }
    if cancel {
        workflow_history::cancel("operator request");
        return;
    }
    let step = tracing::info_span!("step", step = "notify");
    let _step = step.enter();
    workflow_history::skip("nobody subscribed");
}

fn unicode_run() {
    let run = tracing::info_span!(
        "workflow",
        workflow = UNICODE,
        domain = "ops",
        partition_key = "zürich",
    );
    let _run = run.enter();
    let step = tracing::info_span!("step", step = "prüfen");
    let _step = step.enter();
    tracing::info!("alles gut ✓");
}

impl Fixture {
    pub fn new() -> Self {
        let db = TestDb::new();
        db.record(|| {
            finra_week("2024-10-04|T1", false);
            billing("2024-12", false);
            finra_week("2025-01-10|T1", false);
            finra_week("2025-01-17|T1", true);
            billing("2025-01", false);
            billing("2025-02", true);
            unicode_run();
        });
        let by_partition = |partition: &str| -> String {
            let runs = db
                .store()
                .list_runs(&RunFilter {
                    partition_key: Some(partition.into()),
                    ..RunFilter::default()
                })
                .expect("list runs");
            assert_eq!(runs.len(), 1, "one run for {partition}");
            runs[0].run_id.clone()
        };
        let fixture = Fixture {
            finra_ok: by_partition("2025-01-10|T1"),
            finra_failed: by_partition("2025-01-17|T1"),
            billing_ok: by_partition("2025-01"),
            billing_cancelled: by_partition("2025-02"),
            unicode: by_partition("zürich"),
            finra_old: by_partition("2024-10-04|T1"),
            billing_old: by_partition("2024-12"),
            db,
        };
        let conn = rusqlite::Connection::open(&fixture.db.path).expect("open for aging");
        shift_run(&conn, &fixture.finra_old, Duration::days(100));
        shift_run(&conn, &fixture.billing_old, Duration::days(40));
        stretch_run(&conn, &fixture.finra_ok, Duration::seconds(65));
        fixture
    }

    /// Every run id, newest started first (the order listings use).
    pub fn newest_first(&self) -> Vec<String> {
        self.db.runs().into_iter().map(|r| r.run_id).collect()
    }

    pub fn run_count(&self) -> usize {
        self.db.runs().len()
    }
}

fn stored(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("stored time")
        .with_timezone(&Utc)
}

/// Moves every time of a run, its steps and events `by` into the past.
fn shift_run(conn: &rusqlite::Connection, run_id: &str, by: Duration) {
    for (table, columns) in [
        (
            "workflow_runs",
            &["started_at", "completed_at", "created_at"][..],
        ),
        ("workflow_step_runs", &["started_at", "completed_at"][..]),
        ("workflow_events", &["timestamp"][..]),
    ] {
        for column in columns {
            let mut select = conn
                .prepare(&format!(
                    "SELECT rowid, {column} FROM {table} WHERE run_id = ?1 AND {column} IS NOT NULL"
                ))
                .expect("select times");
            let rows: Vec<(i64, String)> = select
                .query_map([run_id], |row| Ok((row.get(0)?, row.get(1)?)))
                .expect("query times")
                .map(|row| row.expect("row"))
                .collect();
            for (rowid, text) in rows {
                conn.execute(
                    &format!("UPDATE {table} SET {column} = ?1 WHERE rowid = ?2"),
                    rusqlite::params![stored(parse(&text) - by), rowid],
                )
                .expect("update time");
            }
        }
    }
}

/// Makes a run start `by` earlier, so it lasts that much longer.
fn stretch_run(conn: &rusqlite::Connection, run_id: &str, by: Duration) {
    let (started, completed): (String, String) = conn
        .query_row(
            "SELECT started_at, completed_at FROM workflow_runs WHERE run_id = ?1",
            [run_id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("run times");
    let started = parse(&started) - by;
    let duration_ms = (parse(&completed) - started)
        .num_microseconds()
        .expect("small") as f64
        / 1e3;
    conn.execute(
        "UPDATE workflow_runs SET started_at = ?1, duration_ms = ?2 WHERE run_id = ?3",
        rusqlite::params![stored(started), duration_ms, run_id],
    )
    .expect("stretch");
}
