use workflow_history::{step, workflow};

#[workflow(skip = "tier")]
fn ingest(_tier: &str) {}

#[step(level = %"debug")]
fn fetch() {}

#[step(name = "a", name = "b")]
fn twice() {}

fn main() {}
