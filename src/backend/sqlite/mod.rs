//! SQLite: opening a file safely, the shared SQL's bindings, and the
//! writer's batches.

mod exec;
mod write;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::OpenMode;
use crate::Error;
use crate::backend::migrations as schema;

pub(crate) use write::write_batch;

/// How long a connection waits for another's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

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
    conn.busy_timeout(BUSY_TIMEOUT)?;
    ensure_is_database(&conn, path)?;
    // Switching a new file to WAL takes an exclusive lock, which SQLite
    // refuses at once, without waiting, while another process is creating
    // the same file; so does a migration that races another one's.
    when_not_busy(|| {
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(())
    })?;
    when_not_busy(|| schema::migrate(&mut conn))?;
    Ok(conn)
}

/// Runs `step` again while the database answers that it is busy, up to the
/// busy timeout.
fn when_not_busy<T>(mut step: impl FnMut() -> Result<T, Error>) -> Result<T, Error> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match step() {
            Err(Error::Database(e))
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            done => return done,
        }
    }
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
