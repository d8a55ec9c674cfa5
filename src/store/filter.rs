//! SQL for the run queries, built from a [`RunFilter`].
//!
//! Filters become bound parameters, never spliced text, so any user input
//! is safe to pass through.

use crate::backend::param::Param;
use crate::model::{EventFilter, RunFilter, WorkflowStatus};

/// The statuses whose runs have a duration.
pub(crate) const FINISHED: &str = "status IN ('COMPLETED', 'FAILED', 'CANCELLED')";

/// A `WHERE` clause (possibly empty) and its parameters, numbered from 1.
#[derive(Debug, Default)]
pub(crate) struct Conditions<'a> {
    clauses: Vec<String>,
    pub(crate) params: Vec<Param<'a>>,
}

impl<'a> Conditions<'a> {
    fn bind(&mut self, value: Param<'a>) -> String {
        self.params.push(value);
        format!("?{}", self.params.len())
    }

    /// Adds a condition on a bound value: `column op ?N`.
    pub(crate) fn push(&mut self, column: &str, op: &str, value: Param<'a>) {
        let slot = self.bind(value);
        self.clauses.push(format!("{column} {op} {slot}"));
    }

    /// Adds a condition with no parameter.
    pub(crate) fn push_raw(&mut self, clause: &str) {
        self.clauses.push(clause.to_owned());
    }

    /// Binds one more value, for a `LIMIT` or `OFFSET` after the clause.
    pub(crate) fn extra(&mut self, value: Param<'a>) -> String {
        self.bind(value)
    }

    /// ` WHERE a AND b`, or nothing when there are no conditions.
    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

fn text(s: &str) -> Param<'_> {
    Param::text(s)
}

/// The conditions of a filter; `limit` and `offset` are the caller's to add.
pub(crate) fn filter_conditions(filter: &RunFilter) -> Conditions<'_> {
    let mut c = Conditions::default();
    if let Some(name) = &filter.workflow_name {
        c.push("workflow_name", "=", text(name));
    }
    if let Some(domain) = &filter.domain {
        c.push("domain", "=", text(domain));
    }
    if let Some(partition) = &filter.partition_key {
        c.push("partition_key", "=", text(partition));
    }
    if let Some(status) = filter.status {
        c.push("status", "=", text(WorkflowStatus::as_str(status)));
    }
    if let Some(since) = filter.since {
        c.push("started_at", ">=", Param::from(since));
    }
    if let Some(until) = filter.until {
        c.push("started_at", "<=", Param::from(until));
    }
    if let Some(cursor) = &filter.after {
        // Row values compare like the listing's order, and an index ending
        // in (started_at, run_id) serves them.
        let started = c.bind(Param::from(cursor.started_at));
        let run_id = c.bind(Param::text(cursor.run_id.as_str()));
        c.clauses
            .push(format!("(started_at, run_id) < ({started}, {run_id})"));
    }
    c
}

/// The stored level names at `level` or more severe, most severe first.
///
/// `tracing` orders levels by verbosity (`TRACE` is the greatest), so the
/// list is spelled out rather than computed with a comparison that reads
/// backwards.
pub(crate) fn levels_at_least(level: tracing::Level) -> &'static [&'static str] {
    const ALL: [&str; 5] = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];
    let keep = match level {
        tracing::Level::ERROR => 1,
        tracing::Level::WARN => 2,
        tracing::Level::INFO => 3,
        tracing::Level::DEBUG => 4,
        tracing::Level::TRACE => 5,
    };
    &ALL[..keep]
}

/// Conditions on the events of one run, as [`EventFilter`] asks.
///
/// The run id is always `?1`; the step name, when given, is matched through
/// the steps table so every step of that name (retries too) is included.
pub(crate) fn event_conditions<'a>(run_id: &'a str, filter: &'a EventFilter) -> Conditions<'a> {
    let mut c = Conditions::default();
    c.push("run_id", "=", text(run_id));
    if let Some(step) = &filter.step_name {
        let slot = c.bind(text(step));
        c.clauses.push(format!(
            "step_id IN (SELECT step_id FROM workflow_step_runs \
             WHERE run_id = ?1 AND step_name = {slot})"
        ));
    }
    if let Some(level) = filter.min_level {
        let slots: Vec<String> = levels_at_least(level)
            .iter()
            .map(|name| c.bind(text(name)))
            .collect();
        c.clauses.push(format!("level IN ({})", slots.join(", ")));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_filter_has_no_where() {
        let filter = RunFilter::default();
        let c = filter_conditions(&filter);
        assert_eq!(c.sql(), "");
        assert!(c.params.is_empty());
    }

    #[test]
    fn every_filter_is_a_bound_parameter() {
        let filter = RunFilter {
            workflow_name: Some("x'; DROP TABLE workflow_runs; --".into()),
            status: Some(WorkflowStatus::Failed),
            ..RunFilter::default()
        };
        let mut c = filter_conditions(&filter);
        let limit = c.extra(Param::count(5));
        assert_eq!(c.sql(), " WHERE workflow_name = ?1 AND status = ?2");
        assert_eq!(limit, "?3");
        assert_eq!(c.params.len(), 3);
    }

    #[test]
    fn minimum_level_keeps_it_and_everything_more_severe() {
        assert_eq!(levels_at_least(tracing::Level::ERROR), ["ERROR"]);
        assert_eq!(levels_at_least(tracing::Level::WARN), ["ERROR", "WARN"]);
        assert_eq!(levels_at_least(tracing::Level::TRACE).len(), 5);
    }

    #[test]
    fn event_filters_are_bound_parameters() {
        let filter = EventFilter {
            step_name: Some("load' OR 1=1 --".into()),
            min_level: Some(tracing::Level::WARN),
        };
        let c = event_conditions("run-1", &filter);
        assert_eq!(
            c.sql(),
            " WHERE run_id = ?1 AND step_id IN (SELECT step_id FROM workflow_step_runs \
             WHERE run_id = ?1 AND step_name = ?2) AND level IN (?3, ?4)"
        );
        assert_eq!(c.params.len(), 4);
    }
}
