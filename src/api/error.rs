//! [`ApiError`]: the HTTP answer (status and JSON body) to a failed request.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::surface::QueryError;
use crate::surface::body::ErrorBody;
use crate::surface::params::ParamError;

/// What a 503 tells the client to wait before asking again.
const RETRY_AFTER_SECONDS: &str = "1";

/// An HTTP error answer: a status and `{"error": ..., "detail": ...}`.
///
/// ```
/// use axum::http::StatusCode;
/// use workflow_history::api::{ApiError, QueryError};
/// let err = ApiError::from(QueryError::RunNotFound("x".into()));
/// assert_eq!(err.status, StatusCode::NOT_FOUND);
/// assert_eq!(err.body.error, "run_not_found");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: ErrorBody,
}

impl ApiError {
    /// An error answer with this status, code and detail.
    pub fn new(status: StatusCode, error: &str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                error: error.to_owned(),
                detail: detail.into(),
            },
        }
    }

    /// 400 `bad_parameter`.
    pub fn bad_parameter(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_parameter", detail)
    }

    /// 500 `internal`: never for bad input, only for a failing server. The
    /// body says nothing of the cause, which may quote the database or its
    /// location; `cause` goes to the server's log (a `tracing` error event,
    /// target `workflow_history::api`) instead.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(target: "workflow_history::api", cause = %cause, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server could not answer this request; its log says why",
        )
    }
}

impl From<QueryError> for ApiError {
    fn from(err: QueryError) -> Self {
        let detail = err.to_string();
        match err {
            QueryError::BadParam(_) => ApiError::bad_parameter(detail),
            QueryError::RunNotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "run_not_found", detail)
            }
            // Several runs answer to this id: RFC 9110's Multiple Choices,
            // the one answer that says the request was fine and the
            // resource is not one.
            QueryError::AmbiguousRunId { .. } => {
                ApiError::new(StatusCode::MULTIPLE_CHOICES, "ambiguous_run_id", detail)
            }
            // Overload, not a fault: the client may come back shortly.
            QueryError::Store(crate::Error::Busy { .. }) => {
                tracing::warn!(target: "workflow_history::api", cause = %detail, "request refused");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "every connection to the history database is busy; try again shortly",
                )
            }
            QueryError::Store(_) => ApiError::internal(detail),
        }
    }
}

impl From<ParamError> for ApiError {
    fn from(err: ParamError) -> Self {
        ApiError::from(QueryError::from(err))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750: tell the client which scheme to use.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
