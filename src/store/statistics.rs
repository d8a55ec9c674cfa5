//! Counts and statistics of the runs a filter selects.
//!
//! Where the rollup can answer (a filter on workflow, domain, status and
//! time, and no change waiting to be folded in), whole buckets come from
//! it, and only the runs in the slivers at the range's edges, the open runs
//! and runs without a start come from the runs table. Counts, success rate,
//! mean and maximum are then exact, and the percentiles within
//! [`HistoryStore::PERCENTILE_ERROR`] of the exact nearest-rank values (exact when every run is in a sliver).
//! Any other filter reads the runs table alone, exactly.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::HistoryStore;
use super::filter::{Conditions, FINISHED, filter_conditions};
use crate::Error;
use crate::backend::exec::{Exec, Row, query, query_opt, required};
use crate::backend::param::Param;
use crate::backend::rollup::cover::{Buckets, cover};
use crate::backend::rollup::sketch::{RELATIVE_ERROR, Sketch, nearest_rank};
use crate::backend::rollup::{self, SUMMARY_COLUMNS, Summary, micros};
use crate::model::{RunFilter, RunStatistics, WorkflowStatistics, WorkflowStatus};

impl HistoryStore {
    /// The largest relative error of the p50 and p95 that
    /// [`HistoryStore::statistics`] reports from the rollup: just under 1%
    /// of the exact nearest-rank value.
    ///
    /// ```
    /// assert!(workflow_history::HistoryStore::PERCENTILE_ERROR < 0.01);
    /// ```
    pub const PERCENTILE_ERROR: f64 = RELATIVE_ERROR;

