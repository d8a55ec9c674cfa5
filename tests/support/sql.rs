//! Plain SQL on a test's own database, whichever it is: for what the store
//! does not show (rows that belong to no run, whole tables), and for moving
//! recorded runs in time.
//!
//! Statements are written once, with SQLite's numbered placeholders (`?1`);
//! on PostgreSQL they become `$1`, as in the library's own shared SQL, and
//! run in the test's schema (its URL sets the search path). Keep to SQL both
//! databases understand: a subquery in `FROM` needs an alias (PostgreSQL
//! before 16), and `SUM` of integers is `numeric` on PostgreSQL.

use chrono::{DateTime, SecondsFormat, Utc};

use super::TestDb;

/// A value bound to a placeholder, stored as each database stores it.
#[derive(Debug, Clone, Copy)]
pub enum SqlValue<'a> {
    Text(&'a str),
    Int(i64),
    /// RFC 3339 text (microseconds, `Z`) in SQLite, `timestamptz` in
    /// PostgreSQL: what the library writes for times.
    Time(DateTime<Utc>),
}

impl<'a> From<&'a str> for SqlValue<'a> {
    fn from(text: &'a str) -> Self {
        SqlValue::Text(text)
    }
}

impl From<i64> for SqlValue<'_> {
    fn from(n: i64) -> Self {
        SqlValue::Int(n)
    }
}

impl From<DateTime<Utc>> for SqlValue<'_> {
    fn from(t: DateTime<Utc>) -> Self {
        SqlValue::Time(t)
    }
}

/// What a row of a query is read as: its first column, or its first two.
pub trait FromRow: Sized {
    fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
    #[cfg(feature = "postgres")]
    fn from_postgres(row: &postgres::Row) -> Result<Self, postgres::Error>;
}

macro_rules! one_column {
    ($($ty:ty),*) => {$(
        impl FromRow for $ty {
            fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                row.get(0)
            }
            #[cfg(feature = "postgres")]
            fn from_postgres(row: &postgres::Row) -> Result<Self, postgres::Error> {
                row.try_get(0)
            }
        }
    )*};
}

one_column!(i64, f64, String);

impl FromRow for (String, i64) {
    fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok((row.get(0)?, row.get(1)?))
    }
    #[cfg(feature = "postgres")]
    fn from_postgres(row: &postgres::Row) -> Result<Self, postgres::Error> {
        Ok((row.try_get(0)?, row.try_get(1)?))
    }
}

/// A connection of the test's own, beside the library's.
enum Conn {
    Sqlite(rusqlite::Connection),
    #[cfg(feature = "postgres")]
    Postgres(Box<postgres::Client>),
}

impl TestDb {
    fn connect_sql(&self) -> Conn {
        #[cfg(feature = "postgres")]
        if self.is_postgres() {
            let client = postgres::Client::connect(&self.url, postgres::NoTls)
                .unwrap_or_else(|e| panic!("connect to {}: {e}", self.url));
            return Conn::Postgres(Box::new(client));
        }
        Conn::Sqlite(rusqlite::Connection::open(&self.path).expect("open with rusqlite"))
    }

