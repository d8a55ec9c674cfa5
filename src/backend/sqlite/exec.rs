//! The shared SQL on SQLite: parameters bound as SQLite stores them (times
//! as RFC 3339 text, JSON as text), rows read back the same way.

use chrono::{DateTime, Utc};
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{Connection, ToSql, params_from_iter};

use crate::Error;
use crate::backend::exec::{Exec, Row};
use crate::backend::param::Param;
use crate::backend::timestamp::{format_timestamp, parse_timestamp};
use crate::model::JsonMap;

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let value = match self {
            Param::Text(Some(text)) => {
                return Ok(ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())));
            }
            Param::Text(None) => SqlValue::Null,
            Param::Int(v) => v.map_or(SqlValue::Null, SqlValue::Integer),
            Param::Float(v) => v.map_or(SqlValue::Null, SqlValue::Real),
            Param::Bool(v) => v.map_or(SqlValue::Null, |b| SqlValue::Integer(i64::from(b))),
            Param::Time(v) => v.map_or(SqlValue::Null, |t| SqlValue::Text(format_timestamp(t))),
            // A map of JSON values always serializes.
            Param::Json(map) => SqlValue::Text(serde_json::to_string(map).unwrap_or_default()),
            Param::Bytes(bytes) => return Ok(ToSqlOutput::Borrowed(ValueRef::Blob(bytes))),
        };
        Ok(ToSqlOutput::Owned(value))
    }
}

fn execute(conn: &Connection, sql: &str, params: &[Param<'_>]) -> Result<u64, Error> {
    let changed = conn
        .prepare_cached(sql)?
        .execute(params_from_iter(params))?;
    Ok(changed as u64)
}

fn for_each_row(
    conn: &Connection,
    sql: &str,
    params: &[Param<'_>],
    each: &mut dyn FnMut(&dyn Row) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params_from_iter(params))?;
    while let Some(row) = rows.next()? {
        each(row)?;
    }
    Ok(())
}

/// One `Exec` for a connection and for a transaction, which derefs to one.
macro_rules! exec_via_connection {
    ($($ty:ty),+) => {$(
        impl Exec for $ty {
            fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, Error> {
                execute(self, sql, params)
            }

            fn for_each_row(
                &mut self,
                sql: &str,
                params: &[Param<'_>],
                each: &mut dyn FnMut(&dyn Row) -> Result<(), Error>,
            ) -> Result<(), Error> {
                for_each_row(self, sql, params, each)
            }
        }
    )+};
}

exec_via_connection!(Connection, rusqlite::Transaction<'_>);

impl Row for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<Option<String>, Error> {
        Ok(self.get(i)?)
    }

    fn int(&self, i: usize) -> Result<Option<i64>, Error> {
        Ok(self.get(i)?)
    }

    fn float(&self, i: usize) -> Result<Option<f64>, Error> {
        Ok(self.get(i)?)
    }

    fn boolean(&self, i: usize) -> Result<Option<bool>, Error> {
        Ok(self.get(i)?)
    }

    fn time(&self, i: usize, column: &'static str) -> Result<Option<DateTime<Utc>>, Error> {
        self.get::<_, Option<String>>(i)?
            .map(|text| parse_timestamp(column, &text))
            .transpose()
    }

    fn bytes(&self, i: usize) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.get(i)?)
    }

    fn json(&self, i: usize, column: &'static str) -> Result<JsonMap, Error> {
        match self.get::<_, Option<String>>(i)? {
            None => Ok(JsonMap::new()),
            Some(text) => serde_json::from_str(&text).map_err(|e| Error::Corrupt {
                column,
                detail: e.to_string(),
            }),
        }
    }
}
