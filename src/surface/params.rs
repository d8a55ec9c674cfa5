//! Query parameters as users type them, and their parsing: one place for
//! the HTTP API and the command line, so both accept exactly the same
//! spellings and reject the same mistakes with the same words.
//!
//! Raw values stay strings until parsed here, so a bad value becomes a
//! [`ParamError`] naming the parameter, never a framework's generic
//! rejection. An empty value counts as not given (what HTML forms send).
//!
//! ```
//! use workflow_history::surface::params::{Limits, RunQuery};
//! let query = RunQuery {
//!     workflow_name: Some("ingest".into()),
//!     status: Some("failed".into()),
//!     since: Some("7d".into()),
//!     ..RunQuery::default()
//! };
//! let now = chrono::Utc::now();
//! let filter = query.to_filter(now, Limits::HTTP)?;
//! assert_eq!(filter.limit, 50);
//! assert_eq!(filter.since, Some(now - chrono::Duration::days(7)));
//! # Ok::<(), workflow_history::surface::params::ParamError>(())
//! ```

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{RunFilter, WorkflowStatus};

/// The longest age accepted anywhere: about a century, far beyond any
/// retention policy, and small enough that date arithmetic cannot overflow.
pub const MAX_AGE_DAYS: i64 = 36_500;

/// Which parameter a value was given for; names it the way each surface
/// spells it.
///
/// ```
/// use workflow_history::surface::params::Param;
/// assert_eq!(Param::PartitionKey.query_name(), "partition_key");
/// assert_eq!(Param::PartitionKey.flag(), "--partition");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Param {
    /// `workflow_name` / `--workflow`.
    WorkflowName,
    /// `domain` / `--domain`.
    Domain,
    /// `partition_key` / `--partition`.
    PartitionKey,
    /// `status` / `--status`.
    Status,
    /// `since` / `--since`.
    Since,
    /// `until` / `--until`.
    Until,
    /// `limit` / `--limit`.
    Limit,
    /// `offset` / `--offset`.
    Offset,
    /// `after` / `--after`.
    After,
    /// `step` / `--step`.
    Step,
    /// `level` / `--level`.
    Level,
    /// `by` / `--by`.
    By,
    /// `days` (HTTP retention).
    Days,
    /// `--older-than` (command-line retention).
    OlderThan,
    /// A run id in a path or argument.
    RunId,
}

impl Param {
    /// The HTTP query parameter's name.
    pub fn query_name(self) -> &'static str {
        match self {
            Param::WorkflowName => "workflow_name",
            Param::Domain => "domain",
            Param::PartitionKey => "partition_key",
            Param::Status => "status",
            Param::Since => "since",
            Param::Until => "until",
            Param::Limit => "limit",
            Param::Offset => "offset",
            Param::After => "after",
            Param::Step => "step",
            Param::Level => "level",
            Param::By => "by",
            Param::Days => "days",
            Param::OlderThan => "older_than",
            Param::RunId => "run_id",
        }
    }

    /// The command-line flag (or argument) name.
    pub fn flag(self) -> &'static str {
        match self {
            Param::WorkflowName => "--workflow",
            Param::Domain => "--domain",
            Param::PartitionKey => "--partition",
            Param::Status => "--status",
            Param::Since => "--since",
            Param::Until => "--until",
            Param::Limit => "--limit",
            Param::Offset => "--offset",
            Param::After => "--after",
            Param::Step => "--step",
            Param::Level => "--level",
            Param::By => "--by",
            Param::Days => "--days",
            Param::OlderThan => "--older-than",
            Param::RunId => "RUN_ID",
        }
    }
}

/// A parameter value that could not be used; says which and why.
///
/// Its `Display` uses the HTTP name; the command line prints
/// [`ParamError::for_cli`] instead.
///
/// ```
/// use workflow_history::surface::params::{parse_status, Param};
/// let err = parse_status(Param::Status, "finished").unwrap_err();
/// assert_eq!(err.param, Param::Status);
/// assert!(err.to_string().starts_with("status: unknown status \"finished\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", param.query_name())]
pub struct ParamError {
    /// The parameter.
    pub param: Param,
    /// What is wrong with its value and what would be right.
    pub detail: String,
}

