//! Retention: deleting old runs with everything that belongs to them.

use chrono::{DateTime, Utc};

use super::exec::{Exec, query, required, slots};
use super::param::Param;
use super::tables::{EVENTS, RUNS, STEPS};
use crate::Error;

/// Deletes up to `chunk` of the runs started before `cutoff`, with their
/// steps and events; returns how many runs went. Run it in a transaction.
///
/// Callers loop until it returns less than `chunk`, one transaction per
/// chunk, so a large retention pass never holds the write lock for long.
pub(crate) fn delete_runs_started_before(
    db: &mut dyn Exec,
    cutoff: DateTime<Utc>,
    chunk: u32,
) -> Result<u64, Error> {
    let doomed = query(
        db,
        "SELECT run_id FROM workflow_runs WHERE started_at < ?1 ORDER BY started_at LIMIT ?2",
        &[Param::from(cutoff), Param::Int(Some(i64::from(chunk)))],
        |row| required(row.text(0)?, "run_id"),
    )?;
    if doomed.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Param> = doomed.iter().map(|id| Param::text(id.as_str())).collect();
    let list = slots(ids.len());
    // Children first, so no step or event is ever left without its run.
    for table in [EVENTS.name, STEPS.name, RUNS.name] {
        db.execute(
            &format!("DELETE FROM {table} WHERE run_id IN ({list})"),
            &ids,
        )?;
    }
    Ok(doomed.len() as u64)
}
