//! The weekly FINRA OTC transparency ingest, recorded as workflow history.
//!
//! Runs the ingest twice: once on a clean week, once on a week whose data
//! fails the quality check. Then reads both runs back with their steps.
//!
//! `cargo run --example finra_ingest` (history goes to `finra_history.db`).
//! `tests/finra.rs` runs this same pipeline and checks what it recorded,
//! and that the `#[instrument]` form the attributes expand to records the
//! same history.

use std::fmt;

use tracing::{Span, field};
use workflow_history::{HistoryLayer, HistoryStore, RunFilter, step, workflow};

pub const WORKFLOW: &str = "finra.otc_transparency.ingest_week";

/// One row of the weekly OTC transparency file.
#[derive(Debug, Clone)]
pub struct Trade {
    pub symbol: String,
    pub shares: Option<u64>,
}

#[derive(Debug)]
pub struct QualityError {
    pub null_rate: f64,
}

impl fmt::Display for QualityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "quality check failed: null rate {:.1}% above 5%",
            self.null_rate * 100.0
        )
    }
}

impl std::error::Error for QualityError {}

/// The run: its arguments become params (apart from `corrupt`), its
/// `Err` fails it, and `metric.total_records` is filled in later.
#[workflow(
    name = WORKFLOW,
    domain = "finra",
    partition_key = %format!("{week_ending}|{tier}"),
    triggered_by = "schedule",
    skip(corrupt),
    fields(metric.total_records = field::Empty),
)]
pub fn ingest_week(tier: &str, week_ending: &str, corrupt: bool) -> Result<(), QualityError> {
    let raw = fetch_data(tier, week_ending, corrupt);
    let trades = transform(raw);
    Span::current().record("metric.total_records", trades.len() as u64);
    quality_check(&trades)?;
    load_data(&trades);
    Ok(())
}

#[step(step_type = "lambda", skip(corrupt))]
fn fetch_data(tier: &str, week_ending: &str, corrupt: bool) -> Vec<Trade> {
    let trades: Vec<Trade> = (0..1_000)
        .map(|i| Trade {
            symbol: format!("SYM{}", i % 97),
            // A corrupt week is missing the share count on one row in ten.
            shares: (!corrupt || i % 10 != 0).then_some(100 + i),
        })
        .collect();
    let url = format!("https://example.invalid/otc/{tier}/{week_ending}.csv");
    tracing::info!(output.url = %url, rows = trades.len(), "downloaded weekly file");
    workflow_history::records_processed(trades.len() as u64);
    trades
}

#[step(step_type = "lambda", skip_all)]
fn transform(raw: Vec<Trade>) -> Vec<Trade> {
    let trades: Vec<Trade> = raw.into_iter().filter(|t| !t.symbol.is_empty()).collect();
    workflow_history::records_processed(trades.len() as u64);
    trades
}

/// Returns `Err` on a bad week: that fails the step, and the run with it.
#[step(step_type = "pipeline", skip_all)]
fn quality_check(trades: &[Trade]) -> Result<(), QualityError> {
    let nulls = trades.iter().filter(|t| t.shares.is_none()).count();
    let null_rate = nulls as f64 / trades.len().max(1) as f64;
    let passed = null_rate <= 0.05;
    workflow_history::quality!(null_rate = null_rate, rows_checked = trades.len());
    workflow_history::quality_passed(passed);
    if passed {
        Ok(())
    } else {
        Err(QualityError { null_rate })
    }
}

#[step(step_type = "lambda", skip_all)]
fn load_data(trades: &[Trade]) {
    let shares: u64 = trades.iter().filter_map(|t| t.shares).sum();
    tracing::info!(shares, "loaded into the warehouse");
    workflow_history::records_processed(trades.len() as u64);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = "finra_history.db";
    let guard = workflow_history::init_with(HistoryLayer::builder().sqlite(path))?;

    let good = ingest_week("T1", "2025-01-10", false);
    let bad = ingest_week("T1", "2025-01-17", true);
    println!("clean week: {good:?}\ncorrupt week: {bad:?}\n");
    guard.flush()?;

    let store = HistoryStore::open_sqlite(path)?;
    let latest_two = RunFilter {
        workflow_name: Some(WORKFLOW.into()),
        limit: 2,
        ..RunFilter::default()
    };
    for run in store.list_runs(&latest_two)?.into_iter().rev() {
        println!(
            "{} {} [{}] {:.3}s params={} metrics={}",
            run.run_id,
            run.partition_key.as_deref().unwrap_or("-"),
            run.status,
            run.duration_seconds().unwrap_or_default(),
            serde_json::Value::Object(run.params.clone()),
            serde_json::Value::Object(run.metrics.clone()),
        );
        if let Some(error) = &run.error {
            println!("  error: {error}");
        }
        for step in store.get_steps(&run.run_id)? {
            println!(
                "  {}. {:<14} {:<9} {:<10} records={:<5} quality={:<5} {}",
                step.step_order,
                step.step_name,
                step.step_type,
                step.status.as_str(),
                step.records_processed.map_or("-".into(), |n| n.to_string()),
                step.quality_passed.map_or("-".into(), |q| q.to_string()),
                step.error.as_deref().unwrap_or(""),
            );
        }
    }
    guard.shutdown()?;
    Ok(())
}
