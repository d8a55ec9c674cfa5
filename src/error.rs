//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong opening, writing or querying history.
///
/// ```
/// use workflow_history::{Error, HistoryStore};
/// match HistoryStore::open_sqlite("/no/such/dir/history.db") {
///     Err(Error::NotFound { path }) => assert!(path.ends_with("history.db")),
///     other => panic!("unexpected: {other:?}"),
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The directory that should hold the database does not exist.
    #[error("cannot create the history database {path}: directory {dir} does not exist")]
    MissingDirectory {
        /// The database path asked for.
        path: PathBuf,
        /// Its missing parent directory.
        dir: PathBuf,
    },
    /// A store was opened on a database file that does not exist.
    #[error("no history database at {path}")]
    NotFound {
        /// The database path asked for.
        path: PathBuf,
    },
    /// The file exists but is not an SQLite database; it was not modified.
    #[error("{path} is not an SQLite database (left untouched)")]
    NotADatabase {
        /// The offending file.
        path: PathBuf,
    },
    /// The database could not be opened.
    #[error("cannot open the history database {path}: {source}")]
    Open {
        /// The database path.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The database file may only be read by this process, and what was
    /// asked needs to write it (recording history, deleting runs).
    #[error("the history database {path} is read-only here: this needs to write it")]
    ReadOnly {
        /// The database path.
        path: PathBuf,
    },
    /// The database has an older schema that needs migrating, and this
    /// process may only read it.
    #[error(
        "the history database {path} has schema version {found}, older than the {supported} this version reads, and is read-only here: open it once with write access (any writer or `workflow-history` run does) to migrate it"
    )]
    SchemaTooOld {
        /// The database path.
        path: PathBuf,
        /// Version found in the database.
        found: i64,
        /// The version this crate reads.
        supported: i64,
    },
    /// A writer could not take the lock that shows other processes it lives.
    #[error("cannot create the writer's lock file beside {path}: {source}")]
    WriterLock {
        /// The database path.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The database was written by a newer version of this crate.
    #[error(
        "the history database has schema version {found}, newer than the {supported} this version of workflow-history knows; upgrade workflow-history"
    )]
    SchemaTooNew {
        /// Version found in the database.
        found: i64,
        /// Newest version this crate can use.
        supported: i64,
    },
    /// A migration failed to apply; the database was left at the previous version.
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        /// The migration's version.
        version: i64,
        /// The migration's file name.
        name: &'static str,
        /// What the database said.
        #[source]
        source: rusqlite::Error,
    },
    /// A query or write failed.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// A stored value could not be decoded.
    #[error("corrupt value in column {column}: {detail}")]
    Corrupt {
        /// The column holding it.
        column: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The PostgreSQL server could not be reached or refused the login.
    #[cfg(feature = "postgres")]
    #[error("cannot connect to the history database {url}: {source}")]
    Connect {
        /// The URL, without its password.
        url: String,
        /// What the client said.
        #[source]
        source: postgres::Error,
    },
    /// The writer's connection to PostgreSQL dropped and is being opened
    /// again in the background; the records are kept and retried.
    #[cfg(feature = "postgres")]
    #[error("reconnecting to the history database {url}")]
    Reconnecting {
        /// The URL, without its password.
        url: String,
    },
    /// A PostgreSQL query, write or connection failed.
    #[cfg(feature = "postgres")]
    #[error("PostgreSQL error: {}", postgres_detail(.0))]
    Postgres(#[from] postgres::Error),
    /// A database URL this build cannot use.
    #[error("unsupported database: {0}")]
    UnsupportedUrl(String),
    /// Text that is not a listing cursor (see [`RunCursor`](crate::RunCursor)).
    #[error("not a listing cursor: {0:?}")]
    InvalidCursor(String),
    /// A status name that is not one of the known statuses.
    #[error("unknown status {0:?}")]
    InvalidStatus(String),
    /// Every connection of a [`HistoryStore`](crate::HistoryStore) stayed
    /// busy (or none could be opened) for the store's longest wait: the
    /// database is overloaded or unreachable; try again shortly.
    #[error("no connection to the history database came free within {waited:?}: {detail}")]
    Busy {
        /// How long the query waited.
        waited: std::time::Duration,
        /// What the pool said (the last connection error, if any).
        detail: String,
    },
    /// The background writer thread could not be started.
    #[error("cannot start the history writer thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// The writer has stopped: the guard was shut down or the thread died.
    #[error("the history writer has stopped")]
    WriterStopped,
    /// The writer could not commit; the records are kept and retried.
    #[error("the history writer could not commit: {0}")]
    WriteFailed(String),
    /// [`init`](crate::init) found a global `tracing` subscriber already
    /// installed; add a [`HistoryLayer`](crate::HistoryLayer) to that
    /// subscriber instead.
    #[error(
        "a global tracing subscriber is already set: call workflow_history::init() once, or add a HistoryLayer to your own subscriber instead"
    )]
    GlobalSubscriberSet,
    /// `RUST_LOG` holds directives [`init`](crate::init) cannot parse.
    #[error("RUST_LOG={value:?} is not a valid log filter: {reason}")]
    InvalidLogFilter {
        /// The variable's value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The writer did not stop within the shutdown timeout (and a fraction
    /// of a second for recording its stop); it was left to finish on its own.
    #[error(
        "the history writer did not stop within {waited:?}; what it had not committed may be lost"
    )]
    ShutdownTimedOut {
        /// How long the guard waited.
        waited: std::time::Duration,
    },
}

/// The server's own words: `postgres::Error` displays only "db error" and
/// keeps the message, and its SQLSTATE, in its source.
#[cfg(feature = "postgres")]
fn postgres_detail(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(error) {
            Some(source) => format!("{error}: {source}"),
            None => error.to_string(),
        },
    }
}

impl Error {
    /// Whether the database refused the data itself (a constraint, a value
    /// it cannot store): retrying the same rows can never succeed, unlike a
    /// lock, a full disk or a dropped connection.
    pub(crate) fn is_data_error(&self) -> bool {
        match self {
            Error::Database(rusqlite::Error::SqliteFailure(failure, _)) => matches!(
                failure.code,
                rusqlite::ErrorCode::ConstraintViolation
                    | rusqlite::ErrorCode::TooBig
                    | rusqlite::ErrorCode::TypeMismatch
            ),
            Error::Database(rusqlite::Error::ToSqlConversionFailure(_)) => true,
            // SQLSTATE classes 22 (data exception) and 23 (integrity constraint).
            #[cfg(feature = "postgres")]
            Error::Postgres(e) => e
                .code()
                .is_some_and(|code| matches!(&code.code()[..2], "22" | "23")),
            _ => false,
        }
    }
}