    /// Runs several `;`-separated statements without parameters.
    pub fn sql_batch(&self, sql: &str) {
        match self.connect_sql() {
            Conn::Sqlite(conn) => conn
                .execute_batch(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            #[cfg(feature = "postgres")]
            Conn::Postgres(mut client) => client
                .batch_execute(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    /// Runs a statement; returns how many rows it changed.
    pub fn sql_execute(&self, sql: &str, params: &[SqlValue<'_>]) -> u64 {
        match self.connect_sql() {
            Conn::Sqlite(conn) => conn
                .execute(
                    sql,
                    rusqlite::params_from_iter(params.iter().map(sqlite_value)),
                )
                .unwrap_or_else(|e| panic!("{sql}: {e}")) as u64,
            #[cfg(feature = "postgres")]
            Conn::Postgres(mut client) => client
                .execute(dollar_placeholders(sql).as_str(), &postgres_params(params))
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    /// Every row of a query.
    pub fn sql_query<T: FromRow>(&self, sql: &str, params: &[SqlValue<'_>]) -> Vec<T> {
        match self.connect_sql() {
            Conn::Sqlite(conn) => {
                let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
                let rows = stmt
                    .query_map(
                        rusqlite::params_from_iter(params.iter().map(sqlite_value)),
                        T::from_sqlite,
                    )
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                rows.map(|row| row.unwrap_or_else(|e| panic!("{sql}: {e}")))
                    .collect()
            }
            #[cfg(feature = "postgres")]
            Conn::Postgres(mut client) => client
                .query(dollar_placeholders(sql).as_str(), &postgres_params(params))
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .iter()
                .map(|row| T::from_postgres(row).unwrap_or_else(|e| panic!("{sql}: {e}")))
                .collect(),
        }
    }

    /// The only row of a query (`COUNT(*)`, `MAX(...)`).
    #[track_caller]
    pub fn sql_one<T: FromRow>(&self, sql: &str, params: &[SqlValue<'_>]) -> T {
        let mut rows = self.sql_query(sql, params);
        assert_eq!(rows.len(), 1, "{sql}: expected exactly one row");
        rows.remove(0)
    }

    /// The integer a query without parameters returns, such as a `COUNT(*)`.
    #[track_caller]
    pub fn count(&self, sql: &str) -> i64 {
        self.sql_one(sql, &[])
    }

    /// Every row of a table, whichever run it belongs to (if any).
    #[track_caller]
    pub fn count_rows(&self, table: &str) -> i64 {
        self.count(&format!("SELECT COUNT(*) FROM {table}"))
    }

    /// Sets `started_at` of the runs whose `column` is `value`, to make them
    /// old for retention or place them for the time filters; fails the test
    /// if no run matched.
    #[track_caller]
    pub fn set_started_at(&self, column: &str, value: &str, started_at: DateTime<Utc>) {
        assert!(
            column
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "not a column name: {column}"
        );
        let changed = self.sql_execute(
            &format!("UPDATE workflow_runs SET started_at = ?1 WHERE {column} = ?2"),
            &[started_at.into(), value.into()],
        );
        assert!(
            changed > 0,
            "no run with {column} = {value} to move in time"
        );
    }

    /// Takes the database back to schema version 6, from before the
    /// statistics rollup: its tables and triggers dropped, the runs kept.
    pub fn undo_rollup_migration(&self) {
        let triggers = if self.is_postgres() {
            "DROP FUNCTION workflow_runs_rollup_note() CASCADE;
             DROP FUNCTION workflow_runs_rollup_truncated() CASCADE;"
        } else {
            "DROP TRIGGER workflow_runs_rollup_insert;
             DROP TRIGGER workflow_runs_rollup_update;
             DROP TRIGGER workflow_runs_rollup_delete;"
        };
        self.sql_batch(&format!(
            "{triggers}
             DROP TABLE workflow_rollup;
             DROP TABLE workflow_rollup_pending;
             DELETE FROM schema_migrations WHERE version > 6;"
        ));
    }

    /// Takes the write lock of the database the way another writer would,
    /// and keeps it until [`WriteLock::release`]: SQLite's `BEGIN IMMEDIATE`;
    /// on PostgreSQL the history tables locked `IN EXCLUSIVE MODE`, so reads
    /// go on and writes wait. The schema must exist (build a layer first).
    pub fn lock_writes(&self) -> WriteLock {
        let mut conn = self.connect_sql();
        match &mut conn {
            Conn::Sqlite(conn) => conn
                .execute_batch("BEGIN IMMEDIATE")
                .expect("take the write lock"),
            #[cfg(feature = "postgres")]
            Conn::Postgres(client) => client
                .batch_execute(
                    "BEGIN; LOCK TABLE workflow_runs, workflow_step_runs, \
                     workflow_events, history_writers IN EXCLUSIVE MODE",
                )
                .expect("take the write lock"),
        }
        WriteLock(conn)
    }
}

/// The write lock of a test's database, held by a connection of its own.
pub struct WriteLock(Conn);

impl WriteLock {
    pub fn release(mut self) {
        match &mut self.0 {
            Conn::Sqlite(conn) => conn
                .execute_batch("COMMIT")
                .expect("release the write lock"),
            #[cfg(feature = "postgres")]
            Conn::Postgres(client) => client
                .batch_execute("COMMIT")
                .expect("release the write lock"),
        }
    }
}

fn sqlite_value(value: &SqlValue<'_>) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match *value {
        SqlValue::Text(text) => Value::Text(text.to_owned()),
        SqlValue::Int(n) => Value::Integer(n),
        SqlValue::Time(t) => Value::Text(t.to_rfc3339_opts(SecondsFormat::Micros, true)),
    }
}

#[cfg(feature = "postgres")]
fn postgres_params<'a>(params: &'a [SqlValue<'_>]) -> Vec<&'a (dyn postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|value| match value {
            SqlValue::Text(text) => text as &(dyn postgres::types::ToSql + Sync),
            SqlValue::Int(n) => n,
            SqlValue::Time(t) => t,
        })
        .collect()
}

/// `?1` becomes `$1`.
#[cfg(feature = "postgres")]
fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}
