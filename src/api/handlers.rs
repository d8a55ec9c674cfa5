//! The route handlers. Each parses its parameters with [`crate::surface::params`],
//! does its database work on the blocking pool (SQLite calls block), and
//! answers with a [`crate::surface::body`] type or an [`ApiError`].

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::ApiError;
use super::auth::check_admin;
use super::extract::{Path, Query};
use crate::surface::QueryError;
use crate::surface::body::{
    ErrorBody, EventList, Health, PruneReport, RunDetail, RunPage, StatisticsReport,
};
use crate::surface::params::{EventQuery, Limits, RetentionQuery, RunQuery, StatisticsQuery};
use crate::{HistoryStore, RunFilter, SCHEMA_VERSION};

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    /// Reads; the server opens it read-only.
    pub(crate) store: Arc<HistoryStore>,
    /// The token and read-write store of the delete route, when enabled.
    pub(crate) admin: Option<Arc<super::Admin>>,
    /// The API's own description, served at `/openapi.json`.
    pub(crate) openapi: Arc<utoipa::openapi::OpenApi>,
}

/// Runs `work` on the blocking pool, so a slow query never stalls the
/// runtime's worker threads.
async fn blocking<T: Send + 'static>(
    store: Arc<HistoryStore>,
    work: impl FnOnce(&HistoryStore) -> Result<T, QueryError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|e| ApiError::internal(format!("the query task failed: {e}")))?
        .map_err(ApiError::from)
}

/// Lists runs, newest started first, one page at a time.
#[utoipa::path(
    get,
    path = "/history/runs",
    tag = "history",
    params(RunQuery),
    responses(
        (status = 200, description = "One page of runs and the total count", body = RunPage),
        (status = 503, description = "Every connection to the database stayed busy: try again after `Retry-After` seconds", body = ErrorBody),
        (status = 400, description = "A bad parameter", body = ErrorBody),
    )
)]
pub(crate) async fn list_runs(
    State(state): State<AppState>,
    Query(query): Query<RunQuery>,
) -> Result<Json<RunPage>, ApiError> {
    let filter = query.to_filter(chrono::Utc::now(), Limits::HTTP)?;
    blocking(state.store, move |store| RunPage::load(store, &filter))
        .await
        .map(Json)
}

/// One run with its steps.
#[utoipa::path(
    get,
    path = "/history/runs/{run_id}",
    tag = "history",
    params(("run_id" = String, Path, description = "A run id; its start or (for a generated id) its last 8 or more characters, when that designates one run; `<id>~<n>` for attempt n. A retried run's first id designates its latest attempt")),
    responses(
        (status = 200, description = "The run, its steps, and every attempt of a retried run", body = RunDetail),
        (status = 503, description = "Every connection to the database stayed busy: try again after `Retry-After` seconds", body = ErrorBody),
        (status = 300, description = "A short id that designates several runs: the detail lists some", body = ErrorBody),
        (status = 404, description = "No such run", body = ErrorBody),
    )
)]
pub(crate) async fn get_run(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
) -> Result<Json<RunDetail>, ApiError> {
    blocking(state.store, move |store| RunDetail::load(store, &run_id))
        .await
        .map(Json)
}

/// A run's captured log and status changes, in order.
#[utoipa::path(
    get,
    path = "/history/runs/{run_id}/events",
    tag = "history",
    params(
        ("run_id" = String, Path, description = "A run id; its start or (for a generated id) its last 8 or more characters, when that designates one run; `<id>~<n>` for attempt n. A retried run's first id designates its latest attempt"),
        EventQuery,
    ),
    responses(
        (status = 200, description = "The run's events", body = EventList),
        (status = 503, description = "Every connection to the database stayed busy: try again after `Retry-After` seconds", body = ErrorBody),
        (status = 300, description = "A short id that designates several runs: the detail lists some", body = ErrorBody),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 404, description = "No such run", body = ErrorBody),
    )
)]
pub(crate) async fn get_events(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
    Query(query): Query<EventQuery>,
) -> Result<Json<EventList>, ApiError> {
    let filter = query.to_filter()?;
    blocking(state.store, move |store| {
        EventList::load(store, &run_id, &filter)
    })
    .await
    .map(Json)
}

/// Counts, success rate and durations of the selected runs.
#[utoipa::path(
    get,
    path = "/history/statistics",
    tag = "history",
    params(StatisticsQuery),
    responses(
        (status = 200, description = "Statistics of the selected runs", body = StatisticsReport),
        (status = 503, description = "Every connection to the database stayed busy: try again after `Retry-After` seconds", body = ErrorBody),
        (status = 400, description = "A bad parameter", body = ErrorBody),
    )
)]
pub(crate) async fn statistics(
    State(state): State<AppState>,
    Query(query): Query<StatisticsQuery>,
) -> Result<Json<StatisticsReport>, ApiError> {
    let (filter, by_workflow) = query.to_filter(chrono::Utc::now())?;
    blocking(state.store, move |store| {
        StatisticsReport::load(store, &filter, by_workflow)
    })
    .await
    .map(Json)
}

/// Deletes runs started more than `days` days ago, with their steps and
/// events. Needs the admin token.
#[utoipa::path(
    delete,
    path = "/history/runs/old",
    tag = "admin",
    params(RetentionQuery),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "What was deleted", body = PruneReport),
        (status = 503, description = "Every connection to the database stayed busy: try again after `Retry-After` seconds", body = ErrorBody),
        (status = 400, description = "A missing or bad `days`", body = ErrorBody),
        (status = 401, description = "No bearer token", body = ErrorBody),
        (status = 403, description = "A wrong token, or retention over HTTP is disabled", body = ErrorBody),
    )
)]
pub(crate) async fn delete_old_runs(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<RetentionQuery>, ApiError>,
) -> Result<Json<PruneReport>, ApiError> {
    // The token first: an unauthenticated caller learns nothing else.
    check_admin(state.admin.as_ref().map(|a| a.token.as_str()), &headers)?;
    let Some(admin) = state.admin else {
        return Err(ApiError::internal("retention is disabled"));
    };
    let Query(query) = query?;
    let age = query.age()?;
    blocking(admin.store.clone(), move |store| {
        PruneReport::run(store, age, chrono::Utc::now(), false)
    })
    .await
    .map(Json)
}

/// Whether the server is up and its database answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    responses(
        (status = 200, description = "Up, and the database answers", body = Health),
        (status = 503, description = "The database does not answer", body = ErrorBody),
    )
)]
pub(crate) async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let probe = RunFilter {
        limit: 1,
        ..RunFilter::default()
    };
    blocking(state.store, move |store| Ok(store.list_runs(&probe)?))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.body.detail,
            )
        })?;
    Ok(Json(Health {
        status: "ok".to_owned(),
        schema_version: SCHEMA_VERSION,
    }))
}

/// This API's OpenAPI 3.1 description, generated from the handlers.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI document", body = Object))
)]
pub(crate) async fn openapi_json(State(state): State<AppState>) -> Json<utoipa::openapi::OpenApi> {
    Json(utoipa::openapi::OpenApi::clone(&state.openapi))
}
