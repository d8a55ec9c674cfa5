//! PostgreSQL: one database shared by many writers and readers.
//!
//! Connecting applies the migrations under an advisory lock, so workers
//! starting together migrate once. A connection that drops (a server
//! restart) is reopened on next use; the writer keeps its batch meanwhile.

mod exec;
mod write;

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::Utc;

use super::OpenMode;
use super::exec::Exec;
use super::liveness::Liveness;
use super::rollup;
use super::target::redact;
use crate::Error;
use crate::backend::migrations::{self as schema, POSTGRES_MIGRATIONS, SCHEMA_VERSION};

/// How long connecting may take before it fails, when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Serializes migrations across every process migrating the same database:
/// `pg_advisory_xact_lock` takes any 64-bit key, this one is ours.
const MIGRATION_LOCK: i64 = 0x5746_4849_5354_0001;

/// A client, and what it takes to open it again.
pub(crate) struct Connection {
    config: ::postgres::Config,
    /// `None` while a reconnection is under way.
    client: Option<::postgres::Client>,
    session: Session,
    /// A reconnection running on a thread of its own, for a connection
    /// whose waits are limited: its owner goes on meanwhile.
    reconnecting: Option<JoinHandle<Result<::postgres::Client, Error>>>,
}

/// What every session of a connection is set up with, again after a
/// reconnection.
#[derive(Debug, Clone, Default)]
struct Session {
    read_only: bool,
    /// Lock wait and statement limits (see [`Connection::limit_waits`]).
    limits: Option<(Duration, Duration)>,
    /// The advisory lock that shows this writer alive (see
    /// [`crate::backend::liveness`]).
    writer_lock: Option<(i32, i32)>,
}

impl Session {
    /// Applies the session's settings to a new client.
    fn prepare(&self, client: &mut ::postgres::Client) -> Result<(), Error> {
        let mut setup = String::new();
        if self.read_only {
            setup.push_str("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY;");
        }
        if let Some((lock, statement)) = self.limits {
            setup.push_str(&format!(
                "SET lock_timeout = {}; SET statement_timeout = {};",
                millis(lock),
                millis(statement)
            ));
        }
        if let Some((namespace, key)) = self.writer_lock {
            setup.push_str(&format!("SELECT pg_advisory_lock({namespace}, {key});"));
        }
        if !setup.is_empty() {
            client.batch_execute(&setup)?;
        }
        Ok(())
    }
}

/// Milliseconds for a PostgreSQL setting, where 0 would mean no limit.
fn millis(limit: Duration) -> u128 {
    limit.as_millis().max(1)
}

fn connect(config: &::postgres::Config, session: &Session) -> Result<::postgres::Client, Error> {
    let mut client = config
        .connect(::postgres::NoTls)
        .map_err(|source| Error::Connect {
            url: describe(config),
            source,
        })?;
    session.prepare(&mut client)?;
    Ok(client)
}

/// `postgres://user@host:port/db` for messages: never the password.
fn describe(config: &::postgres::Config) -> String {
    let user = config.get_user().unwrap_or("");
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            ::postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
            ::postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let db = config.get_dbname().unwrap_or("");
    format!("postgres://{user}@{}/{db}", hosts.join(","))
}

impl Connection {
    /// Connects, and creates or migrates the schema (`Create`), or checks
    /// there is a history here at all (`Existing`, `ReadOnly`).
    pub(crate) fn open(url: &str, mode: OpenMode) -> Result<Connection, Error> {
        let mut config: ::postgres::Config = url.parse().map_err(|e: ::postgres::Error| {
            Error::UnsupportedUrl(format!("{}: {e}", redact(url)))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let mut client = connect(&config, &Session::default())?;
        let found = applied_version(&mut client)?;
        schema::refuse_newer(found)?;
        if found == 0 && mode != OpenMode::Create {
            // A reader pointed at the wrong database must not see an empty history.
            return Err(Error::NotFound {
                path: PathBuf::from(redact(url)),
            });
        }
        if found < SCHEMA_VERSION {
            migrate(&mut client)?;
        }
        let session = Session {
            read_only: mode == OpenMode::ReadOnly,
            ..Session::default()
        };
        session.prepare(&mut client)?;
        Ok(Connection {
            config,
            client: Some(client),
            session,
            reconnecting: None,
        })
    }

    /// Limits how long a statement waits for a lock (`lock_timeout`) and
    /// runs in all (`statement_timeout`), in this session and every later
    /// one. A connection with limits also reconnects in the background: a
    /// call while the server is away fails at once with
    /// [`Error::Reconnecting`] instead of waiting out the connect timeout.
    pub(crate) fn limit_waits(&mut self, lock: Duration, statement: Duration) -> Result<(), Error> {
        self.session.limits = Some((lock, statement));
        match self.client.as_mut() {
            Some(client) if !client.is_closed() => self.session.prepare(client),
            _ => Ok(()),
        }
    }

    pub(crate) fn is_read_only(&self) -> bool {
        self.session.read_only
    }

    /// Takes the session advisory lock `key` now and after every
    /// reconnection, for as long as the connection lives.
    pub(crate) fn hold_session_lock(&mut self, key: (i32, i32)) -> Result<(), Error> {
        self.session.writer_lock = Some(key);
        self.client()?
            .execute("SELECT pg_advisory_lock($1, $2)", &[&key.0, &key.1])?;
        Ok(())
    }

    /// Whether another session holds the advisory lock `key`: taking it
    /// for a moment tells, and it is given back at once.
    pub(crate) fn session_lock_liveness(&mut self, key: (i32, i32)) -> Result<Liveness, Error> {
        let client = self.client()?;
        let taken: bool = client
            .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&key.0, &key.1])?
            .try_get(0)?;
        if !taken {
            return Ok(Liveness::Alive);
        }
        client.execute("SELECT pg_advisory_unlock($1, $2)", &[&key.0, &key.1])?;
        Ok(Liveness::Gone)
    }

