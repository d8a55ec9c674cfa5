//! Persistent, queryable run history for data pipelines, recorded by a
//! [`tracing`] layer.
//!
//! Add [`HistoryLayer`] to a subscriber and annotate the functions you have:
//! spans named `workflow` become runs, spans named `step` become their
//! steps, span fields become params, metrics and outputs, and error events
//! become failures. A background thread batches it all into SQLite;
//! [`HistoryStore`] reads it back.
//!
//! ```no_run
//! use tracing::instrument;
//! use tracing_subscriber::prelude::*;
//!
//! #[instrument(name = "workflow", fields(workflow = "ingest", metric.rows = tracing::field::Empty))]
//! fn ingest(tier: &str) -> Result<(), std::io::Error> {
//!     let rows = fetch()?;
//!     tracing::Span::current().record("metric.rows", rows);
//!     Ok(())
//! }
//!
//! #[instrument(name = "step", fields(step = "fetch"), err)]
//! fn fetch() -> Result<u64, std::io::Error> {
//!     workflow_history::records_processed(1250);
//!     Ok(1250)
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let (layer, guard) = workflow_history::HistoryLayer::builder()
//!         .sqlite("history.db")
//!         .build()?;
//!     tracing_subscriber::registry().with(layer).init();
//!     ingest("T1")?;
//!     guard.shutdown()?;
//!
//!     let store = workflow_history::HistoryStore::open_sqlite("history.db")?;
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

pub use backend::DatabaseTarget;
pub use backend::migrations::SCHEMA_VERSION;
pub use capture::HistoryLayer;
pub use capture::helpers::{
    cancel, fail, fail_with_category, quality_passed, records_processed, skip,
};
pub use error::Error;
pub use model::{
    EventFilter, EventKind, JsonMap, RunCursor, RunEvent, RunFilter, RunIdMatch, RunStatistics,
    StepRun, StepStatus, WorkflowCount, WorkflowRun, WorkflowStatistics, WorkflowStatus,
};
pub use setup::builder::{Backpressure, DATABASE_URL_VAR, HistoryLayerBuilder};
pub use setup::guard::HistoryGuard;
pub use setup::stats::Stats;
pub use store::HistoryStore;
