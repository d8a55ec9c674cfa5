//! Counts and statistics from the runs table alone, exactly: for filters
//! the rollup does not keep, and while changes wait to be folded into it.

use super::tally::ratio;
use super::{count, finished_conditions};
use crate::Error;
use crate::backend::exec::{Exec, query, query_opt, required};
use crate::backend::param::Param;
use crate::model::{RunFilter, RunStatistics};
use crate::store::filter::{FINISHED, filter_conditions};

pub(super) fn count_exactly(db: &mut dyn Exec, filter: &RunFilter) -> Result<u64, Error> {
    let conditions = filter_conditions(filter);
    let sql = format!("SELECT COUNT(*) FROM workflow_runs{}", conditions.sql());
    let found = query_opt(db, &sql, &conditions.params, |row| count(row.int(0)?))?;
    Ok(found.unwrap_or(0))
}

pub(super) fn workflow_names(db: &mut dyn Exec, filter: &RunFilter) -> Result<Vec<String>, Error> {
    let conditions = filter_conditions(filter);
    let sql = format!(
        "SELECT DISTINCT workflow_name FROM workflow_runs{}",
        conditions.sql()
    );
    query(db, &sql, &conditions.params, |row| {
        required(row.text(0)?, "workflow_name")
    })
}

pub(super) fn exact_statistics(
    db: &mut dyn Exec,
    filter: &RunFilter,
) -> Result<RunStatistics, Error> {
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
