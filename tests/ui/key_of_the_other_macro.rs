use workflow_history::step;

#[step(domain = "finra")]
fn fetch() {}

fn main() {}
