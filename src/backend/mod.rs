//! The databases history lives in, behind one interface: SQLite (embedded,
//! the default) and PostgreSQL (feature `postgres`, shared by many workers).
//!
//! Shared code (queries, recovery, retention) is written once against
//! [`Exec`]; what differs between the two lives in their own modules:
//! opening and migrating, binding values, and the writer's batch.

pub(crate) mod exec;
pub(crate) mod migrations;
pub(crate) mod param;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod recovery;
pub(crate) mod retention;
pub(crate) mod sqlite;
pub(crate) mod table;
pub(crate) mod tables;
mod target;
pub(crate) mod timestamp;
pub(crate) mod writers;

use std::time::Duration;

use crate::Error;
use crate::model::{StepRun, WorkflowRun};
use exec::Exec;
use tables::NewEvent;

pub use target::DatabaseTarget;

/// What opening a database may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenMode {
    /// Create the database (and schema) if missing: what a writer wants.
    Create,
    /// The database must exist: what a reader wants, so a typo is not an
    /// empty history.
    Existing,
    /// The database must exist and the connection cannot write: what a
    /// server of history wants. A database written by an older version is
    /// first migrated through a short read-write connection.
    ReadOnly,
}

/// An open connection to one of the supported databases.
pub(crate) enum Database {
    Sqlite(rusqlite::Connection),
    /// Boxed: its client and configuration are several times larger.
    #[cfg(feature = "postgres")]
    Postgres(Box<postgres::Connection>),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(_) => f.write_str("Database::Sqlite"),
            #[cfg(feature = "postgres")]
            Database::Postgres(_) => f.write_str("Database::Postgres"),
        }
    }
}

impl Database {
    /// Opens (or creates) the database and brings its schema up to date.
    pub(crate) fn open(target: &DatabaseTarget, mode: OpenMode) -> Result<Database, Error> {
        match target {
            DatabaseTarget::Sqlite(path) => sqlite::open(path, mode).map(Database::Sqlite),
            #[cfg(feature = "postgres")]
            DatabaseTarget::Postgres(url) => {
                postgres::Connection::open(url, mode).map(|conn| Database::Postgres(Box::new(conn)))
            }
        }
    }

    /// The connection, for one statement at a time.
    pub(crate) fn exec(&mut self) -> &mut dyn Exec {
        match self {
            Database::Sqlite(conn) => conn,
            #[cfg(feature = "postgres")]
            Database::Postgres(conn) => conn.as_mut(),
        }
    }

    /// How long a statement may wait for a lock another connection holds
    /// (`lock`), and run in all (`statement`, PostgreSQL only: an SQLite
    /// statement waits only for locks). Past them it fails, and the caller
    /// decides whether to retry.
    pub(crate) fn limit_waits(&mut self, lock: Duration, statement: Duration) -> Result<(), Error> {
        match self {
            Database::Sqlite(conn) => {
                let _ = statement;
                Ok(conn.busy_timeout(lock)?)
            }
            #[cfg(feature = "postgres")]
            Database::Postgres(conn) => conn.limit_waits(lock, statement),
        }
    }

    /// Runs `work` in one transaction: committed if it returns `Ok`, rolled
    /// back otherwise.
    ///
    /// On SQLite the transaction takes the write lock as it begins
    /// (`IMMEDIATE`): one that read first and wrote later would fail at once
    /// with BUSY, whatever the busy timeout, whenever another connection
    /// committed in between.
    pub(crate) fn transaction<T>(
        &mut self,
        work: impl FnOnce(&mut dyn Exec) -> Result<T, Error>,
    ) -> Result<T, Error> {
        match self {
            Database::Sqlite(conn) => {
                let mut tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let out = work(&mut tx)?;
                tx.commit()?;
                Ok(out)
            }
            #[cfg(feature = "postgres")]
            Database::Postgres(conn) => conn.transaction(work),
        }
    }

    /// Writes one batch of the writer in one transaction; returns the rows written.
    pub(crate) fn write_batch<'a>(
        &mut self,
        writer_id: &str,
        runs: impl IntoIterator<Item = &'a WorkflowRun>,
        steps: impl IntoIterator<Item = &'a StepRun>,
        events: &[NewEvent],
    ) -> Result<u64, Error> {
        match self {
            Database::Sqlite(conn) => sqlite::write_batch(conn, writer_id, runs, steps, events),
            #[cfg(feature = "postgres")]
            Database::Postgres(conn) => conn.write_batch(writer_id, runs, steps, events),
        }
    }
}
