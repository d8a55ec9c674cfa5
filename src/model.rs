//! The records of history: runs, steps, events, and the filter and
//! statistics types used to query them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A JSON object of named values: params, outputs, metrics, fields.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// Generates a status enum stored as its upper-case name.
macro_rules! status_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }
        terminal: [$($terminal:ident),+]
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "UPPERCASE")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every status, in lifecycle order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The upper-case name stored in the database, e.g. `"RUNNING"`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Whether the status is final: nothing changes it afterwards.
            pub fn is_terminal(self) -> bool {
                matches!(self, $($name::$terminal)|+)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = crate::Error;

            /// Parses a status name, ignoring ASCII case.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $(if s.eq_ignore_ascii_case($text) {
                    return Ok($name::$variant);
                })+
                Err(crate::Error::InvalidStatus(s.to_owned()))
            }
        }
    };
}

status_enum! {
    /// Where a workflow run is in its life.
    ///
    /// ```
    /// use workflow_history::WorkflowStatus;
    /// let status: WorkflowStatus = "failed".parse()?;
    /// assert_eq!(status, WorkflowStatus::Failed);
    /// assert!(status.is_terminal());
    /// assert_eq!(status.as_str(), "FAILED");
    /// # Ok::<(), workflow_history::Error>(())
    /// ```
    #[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
    WorkflowStatus {
        /// Created but not yet entered.
        Pending => "PENDING",
        /// Entered and not yet closed.
        Running => "RUNNING",
        /// Closed without error, cancellation or failed step.
        Completed => "COMPLETED",
        /// Closed with an error, a failed step or a panic.
        Failed => "FAILED",
        /// Closed after a `cancel_reason` was recorded.
        Cancelled => "CANCELLED",
    }
    terminal: [Completed, Failed, Cancelled]
}

status_enum! {
    /// Where a step is in its life.
    ///
    /// ```
    /// use workflow_history::StepStatus;
    /// assert_eq!("SKIPPED".parse::<StepStatus>()?, StepStatus::Skipped);
    /// assert!(!StepStatus::Running.is_terminal());
    /// # Ok::<(), workflow_history::Error>(())
    /// ```
    #[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
    StepStatus {
        /// Created but not yet entered.
        Pending => "PENDING",
        /// Entered and not yet closed.
        Running => "RUNNING",
        /// Closed without error or skip.
        Completed => "COMPLETED",
        /// Closed with an error or a panic.
        Failed => "FAILED",
        /// Closed after a `skip_reason` was recorded.
        Skipped => "SKIPPED",
    }
    terminal: [Completed, Failed, Skipped]
}

fn seconds_between(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Option<f64> {
    let elapsed = end? - start?;
    // Microsecond precision is what the database stores.
    elapsed.num_microseconds().map(|us| us as f64 / 1e6)
}

/// One execution of a workflow: a closed or open `workflow` span.
///
/// ```
/// use workflow_history::{WorkflowRun, WorkflowStatus};
/// let run = WorkflowRun::new("0193-example", "ingest");
/// assert_eq!(run.status, WorkflowStatus::Pending);
/// assert_eq!(run.triggered_by, "manual");
/// assert_eq!(run.duration_seconds(), None);
/// ```
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkflowRun {
    /// Unique id: a UUIDv7 unless the span gave `run_id`; for a later
    /// attempt of a given `run_id`, `<run_id>~<attempt>`.
    pub run_id: String,
    /// The `workflow` field of the span.
    pub workflow_name: String,
    /// The `domain` field, if given.
    pub domain: Option<String>,
    /// The `partition_key` field, if given.
    pub partition_key: Option<String>,
    /// Current status.
    pub status: WorkflowStatus,
    /// When the span was first entered.
    pub started_at: Option<DateTime<Utc>>,
    /// When the span closed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Every other field given when the span was created.
    #[cfg_attr(feature = "server", schema(value_type = Object))]
    pub params: JsonMap,
    /// `output.<name>` fields and other fields recorded later.
    #[cfg_attr(feature = "server", schema(value_type = Object))]
    pub outputs: JsonMap,
    /// The run's error, or the first failed step's.
    pub error: Option<String>,
    /// The `error_category` recorded with the error.
    pub error_category: Option<String>,
    /// `metric.<name>` fields recorded anywhere inside the run.
    #[cfg_attr(feature = "server", schema(value_type = Object))]
    pub metrics: JsonMap,
    /// The `triggered_by` field: `"manual"` unless given.
    pub triggered_by: String,
    /// When the span was created.
    pub created_at: DateTime<Utc>,
    /// The enclosing run, for a workflow span inside another.
    pub parent_run_id: Option<String>,
    /// The recorded `cancel_reason`, for a cancelled run.
    pub cancel_reason: Option<String>,
    /// 1, or 2, 3, ... when the span gave a `run_id` that earlier runs
    /// already had (a retry): each execution is a run of its own.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// For a later attempt, the id of the first (the `run_id` as given).
    #[serde(default)]
    pub first_attempt_id: Option<String>,
}

fn first_attempt() -> u32 {
    1
}

impl WorkflowRun {
    /// A pending run with the given id and workflow name, created now.
    pub fn new(run_id: impl Into<String>, workflow_name: impl Into<String>) -> Self {
        WorkflowRun {
            run_id: run_id.into(),
            workflow_name: workflow_name.into(),
            domain: None,
            partition_key: None,
            status: WorkflowStatus::Pending,
            started_at: None,
            completed_at: None,
            params: JsonMap::new(),
            outputs: JsonMap::new(),
            error: None,
            error_category: None,
            metrics: JsonMap::new(),
            triggered_by: "manual".to_owned(),
            created_at: Utc::now(),
            parent_run_id: None,
            cancel_reason: None,
            attempt: 1,
            first_attempt_id: None,
        }
    }

    /// Seconds from start to completion, `None` while unfinished.
    pub fn duration_seconds(&self) -> Option<f64> {
        seconds_between(self.started_at, self.completed_at)
    }

    /// Whether the run has reached a final status.
    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }
}

