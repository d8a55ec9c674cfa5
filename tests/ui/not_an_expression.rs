use workflow_history::workflow;

#[workflow(name = fn)]
fn ingest() {}

fn main() {}
