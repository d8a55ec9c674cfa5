//! Values bound to SQL parameters, the same for every database.

use chrono::{DateTime, Utc};

use crate::model::JsonMap;

/// One bound parameter. Every variant is typed even when null: PostgreSQL
/// checks a parameter's type against its column, so a null needs one too.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Text(Option<String>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
    /// Stored as RFC 3339 text in SQLite, `timestamptz` in PostgreSQL.
    Time(Option<DateTime<Utc>>),
    /// Stored as JSON text in SQLite, `jsonb` in PostgreSQL.
    Json(JsonMap),
}

impl Param {
    pub(crate) fn text(s: impl Into<String>) -> Param {
        Param::Text(Some(s.into()))
    }

    /// A count, saturated into the signed integer SQL databases store.
    pub(crate) fn count(n: u64) -> Param {
        Param::Int(Some(i64::try_from(n).unwrap_or(i64::MAX)))
    }
}

impl From<&str> for Param {
    fn from(s: &str) -> Param {
        Param::text(s)
    }
}

impl From<DateTime<Utc>> for Param {
    fn from(t: DateTime<Utc>) -> Param {
        Param::Time(Some(t))
    }
}
