//! Lookups beyond the core queries, for people at a terminal or a
//! dashboard: short run ids, filtered events, per-workflow statistics.

use chrono::{DateTime, Utc};

use super::HistoryStore;
use super::filter::{event_conditions, filter_conditions};
use crate::Error;
use crate::backend::exec::{query, query_opt, required};
use crate::backend::param::Param;
use crate::backend::tables::{EVENTS, event_from_row};
use crate::model::{
    EventFilter, RunEvent, RunFilter, RunIdMatch, WorkflowCount, WorkflowStatistics,
};

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
        let mut db = self.db();
        let run_id = |row: &dyn crate::backend::exec::Row| required(row.text(0)?, "run_id");
        let exact = query_opt(
            db.exec(),
            "SELECT run_id FROM workflow_runs WHERE run_id = ?1",
            &[Param::text(id_or_prefix)],
            run_id,
        )?;
        if let Some(run_id) = exact {
            return Ok(RunIdMatch::Found(run_id));
        }
        // Ids starting with the prefix sort right after it (byte order, as
        // SQLite's BINARY collation, PostgreSQL's "C" collation of run_id and
        // `str::starts_with` all use), so a short range scan of the primary
        // key finds them all.
        let mut matches: Vec<String> = query(
            db.exec(),
            "SELECT run_id FROM workflow_runs WHERE run_id > ?1 ORDER BY run_id LIMIT ?2",
            &[
                Param::text(id_or_prefix),
                Param::count(AMBIGUOUS_SHOWN as u64 + 1),
            ],
            run_id,
        )?
        .into_iter()
        .take_while(|run_id| run_id.starts_with(id_or_prefix))
        .collect();
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
        let mut db = self.db();
        let mut neighbour = |sql: &str| -> Result<Option<String>, Error> {
            query_opt(db.exec(), sql, &[Param::text(run_id)], |row| {
                required(row.text(0)?, "run_id")
            })
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
            "{}{} ORDER BY timestamp, event_id",
            EVENTS.select(),
            conditions.sql()
        );
        query(self.db().exec(), &sql, &conditions.params, event_from_row)
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
            query(self.db().exec(), &sql, &conditions.params, |row| {
                required(row.text(0)?, "workflow_name")
            })?
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
        query(
            self.db().exec(),
            "SELECT workflow_name, COUNT(*) FROM workflow_runs WHERE started_at < ?1 \
             GROUP BY workflow_name ORDER BY workflow_name",
            &[Param::from(cutoff)],
            |row| {
                Ok(WorkflowCount {
                    workflow_name: required(row.text(0)?, "workflow_name")?,
                    runs: required(row.int(1)?, "count")?.max(0) as u64,
                })
            },
        )
    }
}

/// How many characters two strings share at their start.
fn common_prefix_chars(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}
