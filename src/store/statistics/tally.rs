//! Runs summed for statistics, and the statistics of the sum.

use crate::backend::rollup::sketch::{Sketch, nearest_rank};
use crate::backend::rollup::{Summary, longest, micros};
use crate::model::RunStatistics;

/// Runs summed for statistics: counts by status, and durations, binned
/// (from the rollup) or exact (read from the runs).
#[derive(Debug, Default)]
pub(super) struct Tally {
    completed: u64,
    failed: u64,
    cancelled: u64,
    pub(super) running: u64,
    pub(super) retries: u64,
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

    pub(super) fn add_bucket(&mut self, status: &str, summary: &Summary) {
        if let Some(runs) = self.finished(status) {
            *runs += summary.runs.max(0) as u64;
        }
        self.retries += summary.retries.max(0) as u64;
        self.timed += summary.timed.max(0) as u64;
        self.sum_us = self.sum_us.saturating_add(summary.sum_us);
        self.max_ms = longest(self.max_ms, summary.max_ms);
        self.binned.merge(&summary.durations);
    }

    pub(super) fn add_run(&mut self, status: &str, attempt: i64, duration_ms: Option<f64>) {
        if let Some(runs) = self.finished(status) {
            *runs += 1;
        }
        if attempt > 1 {
            self.retries += 1;
        }
        if let Some(ms) = duration_ms {
            self.timed += 1;
            self.sum_us = self.sum_us.saturating_add(micros(ms));
            self.max_ms = longest(self.max_ms, Some(ms));
            self.exact.push(ms);
        }
    }

    /// How many durations are binned (came from the rollup).
    pub(super) fn binned_count(&self) -> i64 {
        self.binned.count()
    }

    /// Drops the durations kept for percentiles, to read them again with
    /// [`Tally::add_exact_duration`].
    pub(super) fn forget_durations(&mut self) {
        self.binned = Sketch::default();
        self.exact.clear();
    }

    pub(super) fn add_exact_duration(&mut self, ms: f64) {
        self.exact.push(ms);
    }

    pub(super) fn merge(&mut self, other: Tally) {
        self.completed += other.completed;
        self.failed += other.failed;
        self.cancelled += other.cancelled;
        self.running += other.running;
        self.retries += other.retries;
        self.timed += other.timed;
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
        self.max_ms = longest(self.max_ms, other.max_ms);
        self.binned.merge(&other.binned);
        self.exact.extend(other.exact);
    }

    pub(super) fn total(&self) -> u64 {
        self.completed + self.failed + self.cancelled + self.running
    }

    pub(super) fn statistics(mut self) -> RunStatistics {
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

pub(super) fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}
