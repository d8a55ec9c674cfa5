//! The FINRA ingest of `examples/finra_ingest.rs` in the form the
//! `#[workflow]` and `#[step]` attributes expand to: plain
//! `#[tracing::instrument]` with the conventions spelled out. Same bodies,
//! so the two forms must record the same history (`tests/finra.rs`).

use tracing::{Span, field, instrument};

use super::finra_ingest::{QualityError, Trade, WORKFLOW};

/// The run: its arguments become params, `metric.total_records` is filled in later.
#[instrument(
    name = "workflow",
    skip(corrupt),
    fields(
        workflow = WORKFLOW,
        domain = "finra",
        partition_key = %format!("{week_ending}|{tier}"),
        triggered_by = "schedule",
        metric.total_records = field::Empty,
    ),
    err
)]
pub fn ingest_week(tier: &str, week_ending: &str, corrupt: bool) -> Result<(), QualityError> {
    let raw = fetch_data(tier, week_ending, corrupt);
    let trades = transform(raw);
    Span::current().record("metric.total_records", trades.len() as u64);
    quality_check(&trades)?;
    load_data(&trades);
    Ok(())
}

#[instrument(
    name = "step",
    fields(step = "fetch_data", step_type = "lambda"),
    skip(corrupt)
)]
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

#[instrument(
    name = "step",
    fields(step = "transform", step_type = "lambda"),
    skip_all
)]
fn transform(raw: Vec<Trade>) -> Vec<Trade> {
    let trades: Vec<Trade> = raw.into_iter().filter(|t| !t.symbol.is_empty()).collect();
    workflow_history::records_processed(trades.len() as u64);
    trades
}

#[instrument(
    name = "step",
    fields(step = "quality_check", step_type = "pipeline"),
    skip_all,
    err
)]
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

#[instrument(
    name = "step",
    fields(step = "load_data", step_type = "lambda"),
    skip_all
)]
fn load_data(trades: &[Trade]) {
    let shares: u64 = trades.iter().filter_map(|t| t.shares).sum();
    tracing::info!(shares, "loaded into the warehouse");
    workflow_history::records_processed(trades.len() as u64);
}
