//! What both surfaces answer: the JSON bodies of the HTTP API (also what
//! the command line prints with `--json`), and the lookups that fill them.
//!
//! Field names here are a stable contract, listed in the README: add
//! fields, never rename or remove one.
//!
//! ```no_run
//! use workflow_history::surface::body::RunPage;
//! # fn docs() -> Result<(), Box<dyn std::error::Error>> {
//! let store = workflow_history::HistoryStore::open_sqlite_read_only("history.db")?;
//! let page = RunPage::load(&store, &Default::default())?;
//! println!("{} of {} runs", page.runs.len(), page.total);
//! # Ok(()) }
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::QueryError;
use crate::{
    EventFilter, HistoryStore, RunCursor, RunEvent, RunFilter, RunIdMatch, RunStatistics, StepRun,
    WorkflowCount, WorkflowRun, WorkflowStatistics,
};

/// A run, with its duration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    /// The run as recorded.
    #[serde(flatten)]
    pub run: WorkflowRun,
    /// Seconds from start to completion; null while running.
    pub duration_seconds: Option<f64>,
}

impl From<WorkflowRun> for RunView {
    fn from(run: WorkflowRun) -> Self {
        RunView {
            duration_seconds: run.duration_seconds(),
            run,
        }
    }
}

/// A step, with its duration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StepView {
    /// The step as recorded.
    #[serde(flatten)]
    pub step: StepRun,
    /// Seconds from start to completion; null while running.
    pub duration_seconds: Option<f64>,
}

impl From<StepRun> for StepView {
    fn from(step: StepRun) -> Self {
        StepView {
            duration_seconds: step.duration_seconds(),
            step,
        }
    }
}

/// One page of runs, newest started first, and how many match in all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunPage {
    /// The runs of this page.
    pub runs: Vec<RunView>,
    /// Runs matching the filters, over all pages.
    pub total: u64,
    /// The page size used.
    pub limit: u32,
    /// The runs skipped before this page.
    pub offset: u64,
    /// The cursor of the next (older) page, to pass as `after`; null when
    /// this page is the last.
    pub next: Option<String>,
}

impl RunPage {
    /// The page of runs the filter selects, and their total count.
    ///
    /// # Errors
    /// A failed query.
    pub fn load(store: &HistoryStore, filter: &RunFilter) -> Result<Self, QueryError> {
        let runs = store.list_runs(filter)?;
        // A cursor is a position in the listing, not a filter: the total
        // counts every match, on every page.
        let total = store.count_runs(&RunFilter {
            after: None,
            ..filter.clone()
        })?;
        // A short page is the last one; a full one may be too, and the page
        // after it is then empty.
        let next = if runs.len() as u64 == u64::from(filter.limit) {
            runs.last()
                .and_then(RunCursor::after)
                .map(|c| c.to_string())
        } else {
            None
        };
        Ok(RunPage {
            runs: runs.into_iter().map(RunView::from).collect(),
            total,
            limit: filter.limit,
            offset: filter.offset,
            next,
        })
    }
}

/// A run with its steps, by step order, and the other attempts of a
/// retried run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunDetail {
    /// The run.
    pub run: RunView,
    /// Its steps, by `step_order`.
    pub steps: Vec<StepView>,
    /// Every attempt of the run, this one included, by attempt number,
    /// when its `run_id` was given more than once; empty otherwise.
    #[serde(default)]
    pub attempts: Vec<AttemptView>,
}

/// One attempt of a retried run, in a [`RunDetail`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    /// The attempt's run id.
    pub run_id: String,
    /// 1 for the first.
    pub attempt: u32,
    /// Its status.
    pub status: crate::WorkflowStatus,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// Seconds from start to completion, `null` while unfinished.
    pub duration_seconds: Option<f64>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

impl From<WorkflowRun> for AttemptView {
    fn from(run: WorkflowRun) -> Self {
        AttemptView {
            duration_seconds: run.duration_seconds(),
            run_id: run.run_id,
            attempt: run.attempt,
            status: run.status,
            started_at: run.started_at,
            error: run.error,
        }
    }
}

impl RunDetail {
    /// The run designated by a full or shortened id, with its steps.
    ///
    /// # Errors
    /// [`QueryError::RunNotFound`], [`QueryError::AmbiguousRunId`], a failed
    /// query.
    pub fn load(store: &HistoryStore, run_id: &str) -> Result<Self, QueryError> {
        let run_id = resolve_run_id(store, run_id)?;
        // Deleted between the two reads: as unknown as if never recorded.
        let run = store
            .get_run(&run_id)?
            .ok_or_else(|| QueryError::RunNotFound(run_id.clone()))?;
        let steps = store.get_steps(&run_id)?;
        let retried = run.attempt > 1 || store.latest_attempt_id(&run_id)?.is_some();
        let attempts = if retried {
            store.get_attempts(&run_id)?
        } else {
            Vec::new()
        };
        Ok(RunDetail {
            run: run.into(),
            steps: steps.into_iter().map(StepView::from).collect(),
            attempts: attempts.into_iter().map(AttemptView::from).collect(),
        })
    }
}

