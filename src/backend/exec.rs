//! What every database connection (or transaction) can do for the shared
//! SQL: run a statement, and read rows through [`Row`].
//!
//! Shared SQL is written with SQLite's numbered placeholders (`?1`, `?2`);
//! the PostgreSQL side rewrites them to `$1`, `$2`, its only dialect change
//! to shared statements.

use chrono::{DateTime, Utc};

use super::param::Param;
use crate::Error;
use crate::model::JsonMap;

/// A row of a result, read by column index.
pub(crate) trait Row {
    fn text(&self, i: usize) -> Result<Option<String>, Error>;
    fn int(&self, i: usize) -> Result<Option<i64>, Error>;
    fn float(&self, i: usize) -> Result<Option<f64>, Error>;
    fn boolean(&self, i: usize) -> Result<Option<bool>, Error>;
    /// `column` names the value in a corruption error.
    fn time(&self, i: usize, column: &'static str) -> Result<Option<DateTime<Utc>>, Error>;
    /// A JSON object; a null reads as an empty one.
    fn json(&self, i: usize, column: &'static str) -> Result<JsonMap, Error>;
    fn bytes(&self, i: usize) -> Result<Option<Vec<u8>>, Error>;
}

/// A connection or transaction that runs shared SQL.
pub(crate) trait Exec {
    /// Runs a statement; returns the rows it changed.
    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, Error>;

    /// Runs a query, handing each row to `each`.
    fn for_each_row(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), Error>,
    ) -> Result<(), Error>;

    /// Takes, in the order given, locks that last until the transaction
    /// ends, so that writers changing the same rollup buckets go one after
    /// the other (see [`crate::backend::rollup`]). SQLite needs none: its
    /// write transactions already go one at a time.
    fn lock_keys(&mut self, keys: &[i32]) -> Result<(), Error> {
        let _ = keys;
        Ok(())
    }
}

/// Runs a query and maps every row.
pub(crate) fn query<T>(
    db: &mut dyn Exec,
    sql: &str,
    params: &[Param<'_>],
    map: impl Fn(&dyn Row) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    let mut out = Vec::new();
    db.for_each_row(sql, params, &mut |row| {
        out.push(map(row)?);
        Ok(())
    })?;
    Ok(out)
}

/// Runs a query and maps its first row, if any.
pub(crate) fn query_opt<T>(
    db: &mut dyn Exec,
    sql: &str,
    params: &[Param<'_>],
    map: impl Fn(&dyn Row) -> Result<T, Error>,
) -> Result<Option<T>, Error> {
    Ok(query(db, sql, params, map)?.into_iter().next())
}

/// `?1, ?2, ... ?n`: placeholders for a list of values.
pub(crate) fn slots(n: usize) -> String {
    (1..=n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A column that must not be null.
pub(crate) fn required<T>(value: Option<T>, column: &'static str) -> Result<T, Error> {
    value.ok_or_else(|| Error::Corrupt {
        column,
        detail: "unexpected null".to_owned(),
    })
}
