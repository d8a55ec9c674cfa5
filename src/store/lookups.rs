//! Lookups beyond the core queries, for people at a terminal or a
//! dashboard: short run ids, filtered events, per-workflow statistics.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params, params_from_iter};

use super::HistoryStore;
use crate::Error;
use crate::model::{
    EventFilter, RunEvent, RunFilter, RunIdMatch, WorkflowCount, WorkflowStatistics,
};
use crate::query::{event_conditions, filter_conditions};
use crate::sqlite::{self, SELECT_EVENTS};
use crate::time::format_timestamp;

/// How many candidates [`HistoryStore::resolve_run_id`] reports for an
/// ambiguous prefix.
const AMBIGUOUS_SHOWN: usize = 5;

impl HistoryStore {
    /// Finds the run designated by a full run id or by the start of one, the
    /// way `git` accepts a short commit hash. An exact id always wins, even
    /// when it is also the start of longer ids.
    ///
    /// ```no_run
    /// use workflow_history::{HistoryStore, RunIdMatch};
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let store = HistoryStore::open_sqlite("history.db")?;
    /// match store.resolve_run_id("0193a1b2-c3d4")? {
    ///     RunIdMatch::Found(run_id) => println!("{:?}", store.get_run(&run_id)?),
    ///     RunIdMatch::NotFound => println!("no such run"),
    ///     RunIdMatch::Ambiguous(some) => println!("which one? {some:?}"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn resolve_run_id(&self, id_or_prefix: &str) -> Result<RunIdMatch, Error> {
        if id_or_prefix.is_empty() {
            return Ok(RunIdMatch::NotFound);
        }
        let conn = self.conn();
        let exact: Option<String> = conn
            .prepare_cached("SELECT run_id FROM workflow_runs WHERE run_id = ?1")?
            .query_row([id_or_prefix], |row| row.get(0))
            .optional()?;
        if let Some(run_id) = exact {
            return Ok(RunIdMatch::Found(run_id));
        }
        // Ids starting with the prefix sort right after it (byte order, as
        // SQLite's BINARY collation and `str::starts_with` both use), so a
        // short range scan of the primary key finds them all.
        let mut stmt = conn.prepare_cached(
            "SELECT run_id FROM workflow_runs WHERE run_id > ?1 ORDER BY run_id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![id_or_prefix, AMBIGUOUS_SHOWN as i64 + 1], |row| {
            row.get::<_, String>(0)
        })?;
        let mut matches = Vec::new();
        for run_id in rows {
            let run_id = run_id?;
            if !run_id.starts_with(id_or_prefix) {
                break;
            }
            matches.push(run_id);
        }
        Ok(match matches.len() {
            0 => RunIdMatch::NotFound,
            1 => RunIdMatch::Found(matches.remove(0)),
            _ => {
                matches.truncate(AMBIGUOUS_SHOWN);
                RunIdMatch::Ambiguous(matches)
            }
        })
    }

    /// The shortest start of `run_id`, at least `min_chars` characters, that
    /// [`HistoryStore::resolve_run_id`] resolves to this run today (ids
    /// recorded later may make it ambiguous, as with short commit hashes).
    ///
    /// UUIDv7 ids begin with their creation time, so runs started close
    /// together need more characters than runs started days apart.
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let store = workflow_history::HistoryStore::open_sqlite("history.db")?;
    /// for run in store.list_runs(&Default::default())? {
    ///     println!("{}", store.short_run_id(&run.run_id, 8)?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn short_run_id(&self, run_id: &str, min_chars: usize) -> Result<String, Error> {
        let conn = self.conn();
        let neighbour = |sql: &str| -> Result<Option<String>, Error> {
            Ok(conn
                .prepare_cached(sql)?
                .query_row([run_id], |row| row.get(0))
                .optional()?)
        };
        let before = neighbour(
            "SELECT run_id FROM workflow_runs WHERE run_id < ?1 ORDER BY run_id DESC LIMIT 1",
        )?;
        let after = neighbour(
            "SELECT run_id FROM workflow_runs WHERE run_id > ?1 ORDER BY run_id LIMIT 1",
        )?;
        // Only the neighbours in id order can share a longer start with it.
        let shared = [before, after]
            .iter()
            .flatten()
            .map(|other| common_prefix_chars(run_id, other))
            .max()
            .unwrap_or(0);
        let chars = (shared + 1).max(min_chars);
        Ok(run_id.chars().take(chars).collect())
    }

    /// The run's events that the filter selects, in the order they happened.
    ///
    /// ```no_run
    /// use workflow_history::{EventFilter, HistoryStore};
    /// # fn docs(run_id: &str) -> Result<(), workflow_history::Error> {
    /// let store = HistoryStore::open_sqlite("history.db")?;
    /// let warnings = store.get_events_filtered(run_id, &EventFilter {
    ///     min_level: Some(tracing::Level::WARN),
    ///     ..EventFilter::default()
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn get_events_filtered(
        &self,
        run_id: &str,
        filter: &EventFilter,
    ) -> Result<Vec<RunEvent>, Error> {
        let conditions = event_conditions(run_id, filter);
        let sql = format!(
            "{SELECT_EVENTS}{} ORDER BY timestamp, event_id",
            conditions.sql()
        );
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(&conditions.params), |row| {
            Ok(sqlite::event_from_row(row))
        })?;
        rows.map(|row| row?).collect()
    }

    /// [`HistoryStore::statistics`] for each workflow with runs matching the
    /// filter, by workflow name.
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let store = workflow_history::HistoryStore::open_sqlite("history.db")?;
    /// for w in store.statistics_by_workflow(&Default::default())? {
    ///     println!("{} {:.0}%", w.workflow_name, 100.0 * w.statistics.success_rate);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn statistics_by_workflow(
        &self,
        filter: &RunFilter,
    ) -> Result<Vec<WorkflowStatistics>, Error> {
        let names: Vec<String> = {
            let conditions = filter_conditions(filter);
            let sql = format!(
                "SELECT DISTINCT workflow_name FROM workflow_runs{} ORDER BY workflow_name",
                conditions.sql()
            );
            let conn = self.conn();
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(&conditions.params), |row| row.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        names
            .into_iter()
            .map(|workflow_name| {
                let statistics = self.statistics(&RunFilter {
                    workflow_name: Some(workflow_name.clone()),
                    ..filter.clone()
                })?;
                Ok(WorkflowStatistics {
                    workflow_name,
                    statistics,
                })
            })
            .collect()
    }

    /// How many runs of each workflow started before `cutoff`: what
    /// [`HistoryStore::delete_runs_started_before`] would delete.
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let store = workflow_history::HistoryStore::open_sqlite("history.db")?;
    /// let cutoff = chrono::Utc::now() - chrono::Duration::days(90);
    /// for w in store.count_runs_started_before(cutoff)? {
    ///     println!("would delete {} runs of {}", w.runs, w.workflow_name);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn count_runs_started_before(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<Vec<WorkflowCount>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT workflow_name, COUNT(*) FROM workflow_runs WHERE started_at < ?1 \
             GROUP BY workflow_name ORDER BY workflow_name",
        )?;
        let rows = stmt.query_map([format_timestamp(cutoff)], |row| {
            Ok(WorkflowCount {
                workflow_name: row.get(0)?,
                runs: row.get::<_, i64>(1)?.max(0) as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// How many characters two strings share at their start.
fn common_prefix_chars(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}
