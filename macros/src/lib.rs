//! `#[workflow]` and `#[step]`: `#[tracing::instrument]` with
//! workflow-history's conventions, so a function becomes a recorded run or
//! step in one short line. Use them through `workflow_history::{workflow,
//! step}`; the expansion is plain `tracing`, which every other layer sees.

mod args;
mod expand;

use proc_macro::TokenStream;

/// Records each call of the function as a run. See `workflow_history::workflow`.
#[proc_macro_attribute]
pub fn workflow(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(expand::Kind::Workflow, attr.into(), item.into()).into()
}

/// Records each call of the function as a step of the enclosing run. See
/// `workflow_history::step`.
#[proc_macro_attribute]
pub fn step(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(expand::Kind::Step, attr.into(), item.into()).into()
}