impl ParamError {
    /// An error for `param`.
    pub fn new(param: Param, detail: impl Into<String>) -> Self {
        ParamError {
            param,
            detail: detail.into(),
        }
    }

    /// The message with the command-line flag's name.
    pub fn for_cli(&self) -> String {
        format!("{}: {}", self.param.flag(), self.detail)
    }
}

/// Default and largest page size of a listing, and how deep an offset may
/// reach.
///
/// ```
/// use workflow_history::surface::params::Limits;
/// assert_eq!((Limits::HTTP.default, Limits::HTTP.max), (50, 200));
/// assert_eq!(Limits::HTTP.max_offset, 10_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Used when no limit is given.
    pub default: u32,
    /// The largest limit accepted.
    pub max: u32,
    /// The largest offset accepted. A page at offset N walks the N runs
    /// before it; deeper pages are reached with a cursor (`after`), which
    /// costs the same at any depth.
    pub max_offset: u64,
}

impl Limits {
    /// The HTTP API's: 50 by default, at most 200 per page, offsets up to
    /// 10,000 (a server must not walk a whole table for one request).
    pub const HTTP: Limits = Limits {
        default: 50,
        max: 200,
        max_offset: 10_000,
    };
    /// The command line's: the same default, larger pages and any offset
    /// for scripts.
    pub const CLI: Limits = Limits {
        default: 50,
        max: 10_000,
        max_offset: i64::MAX as u64,
    };
}

/// Filters and page of a run listing, as given (`GET /history/runs`, and
/// `workflow-history runs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// Only runs of this workflow (exact name).
    pub workflow_name: Option<String>,
    /// Only runs of this domain.
    pub domain: Option<String>,
    /// Only runs of this partition.
    pub partition_key: Option<String>,
    /// Only runs in this status (any case).
    #[param(value_type = Option<WorkflowStatus>)]
    pub status: Option<String>,
    /// Only runs started at or after: RFC 3339 (`2025-01-10T08:30:00Z`), a
    /// date (`2025-01-10`, midnight UTC) or an age (`30m`, `12h`, `7d`, `2w`).
    #[param(example = "7d")]
    pub since: Option<String>,
    /// Only runs started at or before; same forms as `since`.
    #[param(example = "2025-01-10T00:00:00Z")]
    pub until: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// Runs to skip before the page (default 0, at most 10000); for deeper
    /// pages use `after`.
    #[param(value_type = Option<u64>, minimum = 0, maximum = 10000)]
    pub offset: Option<String>,
    /// Only runs after this cursor: the `next` of the previous page. Every
    /// page costs the same however deep.
    #[param(value_type = Option<String>, pattern = "^$|^-?[0-9]+_.+$")]
    pub after: Option<String>,
}

impl RunQuery {
    /// The filter these values ask for, with relative times taken back from
    /// `now`.
    ///
    /// # Errors
    /// The first bad value: unknown status, unparseable time, limit or
    /// offset that is not a whole number in range, a malformed cursor.
    pub fn to_filter(&self, now: DateTime<Utc>, limits: Limits) -> Result<RunFilter, ParamError> {
        let filters = FilterParams {
            workflow_name: &self.workflow_name,
            domain: &self.domain,
            partition_key: &self.partition_key,
            status: &self.status,
            since: &self.since,
            until: &self.until,
        };
        Ok(RunFilter {
            limit: parse_limit(given(&self.limit), limits)?,
            offset: parse_offset(given(&self.offset), limits)?,
            after: given(&self.after).map(parse_cursor).transpose()?,
            ..filters.to_filter(now)?
        })
    }
}