/// One execution of a step within a run: a `step` span.
///
/// ```
/// use workflow_history::{StepRun, StepStatus};
/// let step = StepRun::new("run-1", 2, "transform");
/// assert_eq!(step.step_id, "run-1-2");
/// assert_eq!(step.step_type, "step");
/// assert!(!step.is_terminal());
/// ```
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StepRun {
    /// `{run_id}-{step_order}`.
    pub step_id: String,
    /// The run this step belongs to.
    pub run_id: String,
    /// The `step` field of the span.
    pub step_name: String,
    /// The `step_type` field: `"step"` unless given.
    pub step_type: String,
    /// Position by start within the run, from 1.
    pub step_order: u32,
    /// Current status.
    pub status: StepStatus,
    /// When the span was first entered.
    pub started_at: Option<DateTime<Utc>>,
    /// When the span closed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Every other field given when the span was created.
    #[cfg_attr(feature = "server", schema(value_type = Object))]
    pub input_params: JsonMap,
    /// `output.<name>` fields and other fields recorded later.
    #[cfg_attr(feature = "server", schema(value_type = Object))]
    pub output_data: JsonMap,
    /// The step's error.
    pub error: Option<String>,
    /// The `error_category` recorded with the error.
    pub error_category: Option<String>,
    /// The `records_processed` field.
    pub records_processed: Option<i64>,
    /// The `quality_passed` field.
    pub quality_passed: Option<bool>,
    /// `quality.<name>` fields.
    #[cfg_attr(feature = "server", schema(value_type = Object))]
    pub quality_metrics: JsonMap,
    /// The enclosing step, for a step span inside another.
    pub parent_step_id: Option<String>,
    /// The recorded `skip_reason`, for a skipped step.
    pub skip_reason: Option<String>,
}

impl StepRun {
    /// A pending step of `run_id` at position `step_order`.
    pub fn new(run_id: impl Into<String>, step_order: u32, step_name: impl Into<String>) -> Self {
        let run_id = run_id.into();
        StepRun {
            step_id: format!("{run_id}-{step_order}"),
            run_id,
            step_name: step_name.into(),
            step_type: "step".to_owned(),
            step_order,
            status: StepStatus::Pending,
            started_at: None,
            completed_at: None,
            input_params: JsonMap::new(),
            output_data: JsonMap::new(),
            error: None,
            error_category: None,
            records_processed: None,
            quality_passed: None,
            quality_metrics: JsonMap::new(),
            parent_step_id: None,
            skip_reason: None,
        }
    }

    /// Seconds from start to completion, `None` while unfinished.
    pub fn duration_seconds(&self) -> Option<f64> {
        seconds_between(self.started_at, self.completed_at)
    }