    /// How many runs match the filter (its limit and offset are ignored;
    /// with a cursor, those after it).
    pub fn count_runs(&self, filter: &RunFilter) -> Result<u64, Error> {
        self.db()?.snapshot(|db| {
            if !rollup_answers(db, filter)? {
                return count_exactly(db, filter);
            }
            let tallies = tally(db, filter, Read::Counts)?;
            Ok(tallies.values().map(Tally::total).sum())
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
                return exact_statistics(db, filter);
            }
            let mut all = Tally::default();
            for tally in tally(db, filter, Read::Durations)?.into_values() {
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
                return Ok(tally(db, filter, Read::Durations)?
                    .into_iter()
                    .map(|(workflow_name, tally)| WorkflowStatistics {
                        workflow_name,
                        statistics: tally.statistics(),
                    })
                    .collect());
            }
            let mut names = workflow_names(db, filter)?;
            names.sort();
            names
                .into_iter()
                .map(|workflow_name| {
                    let statistics = exact_statistics(
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

/// What a tally needs of the rollup.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Read {
    /// Counts alone, for a total.
    Counts,
    /// Counts and durations, for statistics.
    Durations,
}

/// The runs the filter selects, summed per workflow.
fn tally(
    db: &mut dyn Exec,
    filter: &RunFilter,
    read: Read,
) -> Result<BTreeMap<String, Tally>, Error> {
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let open_only = filter
        .status
        .is_some_and(|s| matches!(s, WorkflowStatus::Pending | WorkflowStatus::Running));
    let finished_only = filter.status.is_some() && !open_only;
    if !open_only {
        let plan = cover(filter.since, filter.until);
        for buckets in &plan.buckets {
            read_buckets(db, filter, buckets, read, &mut tallies)?;
        }
        // Each sliver gets one lower and one upper bound on `started_at`:
        // given the filter's own as well, SQLite may range over those and
        // read years of runs for a sliver of an hour.
        let untimed = RunFilter {
            since: None,
            until: None,
            ..filter.clone()
        };
        for sliver in &plan.slivers {
            let mut c = finished_conditions(&untimed);
            match (sliver.from.and_then(from_micros), filter.since) {
                (Some(from), _) => c.push("started_at", ">=", Param::from(from)),
                (None, Some(since)) => c.push("started_at", ">=", Param::from(since)),
                (None, None) => {}
            }
            match (sliver.to.and_then(from_micros), filter.until) {
                (Some(to), _) => c.push("started_at", "<", Param::from(to)),
                (None, Some(until)) => c.push("started_at", "<=", Param::from(until)),
                (None, None) => {}
            }
            read_runs(db, c, &mut tallies)?;
        }
        if filter.since.is_none() && filter.until.is_none() {
            // Runs without a start are in no bucket.
            let mut c = finished_conditions(filter);
            c.push_raw("started_at IS NULL");
            read_runs(db, c, &mut tallies)?;
        }
    }
    if !finished_only {
        read_open_runs(db, filter, &mut tallies)?;
    }
    Ok(tallies)
}

/// The open runs the filter selects, counted.
///
/// They are read through the status index alone and the rest of the filter
/// is applied here: given `domain = ?` or a time range as well, SQLite's
/// planner (which has no statistics to tell it that open runs are few)
/// prefers the domain or time index and scans a fifth of the history.
fn read_open_runs(
    db: &mut dyn Exec,
    filter: &RunFilter,
    tallies: &mut BTreeMap<String, Tally>,
) -> Result<(), Error> {
    // Times compare as stored, to the microsecond, as the SQL filters do.
    let micros = |t: DateTime<Utc>| from_micros(t.timestamp_micros());
    let (since, until) = (filter.since.and_then(micros), filter.until.and_then(micros));
    db.for_each_row(
        "SELECT workflow_name, domain, status, started_at, attempt FROM workflow_runs \
         WHERE status IN ('PENDING', 'RUNNING')",
        &[],
        &mut |row| {
            let workflow_name = required(row.text(0)?, "workflow_name")?;
            let started_at = row.time(3, "started_at")?;
            let selected = filter
                .workflow_name
                .as_ref()
                .is_none_or(|w| *w == workflow_name)
                && filter
                    .domain
                    .as_ref()
                    .is_none_or(|d| row_text_is(row, 1, d))
                && filter
                    .status
                    .is_none_or(|s| row_text_is(row, 2, s.as_str()))
                && since.is_none_or(|s| started_at.is_some_and(|t| t >= s))
                && until.is_none_or(|u| started_at.is_some_and(|t| t <= u));
            if selected {
                let tally = tallies.entry(workflow_name).or_default();
                tally.running += 1;
                if row.int(4)?.unwrap_or(1) > 1 {
                    tally.retries += 1;
                }
            }
            Ok(())
        },
    )
}

fn row_text_is(row: &dyn Row, i: usize, value: &str) -> bool {
    matches!(row.text(i), Ok(Some(text)) if text == value)
}

fn finished_conditions(filter: &RunFilter) -> Conditions<'_> {
    let mut c = filter_conditions(filter);
    c.push_raw(FINISHED);
    c
}

fn read_buckets(
    db: &mut dyn Exec,
    filter: &RunFilter,
    buckets: &Buckets,
    read: Read,
    tallies: &mut BTreeMap<String, Tally>,
) -> Result<(), Error> {
    let mut c = Conditions::default();
    c.push("level", "=", Param::count(buckets.level as u64));
    if let Some(from) = buckets.from {
        c.push("bucket_start", ">=", Param::Int(Some(from)));
    }
    if let Some(to) = buckets.to {
        c.push("bucket_start", "<", Param::Int(Some(to)));
    }
    if let Some(name) = &filter.workflow_name {
        c.push("workflow_name", "=", Param::text(name.as_str()));
    }
    if let Some(domain) = &filter.domain {
        c.push("domain", "=", Param::text(domain.as_str()));
    }
    if let Some(status) = filter.status {
        c.push("status", "=", Param::text(status.as_str()));
    }
    let columns = match read {
        Read::Durations => SUMMARY_COLUMNS,
        Read::Counts => rollup::COUNT_COLUMNS,
    };
    let sql = format!(
        "SELECT workflow_name, status, {columns} FROM workflow_rollup{}",
        c.sql()
    );
    db.for_each_row(&sql, &c.params, &mut |row| {
        let summary = Summary::read(row, 2, read == Read::Durations)?;
        let status = required(row.text(1)?, "status")?;
        tallies
            .entry(required(row.text(0)?, "workflow_name")?)
            .or_default()
            .add_bucket(&status, &summary);
        Ok(())
    })
}

/// Finished runs read one by one: their durations are kept exactly.
fn read_runs(
    db: &mut dyn Exec,
    c: Conditions<'_>,
    tallies: &mut BTreeMap<String, Tally>,
) -> Result<(), Error> {
    let sql = format!(
        "SELECT workflow_name, status, attempt, duration_ms FROM workflow_runs{}",
        c.sql()
    );
    db.for_each_row(&sql, &c.params, &mut |row| {
        let status = required(row.text(1)?, "status")?;
        let attempt = row.int(2)?.unwrap_or(1);
        tallies
            .entry(required(row.text(0)?, "workflow_name")?)
            .or_default()
            .add_run(&status, attempt, row.float(3)?);
        Ok(())
    })
}

fn from_micros(us: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
}

fn count(value: Option<i64>) -> Result<u64, Error> {
    Ok(required(value, "count")?.max(0) as u64)
}

/// Runs summed for statistics: counts by status, and durations, binned
/// (from the rollup) or exact (read from the runs).
#[derive(Debug, Default)]
struct Tally {
    completed: u64,
    failed: u64,
    cancelled: u64,
    running: u64,
    retries: u64,
    timed: u64,
    sum_us: i64,
    max_ms: Option<f64>,
    binned: Sketch,
    exact: Vec<f64>,
}

impl Tally {
    fn finished(&mut self, status: &str) -> Option<&mut u64> {
        match status {
            "COMPLETED" => Some(&mut self.completed),
            "FAILED" => Some(&mut self.failed),
            "CANCELLED" => Some(&mut self.cancelled),
            _ => None,
        }
    }

    fn add_bucket(&mut self, status: &str, summary: &Summary) {
        if let Some(runs) = self.finished(status) {
            *runs += summary.runs.max(0) as u64;
        }
        self.retries += summary.retries.max(0) as u64;
        self.timed += summary.timed.max(0) as u64;
        self.sum_us = self.sum_us.saturating_add(summary.sum_us);
        self.max_ms = max(self.max_ms, summary.max_ms);
        self.binned.merge(&summary.durations);
    }

    fn add_run(&mut self, status: &str, attempt: i64, duration_ms: Option<f64>) {
        if let Some(runs) = self.finished(status) {
            *runs += 1;
        }
        if attempt > 1 {
            self.retries += 1;
        }
        if let Some(ms) = duration_ms {
            self.timed += 1;
            self.sum_us = self.sum_us.saturating_add(micros(ms));
            self.max_ms = max(self.max_ms, Some(ms));
            self.exact.push(ms);
        }
    }

    fn merge(&mut self, other: Tally) {
        self.completed += other.completed;
        self.failed += other.failed;
        self.cancelled += other.cancelled;
        self.running += other.running;
        self.retries += other.retries;
        self.timed += other.timed;
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
        self.max_ms = max(self.max_ms, other.max_ms);
        self.binned.merge(&other.binned);
        self.exact.extend(other.exact);
    }

    fn total(&self) -> u64 {
        self.completed + self.failed + self.cancelled + self.running
    }

    fn statistics(mut self) -> RunStatistics {
        let finished = self.completed + self.failed + self.cancelled;
        let seconds = |ms: f64| ms / 1000.0;
        let mut percentile = |p| nearest_rank(&self.binned, &mut self.exact, p).map(seconds);
        let (p50, p95) = (percentile(0.50), percentile(0.95));
        RunStatistics {
            total_runs: self.total(),
            completed: self.completed,
            failed: self.failed,
            cancelled: self.cancelled,
            running: self.running,
            retries: self.retries,
            success_rate: ratio(self.completed, finished),
            avg_duration_seconds: (self.timed > 0)
                .then(|| self.sum_us as f64 / self.timed as f64 / 1_000_000.0),
            p50_duration_seconds: p50,
            p95_duration_seconds: p95,
            max_duration_seconds: self.max_ms.map(seconds),
        }
    }
}

fn max(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

// === From the runs table alone ===

fn count_exactly(db: &mut dyn Exec, filter: &RunFilter) -> Result<u64, Error> {
    let conditions = filter_conditions(filter);
    let sql = format!("SELECT COUNT(*) FROM workflow_runs{}", conditions.sql());
    let found = query_opt(db, &sql, &conditions.params, |row| count(row.int(0)?))?;
    Ok(found.unwrap_or(0))
}

fn workflow_names(db: &mut dyn Exec, filter: &RunFilter) -> Result<Vec<String>, Error> {
    let conditions = filter_conditions(filter);
    let sql = format!(
        "SELECT DISTINCT workflow_name FROM workflow_runs{}",
        conditions.sql()
    );
    query(db, &sql, &conditions.params, |row| {
        required(row.text(0)?, "workflow_name")
    })
}

fn exact_statistics(db: &mut dyn Exec, filter: &RunFilter) -> Result<RunStatistics, Error> {
    let conditions = filter_conditions(filter);
    let finished_ms = format!("CASE WHEN {FINISHED} THEN duration_ms END");
    let sql = format!(
        "SELECT COUNT(*), \
         COUNT(CASE WHEN status = 'COMPLETED' THEN 1 END), \
         COUNT(CASE WHEN status = 'FAILED' THEN 1 END), \
         COUNT(CASE WHEN status = 'CANCELLED' THEN 1 END), \
         COUNT(CASE WHEN status IN ('PENDING', 'RUNNING') THEN 1 END), \
         AVG({finished_ms}), MAX({finished_ms}), COUNT({finished_ms}), \
         COUNT(CASE WHEN attempt > 1 THEN 1 END) \
         FROM workflow_runs{}",
        conditions.sql()
    );
    let summary = query_opt(db, &sql, &conditions.params, |row| {
        let mut counts = [0u64; 7];
        for (i, slot) in [0, 1, 2, 3, 4, 7, 8].into_iter().zip(counts.iter_mut()) {
            *slot = count(row.int(i)?)?;
        }
        Ok((counts, row.float(5)?, row.float(6)?))
    })?;
    let ([total, completed, failed, cancelled, running, timed, retries], avg_ms, max_ms) =
        summary.unwrap_or(([0; 7], None, None));
    let mut percentile = |p: f64| percentile_ms(db, filter, timed, p);
    Ok(RunStatistics {
        total_runs: total,
        completed,
        failed,
        cancelled,
        running,
        retries,
        success_rate: ratio(completed, completed + failed + cancelled),
        avg_duration_seconds: avg_ms.map(|ms| ms / 1000.0),
        p50_duration_seconds: percentile(0.50)?.map(|ms| ms / 1000.0),
        p95_duration_seconds: percentile(0.95)?.map(|ms| ms / 1000.0),
        max_duration_seconds: max_ms.map(|ms| ms / 1000.0),
    })
}

/// The nearest-rank percentile `p` of the finished runs' durations, in ms:
/// the value at rank ceil(p * n) in ascending order. Plain `ORDER BY` and
/// `OFFSET`, so every SQL database computes it the same way.
fn percentile_ms(
    db: &mut dyn Exec,
    filter: &RunFilter,
    timed: u64,
    p: f64,
) -> Result<Option<f64>, Error> {
    if timed == 0 {
        return Ok(None);
    }
    let rank = ((p * timed as f64).ceil() as u64).clamp(1, timed);
    let mut conditions = finished_conditions(filter);
    conditions.push_raw("duration_ms IS NOT NULL");
    let offset = conditions.extra(Param::count(rank - 1));
    let sql = format!(
        "SELECT duration_ms FROM workflow_runs{} ORDER BY duration_ms LIMIT 1 OFFSET {offset}",
        conditions.sql()
    );
    Ok(query_opt(db, &sql, &conditions.params, |row| row.float(0))?.flatten())
}
