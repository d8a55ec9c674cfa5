//! What to do, resolved from the raw [`Args`] and the environment: every
//! value parsed (with the HTTP API's parsers), every default applied.
//! Nothing here touches the database.

use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use workflow_history::surface::params::{
    EventQuery, Limits, Param, ParamError, RunQuery, StatisticsQuery, parse_age,
};
use workflow_history::{DATABASE_URL_VAR, DatabaseTarget, HistoryLayer};
use workflow_history::{EventFilter, RunFilter};

use super::CliError;
use super::args::{Args, Command, FilterArgs};

/// Where the database is when neither `--db` nor the variable says: where
/// a layer built without a database records.
const DEFAULT_DB: &str = HistoryLayer::DEFAULT_SQLITE_PATH;
/// The database, when `--db` is not given: the variable a layer reads too.
pub(crate) const DB_VAR: &str = DATABASE_URL_VAR;
/// The admin token, when `--admin-token` is not given.
pub(crate) const TOKEN_VAR: &str = "WORKFLOW_HISTORY_ADMIN_TOKEN";

/// A resolved command line.
#[derive(Debug)]
pub(crate) struct Config {
    /// The database file.
    /// The database's path or URL, as given.
    pub(crate) db: String,
    /// What to do with it.
    pub(crate) action: Action,
}

#[derive(Debug)]
pub(crate) enum Action {
    Runs {
        filter: RunFilter,
        json: bool,
    },
    Show {
        run_id: String,
        json: bool,
    },
    Logs {
        run_id: String,
        filter: EventFilter,
        json: bool,
    },
    Stats {
        filter: RunFilter,
        by_workflow: bool,
        json: bool,
    },
    Prune {
        age: chrono::Duration,
        dry_run: bool,
        json: bool,
    },
    Serve {
        addr: SocketAddr,
        admin_token: Option<String>,
        max_wait: std::time::Duration,
    },
}

