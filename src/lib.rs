//! Persistent, queryable run history for data pipelines, recorded by a
//! [`tracing`] layer.
//!
//! Call [`init`] (or add [`HistoryLayer`] to a subscriber of your own) and
//! annotate the functions you have with [`workflow`](macro@workflow) and
//! [`step`](macro@step) (or plain `#[tracing::instrument]`): spans named
//! `workflow` become runs, spans named `step` become their steps, span
//! fields become params, metrics and outputs, and errors become failures. A
//! background thread batches it all into SQLite (or PostgreSQL);
//! [`HistoryStore`] reads it back.
//!
//! ```no_run
//! use workflow_history::{step, workflow};
//!
//! #[workflow(name = "ingest", fields(metric.rows = tracing::field::Empty))]
//! fn ingest(tier: &str) -> Result<(), std::io::Error> {
//!     let rows = fetch()?;
//!     tracing::Span::current().record("metric.rows", rows);
//!     Ok(())
//! }
//!
//! #[step]
//! fn fetch() -> Result<u64, std::io::Error> {
//!     workflow_history::records_processed(1250);
//!     Ok(1250)
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let history = workflow_history::init()?; // ./history.db, and a console log
//!     ingest("T1")?;
//!     history.shutdown()?;
//!
//!     let store = workflow_history::HistoryStore::open_default()?;
//!     for run in store.list_runs(&Default::default())? {
//!         println!("{} {} {}", run.run_id, run.workflow_name, run.status);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! The conventions are tabulated in the README; the three main types are:
//! - [`HistoryLayer`], made by [`HistoryLayer::builder`]: captures and sends.
//! - [`HistoryGuard`]: owns the writer thread; flushes, reports [`Stats`],
//!   and commits everything queued when dropped.
//! - [`HistoryStore`]: lists, counts and summarizes runs; applies retention.

#![deny(missing_docs)]

#[cfg(feature = "server")]
pub mod api;
mod backend;
mod capture;
mod error;
mod message;
mod model;
mod setup;
mod store;
#[cfg(feature = "server")]
pub mod surface;
mod writer;

#[doc(hidden)]
pub use capture::private as __private;

pub use backend::DatabaseTarget;
pub use backend::migrations::SCHEMA_VERSION;
pub use capture::helpers::{
    cancel, fail, fail_with_category, quality_passed, records_processed, skip,
};
pub use capture::{HistoryLayer, current_run_id, current_step_id};
pub use error::Error;
pub use model::{
    EventFilter, EventKind, JsonMap, RunCursor, RunEvent, RunFilter, RunIdMatch, RunStatistics,
    StepRun, StepStatus, WorkflowCount, WorkflowRun, WorkflowStatistics, WorkflowStatus,
};
pub use setup::builder::{Backpressure, DATABASE_URL_VAR, HistoryLayerBuilder};
pub use setup::guard::HistoryGuard;
#[cfg(feature = "init")]
pub use setup::init::{init, init_with};
pub use setup::stats::Stats;
pub use store::HistoryStore;

/// Records each call of the function as a **run**: `#[tracing::instrument]`
/// with a span named `workflow` and the conventions' fields.
///
/// ```no_run
/// use workflow_history::{step, workflow};
///
/// #[workflow(
///     name = "finra.otc_transparency.ingest_week",
///     domain = "finra",
///     partition_key = format!("{week_ending}|{tier}"),
///     triggered_by = "schedule",
/// )]
/// fn ingest_week(tier: &str, week_ending: &str) -> Result<(), std::io::Error> {
///     fetch_data(tier)?;
///     Ok(())
/// }
///
/// #[step(step_type = "lambda")] // the step is named "fetch_data"
/// fn fetch_data(tier: &str) -> Result<Vec<u8>, std::io::Error> {
///     Ok(Vec::new())
/// }
///
/// #[workflow] // the workflow is named "nightly"
/// async fn nightly() {}
/// ```
///
/// - **Keys:** `name` (default: the function's name), `domain`,
///   `partition_key`, `triggered_by`, `run_id`; and, as `#[step]` has them,
///   `skip(arg, ...)`, `skip_all`, `fields(...)` (handed to `instrument` as
///   written, so `metric.rows = tracing::field::Empty` works), `level`,
///   `ret`. Values are Rust expressions evaluated with the arguments in
///   scope; `%expr` and `?expr` record `Display` and `Debug` forms, as in
///   `tracing`.
/// - **Arguments** become the run's `params`, as with `#[instrument]`;
///   `self` and `impl Trait` arguments are skipped unless named in `fields`.
///   Every other argument must be `Debug` or be skipped.
/// - **A function returning `Result`** fails its run on `Err`, with the
///   error's message and its chain of sources, through an ERROR event (no
///   `err` needed). An `Ok` value is recorded only with `ret` (as a log
///   line).
/// - Sync and async functions, methods and generic functions all work. The
///   crate using it depends on `tracing`, as every user of a layer does.
///
/// What it expands to, for the first function above:
///
/// ```text
/// #[tracing::instrument(name = "workflow", fields(
///     workflow = "finra.otc_transparency.ingest_week", domain = "finra",
///     partition_key = format!("{week_ending}|{tier}"), triggered_by = "schedule"))]
/// ```
#[cfg(feature = "macros")]
pub use workflow_history_macros::workflow;

/// Records each call of the function as a **step** of the enclosing run:
/// `#[tracing::instrument]` with a span named `step`.
///
/// ```no_run
/// use workflow_history::step;
///
/// #[step(name = "quality_check", skip(rows))]
/// fn check(rows: &[u64]) -> Result<(), String> {
///     if rows.is_empty() {
///         return Err("no rows".into()); // fails the step with this message
///     }
///     Ok(())
/// }
///
/// struct Loader;
/// impl Loader {
///     #[step(step_type = "sql")] // `&self` is not recorded
///     async fn load(&self, table: &str) -> std::io::Result<u64> {
///         Ok(0)
///     }
/// }
/// ```
///
/// Keys: `name` (default: the function's name), `step_type`, `skip(arg,
/// ...)`, `skip_all`, `fields(...)`, `level`, `ret`, as for
/// [`workflow`](macro@workflow). A step outside any run is not recorded.
#[cfg(feature = "macros")]
pub use workflow_history_macros::step;
