//! The SQLite database: opening it safely, writing batches, reading rows.

/// The columns of `workflow_runs`, in the order rows are bound and read.
macro_rules! run_columns {
    () => {
        "run_id, workflow_name, domain, partition_key, status, started_at, completed_at, \
         duration_ms, params, outputs, error, error_category, metrics, triggered_by, \
         created_at, parent_run_id, cancel_reason"
    };
}

/// The columns of `workflow_step_runs`, in the order rows are bound and read.
macro_rules! step_columns {
    () => {
        "step_id, run_id, step_name, step_type, step_order, status, started_at, \
         completed_at, duration_ms, input_params, output_data, error, error_category, \
         records_processed, quality_passed, quality_metrics, parent_step_id, skip_reason"
    };
}

/// The columns of `workflow_events`, in the order rows are read.
macro_rules! event_columns {
    () => {
        "event_id, run_id, step_id, timestamp, kind, level, target, message, fields"
    };
}

mod rows;
mod write;
mod writers;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::{Error, schema};

pub(crate) use rows::{
    SELECT_EVENTS, SELECT_RUNS, SELECT_STEPS, event_from_row, run_from_row, step_from_row,
};
pub(crate) use write::{NewEvent, delete_runs_started_before, write_batch};
pub(crate) use writers::{
    WriterCounts, WriterRow, abandon_runs_of, heartbeat, register, writers_with_open_runs,
};

/// How long a connection waits for another's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether opening may create the database file, or write at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenMode {
    /// Create the file (and schema) if missing: what a writer wants.
    Create,
    /// The file must exist: what a reader wants, so a typo is not an empty history.
    Existing,
    /// The file must exist and the connection cannot write: what a server
    /// of history wants. A database written by an older version is first
    /// migrated through a short read-write connection.
    ReadOnly,
}

/// Opens a read-write connection with the pragmas the writer and store rely
/// on, and brings the schema up to date.
pub(crate) fn open(path: &Path, mode: OpenMode) -> Result<Connection, Error> {
    if mode == OpenMode::ReadOnly {
        return open_read_only(path);
    }
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if !path.exists() {
        match mode {
            OpenMode::Existing | OpenMode::ReadOnly => {
                return Err(Error::NotFound {
                    path: path.to_owned(),
                });
            }
            OpenMode::Create => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    if !dir.is_dir() {
                        return Err(Error::MissingDirectory {
                            path: path.to_owned(),
                            dir: dir.to_owned(),
                        });
                    }
                }
                flags |= OpenFlags::SQLITE_OPEN_CREATE;
            }
        }
    }
    let mut conn = Connection::open_with_flags(path, flags).map_err(|source| Error::Open {
        path: path.to_owned(),
        source,
    })?;
    ensure_is_database(&conn, path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    schema::migrate(&mut conn)?;
    Ok(conn)
}

fn open_read_only(path: &Path) -> Result<Connection, Error> {
    if !path.exists() {
        return Err(Error::NotFound {
            path: path.to_owned(),
        });
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|source| Error::Open {
        path: path.to_owned(),
        source,
    })?;
    ensure_is_database(&conn, path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if schema::is_current(&conn)? {
        return Ok(conn);
    }
    drop(conn);
    drop(open(path, OpenMode::Existing)?);
    open_read_only(path)
}

/// Reads the schema before anything writes: a file that is not SQLite fails
/// here with NOTADB and is left exactly as it was.
fn ensure_is_database(conn: &Connection, path: &Path) -> Result<(), Error> {
    match conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |_| Ok(())) {
        Ok(()) => Ok(()),
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) => {
            Err(Error::NotADatabase {
                path: PathBuf::from(path),
            })
        }
        Err(source) => Err(Error::Open {
            path: path.to_owned(),
            source,
        }),
    }
}
