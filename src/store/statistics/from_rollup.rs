//! Reading what a filter selects from the rollup: whole buckets from it,
//! the rest from the runs table.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::tally::Tally;
use super::{count, finished_conditions};
use crate::Error;
use crate::backend::exec::{Exec, Row, query_opt, required};
use crate::backend::param::Param;
use crate::backend::rollup::cover::cover;
use crate::backend::rollup::{SUMMARY_COLUMNS, Summary};
use crate::model::{RunFilter, WorkflowStatus};
use crate::store::filter::Conditions;

/// Where the runs a filter selects are read from when the rollup answers:
/// whole buckets, finished runs one by one (the slivers at the edges of the
/// range, and runs without a start), and the open runs.
struct Sources<'a> {
    /// Conditions on `workflow_rollup`, one per range of whole buckets.
    buckets: Vec<Conditions<'a>>,
    /// Conditions on `workflow_runs`, for finished runs.
    runs: Vec<Conditions<'a>>,
    /// Whether the filter selects open runs at all.
    open: bool,
}

/// The filter without its time range: see [`sources`].
fn untimed(filter: &RunFilter) -> RunFilter {
    RunFilter {
        since: None,
        until: None,
        ..filter.clone()
    }
}

fn sources<'a>(filter: &'a RunFilter, untimed: &'a RunFilter) -> Sources<'a> {
    let open_only = filter
        .status
        .is_some_and(|s| matches!(s, WorkflowStatus::Pending | WorkflowStatus::Running));
    let mut out = Sources {
        buckets: Vec::new(),
        runs: Vec::new(),
        open: filter.status.is_none() || open_only,
    };
    if open_only {
        return out;
    }
    let plan = cover(filter.since, filter.until);
    for buckets in &plan.buckets {
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
        out.buckets.push(c);
    }
    // Each sliver gets one lower and one upper bound on `started_at`:
    // given the filter's own as well, SQLite may range over those and read
    // years of runs for a sliver of an hour.
    for sliver in &plan.slivers {
        let mut c = finished_conditions(untimed);
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
        out.runs.push(c);
    }
    if filter.since.is_none() && filter.until.is_none() {
        // Runs without a start are in no bucket.
        let mut c = finished_conditions(filter);
        c.push_raw("started_at IS NULL");
        out.runs.push(c);
    }
    out
}

/// The runs the filter selects, summed per workflow.
pub(super) fn tally(
    db: &mut dyn Exec,
    filter: &RunFilter,
) -> Result<BTreeMap<String, Tally>, Error> {
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let untimed = untimed(filter);
    let sources = sources(filter, &untimed);
    for c in sources.buckets {
        let sql = format!(
            "SELECT workflow_name, status, {SUMMARY_COLUMNS} FROM workflow_rollup{}",
            c.sql()
        );
        db.for_each_row(&sql, &c.params, &mut |row| {
            let summary = Summary::read(row, 2)?;
            let status = required(row.text(1)?, "status")?;
            tallies
                .entry(required(row.text(0)?, "workflow_name")?)
                .or_default()
                .add_bucket(&status, &summary);
            Ok(())
        })?;
    }
    for c in sources.runs {
        read_runs(db, c, &mut tallies)?;
    }
    if sources.open {
        read_open_runs(db, filter, &mut tallies)?;
    }
    let binned: i64 = tallies.values().map(Tally::binned_count).sum();
    if binned > 0 && binned <= EXACT_UP_TO && filter.workflow_name.is_some() {
        read_durations_exactly(db, filter, &mut tallies)?;
    }
    Ok(tallies)
}

/// Up to this many durations from whole buckets of one workflow, the
/// selection is small enough to read every duration from the runs table
/// (a millisecond or so, through the workflow's own index), so its
/// percentiles are exact rather than within the sketch's error: a weekly
/// job's year of runs gets its true median. Across workflows no index
/// holds just the selection, and the sketch answers.
const EXACT_UP_TO: i64 = 1_000;

/// Replaces the tallies' durations with every finished run's, read one by
/// one; counts, sums and maxima stay as they are (they were exact).
fn read_durations_exactly(
    db: &mut dyn Exec,
    filter: &RunFilter,
    tallies: &mut BTreeMap<String, Tally>,
) -> Result<(), Error> {
    for tally in tallies.values_mut() {
        tally.forget_durations();
    }
    // The domain is checked here: in SQL it would let the planner range
    // over the domain's index instead of the workflow's.
    let by_workflow = RunFilter {
        domain: None,
        ..filter.clone()
    };
    let mut c = finished_conditions(&by_workflow);
    c.push_raw("duration_ms IS NOT NULL");
    let sql = format!(
        "SELECT workflow_name, domain, duration_ms FROM workflow_runs{}",
        c.sql()
    );
    db.for_each_row(&sql, &c.params, &mut |row| {
        if filter
            .domain
            .as_ref()
            .is_some_and(|d| !row_text_is(row, 1, d))
        {
            return Ok(());
        }
        let workflow_name = required(row.text(0)?, "workflow_name")?;
        if let (Some(tally), Some(ms)) = (tallies.get_mut(&workflow_name), row.float(2)?) {
            tally.add_exact_duration(ms);
        }
        Ok(())
    })
}

/// How many runs the filter selects: sums and counts in SQL, as a page's
/// total wants them, without reading durations.
pub(super) fn count_with_rollup(db: &mut dyn Exec, filter: &RunFilter) -> Result<u64, Error> {
    let untimed = untimed(filter);
    let sources = sources(filter, &untimed);
    let mut total = 0;
    let mut add = |db: &mut dyn Exec, sql: String, c: &Conditions<'_>| -> Result<(), Error> {
        total += query_opt(db, &sql, &c.params, |row| count(row.int(0)?))?.unwrap_or(0);
        Ok(())
    };
    for c in &sources.buckets {
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(runs), 0) AS BIGINT) FROM workflow_rollup{}",
            c.sql()
        );
        add(db, sql, c)?;
    }
    for c in &sources.runs {
        add(
            db,
            format!("SELECT COUNT(*) FROM workflow_runs{}", c.sql()),
            c,
        )?;
    }
    if sources.open {
        let mut open = BTreeMap::new();
        read_open_runs(db, filter, &mut open)?;
        total += open.values().map(|t: &Tally| t.running).sum::<u64>();
    }
    Ok(total)
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