    /// Whether the step has reached a final status.
    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }
}

/// What kind of thing a [`RunEvent`] records.
///
/// ```
/// use workflow_history::EventKind;
/// assert_eq!(EventKind::StatusChanged.as_str(), "status_changed");
/// ```
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A `tracing` event captured inside the run.
    Log,
    /// A status transition of the run or one of its steps.
    StatusChanged,
}

impl EventKind {
    /// The name stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Log => "log",
            EventKind::StatusChanged => "status_changed",
        }
    }

    pub(crate) fn from_db(s: &str) -> Option<Self> {
        match s {
            "log" => Some(EventKind::Log),
            "status_changed" => Some(EventKind::StatusChanged),
            _ => None,
        }
    }
}

/// An immutable entry of a run's log or audit trail.
///
/// Log entries carry `level`, `target` and `message`; status changes carry
/// `{"old": ..., "new": ...}` in `fields`.
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunEvent {
    /// Database id; increases in the order events were written.
    pub event_id: i64,
    /// The run the event belongs to.
    pub run_id: String,
    /// The step it happened in, if any.
    pub step_id: Option<String>,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// `log` or `status_changed`.
    pub kind: EventKind,
    /// Level of a log event (`"INFO"`, `"ERROR"`, ...).
    pub level: Option<String>,
    /// `tracing` target of a log event.
    pub target: Option<String>,
    /// The event's message.
    pub message: Option<String>,
    /// The event's other fields.
    #[cfg_attr(feature = "server", schema(value_type = Object))]
    pub fields: JsonMap,
}

/// Which runs a query selects. Build it with struct update syntax.
///
/// ```
/// use workflow_history::{RunFilter, WorkflowStatus};
/// let filter = RunFilter {
///     workflow_name: Some("ingest".into()),
///     status: Some(WorkflowStatus::Failed),
///     since: Some(chrono::Utc::now() - chrono::Duration::days(7)),
///     ..RunFilter::default()
/// };
/// assert_eq!(filter.limit, 100);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunFilter {
    /// Only runs of this workflow.
    pub workflow_name: Option<String>,
    /// Only runs of this domain.
    pub domain: Option<String>,
    /// Only runs of this partition.
    pub partition_key: Option<String>,
    /// Only runs in this status.
    pub status: Option<WorkflowStatus>,
    /// Only runs started at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only runs started at or before this time.
    pub until: Option<DateTime<Utc>>,
    /// At most this many runs from a listing (default 100).
    pub limit: u32,
    /// Skip this many runs of a listing.
    pub offset: u64,
    /// Only runs listed after this one (newest first): keyset pagination.
    /// The next page starts after the last run of this one, in constant
    /// time however deep, where a large `offset` walks every skipped run.
    pub after: Option<RunCursor>,
}

/// A position in a listing: the run a page ended with.
///
/// ```no_run
/// use workflow_history::{HistoryStore, RunCursor, RunFilter};
/// # fn docs() -> Result<(), workflow_history::Error> {
/// let store = HistoryStore::open_sqlite("history.db")?;
/// let mut filter = RunFilter { limit: 50, ..RunFilter::default() };
/// loop {
///     let page = store.list_runs(&filter)?;
///     let Some(last) = page.last() else { break };
///     filter.after = RunCursor::after(last);
///     // ... use the page ...
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCursor {
    /// The run's `started_at`.
    pub started_at: DateTime<Utc>,
    /// The run's id, which orders runs that started at the same time.
    pub run_id: String,
}

impl RunCursor {
    /// The position right after `run`; `None` for a run never started,
    /// which no listing returns.
    pub fn after(run: &WorkflowRun) -> Option<RunCursor> {
        Some(RunCursor {
            started_at: run.started_at?,
            run_id: run.run_id.clone(),
        })
    }
}

/// The cursor as text, for a URL or a command line:
/// `<started_at in microseconds since 1970>_<run_id>`.
///
/// ```
/// use workflow_history::RunCursor;
/// let cursor: RunCursor = "1736498400123456_0193-a_b".parse()?;
/// assert_eq!(cursor.run_id, "0193-a_b");
/// assert_eq!(cursor.to_string(), "1736498400123456_0193-a_b");
/// # Ok::<(), workflow_history::Error>(())
/// ```
impl fmt::Display for RunCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.started_at.timestamp_micros(), self.run_id)
    }
}

