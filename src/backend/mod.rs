//! The databases history lives in, behind one interface: SQLite (embedded,
//! the default) and PostgreSQL (feature `postgres`, shared by many workers).
//!
//! Shared code (queries, recovery, retention) is written once against
//! [`Exec`]; what differs between the two lives in their own modules:
//! opening and migrating, binding values, and the writer's batch.

pub(crate) mod attempts;
pub(crate) mod exec;
pub(crate) mod liveness;
pub(crate) mod migrations;
pub(crate) mod param;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod recovery;
pub(crate) mod retention;
pub(crate) mod rollup;
pub(crate) mod sqlite;
pub(crate) mod table;
pub(crate) mod tables;
mod target;
pub(crate) mod timestamp;
pub(crate) mod writers;

use std::path::PathBuf;
use std::time::Duration;

use crate::Error;
use crate::model::{StepRun, WorkflowRun};
use exec::Exec;
use liveness::{Liveness, LockFile};
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

/// An open connection to one of the supported databases, and, for a
/// writer, the lock that tells other processes it lives.
#[derive(Debug)]
pub(crate) struct Database {
    conn: Conn,
    /// The lock file of the writer using this connection (SQLite; on
    /// PostgreSQL the lock belongs to the session).
    writer_lock: Option<LockFile>,
}

enum Conn {
    /// With the path it was opened with: writers' lock files sit beside it.
    Sqlite(rusqlite::Connection, PathBuf),
    /// Boxed: its client and configuration are several times larger.
    #[cfg(feature = "postgres")]
    Postgres(Box<postgres::Connection>),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Conn::Sqlite(_, path) => write!(f, "Sqlite({})", path.display()),
            #[cfg(feature = "postgres")]
            Conn::Postgres(_) => f.write_str("Postgres"),
        }
    }
}

impl Database {
    /// Opens (or creates) the database and brings its schema up to date.
    ///
    /// With [`OpenMode::Existing`], a database this process may only read is
    /// opened read-only (see [`Database::is_read_only`]).
    pub(crate) fn open(target: &DatabaseTarget, mode: OpenMode) -> Result<Database, Error> {
        let conn = match target {
            DatabaseTarget::Sqlite(path) => Conn::Sqlite(sqlite::open(path, mode)?, path.clone()),
            #[cfg(feature = "postgres")]
            DatabaseTarget::Postgres(url) => {
                Conn::Postgres(Box::new(postgres::Connection::open(url, mode)?))
            }
        };
        Ok(Database {
            conn,
            writer_lock: None,
        })
    }

    /// The connection, for one statement at a time.
    pub(crate) fn exec(&mut self) -> &mut dyn Exec {
        match &mut self.conn {
            Conn::Sqlite(conn, _) => conn,
            #[cfg(feature = "postgres")]
            Conn::Postgres(conn) => conn.as_mut(),
        }
    }

