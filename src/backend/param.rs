//! Values bound to SQL parameters, the same for every database.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use crate::model::JsonMap;

/// One bound parameter. Every variant is typed even when null: PostgreSQL
/// checks a parameter's type against its column, so a null needs one too.
///
/// Text and JSON borrow from the record being written where they can, so
/// binding a row copies nothing the database does not need copied.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param<'a> {
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
    /// Stored as RFC 3339 text in SQLite, `timestamptz` in PostgreSQL.
    Time(Option<DateTime<Utc>>),
    /// Stored as JSON text in SQLite, `jsonb` in PostgreSQL.
    Json(Cow<'a, JsonMap>),
    /// A `BLOB` in SQLite, `bytea` in PostgreSQL.
    Bytes(&'a [u8]),
}

impl<'a> Param<'a> {
    pub(crate) fn text(s: impl Into<Cow<'a, str>>) -> Param<'a> {
        Param::Text(Some(s.into()))
    }

    /// Optional text, borrowed.
    pub(crate) fn opt_text(s: &'a Option<String>) -> Param<'a> {
        Param::Text(s.as_deref().map(Cow::Borrowed))
    }

    /// A count, saturated into the signed integer SQL databases store.
    pub(crate) fn count(n: u64) -> Param<'a> {
        Param::Int(Some(i64::try_from(n).unwrap_or(i64::MAX)))
    }

    pub(crate) fn bytes(bytes: &'a [u8]) -> Param<'a> {
        Param::Bytes(bytes)
    }

    pub(crate) fn json(map: &'a JsonMap) -> Param<'a> {
        Param::Json(Cow::Borrowed(map))
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(s: &'a str) -> Param<'a> {
        Param::text(s)
    }
}

impl From<DateTime<Utc>> for Param<'_> {
    fn from(t: DateTime<Utc>) -> Self {
        Param::Time(Some(t))
    }
}
