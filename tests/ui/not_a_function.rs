use workflow_history::workflow;

#[workflow]
struct Ingest;

fn main() {}
