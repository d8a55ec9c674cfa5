//! Counts and statistics of the runs a filter selects.
//!
//! Where the rollup can answer (a filter on workflow, domain, status and
//! time, and no change waiting to be folded in), whole buckets come from
//! it, and only the runs in the slivers at the range's edges, the open runs
//! and runs without a start come from the runs table. Counts, success rate,
//! mean and maximum are then exact, and the percentiles within
//! [`HistoryStore::PERCENTILE_ERROR`] of the exact nearest-rank values
//! (exact when every run is in a sliver). Any other filter reads the runs
//! table alone, exactly.

mod exact;
mod from_rollup;
mod tally;

use super::HistoryStore;
use super::filter::{Conditions, FINISHED, filter_conditions};
use crate::Error;
use crate::backend::exec::{Exec, required};
use crate::backend::rollup;
use crate::backend::rollup::sketch::RELATIVE_ERROR;
use crate::model::{RunFilter, RunStatistics, WorkflowStatistics};
use tally::Tally;

impl HistoryStore {
    /// The largest relative error of the p50 and p95 that
    /// [`HistoryStore::statistics`] reports from the rollup: just under 1%
    /// of the exact nearest-rank value.
    ///
    /// ```
    /// assert!(workflow_history::HistoryStore::PERCENTILE_ERROR < 0.01);
    /// ```
    pub const PERCENTILE_ERROR: f64 = RELATIVE_ERROR;

    /// Sums the statistics rollup again from every run, in one
    /// transaction.
    ///
    /// The rollup follows every change to `workflow_runs`, including
    /// changes made by hand with SQL, with one exception: a run whose values
    /// it cannot read (a `started_at` that is not a time, say). Statistics
    /// are then read from the runs table alone, exactly but slower, until
    /// the rows are mended and this is called.
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let store = workflow_history::HistoryStore::open_sqlite("history.db")?;
    /// store.rebuild_statistics()?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A failed query, or a store that cannot write.
    pub fn rebuild_statistics(&self) -> Result<(), Error> {
        self.db()?.transaction(rollup::rebuild)
    }

    /// How many runs match the filter (its limit and offset are ignored;
    /// with a cursor, those after it).
    pub fn count_runs(&self, filter: &RunFilter) -> Result<u64, Error> {
        self.db()?.snapshot(|db| {
            if !rollup_answers(db, filter)? {
                return exact::count_exactly(db, filter);
            }
            from_rollup::count_with_rollup(db, filter)
        })
    }

    /// Counts, success rate and durations of the runs matching the filter
    /// (its limit and offset are ignored).
    ///
    /// Counts, success rate, mean and maximum are exact. The p50 and p95
    /// come from the statistics rollup when the filter allows (any filter
    /// but `partition_key` or a cursor): within
    /// [`HistoryStore::PERCENTILE_ERROR`] (under 1%) of the exact
    /// nearest-rank value.
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let store = workflow_history::HistoryStore::open_sqlite("history.db")?;
    /// let week = store.statistics(&workflow_history::RunFilter {
    ///     since: Some(chrono::Utc::now() - chrono::Duration::days(7)),
    ///     ..Default::default()
    /// })?;
    /// println!("{} runs, p95 {:?} s", week.total_runs, week.p95_duration_seconds);
    /// # Ok(()) }
    /// ```
    pub fn statistics(&self, filter: &RunFilter) -> Result<RunStatistics, Error> {
        self.db()?.snapshot(|db| {
            if !rollup_answers(db, filter)? {
                return exact::exact_statistics(db, filter);
            }
            let mut all = Tally::default();
            for tally in from_rollup::tally(db, filter)?.into_values() {
                all.merge(tally);
            }
            Ok(all.statistics())
        })
    }

    /// [`HistoryStore::statistics`] for each workflow with runs matching the
    /// filter, by workflow name (byte order).
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
        self.db()?.snapshot(|db| {
            if rollup_answers(db, filter)? {
                return Ok(from_rollup::tally(db, filter)?
                    .into_iter()
                    .map(|(workflow_name, tally)| WorkflowStatistics {
                        workflow_name,
                        statistics: tally.statistics(),
                    })
                    .collect());
            }
            let mut names = exact::workflow_names(db, filter)?;
            names.sort();
            names
                .into_iter()
                .map(|workflow_name| {
                    let statistics = exact::exact_statistics(
                        db,
                        &RunFilter {
                            workflow_name: Some(workflow_name.clone()),
                            ..filter.clone()
                        },
                    )?;
                    Ok(WorkflowStatistics {
                        workflow_name,
                        statistics,
                    })
                })
                .collect()
        })
    }
}

/// Whether the rollup can answer for `filter`: it sums by workflow,
/// domain, status and start time only, keeps no cursor, and holds a run
/// without a domain under '' (so an empty domain is asked of the runs).
fn rollup_answers(db: &mut dyn Exec, filter: &RunFilter) -> Result<bool, Error> {
    let filterable = filter.partition_key.is_none()
        && filter.after.is_none()
        && filter.domain.as_deref() != Some("");
    Ok(filterable && !rollup::has_pending(db)?)
}

/// The filter's conditions, on finished runs only.
fn finished_conditions(filter: &RunFilter) -> Conditions<'_> {
    let mut c = filter_conditions(filter);
    c.push_raw(FINISHED);
    c
}

fn count(value: Option<i64>) -> Result<u64, Error> {
    Ok(required(value, "count")?.max(0) as u64)
}
