//! The route table and its OpenAPI description, built together from the
//! handlers' annotations so the document cannot drift from the routes.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use super::handlers::{self, AppState};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "workflow-history",
        description = "Recorded workflow runs, steps and their logs: list, inspect, summarize, prune."
    ),
    modifiers(&AdminToken),
    tags(
        (name = "history", description = "Reading recorded runs"),
        (name = "admin", description = "Retention; needs the admin token"),
        (name = "meta", description = "Health and this description"),
    )
)]
struct ApiDoc;

/// Declares the bearer scheme that the delete route names.
struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every route, and the document that describes exactly them.
fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(handlers::list_runs))
        .routes(routes!(handlers::get_run))
        .routes(routes!(handlers::get_events))
        .routes(routes!(handlers::statistics))
        .routes(routes!(handlers::delete_old_runs))
        .routes(routes!(handlers::healthz))
        .routes(routes!(handlers::openapi_json))
        .split_for_parts()
}

/// The OpenAPI document of the API.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    routes().1
}

/// The router with its state; unknown paths and methods answer in JSON too.
pub(crate) fn router(store: Arc<crate::HistoryStore>, admin: Option<Arc<super::Admin>>) -> Router {
    let (routes, openapi) = routes();
    let state = AppState {
        store,
        admin,
        openapi: Arc::new(openapi),
    };
    routes
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such route; GET /openapi.json lists them",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method; GET /openapi.json lists them",
            )
        })
        .with_state(state)
}