/// Filters of the statistics (`GET /history/statistics`, and
/// `workflow-history stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatisticsQuery {
    /// Only runs of this workflow (exact name).
    pub workflow_name: Option<String>,
    /// Only runs of this domain.
    pub domain: Option<String>,
    /// Only runs of this partition.
    pub partition_key: Option<String>,
    /// Only runs in this status (any case).
    #[param(value_type = Option<WorkflowStatus>)]
    pub status: Option<String>,
    /// Only runs started at or after; same forms as for `/history/runs`.
    #[param(example = "7d")]
    pub since: Option<String>,
    /// Only runs started at or before; same forms as `since`.
    pub until: Option<String>,
    /// `workflow` adds the statistics of each workflow.
    #[param(value_type = Option<String>, pattern = "^workflow$")]
    pub by: Option<String>,
}

impl StatisticsQuery {
    /// The filter (no page) and whether statistics per workflow were asked.
    ///
    /// # Errors
    /// As [`RunQuery::to_filter`], and a `by` other than `workflow`.
    pub fn to_filter(&self, now: DateTime<Utc>) -> Result<(RunFilter, bool), ParamError> {
        let filters = FilterParams {
            workflow_name: &self.workflow_name,
            domain: &self.domain,
            partition_key: &self.partition_key,
            status: &self.status,
            since: &self.since,
            until: &self.until,
        };
        let by_workflow = match given(&self.by) {
            None => false,
            Some("workflow") => true,
            Some(other) => {
                return Err(ParamError::new(
                    Param::By,
                    format!("cannot group by {other:?}: the only grouping is \"workflow\""),
                ));
            }
        };
        Ok((filters.to_filter(now)?, by_workflow))
    }
}

/// Filters of a run's events (`GET /history/runs/{run_id}/events`, and
/// `workflow-history logs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only events inside steps of this name.
    pub step: Option<String>,
    /// Only log events at this level or more severe: `error`, `warn`,
    /// `info`, `debug` or `trace` (any case).
    #[param(value_type = Option<String>, example = "warn")]
    pub level: Option<String>,
}

impl EventQuery {
    /// The event filter these values ask for.
    ///
    /// # Errors
    /// An unknown level.
    pub fn to_filter(&self) -> Result<crate::EventFilter, ParamError> {
        Ok(crate::EventFilter {
            step_name: given(&self.step).map(str::to_owned),
            min_level: given(&self.level)
                .map(|text| parse_level(Param::Level, text))
                .transpose()?,
        })
    }
}

/// The age of `DELETE /history/runs/old`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RetentionQuery {
    /// Delete runs started more than this many days ago (at least 1).
    #[param(value_type = u32, required = true, minimum = 1, maximum = 36500)]
    pub days: Option<String>,
}

impl RetentionQuery {
    /// The age asked for.
    ///
    /// # Errors
    /// A missing value, or one that is not a whole number of days from 1 to
    /// [`MAX_AGE_DAYS`].
    pub fn age(&self) -> Result<chrono::Duration, ParamError> {
        let text = given(&self.days)
            .ok_or_else(|| ParamError::new(Param::Days, "required: the age in whole days"))?;
        match text.parse::<i64>() {
            Ok(days) if (1..=MAX_AGE_DAYS).contains(&days) => Ok(chrono::Duration::days(days)),
            _ => Err(ParamError::new(
                Param::Days,
                format!("{text:?} is not a whole number of days from 1 to {MAX_AGE_DAYS}"),
            )),
        }
    }
}

/// The six run filters, borrowed from whichever query holds them.
struct FilterParams<'a> {
    workflow_name: &'a Option<String>,
    domain: &'a Option<String>,
    partition_key: &'a Option<String>,
    status: &'a Option<String>,
    since: &'a Option<String>,
    until: &'a Option<String>,
}