impl FromStr for RunCursor {
    type Err = crate::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || crate::Error::InvalidCursor(text.to_owned());
        let (micros, run_id) = text.split_once('_').ok_or_else(bad)?;
        let micros: i64 = micros.parse().map_err(|_| bad())?;
        let started_at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
        if run_id.is_empty() {
            return Err(bad());
        }
        Ok(RunCursor {
            started_at,
            run_id: run_id.to_owned(),
        })
    }
}

impl RunFilter {
    /// The default page size of a listing.
    pub const DEFAULT_LIMIT: u32 = 100;
}

impl Default for RunFilter {
    fn default() -> Self {
        RunFilter {
            workflow_name: None,
            domain: None,
            partition_key: None,
            status: None,
            since: None,
            until: None,
            limit: Self::DEFAULT_LIMIT,
            offset: 0,
            after: None,
        }
    }
}

/// Counts and durations of the runs a filter selects.
///
/// Durations cover finished runs (completed, failed or cancelled);
/// percentiles use the nearest-rank method.
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunStatistics {
    /// Runs selected.
    pub total_runs: u64,
    /// Of which completed.
    pub completed: u64,
    /// Of which failed.
    pub failed: u64,
    /// Of which cancelled.
    pub cancelled: u64,
    /// Of which pending or running.
    pub running: u64,
    /// Of all selected, how many are a retry: a later attempt of a
    /// `run_id` given before.
    #[serde(default)]
    pub retries: u64,
    /// Completed over finished runs; 0 when none finished.
    pub success_rate: f64,
    /// Mean duration of finished runs.
    pub avg_duration_seconds: Option<f64>,
    /// Median duration of finished runs.
    pub p50_duration_seconds: Option<f64>,
    /// 95th percentile duration of finished runs.
    pub p95_duration_seconds: Option<f64>,
    /// Longest duration of finished runs.
    pub max_duration_seconds: Option<f64>,
}

/// Which of a run's events [`HistoryStore::get_events_filtered`] returns.
///
/// [`HistoryStore::get_events_filtered`]: crate::HistoryStore::get_events_filtered
///
/// ```
/// use workflow_history::EventFilter;
/// let filter = EventFilter {
///     step_name: Some("quality_check".into()),
///     min_level: Some(tracing::Level::WARN),
/// };
/// assert_ne!(filter, EventFilter::default());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events inside steps of this name (every step of that name, so
    /// retries are included), status changes of those steps too.
    pub step_name: Option<String>,
    /// Only log events at this level or more severe. Status changes have no
    /// level, so a minimum level leaves them out.
    pub min_level: Option<tracing::Level>,
}

/// What a full or shortened run id designates; see
/// [`HistoryStore::resolve_run_id`](crate::HistoryStore::resolve_run_id).
///
/// ```
/// use workflow_history::RunIdMatch;
/// let found = RunIdMatch::Found("0193a1b2-0000-7000-8000-000000000000".into());
/// assert!(matches!(found, RunIdMatch::Found(id) if id.starts_with("0193")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunIdMatch {
    /// The full id of the one run that has this id, or the only run whose id
    /// starts with it.
    Found(String),
    /// No run has this id or starts with it.
    NotFound,
    /// Several runs start with it: a few of their ids, in id order.
    Ambiguous(Vec<String>),
}

/// [`RunStatistics`] of the runs of one workflow.
///
/// ```
/// use workflow_history::{RunStatistics, WorkflowStatistics};
/// let stats = WorkflowStatistics {
///     workflow_name: "ingest".into(),
///     statistics: RunStatistics::default(),
/// };
/// // The statistics' fields sit beside the name in JSON.
/// let json = serde_json::to_value(&stats)?;
/// assert_eq!(json["workflow_name"], "ingest");
/// assert_eq!(json["total_runs"], 0);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct WorkflowStatistics {
    /// The workflow.
    pub workflow_name: String,
    /// Its runs' counts and durations.
    #[serde(flatten)]
    pub statistics: RunStatistics,
}

/// How many runs of one workflow something counts, e.g. what retention
/// would delete.
///
/// ```
/// use workflow_history::WorkflowCount;
/// let count = WorkflowCount { workflow_name: "ingest".into(), runs: 3 };
/// assert_eq!(count.runs, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct WorkflowCount {
    /// The workflow.
    pub workflow_name: String,
    /// Its runs counted.
    pub runs: u64,
}
