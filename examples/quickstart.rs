//! The smallest program that records a run and prints it back.
//!
//! Run with `cargo run --example quickstart`; history goes to `history.db`.

use tracing::instrument;
use tracing_subscriber::prelude::*;
use workflow_history::{HistoryLayer, HistoryStore, RunFilter};

#[instrument(name = "workflow", fields(workflow = "quickstart"))]
fn hello_pipeline(greeting: &str) {
    say(greeting);
    workflow_history::metric!(greetings = 1u64);
}

#[instrument(name = "step", fields(step = "say"))]
fn say(greeting: &str) {
    tracing::info!("{greeting}, history");
    workflow_history::records_processed(1);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (layer, guard) = HistoryLayer::builder().sqlite("history.db").build()?;
    tracing_subscriber::registry()
        .with(layer)
        .with(tracing_subscriber::fmt::layer())
        .init();

    hello_pipeline("hello");
    guard.flush()?;

    let store = HistoryStore::open_sqlite("history.db")?;
    let latest = RunFilter {
        workflow_name: Some("quickstart".into()),
        limit: 1,
        ..RunFilter::default()
    };
    for run in store.list_runs(&latest)? {
        println!(
            "run {} {} {} in {:.3}s params={} metrics={}",
            run.run_id,
            run.workflow_name,
            run.status,
            run.duration_seconds().unwrap_or_default(),
            serde_json::Value::Object(run.params.clone()),
            serde_json::Value::Object(run.metrics.clone()),
        );
        for step in store.get_steps(&run.run_id)? {
            println!(
                "  step {} {} {} records={:?}",
                step.step_order, step.step_name, step.status, step.records_processed
            );
        }
    }
    Ok(())
}
