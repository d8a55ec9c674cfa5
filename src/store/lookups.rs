//! Lookups beyond the core queries, for people at a terminal or a
//! dashboard: filtered events, per-workflow statistics.

use chrono::{DateTime, Utc};

use super::HistoryStore;
use super::filter::event_conditions;
use crate::Error;
use crate::backend::exec::{query, required};
use crate::backend::param::Param;
use crate::backend::tables::{EVENTS, event_from_row};
use crate::model::{EventFilter, RunEvent, WorkflowCount};

impl HistoryStore {
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
        query(self.db()?.exec(), &sql, &conditions.params, event_from_row)
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
            self.db()?.exec(),
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
