use workflow_history::workflow;

#[workflow(name = "ingest", domian = "finra")]
fn ingest() {}

fn main() {}
