//! Why a query failed: [`QueryError`] for both surfaces, and [`ApiError`],
//! its HTTP answer (status and JSON body).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::body::ErrorBody;
use super::params::{ParamError, shorten};

/// Why a lookup could not answer. The command line prints it as one line;
/// the HTTP API turns it into a status and an [`ErrorBody`].
///
/// ```
/// use workflow_history::api::QueryError;
/// let err = QueryError::RunNotFound("0193abcd".into());
/// assert_eq!(err.to_string(), "no run with id \"0193abcd\"");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// A parameter's value could not be used (HTTP 400).
    #[error(transparent)]
    BadParam(#[from] ParamError),
    /// No run has this id or starts with it (HTTP 404).
    #[error("no run with id {:?}", shorten(.0))]
    RunNotFound(String),
    /// Several runs start with this id (HTTP 400).
    #[error(
        "run id {:?} is ambiguous: it starts more than one run ({}); give more characters",
        shorten(.prefix),
        .candidates.join(", ")
    )]
    AmbiguousRunId {
        /// The id as given.
        prefix: String,
        /// A few of the runs it starts.
        candidates: Vec<String>,
    },
    /// The database failed (HTTP 500).
    #[error(transparent)]
    Store(#[from] crate::Error),
}

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

    /// 500 `internal`: never for bad input, only for a failing server.
    pub fn internal(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
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
            QueryError::AmbiguousRunId { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "ambiguous_run_id", detail)
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
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750: tell the client which scheme to use.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