    /// Whether this connection cannot write: opened read-only, or on a file
    /// this process may only read.
    pub(crate) fn is_read_only(&self) -> bool {
        match &self.conn {
            Conn::Sqlite(conn, _) => conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true),
            #[cfg(feature = "postgres")]
            Conn::Postgres(conn) => conn.is_read_only(),
        }
    }

    /// How long a statement may wait for a lock another connection holds
    /// (`lock`), and run in all (`statement`, PostgreSQL only: an SQLite
    /// statement waits only for locks). Past them it fails, and the caller
    /// decides whether to retry.
    pub(crate) fn limit_waits(&mut self, lock: Duration, statement: Duration) -> Result<(), Error> {
        match &mut self.conn {
            Conn::Sqlite(conn, _) => {
                let _ = statement;
                Ok(conn.busy_timeout(lock)?)
            }
            #[cfg(feature = "postgres")]
            Conn::Postgres(conn) => conn.limit_waits(lock, statement),
        }
    }

    /// Takes the lock that shows `writer_id` alive to other processes for
    /// as long as this connection (or, on PostgreSQL, its session) lives;
    /// returns how it is kept, for `history_writers.lock_kind`.
    pub(crate) fn hold_writer_lock(&mut self, writer_id: &str) -> Result<&'static str, Error> {
        match &mut self.conn {
            Conn::Sqlite(_, path) => {
                let lock = LockFile::hold(path, writer_id).map_err(|source| Error::WriterLock {
                    path: path.clone(),
                    source,
                })?;
                self.writer_lock = Some(lock);
                Ok(liveness::FILE_LOCK)
            }
            #[cfg(feature = "postgres")]
            Conn::Postgres(conn) => {
                conn.hold_session_lock(liveness::session_lock_key(writer_id))?;
                Ok(liveness::SESSION_LOCK)
            }
        }
    }

    /// What the lock of a writer (kept as `lock_kind` says) tells of it.
    /// With `tidy`, a lock file proven abandoned is removed.
    pub(crate) fn liveness(
        &mut self,
        writer_id: &str,
        lock_kind: Option<&str>,
        tidy: bool,
    ) -> Result<Liveness, Error> {
        match (&mut self.conn, lock_kind) {
            (Conn::Sqlite(_, path), Some(liveness::FILE_LOCK)) => {
                Ok(liveness::file_liveness(path, writer_id, tidy))
            }
            #[cfg(feature = "postgres")]
            (Conn::Postgres(conn), Some(liveness::SESSION_LOCK)) => {
                conn.session_lock_liveness(liveness::session_lock_key(writer_id))
            }
            _ => Ok(Liveness::Unknown),
        }
    }

    /// Runs `work` in one transaction: committed if it returns `Ok`, rolled
    /// back otherwise. What it changed in finished runs is folded into the
    /// statistics rollup before the commit.
    ///
    /// On SQLite the transaction takes the write lock as it begins
    /// (`IMMEDIATE`): one that read first and wrote later would fail at once
    /// with BUSY, whatever the busy timeout, whenever another connection
    /// committed in between.
    pub(crate) fn transaction<T>(
        &mut self,
        work: impl FnOnce(&mut dyn Exec) -> Result<T, Error>,
    ) -> Result<T, Error> {
        match &mut self.conn {
            Conn::Sqlite(conn, _) => {
                let mut tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let out = work(&mut tx)?;
                rollup::fold_pending(&mut tx)?;
                tx.commit()?;
                Ok(out)
            }
            #[cfg(feature = "postgres")]
            Conn::Postgres(conn) => conn.transaction(work),
        }
    }

    /// Runs the reads of `work` on one snapshot of the database, so that
    /// queries that add up to one answer see the same commits. Nothing is
    /// written.
    pub(crate) fn snapshot<T>(
        &mut self,
        work: impl FnOnce(&mut dyn Exec) -> Result<T, Error>,
    ) -> Result<T, Error> {
        match &mut self.conn {
            Conn::Sqlite(conn, _) => {
                // In WAL mode a read transaction keeps the snapshot of its
                // first read until it ends.
                let mut tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)?;
                let out = work(&mut tx)?;
                tx.commit()?;
                Ok(out)
            }
            #[cfg(feature = "postgres")]
            Conn::Postgres(conn) => conn.snapshot(work),
        }
    }

    /// Writes one batch of the writer in one transaction: its claims
    /// first, then its rows; returns the rows written. Nothing is written
    /// if any statement fails.
    pub(crate) fn write_batch(
        &mut self,
        writer_id: &str,
        batch: &mut dyn Batch,
    ) -> Result<u64, Error> {
        match &mut self.conn {
            Conn::Sqlite(conn, _) => sqlite::write_batch(conn, writer_id, batch),
            #[cfg(feature = "postgres")]
            Conn::Postgres(conn) => conn.write_batch(writer_id, batch),
        }
    }
}

/// The work of one of the writer's transactions.
pub(crate) trait Batch {
    /// Done first, inside the transaction: claims the ids of new runs,
    /// which may move a run (and so change what [`Batch::rows`] gives).
    fn claim(&mut self, tx: &mut dyn Exec) -> Result<(), Error>;
    /// Then the rows to write: changed runs, changed steps, new events.
    fn rows(&self) -> (Vec<&WorkflowRun>, Vec<&StepRun>, &[NewEvent]);
}

/// Rows written as they are, with no id to claim.
pub(crate) struct Rows<'a> {
    pub(crate) runs: &'a [&'a WorkflowRun],
    pub(crate) steps: &'a [&'a StepRun],
    pub(crate) events: &'a [NewEvent],
}

impl Batch for Rows<'_> {
    fn claim(&mut self, _: &mut dyn Exec) -> Result<(), Error> {
        Ok(())
    }

    fn rows(&self) -> (Vec<&WorkflowRun>, Vec<&StepRun>, &[NewEvent]) {
        (self.runs.to_vec(), self.steps.to_vec(), self.events)
    }
}