impl FilterParams<'_> {
    fn to_filter(&self, now: DateTime<Utc>) -> Result<RunFilter, ParamError> {
        let time = |param, value| {
            given(value)
                .map(|text| parse_time(param, text, now))
                .transpose()
        };
        // `since` after `until` is an empty range: no run matches it.
        let since = time(Param::Since, self.since)?;
        let until = time(Param::Until, self.until)?;
        Ok(RunFilter {
            workflow_name: given(self.workflow_name).map(str::to_owned),
            domain: given(self.domain).map(str::to_owned),
            partition_key: given(self.partition_key).map(str::to_owned),
            status: given(self.status)
                .map(|text| parse_status(Param::Status, text))
                .transpose()?,
            since,
            until,
            ..RunFilter::default()
        })
    }
}

/// The value, unless absent or empty.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|text| !text.is_empty())
}

/// A run status name, in any case.
///
/// ```
/// use workflow_history::{surface::params::{parse_status, Param}, WorkflowStatus};
/// assert_eq!(parse_status(Param::Status, "Failed"), Ok(WorkflowStatus::Failed));
/// ```
///
/// # Errors
/// A name that is not a status; the message lists the statuses.
pub fn parse_status(param: Param, text: &str) -> Result<WorkflowStatus, ParamError> {
    text.parse().map_err(|_| {
        let known: Vec<String> = WorkflowStatus::ALL
            .iter()
            .map(|s| s.as_str().to_ascii_lowercase())
            .collect();
        ParamError::new(
            param,
            format!(
                "unknown status {:?}; expected one of {}",
                shorten(text),
                known.join(", ")
            ),
        )
    })
}

/// A point in time: RFC 3339, a date (midnight UTC), or an age before `now`
/// (see [`parse_age`]).
///
/// ```
/// use workflow_history::surface::params::{parse_time, Param};
/// let now = chrono::Utc::now();
/// let t = parse_time(Param::Since, "12h", now)?;
/// assert_eq!(now - t, chrono::Duration::hours(12));
/// let t = parse_time(Param::Since, "2025-01-10", now)?;
/// assert_eq!(t.to_rfc3339(), "2025-01-10T00:00:00+00:00");
/// # Ok::<(), workflow_history::surface::params::ParamError>(())
/// ```
///
/// # Errors
/// Text in none of the three forms.
pub fn parse_time(
    param: Param,
    text: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ParamError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    if looks_like_age(text) {
        return parse_age(param, text).map(|age| now - age);
    }
    Err(ParamError::new(
        param,
        format!(
            "cannot read {:?} as a time; use RFC 3339 (2025-01-10T08:30:00Z), \
             a date (2025-01-10) or an age (30m, 12h, 7d, 2w)",
            shorten(text)
        ),
    ))
}

fn looks_like_age(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next_back().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.as_str().bytes().all(|b| b.is_ascii_digit())
        && !chars.as_str().is_empty()
}

/// A positive age: a whole number followed by `s`, `m`, `h`, `d` or `w`
/// (seconds to weeks), at most [`MAX_AGE_DAYS`] days.
///
/// ```
/// use workflow_history::surface::params::{parse_age, Param};
/// assert_eq!(parse_age(Param::OlderThan, "90d")?, chrono::Duration::days(90));
/// assert!(parse_age(Param::OlderThan, "0d").is_err());
/// assert!(parse_age(Param::OlderThan, "-1d").is_err());
/// # Ok::<(), workflow_history::surface::params::ParamError>(())
/// ```
///
/// # Errors
/// Any other text, zero, or too large an age.
pub fn parse_age(param: Param, text: &str) -> Result<chrono::Duration, ParamError> {
    let bad = |why: &str| {
        ParamError::new(
            param,
            format!("cannot read {:?} as an age: {why}", shorten(text)),
        )
    };
    if !looks_like_age(text) {
        return Err(bad("use a whole number and a unit, as in 30m, 12h, 7d, 2w"));
    }
    let (number, unit) = text.split_at(text.len() - 1);
    let seconds_per_unit: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad("the unit must be s, m, h, d or w")),
    };
    let max_seconds = MAX_AGE_DAYS * 86_400;
    match number.parse::<i64>() {
        Ok(0) => Err(bad("it must be more than zero")),
        Ok(n) if n <= max_seconds / seconds_per_unit => {
            Ok(chrono::Duration::seconds(n * seconds_per_unit))
        }
        _ => Err(bad(&format!("it must be at most {MAX_AGE_DAYS}d"))),
    }
}

