//! Telling for sure whether a writer process still lives.
//!
//! A heartbeat only says when a writer was last heard from; a process id
//! says nothing across hosts, PID namespaces (containers sharing a host
//! name) or a `/proc` mounted with `hidepid`. Instead every writer holds a
//! lock that the operating system (or the database server) releases when
//! the process ends, however it ends:
//!
//! - SQLite: an exclusive `flock` on a file of its own,
//!   `<database>-writers/<writer_id>`, beside the database (SQLite writers
//!   share one machine's kernel, so the lock is seen by every one of them).
//! - PostgreSQL: a session advisory lock keyed by the writer id, taken again
//!   whenever the writer reconnects.
//!
//! Another process that can take the lock knows the holder is gone.

use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// What a writer's lock says of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// Its lock is held: it lives, however long it has been silent.
    Alive,
    /// Its lock is free: it is gone (on PostgreSQL: its session is).
    Gone,
    /// No lock to look at (a writer of an older version, or a lock file
    /// this process may not open): only the heartbeat can tell.
    Unknown,
}

/// How a writer's lock is kept, as recorded in `history_writers.lock_kind`.
pub(crate) const FILE_LOCK: &str = "file";
#[cfg(feature = "postgres")]
pub(crate) const SESSION_LOCK: &str = "session";

/// The directory of the lock files of a database's writers.
fn lock_dir(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-writers");
    PathBuf::from(name)
}

/// A writer's lock file, held for as long as this value lives; removed
/// when it is dropped (the writer stopped), released by the system if the
/// process dies first.
#[derive(Debug)]
pub(crate) struct LockFile {
    path: PathBuf,
    _file: File,
}

impl LockFile {
    /// Creates and locks the lock file of `writer_id`. The file is locked
    /// under a temporary name and renamed into place, so no other process
    /// ever sees it unlocked while its writer lives.
    pub(crate) fn hold(database: &Path, writer_id: &str) -> io::Result<LockFile> {
        let dir = lock_dir(database);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(writer_id);
        let staging = dir.join(format!(".{writer_id}.new"));
        let file = File::create(&staging)?;
        file.try_lock().map_err(|e| match e {
            TryLockError::Error(e) => e,
            TryLockError::WouldBlock => io::Error::other("a new lock file is already locked"),
        })?;
        std::fs::rename(&staging, &path)?;
        Ok(LockFile { path, _file: file })
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        // Removed before the lock goes with the file handle: a process that
        // opens it meanwhile finds it still locked.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What the lock file of `writer_id` says. When it proves the writer gone
/// and `tidy` is set, the file is removed.
pub(crate) fn file_liveness(database: &Path, writer_id: &str, tidy: bool) -> Liveness {
    let path = lock_dir(database).join(writer_id);
    // Read access is enough to take a lock; a reader may have no more.
    let Ok(file) = File::open(&path) else {
        return Liveness::Unknown;
    };
    match file.try_lock_shared() {
        Ok(()) => {
            if tidy {
                let _ = std::fs::remove_file(&path);
            }
            Liveness::Gone
        }
        Err(TryLockError::WouldBlock) => Liveness::Alive,
        Err(TryLockError::Error(_)) => Liveness::Unknown,
    }
}

#[cfg(feature = "postgres")]
/// The PostgreSQL advisory lock key of a writer: our namespace, and a
/// 32-bit hash of its id. Two live writers sharing a hash only make each
/// other look alive, so a collision can delay recovery, never wrong it.
pub(crate) fn session_lock_key(writer_id: &str) -> (i32, i32) {
    /// "WHwr": this crate's writers, apart from any other user of
    /// advisory locks.
    const NAMESPACE: i32 = 0x5748_7772;
    (NAMESPACE, fnv1a(writer_id.bytes()) as i32)
}

/// The 32-bit FNV-1a hash of `bytes`: stable across builds and platforms,
/// unlike std's hasher, so processes of any version agree on lock keys.
pub(crate) fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u32 {
    bytes.into_iter().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_says_alive_and_a_dropped_one_is_gone_with_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("history.db");
        assert_eq!(file_liveness(&db, "w1", true), Liveness::Unknown);
        let held = LockFile::hold(&db, "w1").unwrap();
        assert_eq!(file_liveness(&db, "w1", true), Liveness::Alive);
        assert_eq!(file_liveness(&db, "w2", true), Liveness::Unknown);
        drop(held);
        assert_eq!(file_liveness(&db, "w1", true), Liveness::Unknown);
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn session_keys_are_stable_and_namespaced() {
        assert_eq!(session_lock_key("a"), session_lock_key("a"));
        assert_ne!(session_lock_key("a"), session_lock_key("b"));
        assert_eq!(session_lock_key("a").0, 0x5748_7772);
    }
}