impl Config {
    /// Resolves `args`, reading variables through `env` and taking relative
    /// times back from `now`.
    pub(crate) fn resolve(
        args: Args,
        env: impl Fn(&str) -> Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Config, CliError> {
        let db = database_url(args.db.or_else(|| env(DB_VAR)))?;
        let action = match args.command {
            Command::Runs {
                filters,
                limit,
                offset,
                after,
                output,
            } => Action::Runs {
                filter: RunQuery {
                    limit,
                    offset,
                    after,
                    ..run_query(filters)
                }
                .to_filter(now, Limits::CLI)?,
                json: output.json,
            },
            Command::Show { run_id, output } => Action::Show {
                run_id,
                json: output.json,
            },
            Command::Logs {
                run_id,
                step,
                level,
                output,
            } => Action::Logs {
                run_id,
                filter: EventQuery { step, level }.to_filter()?,
                json: output.json,
            },
            Command::Stats {
                filters,
                by,
                output,
            } => {
                let query = run_query(filters);
                let (filter, by_workflow) = StatisticsQuery {
                    workflow_name: query.workflow_name,
                    domain: query.domain,
                    partition_key: query.partition_key,
                    status: query.status,
                    since: query.since,
                    until: query.until,
                    by,
                }
                .to_filter(now)?;
                Action::Stats {
                    filter,
                    by_workflow,
                    json: output.json,
                }
            }
            Command::Prune {
                older_than,
                dry_run,
                output,
            } => Action::Prune {
                age: parse_age(Param::OlderThan, &older_than)?,
                dry_run,
                json: output.json,
            },
            Command::Serve {
                addr,
                admin_token,
                max_wait_ms,
            } => Action::Serve {
                max_wait: std::time::Duration::from_millis(max_wait_ms),
                addr: addr.parse().map_err(|_| {
                    CliError::Usage(format!(
                        "--addr: cannot read {addr:?} as IP:PORT, as in 127.0.0.1:8080"
                    ))
                })?,
                admin_token: admin_token
                    .or_else(|| env(TOKEN_VAR))
                    .filter(|token| !token.is_empty()),
            },
        };
        Ok(Config { db, action })
    }
}

/// The filters as the HTTP API names them, so one parser serves both.
fn run_query(filters: FilterArgs) -> RunQuery {
    RunQuery {
        workflow_name: filters.workflow,
        domain: filters.domain,
        partition_key: filters.partition,
        status: filters.status,
        since: filters.since,
        until: filters.until,
        limit: None,
        offset: None,
        after: None,
    }
}

/// A file path, an SQLite URL (`sqlite://path`, `sqlite:path`) or a
/// PostgreSQL URL (`postgres://...`, with the `postgres` feature): the forms
/// a `DATABASE_URL`-style variable takes. Checked here, opened later.
fn database_url(given: Option<String>) -> Result<String, CliError> {
    let Some(given) = given.filter(|text| !text.is_empty()) else {
        return Ok(DEFAULT_DB.to_owned());
    };
    given
        .parse::<DatabaseTarget>()
        .map_err(|e| CliError::Usage(format!("--db: {e}")))?;
    Ok(given)
}

impl From<ParamError> for CliError {
    fn from(err: ParamError) -> Self {
        CliError::Usage(err.for_cli())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn resolve(argv: &[&str], vars: &[(&str, &str)]) -> Result<Config, CliError> {
        let args =
            Args::try_parse_from(std::iter::once("workflow-history").chain(argv.iter().copied()))
                .expect("clap accepts the shape");
        let env = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        Config::resolve(args, env, Utc::now())
    }

    #[test]
    fn database_from_flag_then_variable_then_default() {
        let db = |argv: &[&str], vars: &[(&str, &str)]| resolve(argv, vars).unwrap().db;
        assert_eq!(db(&["runs"], &[]), "history.db");
        assert_eq!(
            db(&["runs"], &[(DB_VAR, "sqlite:///var/lib/h.db")]),
            "sqlite:///var/lib/h.db"
        );
        assert_eq!(db(&["--db", "x.db", "runs"], &[(DB_VAR, "y.db")]), "x.db");
        assert_eq!(db(&["runs", "--db", "x.db"], &[]), "x.db");
        let postgres = resolve(&["runs"], &[(DB_VAR, "postgres://h/db")]);
        if cfg!(feature = "postgres") {
            assert_eq!(postgres.unwrap().db, "postgres://h/db");
        } else {
            assert!(matches!(postgres, Err(CliError::Usage(_))));
        }
    }

    #[test]
    fn bad_values_name_the_flag() {
        let message = |argv: &[&str]| match resolve(argv, &[]) {
            Err(CliError::Usage(message)) => message,
            other => panic!("{other:?}"),
        };
        assert!(message(&["runs", "--status", "done"]).starts_with("--status: "));
        assert!(message(&["runs", "--limit", "-3"]).starts_with("--limit: "));
        assert!(message(&["stats", "--since", "tuesday"]).starts_with("--since: "));
        assert!(message(&["prune", "--older-than", "0d"]).starts_with("--older-than: "));
        assert!(message(&["serve", "--addr", "localhost"]).starts_with("--addr: "));
    }

    #[test]
    fn admin_token_from_flag_or_variable() {
        let token = |argv: &[&str], vars: &[(&str, &str)]| match resolve(argv, vars).unwrap().action
        {
            Action::Serve { admin_token, .. } => admin_token,
            other => panic!("{other:?}"),
        };
        assert_eq!(token(&["serve"], &[]), None);
        assert_eq!(token(&["serve"], &[(TOKEN_VAR, "t")]), Some("t".to_owned()));
        assert_eq!(
            token(&["serve", "--admin-token", "f"], &[(TOKEN_VAR, "t")]),
            Some("f".to_owned())
        );
        assert_eq!(token(&["serve"], &[(TOKEN_VAR, "")]), None);
    }
}
