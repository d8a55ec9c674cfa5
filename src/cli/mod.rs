//! The `workflow-history` command line: raw arguments ([`args`]) are
//! resolved into a [`config::Config`], then one command runs and prints.
//!
//! Exit codes: 0 done; 1 the command failed (no database, unknown run,
//! database error); 2 the command line is wrong (unknown flag, bad value).
//! Every failure is one `error: ...` line on stderr, never a panic.

mod args;
mod commands;
mod config;
mod render;
mod serve;

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use workflow_history::surface::QueryError;
use workflow_history::{Error, HistoryStore};

use args::Args;
use commands::Output;
use config::{Action, Config, DB_VAR};

/// Why the command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A flag's value, or the environment, is wrong.
    #[error("{0}")]
    Usage(String),
    /// The database could not be opened.
    #[error("{source}{hint}")]
    Open {
        #[source]
        source: Error,
        hint: String,
    },
    /// A lookup failed.
    #[error(transparent)]
    Query(QueryError),
    /// The server could not start or stopped on an error.
    #[error("cannot serve on {addr}: {source}")]
    Serve {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The output could not be written.
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
    /// JSON output could not be produced.
    #[error("cannot write JSON: {0}")]
    Json(#[source] serde_json::Error),
}

impl CliError {
    pub(crate) fn open(source: Error) -> Self {
        let hint = match source {
            Error::NotFound { .. } => format!(" (give --db PATH or set {DB_VAR})"),
            _ => String::new(),
        };
        CliError::Open { source, hint }
    }

    fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Query(QueryError::BadParam(_)) => 2,
            _ => 1,
        }
    }
}

impl From<QueryError> for CliError {
    fn from(err: QueryError) -> Self {
        match err {
            QueryError::BadParam(param) => CliError::Usage(param.for_cli()),
            other => CliError::Query(other),
        }
    }
}

impl From<Error> for CliError {
    fn from(err: Error) -> Self {
        CliError::Query(QueryError::Store(err))
    }
}

/// Parses the command line, runs the command, and reports the outcome.
pub(crate) fn main() -> ExitCode {
    // clap prints its own usage errors and help, and exits 2 (0 for --help).
    let args = Args::parse();
    let env = |name: &str| std::env::var(name).ok();
    let color = render::use_color(std::io::stdout().is_terminal(), env);
    let result =
        Config::resolve(args, env, chrono::Utc::now()).and_then(|config| run(config, color));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let mut stderr = std::io::stderr().lock();
            // Errors quote run ids and names, which are recorded text too.
            let _ = writeln!(stderr, "error: {}", render::escape(err.to_string()));
            ExitCode::from(err.exit_code())
        }
    }
}

fn run(config: Config, color: bool) -> Result<(), CliError> {
    let db = config.db.as_str();
    let output = |json| Output { json, color };
    // Read-write when allowed, so runs a dead writer left open are closed
    // as abandoned before they are shown; read-only when the file is not
    // writable by this user, and then said once.
    let open = || HistoryStore::connect(db).map_err(CliError::open);
    let read = || {
        let store = open()?;
        note_unrecovered(&store, db);
        Ok::<_, CliError>(store)
    };
    let text = match config.action {
        Action::Runs { filter, json } => commands::runs(&read()?, &filter, output(json))?,
        Action::Show { run_id, json } => commands::show(&read()?, &run_id, output(json))?,
        Action::Logs {
            run_id,
            filter,
            json,
        } => commands::logs(&read()?, &run_id, &filter, output(json))?,
        Action::Stats {
            filter,
            by_workflow,
            json,
        } => commands::stats(&read()?, &filter, by_workflow, output(json))?,
        Action::Prune { age, dry_run, json } => {
            let store = if dry_run { read()? } else { open()? };
            if !dry_run && store.is_read_only() {
                return Err(CliError::open(Error::ReadOnly { path: db.into() }));
            }
            commands::prune(&store, age, dry_run, output(json))?
        }
        Action::Serve {
            addr,
            admin_token,
            max_wait,
        } => return serve::serve(db, addr, admin_token, max_wait),
    };
    print(&text)
}

/// Says, on stderr, that runs shown as running were left by writers that
/// are gone, when the store could not close them.
fn note_unrecovered(store: &HistoryStore, db: &str) {
    let runs = store.abandoned_left_open();
    if runs == 0 {
        return;
    }
    let plural = if runs == 1 { "" } else { "s" };
    let _ = writeln!(
        std::io::stderr(),
        "note: {runs} run{plural} shown as running belong to writers that are gone; \
         {db} is read-only here, so they could not be closed as abandoned"
    );
}

/// Writes the whole output at once. A closed pipe (`| head`) is the reader's
/// choice, not an error, so it is ignored rather than panicking as
/// `println!` would; any other write error (a full disk) is reported.
fn print(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Output(e)),
        _ => Ok(()),
    }
}
