//! The schema's migrations, embedded in the binary, and their application.

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::timestamp::format_timestamp;
use crate::Error;

/// One step of the schema's history.
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

/// Lists the migrations of both dialects from one list of file stems, so
/// a migration cannot be added to one and forgotten in the other. Versions
/// count from 1 in order.
macro_rules! migrations {
    ($($version:literal => $stem:literal),+ $(,)?) => {
        /// Every migration, in order. Never edit one that has shipped; add another.
        const MIGRATIONS: &[Migration] = &[$(
            Migration {
                version: $version,
                name: concat!($stem, ".sql"),
                sql: include_str!(concat!("../../migrations/", $stem, ".sql")),
            },
        )+];

        /// The same steps for PostgreSQL, with its native types.
        #[cfg(feature = "postgres")]
        pub(crate) const POSTGRES_MIGRATIONS: &[Migration] = &[$(
            Migration {
                version: $version,
                name: concat!("postgres/", $stem, ".sql"),
                sql: include_str!(concat!("../../migrations/postgres/", $stem, ".sql")),
            },
        )+];
    };
}

migrations! {
    1 => "0001_workflow_history",
    2 => "0002_writers",
    3 => "0003_listing_order_indexes",
    4 => "0004_writer_locks",
    5 => "0005_attempts",
    6 => "0006_run_id_tails",
    7 => "0007_statistics_rollup",
}

/// The schema version this crate writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

const CREATE_VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  TEXT NOT NULL
)";

/// The newest applied version, or 0 for a database without the table.
pub(crate) fn applied_version(conn: &Connection) -> Result<i64, rusqlite::Error> {
    let has_table: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if has_table.is_none() {
        return Ok(0);
    }
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )
}

pub(crate) fn refuse_newer(found: i64) -> Result<(), Error> {
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Applies every migration the database lacks, each in order and recorded.
///
/// The check and the migrations run in one immediate transaction: a second
/// process opening the same file waits on the write lock (the busy timeout),
/// then finds the work done.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), Error> {
    // The common case, an up-to-date database, needs no write lock.
    let found = applied_version(conn)?;
    refuse_newer(found)?;
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(CREATE_VERSION_TABLE)?;
    let found = applied_version(&tx)?;
    refuse_newer(found)?;
    for migration in MIGRATIONS.iter().filter(|m| m.version > found) {
        let fail = |source| Error::Migration {
            version: migration.version,
            name: migration.name,
            source,
        };
        tx.execute_batch(migration.sql).map_err(fail)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            (
                migration.version,
                migration.name,
                format_timestamp(Utc::now()),
            ),
        )
        .map_err(fail)?;
    }
    // A migration may have noted runs for the rollup (0007 notes them all).
    super::rollup::fold_pending(&mut tx)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
            assert!(m.name.starts_with(&format!("{:04}_", m.version)));
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_has_the_same_versions() {
        let versions = |list: &[Migration]| list.iter().map(|m| m.version).collect::<Vec<_>>();
        assert_eq!(versions(POSTGRES_MIGRATIONS), versions(MIGRATIONS));
    }

    #[test]
    fn migrate_is_idempotent() -> Result<(), Error> {
        let mut conn = Connection::open_in_memory()?;
        migrate(&mut conn)?;
        migrate(&mut conn)?;
        assert_eq!(applied_version(&conn)?, SCHEMA_VERSION);
        let rows: i64 =
            conn.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))?;
        assert_eq!(rows, MIGRATIONS.len() as i64);
        Ok(())
    }

    #[test]
    fn newer_schema_is_refused() -> Result<(), Error> {
        let mut conn = Connection::open_in_memory()?;
        migrate(&mut conn)?;
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?1, 'future.sql', 'now')",
            [SCHEMA_VERSION + 1],
        )?;
        assert!(matches!(
            migrate(&mut conn),
            Err(Error::SchemaTooNew { .. })
        ));
        Ok(())
    }
}