/// A page size from 1 to `limits.max`; `limits.default` when absent.
///
/// ```
/// use workflow_history::surface::params::{parse_limit, Limits};
/// assert_eq!(parse_limit(None, Limits::HTTP), Ok(50));
/// assert_eq!(parse_limit(Some("200"), Limits::HTTP), Ok(200));
/// assert!(parse_limit(Some("201"), Limits::HTTP).is_err());
/// ```
///
/// # Errors
/// Anything but a whole number in range.
pub fn parse_limit(text: Option<&str>, limits: Limits) -> Result<u32, ParamError> {
    let Some(text) = text else {
        return Ok(limits.default);
    };
    match text.parse::<u32>() {
        Ok(n) if (1..=limits.max).contains(&n) => Ok(n),
        _ => Err(ParamError::new(
            Param::Limit,
            format!(
                "{:?} is not a whole number from 1 to {}",
                shorten(text),
                limits.max
            ),
        )),
    }
}

/// A number of rows to skip, 0 when absent, at most `limits.max_offset`.
/// Offsets past the end are valid: they select an empty page.
///
/// ```
/// use workflow_history::surface::params::{parse_offset, Limits};
/// assert_eq!(parse_offset(Some("150"), Limits::HTTP), Ok(150));
/// assert!(parse_offset(Some("-1"), Limits::HTTP).is_err());
/// assert!(parse_offset(Some("10001"), Limits::HTTP).is_err());
/// ```
///
/// # Errors
/// Anything but a whole number from 0 to `limits.max_offset`.
pub fn parse_offset(text: Option<&str>, limits: Limits) -> Result<u64, ParamError> {
    let Some(text) = text else {
        return Ok(0);
    };
    match text.parse::<u64>() {
        Ok(n) if n <= limits.max_offset => Ok(n),
        _ => Err(ParamError::new(
            Param::Offset,
            format!(
                "{:?} is not a whole number from 0 to {}; for deeper pages, pass the \
                 previous page's `next` cursor as `after`",
                shorten(text),
                limits.max_offset
            ),
        )),
    }
}

/// A listing cursor, as a page's `next` gives it.
///
/// ```
/// use workflow_history::surface::params::parse_cursor;
/// let cursor = parse_cursor("1736498400123456_0193abcd")?;
/// assert_eq!(cursor.run_id, "0193abcd");
/// # Ok::<(), workflow_history::surface::params::ParamError>(())
/// ```
///
/// # Errors
/// Text that is not `<microseconds>_<run id>`.
pub fn parse_cursor(text: &str) -> Result<crate::RunCursor, ParamError> {
    text.parse().map_err(|_| {
        ParamError::new(
            Param::After,
            format!(
                "{:?} is not a cursor: pass a page's `next` as it is",
                shorten(text)
            ),
        )
    })
}

/// A log level name, in any case: `error`, `warn` (or `warning`), `info`,
/// `debug`, `trace`.
///
/// ```
/// use workflow_history::surface::params::{parse_level, Param};
/// assert_eq!(parse_level(Param::Level, "WARNING"), Ok(tracing::Level::WARN));
/// ```
///
/// # Errors
/// Any other name.
pub fn parse_level(param: Param, text: &str) -> Result<tracing::Level, ParamError> {
    let level = match text.to_ascii_lowercase().as_str() {
        "error" => tracing::Level::ERROR,
        "warn" | "warning" => tracing::Level::WARN,
        "info" => tracing::Level::INFO,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        _ => {
            return Err(ParamError::new(
                param,
                format!(
                    "unknown level {:?}; expected one of error, warn, info, debug, trace",
                    shorten(text)
                ),
            ));
        }
    };
    Ok(level)
}

