//! The statistics rollup: finished runs summed per workflow, domain, status
//! and time bucket, so a statistics query over a million runs reads a few
//! thousand rows.
//!
//! Triggers on `workflow_runs` (migration 0007) note each change to a
//! finished run in `workflow_rollup_pending`; [`fold_pending`] folds those
//! notes into `workflow_rollup` and runs at the end of every transaction
//! the library writes in, so the rollup commits with the rows it sums.
//! Readers use the rollup only when no note is pending (see
//! [`has_pending`]): a change made by hand with plain SQL is then read from
//! the runs themselves until the next writer folds it in.

pub(crate) mod cover;
mod fold;
pub(crate) mod sketch;

use crate::Error;
use crate::backend::exec::{Exec, Row, query_opt, required};
pub(crate) use fold::{fold_pending, rebuild};
use sketch::Sketch;

/// The summary columns of `workflow_rollup`, in [`Summary::read`] order.
pub(crate) const SUMMARY_COLUMNS: &str =
    "runs, retries, timed, duration_sum_us, duration_max_ms, durations";

/// Finished runs summed: their number, retries and durations.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Summary {
    pub(crate) runs: i64,
    pub(crate) retries: i64,
    /// Runs with a duration.
    pub(crate) timed: i64,
    /// Their durations' sum, in whole microseconds so that removing a run
    /// takes away exactly what adding it put in.
    pub(crate) sum_us: i64,
    pub(crate) max_ms: Option<f64>,
    pub(crate) durations: Sketch,
}

impl Summary {
    /// Counts one run (or takes it away, with `sign` -1).
    pub(crate) fn add_run(&mut self, sign: i64, attempt: i64, duration_ms: Option<f64>) {
        self.runs += sign;
        if attempt > 1 {
            self.retries += sign;
        }
        if let Some(ms) = duration_ms {
            self.timed += sign;
            self.sum_us = self.sum_us.saturating_add(sign.saturating_mul(micros(ms)));
            self.durations.add(ms, sign);
            if sign > 0 {
                self.max_ms = longest(self.max_ms, Some(ms));
            }
        }
    }

    /// Adds another summary's counts.
    pub(crate) fn merge(&mut self, other: &Summary) {
        self.runs += other.runs;
        self.retries += other.retries;
        self.timed += other.timed;
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
        self.max_ms = longest(self.max_ms, other.max_ms);
        self.durations.merge(&other.durations);
    }

    /// Whether the counts can be those of real runs: none below zero, and
    /// no durations without runs. A change made by hand to the tables the
    /// library keeps can leave a bucket otherwise.
    pub(crate) fn is_consistent(&self) -> bool {
        self.runs >= 0
            && self.retries >= 0
            && self.timed >= 0
            && self.timed <= self.runs
            && self.durations.is_whole()
            && self.durations.count() == self.timed
            && (self.timed > 0 || (self.sum_us == 0 && self.max_ms.is_none()))
    }

    /// Reads [`SUMMARY_COLUMNS`] from `row`, starting at column `at`.
    pub(crate) fn read(row: &dyn Row, at: usize) -> Result<Summary, Error> {
        let mut summary = Summary {
            runs: required(row.int(at)?, "runs")?,
            retries: required(row.int(at + 1)?, "retries")?,
            timed: required(row.int(at + 2)?, "timed")?,
            sum_us: required(row.int(at + 3)?, "duration_sum_us")?,
            max_ms: row.float(at + 4)?,
            durations: Sketch::default(),
        };
        summary
            .durations
            .merge_encoded(&required(row.bytes(at + 5)?, "durations")?)?;
        Ok(summary)
    }
}

/// The longer of two durations, either of which may be missing.
pub(crate) fn longest(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// A duration in whole microseconds, as the rollup sums it.
pub(crate) fn micros(ms: f64) -> i64 {
    // `as` saturates, and NaN becomes 0.
    (ms * 1000.0).round() as i64
}

/// Whether changes wait to be folded into the rollup, so that it does not
/// yet sum the runs as they are.
pub(crate) fn has_pending(db: &mut dyn Exec) -> Result<bool, Error> {
    Ok(query_opt(
        db,
        "SELECT change_id FROM workflow_rollup_pending LIMIT 1",
        &[],
        |_| Ok(()),
    )?
    .is_some())
}