/// A run's events, in the order they happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventList {
    /// The run's full id.
    pub run_id: String,
    /// Its events that the filters select.
    pub events: Vec<RunEvent>,
}

impl EventList {
    /// The events of the run designated by a full or shortened id.
    ///
    /// # Errors
    /// As [`RunDetail::load`].
    pub fn load(
        store: &HistoryStore,
        run_id: &str,
        filter: &EventFilter,
    ) -> Result<Self, QueryError> {
        let run_id = resolve_run_id(store, run_id)?;
        let events = store.get_events_filtered(&run_id, filter)?;
        Ok(EventList { run_id, events })
    }
}

/// Statistics of the selected runs, and per workflow when asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatisticsReport {
    /// Over all selected runs.
    #[serde(flatten)]
    pub overall: RunStatistics,
    /// Per workflow, by name; only with `by=workflow` (`--by workflow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_workflow: Option<Vec<WorkflowStatistics>>,
}

impl StatisticsReport {
    /// The statistics of the runs the filter selects.
    ///
    /// # Errors
    /// A failed query.
    pub fn load(
        store: &HistoryStore,
        filter: &RunFilter,
        by_workflow: bool,
    ) -> Result<Self, QueryError> {
        Ok(StatisticsReport {
            overall: store.statistics(filter)?,
            by_workflow: if by_workflow {
                Some(store.statistics_by_workflow(filter)?)
            } else {
                None
            },
        })
    }
}

/// What retention deleted (or, for a dry run, would delete).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PruneReport {
    /// Runs started before this time are the ones deleted.
    pub cutoff: DateTime<Utc>,
    /// True when nothing was deleted, only counted.
    pub dry_run: bool,
    /// Runs deleted (or that would be), with their steps and events.
    pub runs_deleted: u64,
    /// The same, per workflow.
    pub by_workflow: Vec<WorkflowCount>,
}

impl PruneReport {
    /// Counts the runs started more than `age` before `now`, then deletes
    /// them unless `dry_run`.
    ///
    /// # Errors
    /// A failed query or delete.
    pub fn run(
        store: &HistoryStore,
        age: chrono::Duration,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Self, QueryError> {
        let cutoff = now - age;
        let by_workflow = store.count_runs_started_before(cutoff)?;
        let runs_deleted = if dry_run {
            by_workflow.iter().map(|w| w.runs).sum()
        } else {
            store.delete_runs_started_before(cutoff)?
        };
        Ok(PruneReport {
            cutoff,
            dry_run,
            runs_deleted,
            by_workflow,
        })
    }
}

/// The answer of `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `"ok"` when the database answered a query.
    pub status: String,
    /// The schema version this server reads.
    pub schema_version: i64,
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code: `bad_parameter`, `run_not_found`, `ambiguous_run_id`,
    /// `unauthorized`, `forbidden`, `not_found`, `method_not_allowed`,
    /// `busy` (503, with `Retry-After`: every database connection stayed
    /// busy), `unavailable` or `internal`.
    pub error: String,
    /// A sentence for people: what was wrong and what would be right.
    pub detail: String,
}

/// The full id of the run designated by a full or shortened id (see
/// [`HistoryStore::resolve_run_id`]). A run whose id was given again
/// later designates its latest attempt: `<id>~1` names the first.
///
/// # Errors
/// [`QueryError::BadParam`] for an empty id, [`QueryError::RunNotFound`],
/// [`QueryError::AmbiguousRunId`], a failed query.
pub fn resolve_run_id(store: &HistoryStore, id_or_prefix: &str) -> Result<String, QueryError> {
    let id_or_prefix = super::params::parse_run_id(id_or_prefix)?;
    match store.resolve_run_id(id_or_prefix)? {
        // `<id>~<n>` names that attempt; any other id, the latest.
        RunIdMatch::Found(run_id)
            if id_or_prefix != run_id && crate::store::names_attempt(id_or_prefix) =>
        {
            Ok(run_id)
        }
        RunIdMatch::Found(run_id) => Ok(store.latest_attempt_id(&run_id)?.unwrap_or(run_id)),
        RunIdMatch::NotFound => Err(QueryError::RunNotFound(id_or_prefix.to_owned())),
        RunIdMatch::Ambiguous(candidates) => Err(QueryError::AmbiguousRunId {
            prefix: id_or_prefix.to_owned(),
            candidates,
        }),
    }
}
