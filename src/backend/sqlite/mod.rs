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

/// Opens a connection for `mode`, with the pragmas the writer and store
/// rely on, and brings the schema up to date.
///
/// [`OpenMode::Existing`] falls back to a read-only connection on a file
/// this process may only read; [`OpenMode::Create`] (a writer) fails then.
pub(crate) fn open(path: &Path, mode: OpenMode) -> Result<Connection, Error> {
    match mode {
        OpenMode::Create => open_writable(path, true),
        OpenMode::Existing => match open_writable(path, false) {
            Err(Error::ReadOnly { .. }) => open_read_only(path),
            opened => opened,
        },
        OpenMode::ReadOnly => open_read_only(path),
    }
}

fn open_writable(path: &Path, create: bool) -> Result<Connection, Error> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if !path.exists() {
        if !create {
            return Err(Error::NotFound {
                path: path.to_owned(),
            });
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(Error::MissingDirectory {
                path: path.to_owned(),
                dir: dir.to_owned(),
            });
        }
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let mut conn = Connection::open_with_flags(path, flags).map_err(|source| Error::Open {
        path: path.to_owned(),
        source,
    })?;
    // SQLite opens a file it may not write read-only, without a word, and
    // fails at the first write (or the first read of a WAL database).
    if conn.is_readonly(rusqlite::MAIN_DB)? {
        return Err(Error::ReadOnly {
            path: path.to_owned(),
        });
    }
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

/// A connection that cannot write. A database of an older schema is first
/// migrated through a short read-write connection, when this process may
/// write it.
fn open_read_only(path: &Path) -> Result<Connection, Error> {
    let conn = read_only_connection(path)?;
    match schema::applied_version(&conn)? {
        found if found == schema::SCHEMA_VERSION => Ok(conn),
        found => {
            schema::refuse_newer(found)?;
            drop(conn);
            drop(open_writable(path, false).map_err(|e| match e {
                Error::ReadOnly { path } => Error::SchemaTooOld {
                    path,
                    found,
                    supported: schema::SCHEMA_VERSION,
                },
                other => other,
            })?);
            read_only_connection(path)
        }
    }
}

fn read_only_connection(path: &Path) -> Result<Connection, Error> {
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
    conn.busy_timeout(BUSY_TIMEOUT)?;
    match ensure_is_database(&conn, path) {
        // A WAL database needs its shared-memory index (`-shm`), which a
        // reader that may not write the directory cannot create when no
        // writer is there to have made it. Without a write-ahead log the
        // whole database is in the main file: read it as it is.
        Err(Error::Open { source, .. })
            if cannot_make_wal_index(&source) && !sidecar(path, "-wal").exists() =>
        {
            drop(conn);
            immutable_connection(path)
        }
        checked => checked.map(|()| conn),
    }
}

/// Whether opening failed for want of the WAL index file.
fn cannot_make_wal_index(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen)
    )
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The file opened with SQLite's `immutable` flag: no locks and no WAL
/// index, for a database nobody is writing.
fn immutable_connection(path: &Path) -> Result<Connection, Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let uri = format!("file:{}?immutable=1", uri_path(path));
    let conn = Connection::open_with_flags(&uri, flags).map_err(|source| Error::Open {
        path: path.to_owned(),
        source,
    })?;
    ensure_is_database(&conn, path)?;
    Ok(conn)
}

/// A path as the path of a `file:` URI: the characters a URI gives a
/// meaning to are percent-encoded.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for byte in path.as_os_str().as_encoded_bytes() {
        match byte {
            b'?' | b'#' | b'%' | b'&' | b'=' | b' ' | 0x80..=0xff => {
                out.push_str(&format!("%{byte:02X}"));
            }
            _ => out.push(char::from(*byte)),
        }
    }
    out
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
