//! What the command line and the HTTP API share (feature `server`): query
//! parameters as users type them ([`params`]), the bodies both answer with
//! ([`body`], also what the command line prints with `--json`), and why a
//! lookup failed ([`QueryError`]). Each surface only adds its own shape:
//! flags and text for the command line, routes and statuses for HTTP.
//!
//! ```no_run
//! use workflow_history::surface::{body::RunPage, params::{Limits, RunQuery}};
//! # fn docs() -> Result<(), Box<dyn std::error::Error>> {
//! let store = workflow_history::HistoryStore::open_sqlite_read_only("history.db")?;
//! let query = RunQuery { status: Some("failed".into()), ..RunQuery::default() };
//! let page = RunPage::load(&store, &query.to_filter(chrono::Utc::now(), Limits::HTTP)?)?;
//! println!("{} of {} failed runs", page.runs.len(), page.total);
//! # Ok(()) }
//! ```

pub mod body;
mod error;
pub mod params;

pub use error::QueryError;