    /// The client, reconnected first if the server closed the connection.
    fn client(&mut self) -> Result<&mut ::postgres::Client, Error> {
        if self.client.as_ref().is_some_and(|c| c.is_closed()) {
            self.client = None;
        }
        let client = match self.client.take() {
            Some(client) => client,
            None => self.reconnect()?,
        };
        Ok(self.client.insert(client))
    }

    fn reconnecting_error(&self) -> Error {
        Error::Reconnecting {
            url: describe(&self.config),
        }
    }

    /// A new client: at once for a connection without limits, else from a
    /// background attempt, started if none runs and taken when done.
    fn reconnect(&mut self) -> Result<::postgres::Client, Error> {
        if self.session.limits.is_none() {
            return connect(&self.config, &self.session);
        }
        let attempt = match self.reconnecting.take() {
            Some(attempt) => attempt,
            None => {
                let (config, session) = (self.config.clone(), self.session.clone());
                std::thread::Builder::new()
                    .name("workflow-history-reconnect".to_owned())
                    .spawn(move || connect(&config, &session))
                    .map_err(Error::Spawn)?
            }
        };
        if !attempt.is_finished() {
            self.reconnecting = Some(attempt);
            return Err(self.reconnecting_error());
        }
        let mut client = attempt.join().map_err(|_| self.reconnecting_error())??;
        // The limits may have changed while it connected.
        self.session.prepare(&mut client)?;
        Ok(client)
    }

    /// Runs `work` in one transaction: committed if it returns `Ok`.
    pub(crate) fn transaction<T>(
        &mut self,
        work: impl FnOnce(&mut dyn Exec) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut tx = self.write_transaction()?;
        let out = work(&mut tx)?;
        rollup::fold_pending(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }
}

impl Connection {
    /// A transaction that writes, at `READ COMMITTED` whatever the server's
    /// default: folding into the rollup reads a bucket after waiting for
    /// its lock, and must see what the writer before it committed.
    pub(crate) fn write_transaction(&mut self) -> Result<::postgres::Transaction<'_>, Error> {
        Ok(self
            .client()?
            .build_transaction()
            .isolation_level(::postgres::IsolationLevel::ReadCommitted)
            .start()?)
    }

    /// Runs `work` in a read-only `REPEATABLE READ` transaction: every
    /// query in it sees the same snapshot.
    pub(crate) fn snapshot<T>(
        &mut self,
        work: impl FnOnce(&mut dyn Exec) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut tx = self
            .client()?
            .build_transaction()
            .isolation_level(::postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let out = work(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }
}

/// The newest applied migration, 0 for a database without the table.
fn applied_version(client: &mut ::postgres::Client) -> Result<i64, Error> {
    let row = client.query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])?;
    if !row.try_get::<_, bool>(0)? {
        return Ok(0);
    }
    let row = client.query_one(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        &[],
    )?;
    Ok(row.try_get(0)?)
}

/// Applies every migration the database lacks, in one transaction holding
/// an advisory lock: a second worker waits for the lock, then finds the
/// work done.
fn migrate(client: &mut ::postgres::Client) -> Result<(), Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version     BIGINT PRIMARY KEY,
             name        TEXT NOT NULL,
             applied_at  TIMESTAMPTZ NOT NULL
         )",
    )?;
    let found: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?
        .try_get(0)?;
    schema::refuse_newer(found)?;
    for migration in POSTGRES_MIGRATIONS.iter().filter(|m| m.version > found) {
        tx.batch_execute(migration.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[&migration.version, &migration.name, &Utc::now()],
        )?;
    }
    // A migration may have noted runs for the rollup (0007 notes them all).
    rollup::fold_pending(&mut tx)?;
    tx.commit()?;
    Ok(())
}