/// A run id or the start of one: any non-empty text.
///
/// # Errors
/// Empty text, which would designate every run.
pub fn parse_run_id(text: &str) -> Result<&str, ParamError> {
    if text.is_empty() {
        return Err(ParamError::new(Param::RunId, "a run id cannot be empty"));
    }
    Ok(text)
}

/// Echoed values are cut so that a megabyte of garbage does not come back
/// in the error message.
pub(crate) fn shorten(text: &str) -> Shortened<'_> {
    Shortened(text)
}

pub(crate) struct Shortened<'a>(&'a str);

impl fmt::Debug for Shortened<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX_CHARS: usize = 64;
        match self.0.char_indices().nth(MAX_CHARS) {
            None => write!(f, "{:?}", self.0),
            Some((end, _)) => write!(f, "{:?}…", &self.0[..end]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-10T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn times_in_every_form() {
        let at = |text| parse_time(Param::Since, text, now());
        assert_eq!(at("30m").unwrap(), now() - chrono::Duration::minutes(30));
        assert_eq!(at("2w").unwrap(), now() - chrono::Duration::days(14));
        assert_eq!(
            at("2025-01-09T10:00:00+02:00").unwrap().to_rfc3339(),
            "2025-01-09T08:00:00+00:00"
        );
        for bad in [
            "yesterday",
            "7",
            "d",
            "7x",
            "-7d",
            "2025-13-01",
            "7 d",
            "७d",
        ] {
            let err = at(bad).unwrap_err();
            assert_eq!(err.param, Param::Since, "{bad}");
        }
    }

    #[test]
    fn ages_are_bounded() {
        assert!(parse_age(Param::OlderThan, "36500d").is_ok());
        assert!(parse_age(Param::OlderThan, "36501d").is_err());
        assert!(parse_age(Param::OlderThan, "99999999999999999999999w").is_err());
        assert!(parse_age(Param::OlderThan, "9223372036854775807s").is_err());
    }

    #[test]
    fn since_after_until_is_an_empty_range_not_an_error() {
        let query = RunQuery {
            since: Some("1h".into()),
            until: Some("2h".into()),
            ..RunQuery::default()
        };
        let filter = query.to_filter(now(), Limits::HTTP).unwrap();
        assert!(filter.since > filter.until);
    }

    #[test]
    fn empty_values_count_as_absent() {
        let query = RunQuery {
            status: Some(String::new()),
            limit: Some(String::new()),
            ..RunQuery::default()
        };
        let filter = query.to_filter(now(), Limits::HTTP).unwrap();
        assert_eq!(filter.status, None);
        assert_eq!(filter.limit, 50);
    }

    #[test]
    fn limits_and_offsets() {
        for bad in ["0", "-1", "201", "1e3", "abc", "4294967296"] {
            assert!(parse_limit(Some(bad), Limits::HTTP).is_err(), "{bad}");
        }
        assert_eq!(parse_limit(Some("5000"), Limits::CLI), Ok(5000));
        assert!(parse_offset(Some("9223372036854775808"), Limits::CLI).is_err());
        assert_eq!(
            parse_offset(Some("9223372036854775807"), Limits::CLI),
            Ok(i64::MAX as u64)
        );
        assert_eq!(parse_offset(Some("10000"), Limits::HTTP), Ok(10_000));
        let deep = parse_offset(Some("10001"), Limits::HTTP).unwrap_err();
        assert!(deep.detail.contains("after"), "{}", deep.detail);
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let huge = "x".repeat(100_000);
        let err = parse_status(Param::Status, &huge).unwrap_err();
        assert!(err.detail.len() < 200, "{}", err.detail);
        assert_eq!(err.for_cli().split(':').next(), Some("--status"));
    }

    #[test]
    fn by_accepts_only_workflow() {
        let query = StatisticsQuery {
            by: Some("domain".into()),
            ..StatisticsQuery::default()
        };
        assert_eq!(query.to_filter(now()).unwrap_err().param, Param::By);
    }
}
