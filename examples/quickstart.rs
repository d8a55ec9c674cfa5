//! The smallest program that records a run and prints it back.
//!
//! Run with `cargo run --example quickstart`; history goes to `history.db`
//! (or to the database `WORKFLOW_HISTORY_DATABASE_URL` names).

use workflow_history::{HistoryStore, RunFilter, step, workflow};

#[workflow(name = "quickstart")]
fn hello_pipeline(greeting: &str) -> Result<(), std::io::Error> {
    say(greeting)?;
    workflow_history::metric!(greetings = 1u64);
    let run_id = workflow_history::current_run_id().unwrap_or_default();
    tracing::info!(%run_id, "see it with: workflow-history show {run_id}");
    Ok(())
}

#[step]
fn say(greeting: &str) -> Result<(), std::io::Error> {
    tracing::info!("{greeting}, history");
    workflow_history::records_processed(1);
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let history = workflow_history::init()?;

    hello_pipeline("hello")?;
    history.flush()?;

    let store = HistoryStore::open_default()?;
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
