//! The shared SQL on PostgreSQL: `?N` placeholders rewritten to `$N`,
//! parameters bound as native types, rows read back.

use std::borrow::Cow;

use bytes::BytesMut;
use chrono::{DateTime, Utc};
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, GenericClient, Transaction};

use super::Connection;
use crate::Error;
use crate::backend::exec::{Exec, Row};
use crate::backend::param::Param;
use crate::model::JsonMap;

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// JSON text for a `jsonb` column, written so it reads back as it went in.
///
/// - `jsonb` keeps a number as `numeric`, with the scale its text spells:
///   `1e16` would come back as the integer `10000000000000000`. A float
///   with no fraction is therefore written with one (`10000000000000000.0`),
///   and comes back a float. (`numeric` has no negative zero: `-0.0` comes
///   back as `0.0`.)
/// - PostgreSQL stores no NUL character, in `text` or in `jsonb`, and would
///   refuse the whole statement (and with it a whole batch): a NUL in a key
///   or a string is written as U+FFFD, the replacement character, instead.
struct JsonbFormatter;

impl serde_json::ser::Formatter for JsonbFormatter {
    fn write_f64<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        value: f64,
    ) -> std::io::Result<()> {
        if value.is_finite() && value.fract() == 0.0 {
            // Every digit of the integer, then the fraction that keeps it a float.
            write!(writer, "{value:.1}")
        } else {
            serde_json::ser::CompactFormatter.write_f64(writer, value)
        }
    }

    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        match escape {
            serde_json::ser::CharEscape::AsciiControl(0) => writer.write_all(b"\\ufffd"),
            other => serde_json::ser::CompactFormatter.write_char_escape(writer, other),
        }
    }
}

/// PostgreSQL stores no NUL character in `text` either: as in JSON, it is
/// stored as U+FFFD. SQLite keeps it.
const NUL_REPLACEMENT: &str = "\u{FFFD}";

fn without_nul(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', NUL_REPLACEMENT))
    } else {
        Cow::Borrowed(text)
    }
}

/// Writes `map` as `jsonb` (a version byte, then the text) or `json`.
fn json_to_sql(map: &JsonMap, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
    use bytes::BufMut;
    if *ty == Type::JSONB {
        out.put_u8(1);
    } else if *ty != Type::JSON {
        return Err(format!("a JSON object cannot be stored as {ty}").into());
    }
    let mut serializer = serde_json::Serializer::with_formatter(out.writer(), JsonbFormatter);
    serde::Serialize::serialize(map, &mut serializer)?;
    Ok(IsNull::No)
}

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Param::Text(v) => v.as_deref().map(without_nul).to_sql_checked(ty, out),
            Param::Int(v) => v.to_sql_checked(ty, out),
            Param::Float(v) => v.to_sql_checked(ty, out),
            Param::Bool(v) => v.to_sql_checked(ty, out),
            Param::Time(v) => v.to_sql_checked(ty, out),
            Param::Json(map) => json_to_sql(map, ty, out),
            Param::Bytes(bytes) => bytes.to_sql_checked(ty, out),
        }
    }

    /// Each variant checks its own type when bound.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// `?1` becomes `$1`: shared SQL uses SQLite's numbered placeholders, and
