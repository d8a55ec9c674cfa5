//! The HTTP API (feature `server`): an axum [`Router`] over a
//! [`HistoryStore`], to mount in your own app or to run with
//! `workflow-history serve`.
//!
//! | route | answers |
//! |---|---|
//! | `GET /history/runs` | [`body::RunPage`]: filters `workflow_name`, `domain`, `partition_key`, `status`, `since`, `until`; `limit` (1-200, default 50), `offset` |
//! | `GET /history/runs/{run_id}` | [`body::RunDetail`]: the run and its steps |
//! | `GET /history/runs/{run_id}/events` | [`body::EventList`]: filters `step`, `level` |
//! | `GET /history/statistics` | [`body::StatisticsReport`]: the run filters, `by=workflow` |
//! | `DELETE /history/runs/old?days=N` | [`body::PruneReport`]; needs the admin token |
//! | `GET /healthz` | [`body::Health`] |
//! | `GET /openapi.json` | the OpenAPI document, generated from the handlers |
//!
//! Errors are `{"error": code, "detail": sentence}` ([`body::ErrorBody`]):
//! 400 for a bad parameter, 404 for an unknown run, 401/403 for the admin
//! token. A run id may be shortened to any start, or the last 8 or more
//! characters of a generated id, that designates one run (README, "Short ids").
//!
//! Queries run on tokio's blocking pool; mount the router in a
//! multi-threaded runtime.
//!
//! ```no_run
//! # async fn docs() -> Result<(), Box<dyn std::error::Error>> {
//! use workflow_history::{api, HistoryStore};
//! let store = HistoryStore::open_sqlite_read_only("history.db")?;
//! let app = axum::Router::new().merge(api::router(store));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod auth;
mod error;
mod extract;
mod handlers;
mod openapi;

use std::sync::Arc;

use axum::Router;

pub use crate::surface::{QueryError, body, params};
pub use error::ApiError;

use crate::HistoryStore;

/// The router over `store`, with retention over HTTP disabled (the delete
/// route answers 403). Use [`Api`] to enable it.
///
/// ```no_run
/// # fn docs() -> Result<(), workflow_history::Error> {
/// let store = workflow_history::HistoryStore::open_sqlite_read_only("history.db")?;
/// let app: axum::Router = workflow_history::api::router(store);
/// # Ok(()) }
/// ```
pub fn router(store: impl Into<Arc<HistoryStore>>) -> Router {
    Api::new(store).router()
}

/// Builds the router, optionally with the admin token that enables
/// `DELETE /history/runs/old`.
///
/// ```no_run
/// use workflow_history::{api::Api, HistoryStore};
/// # fn docs() -> Result<(), workflow_history::Error> {
/// let app = Api::new(HistoryStore::open_sqlite_read_only("history.db")?)
///     .admin("a long random token", HistoryStore::open_sqlite("history.db")?)
///     .router();
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Api {
    store: Arc<HistoryStore>,
    admin: Option<Arc<Admin>>,
}

/// The delete route's token and the read-write store it deletes through.
#[derive(Debug)]
pub(crate) struct Admin {
    pub(crate) token: String,
    pub(crate) store: Arc<HistoryStore>,
}

impl Api {
    /// Reads from `store`; open it with
    /// [`HistoryStore::open_sqlite_read_only`] so the API cannot write.
    pub fn new(store: impl Into<Arc<HistoryStore>>) -> Self {
        Api {
            store: store.into(),
            admin: None,
        }
    }

    /// Enables `DELETE /history/runs/old` for requests carrying
    /// `Authorization: Bearer <token>`; deletes through `writable`. An empty
    /// token leaves the route disabled.
    pub fn admin(
        mut self,
        token: impl Into<String>,
        writable: impl Into<Arc<HistoryStore>>,
    ) -> Self {
        let token = token.into();
        self.admin = (!token.is_empty()).then(|| {
            Arc::new(Admin {
                token,
                store: writable.into(),
            })
        });
        self
    }

    /// The router, ready to serve or to merge into another.
    pub fn router(self) -> Router {
        openapi::router(self.store, self.admin)
    }

    /// The OpenAPI document of the routes, as `GET /openapi.json` serves it.
    ///
    /// ```
    /// let doc = workflow_history::api::Api::openapi();
    /// assert!(doc.paths.paths.contains_key("/history/runs"));
    /// ```
    pub fn openapi() -> utoipa::openapi::OpenApi {
        openapi::document()
    }
}
