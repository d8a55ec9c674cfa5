//! Why a lookup could not answer, the same on both surfaces.

use super::params::{ParamError, shorten};

/// Why a lookup could not answer. The command line prints it as one line;
/// the HTTP API turns it into a status and an
/// [`ErrorBody`](super::body::ErrorBody).
///
/// ```
/// use workflow_history::surface::QueryError;
/// let err = QueryError::RunNotFound("0193abcd".into());
/// assert_eq!(err.to_string(), "no run with id \"0193abcd\"");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// A parameter's value could not be used (HTTP 400).
    #[error(transparent)]
    BadParam(#[from] ParamError),
    /// No run has this id, starts or ends with it (HTTP 404).
    #[error("no run with id {:?}", shorten(.0))]
    RunNotFound(String),
    /// Several runs start or end with this id (HTTP 300 Multiple Choices).
    #[error(
        "run id {:?} is ambiguous: it designates more than one run ({}); give more characters",
        shorten(.prefix),
        .candidates.join(", ")
    )]
    AmbiguousRunId {
        /// The id as given.
        prefix: String,
        /// A few of the runs it designates.
        candidates: Vec<String>,
    },
    /// The database failed (HTTP 500).
    #[error(transparent)]
    Store(#[from] crate::Error),
}