/// contains no other question mark.
pub(crate) fn dollar_placeholders(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn as_sql<'a>(params: &'a [Param<'_>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

fn execute(client: &mut impl GenericClient, sql: &str, params: &[Param<'_>]) -> Result<u64, Error> {
    Ok(client.execute(dollar_placeholders(sql).as_ref(), &as_sql(params))?)
}

fn for_each_row(
    client: &mut impl GenericClient,
    sql: &str,
    params: &[Param<'_>],
    each: &mut dyn FnMut(&dyn Row) -> Result<(), Error>,
) -> Result<(), Error> {
    for row in client.query(dollar_placeholders(sql).as_ref(), &as_sql(params))? {
        each(&row)?;
    }
    Ok(())
}

/// "WHru": the rollup's bucket locks, apart from the writers' own.
const ROLLUP_LOCKS: i32 = 0x5748_7275;

/// Transaction advisory locks, taken in one statement: a volatile function
/// in the select list is evaluated after the sort, so in the keys' order.
fn lock_keys(client: &mut impl GenericClient, keys: &[i32]) -> Result<(), Error> {
    if keys.is_empty() {
        return Ok(());
    }
    client.execute(
        "SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::int4[]) AS k ORDER BY k",
        &[&ROLLUP_LOCKS, &keys],
    )?;
    Ok(())
}

/// One `Exec` for every client type: the connection itself (which
/// reconnects first when needed), a bare client, or a transaction.
macro_rules! exec_via {
    ($ty:ty, $this:ident => $client:expr) => {
        impl Exec for $ty {
            fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, Error> {
                let $this = self;
                execute($client, sql, params)
            }

            fn for_each_row(
                &mut self,
                sql: &str,
                params: &[Param<'_>],
                each: &mut dyn FnMut(&dyn Row) -> Result<(), Error>,
            ) -> Result<(), Error> {
                let $this = self;
                for_each_row($client, sql, params, each)
            }

            fn lock_keys(&mut self, keys: &[i32]) -> Result<(), Error> {
                let $this = self;
                lock_keys($client, keys)
            }
        }
    };
}

exec_via!(Client, this => this);
exec_via!(Transaction<'_>, this => this);
exec_via!(Connection, this => this.client()?);

impl Row for postgres::Row {
    fn text(&self, i: usize) -> Result<Option<String>, Error> {
        Ok(self.try_get(i)?)
    }

    fn int(&self, i: usize) -> Result<Option<i64>, Error> {
        Ok(self.try_get(i)?)
    }

    fn float(&self, i: usize) -> Result<Option<f64>, Error> {
        Ok(self.try_get(i)?)
    }

    fn boolean(&self, i: usize) -> Result<Option<bool>, Error> {
        Ok(self.try_get(i)?)
    }

    fn time(&self, i: usize, _column: &'static str) -> Result<Option<DateTime<Utc>>, Error> {
        Ok(self.try_get(i)?)
    }

    fn bytes(&self, i: usize) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.try_get(i)?)
    }

    fn json(&self, i: usize, column: &'static str) -> Result<JsonMap, Error> {
        match self.try_get::<_, Option<serde_json::Value>>(i)? {
            None => Ok(JsonMap::new()),
            Some(serde_json::Value::Object(map)) => Ok(map),
            Some(other) => Err(Error::Corrupt {
                column,
                detail: format!("expected a JSON object, found {other}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jsonb_text(value: serde_json::Value) -> String {
        let serde_json::Value::Object(map) = value else {
            panic!("an object")
        };
        let mut out = BytesMut::new();
        json_to_sql(&map, &Type::JSON, &mut out).unwrap();
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn nul_is_replaced_everywhere_in_json() {
        let value = serde_json::json!({"a\u{0}": ["x\u{0}y", {"k": "\u{0}"}], "n": 1});
        let text = jsonb_text(value);
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"a\u{FFFD}": ["x\u{FFFD}y", {"k": "\u{FFFD}"}], "n": 1})
        );
        assert!(matches!(without_nul("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn integral_floats_are_written_with_a_fraction() {
        let text = jsonb_text(serde_json::json!({"f": 1e16, "g": 2.5, "i": 7, "z": -0.0}));
        assert_eq!(text, r#"{"f":10000000000000000.0,"g":2.5,"i":7,"z":-0.0}"#);
        let huge = jsonb_text(serde_json::json!({"f": f64::MAX}));
        let back: serde_json::Value = serde_json::from_str(&huge).unwrap();
        assert_eq!(back["f"].as_f64(), Some(f64::MAX));
    }

    #[test]
    fn placeholders_become_dollars() {
        assert_eq!(
            dollar_placeholders("a = ?1 AND b IN (?2, ?10)"),
            "a = $1 AND b IN ($2, $10)"
        );
        assert!(matches!(dollar_placeholders("SELECT 1"), Cow::Borrowed(_)));
    }
}
