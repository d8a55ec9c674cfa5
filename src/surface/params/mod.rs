//! Query parameters as users type them, and their parsing: one place for
//! the HTTP API and the command line, so both accept exactly the same
//! spellings and reject the same mistakes with the same words.
//!
//! Raw values stay strings until parsed here, so a bad value becomes a
//! [`ParamError`] naming the parameter, never a framework's generic
//! rejection. Each typed parameter (a status, a time, a number, a cursor)
//! accepts exactly what its OpenAPI schema (the `schema` module) says, and so refuses
//! an empty value; an empty free-text filter (a name) counts as not given.
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

mod parse;
mod schema;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::RunFilter;
pub(crate) use parse::shorten;
pub use parse::{
    parse_age, parse_cursor, parse_level, parse_limit, parse_offset, parse_run_id, parse_status,
    parse_time,
};

/// The longest retention age over HTTP, in days (`days`): about a century,
/// far beyond any retention policy.
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
    #[param(schema_with = schema::status)]
    pub status: Option<String>,
    /// Only runs started at or after: RFC 3339 (`2025-01-10T08:30:00Z`), a
    /// date (`2025-01-10`, midnight UTC) or an age (`30m`, `12h`, `7d`, `2w`).
    #[param(schema_with = schema::time, example = "7d")]
    pub since: Option<String>,
    /// Only runs started at or before; same forms as `since`.
    #[param(schema_with = schema::time, example = "2025-01-10T00:00:00Z")]
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
    #[param(schema_with = schema::cursor)]
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
            limit: parse_limit(typed(Param::Limit, &self.limit)?, limits)?,
            offset: parse_offset(typed(Param::Offset, &self.offset)?, limits)?,
            after: typed(Param::After, &self.after)?
                .map(parse_cursor)
                .transpose()?,
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
    #[param(schema_with = schema::status)]
    pub status: Option<String>,
    /// Only runs started at or after; same forms as for `/history/runs`.
    #[param(schema_with = schema::time, example = "7d")]
    pub since: Option<String>,
    /// Only runs started at or before; same forms as `since`.
    #[param(schema_with = schema::time)]
    pub until: Option<String>,
    /// `workflow` adds the statistics of each workflow.
    #[param(schema_with = schema::by)]
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
        let by_workflow = match typed(Param::By, &self.by)? {
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
    #[param(schema_with = schema::level, example = "warn")]
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
            min_level: typed(Param::Level, &self.level)?
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
        let text = typed(Param::Days, &self.days)?
            .ok_or_else(|| ParamError::new(Param::Days, "required: the age in whole days"))?;
        parse::parse_days(text)
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
            typed(param, value)?
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
            status: typed(Param::Status, self.status)?
                .map(|text| parse_status(Param::Status, text))
                .transpose()?,
            since,
            until,
            ..RunFilter::default()
        })
    }
}

/// A free-text value (a name), unless absent or empty: an empty filter
/// (what an HTML form sends for a blank field) filters nothing.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|text| !text.is_empty())
}

/// A typed value, if given: empty is not a status, a time or a number.
fn typed(param: Param, value: &Option<String>) -> Result<Option<&str>, ParamError> {
    match value.as_deref() {
        Some("") => Err(ParamError::new(
            param,
            "an empty value; leave the parameter out to apply no filter",
        )),
        other => Ok(other),
    }
}

/// The "now" of the parsing tests.
#[cfg(test)]
fn test_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-01-10T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

#[cfg(test)]
mod tests {
    use super::test_now as now;
    use super::*;

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
    fn empty_names_filter_nothing_and_empty_typed_values_are_refused() {
        let query = RunQuery {
            workflow_name: Some(String::new()),
            ..RunQuery::default()
        };
        assert_eq!(
            query.to_filter(now(), Limits::HTTP).unwrap().workflow_name,
            None
        );
        for (query, param) in [
            (
                RunQuery {
                    status: Some(String::new()),
                    ..RunQuery::default()
                },
                Param::Status,
            ),
            (
                RunQuery {
                    limit: Some(String::new()),
                    ..RunQuery::default()
                },
                Param::Limit,
            ),
            (
                RunQuery {
                    since: Some(String::new()),
                    ..RunQuery::default()
                },
                Param::Since,
            ),
            (
                RunQuery {
                    after: Some(String::new()),
                    ..RunQuery::default()
                },
                Param::After,
            ),
        ] {
            assert_eq!(
                query.to_filter(now(), Limits::HTTP).unwrap_err().param,
                param
            );
        }
    }

    #[test]
    fn by_accepts_only_workflow() {
        for by in ["domain", ""] {
            let query = StatisticsQuery {
                by: Some(by.into()),
                ..StatisticsQuery::default()
            };
            assert_eq!(query.to_filter(now()).unwrap_err().param, Param::By);
        }
    }
}
