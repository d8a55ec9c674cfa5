//! Which database to use, from a path or a URL.

use std::fmt;
use std::path::PathBuf;

use crate::Error;

/// Where history is stored: an SQLite file or a PostgreSQL database.
///
/// Parsed from what users write in configuration: a plain path or a
/// `sqlite:` URL means SQLite; `postgres://` or `postgresql://` means
/// PostgreSQL (with the `postgres` feature).
///
/// ```
/// use workflow_history::DatabaseTarget;
/// let target: DatabaseTarget = "sqlite://var/history.db".parse()?;
/// assert_eq!(target, DatabaseTarget::Sqlite("var/history.db".into()));
/// let target: DatabaseTarget = "history.db".parse()?;
/// assert_eq!(target, DatabaseTarget::Sqlite("history.db".into()));
/// # Ok::<(), workflow_history::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatabaseTarget {
    /// An SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user@host/db`).
    #[cfg(feature = "postgres")]
    Postgres(String),
}

impl std::str::FromStr for DatabaseTarget {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self, Error> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            #[cfg(feature = "postgres")]
            return Ok(DatabaseTarget::Postgres(url.to_owned()));
            #[cfg(not(feature = "postgres"))]
            return Err(Error::UnsupportedUrl(format!(
                "{}: this build has no PostgreSQL support (enable the `postgres` feature)",
                redact(url)
            )));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() {
            return Err(Error::UnsupportedUrl("an empty database path".to_owned()));
        }
        Ok(DatabaseTarget::Sqlite(PathBuf::from(path)))
    }
}

/// The URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl fmt::Display for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseTarget::Sqlite(path) => write!(f, "{}", path.display()),
            #[cfg(feature = "postgres")]
            DatabaseTarget::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("postgres://app:s3cret@db.internal:5432/history"),
            "postgres://app:***@db.internal:5432/history"
        );
        assert_eq!(
            redact("postgres://app@db/history"),
            "postgres://app@db/history"
        );
    }

    #[test]
    fn sqlite_urls_and_paths() {
        assert_eq!(
            "sqlite:history.db".parse::<DatabaseTarget>().unwrap(),
            DatabaseTarget::Sqlite("history.db".into())
        );
        assert!("".parse::<DatabaseTarget>().is_err());
    }
}
