//! The raw command line, as clap reads it: strings in, nothing checked
//! beyond shape. [`super::config`] turns it into what to do, with the same
//! parsers the HTTP API uses.

use clap::{Args as ClapArgs, Parser, Subcommand};

/// Query recorded workflow runs, and serve them over HTTP.
#[derive(Debug, Parser)]
#[command(name = "workflow-history", version, about, max_term_width = 100)]
pub(crate) struct Args {
    /// The history database file
    /// [default: $WORKFLOW_HISTORY_DATABASE_URL, else ./history.db]
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) db: Option<String>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List runs, newest started first.
    Runs {
        #[command(flatten)]
        filters: FilterArgs,
        /// Show at most N runs, 1 to 10000 [default: 50]
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        limit: Option<String>,
        /// Skip the first N runs [default: 0]
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        offset: Option<String>,
        /// Only runs after this cursor: the "next page" a listing printed
        #[arg(long, value_name = "CURSOR", allow_hyphen_values = true)]
        after: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show one run: its fields, steps with a timeline, and its log.
    Show {
        /// A run id, or enough of its start to designate one run
        run_id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Print the events captured in a run.
    Logs {
        /// A run id, or enough of its start to designate one run
        run_id: String,
        /// Only events inside steps of this name
        #[arg(long, value_name = "NAME")]
        step: Option<String>,
        /// Only events at this level or more severe (error, warn, info, debug, trace)
        #[arg(long, value_name = "LEVEL")]
        level: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Counts, success rate and durations of the selected runs.
    Stats {
        #[command(flatten)]
        filters: FilterArgs,
        /// Also per workflow (`--by workflow`)
        #[arg(long, value_name = "GROUP")]
        by: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Delete runs started before a given age, with their steps and events.
    Prune {
        /// The age, as in 90d, 12w, 36h
        #[arg(long, value_name = "AGE", allow_hyphen_values = true)]
        older_than: String,
        /// Only count what would be deleted
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Serve the HTTP API.
    Serve {
        /// The address to listen on (port 0 picks a free one)
        #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8080")]
        addr: String,
        /// Enable DELETE /history/runs/old for requests bearing this token
        /// [default: $WORKFLOW_HISTORY_ADMIN_TOKEN]
        #[arg(long, value_name = "TOKEN")]
        admin_token: Option<String>,
        /// Longest a request waits for a free database connection before it
        /// is answered 503 with Retry-After
        #[arg(long, value_name = "MILLISECONDS", default_value_t = 2000)]
        max_wait_ms: u64,
    },
}

/// The run filters shared by `runs` and `stats`.
#[derive(Debug, ClapArgs)]
pub(crate) struct FilterArgs {
    /// Only runs of this workflow
    #[arg(long, value_name = "NAME")]
    pub(crate) workflow: Option<String>,
    /// Only runs of this domain
    #[arg(long, value_name = "DOMAIN")]
    pub(crate) domain: Option<String>,
    /// Only runs of this partition key
    #[arg(long, value_name = "KEY")]
    pub(crate) partition: Option<String>,
    /// Only runs in this status (pending, running, completed, failed, cancelled)
    #[arg(long, value_name = "STATUS")]
    pub(crate) status: Option<String>,
    /// Only runs started at or after: RFC 3339, a date (UTC), or an age (30m, 12h, 7d)
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,
    /// Only runs started at or before; same forms as --since
    #[arg(long, value_name = "TIME")]
    pub(crate) until: Option<String>,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct OutputArgs {
    /// Print JSON (field names as in the README) instead of text
    #[arg(long)]
    pub(crate) json: bool,
}
