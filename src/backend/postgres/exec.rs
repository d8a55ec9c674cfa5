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

/// PostgreSQL stores no NUL character, in `text` or in `jsonb`: it rejects
/// the whole statement, and with it a whole batch. A NUL is stored as U+FFFD
/// (the replacement character) instead; SQLite keeps it.
const NUL_REPLACEMENT: &str = "\u{FFFD}";

fn without_nul(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', NUL_REPLACEMENT))
    } else {
        Cow::Borrowed(text)
    }
}

/// The map with every NUL in its keys and strings replaced, nested ones too.
fn json_without_nul(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(without_nul(s).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(json_without_nul).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (without_nul(k).into_owned(), json_without_nul(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Param::Text(v) => v.as_deref().map(without_nul).to_sql_checked(ty, out),
            Param::Int(v) => v.to_sql_checked(ty, out),
            Param::Float(v) => v.to_sql_checked(ty, out),
            Param::Bool(v) => v.to_sql_checked(ty, out),
            Param::Time(v) => v.to_sql_checked(ty, out),
            Param::Json(map) => {
                json_without_nul(&serde_json::Value::Object(map.clone().into_owned()))
                    .to_sql_checked(ty, out)
            }
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

    #[test]
    fn nul_is_replaced_everywhere_in_json() {
        let value = serde_json::json!({"a\u{0}": ["x\u{0}y", {"k": "\u{0}"}], "n": 1});
        assert_eq!(
            json_without_nul(&value),
            serde_json::json!({"a\u{FFFD}": ["x\u{FFFD}y", {"k": "\u{FFFD}"}], "n": 1})
        );
        assert!(matches!(without_nul("plain"), Cow::Borrowed("plain")));
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
