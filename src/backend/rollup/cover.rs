//! Which whole buckets of the rollup make up a time range, and which
//! slivers at its edges must be read from the runs themselves.
//!
//! Buckets come in four widths, each a whole number of the next smaller
//! and all aligned to the Unix epoch, so every run is in exactly one bucket
//! of each. A range takes the widest buckets that fit inside it, narrower
//! ones in what is left at either end, and reads the runs of the last
//! slivers (less than an hour at each end).

use chrono::{DateTime, Utc};

/// Bucket widths in seconds, by level: an hour, a day, 32 days, 512 days.
/// The widest keeps a query over the whole history to a few rows per
/// workflow and status; the narrowest keeps the slivers read from the runs
/// under an hour at each end.
pub(crate) const LEVELS: [i64; 4] = [3_600, 86_400, 32 * 86_400, 512 * 86_400];

const MICROS: i64 = 1_000_000;

/// The bucket of `level` a run started at `started_at` falls into, as its
/// start in seconds since the epoch.
pub(crate) fn bucket_start(level: usize, started_at: DateTime<Utc>) -> i64 {
    started_at.timestamp().div_euclid(LEVELS[level]) * LEVELS[level]
}

/// The buckets of one level whose starts lie in `[from, to)` (seconds;
/// `None` is unbounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Buckets {
    pub(crate) level: usize,
    pub(crate) from: Option<i64>,
    pub(crate) to: Option<i64>,
}

/// Runs to read from the runs table: started in `[from, to)`, in
/// microseconds since the epoch; `None` leaves that side to the filter's
/// own `since` or `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sliver {
    pub(crate) from: Option<i64>,
    pub(crate) to: Option<i64>,
}

/// A range split into whole buckets and slivers; together they hold each
/// run of the range exactly once.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Cover {
    pub(crate) buckets: Vec<Buckets>,
    pub(crate) slivers: Vec<Sliver>,
}

/// The cover of the runs started from `since` through `until` (both
/// inclusive, as a run filter has them).
pub(crate) fn cover(since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> Cover {
    // Stored times have microseconds, and the filter's bounds are bound to
    // SQL cut to the microsecond: a run is in the range when its
    // microsecond is at or after `lo` and before `hi`.
    let lo = since.map(|t| t.timestamp_micros());
    let hi = until.map(|t| t.timestamp_micros().saturating_add(1));
    let mut out = Cover::default();
    if let (Some(lo), Some(hi)) = (lo, hi)
        && lo >= hi
    {
        return out;
    }
    split(
        LEVELS.len() - 1,
        Edge::Filter(lo),
        Edge::Filter(hi),
        &mut out,
    );
    out
}

/// One end of what is left to cover: the filter's own bound, or a bucket
/// boundary (microseconds).
#[derive(Clone, Copy)]
enum Edge {
    Filter(Option<i64>),
    Boundary(i64),
}

impl Edge {
    fn micros(self) -> Option<i64> {
        match self {
            Edge::Filter(t) => t,
            Edge::Boundary(t) => Some(t),
        }
    }

    fn sliver_bound(self) -> Option<i64> {
        match self {
            Edge::Filter(_) => None,
            Edge::Boundary(t) => Some(t),
        }
    }
}

fn split(level: usize, lo: Edge, hi: Edge, out: &mut Cover) {
    let width = LEVELS[level] * MICROS;
    // Whole buckets have indexes in [first, last).
    let first = lo.micros().map(|t| ceil_div(t, width));
    let last = hi.micros().map(|t| t.div_euclid(width));
    let fits = match (first, last) {
        (Some(first), Some(last)) => first < last,
        _ => true,
    };
    if !fits {
        match level.checked_sub(1) {
            Some(narrower) => split(narrower, lo, hi, out),
            None => push_sliver(lo, hi, out),
        }
        return;
    }
    out.buckets.push(Buckets {
        level,
        from: first.map(|i| i * LEVELS[level]),
        to: last.map(|i| i * LEVELS[level]),
    });
    if let Some(first) = first {
        rest(level, lo, Edge::Boundary(first * width), out);
    }
    if let Some(last) = last {
        rest(level, Edge::Boundary(last * width), hi, out);
    }
}

/// What is left beside whole buckets of `level`, if anything.
fn rest(level: usize, lo: Edge, hi: Edge, out: &mut Cover) {
    if let (Some(a), Some(b)) = (lo.micros(), hi.micros())
        && a >= b
    {
        return;
    }
    match level.checked_sub(1) {
        Some(narrower) => split(narrower, lo, hi, out),
        None => push_sliver(lo, hi, out),
    }
}

fn push_sliver(lo: Edge, hi: Edge, out: &mut Cover) {
    out.slivers.push(Sliver {
        from: lo.sliver_bound(),
        to: hi.sliver_bound(),
    });
}

fn ceil_div(a: i64, b: i64) -> i64 {
    -(-a).div_euclid(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(secs: i64, micros: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, micros * 1000).unwrap()
    }

    /// Where a run started at `t` (µs) is counted by the cover: the bucket
    /// or sliver indexes that hold it (the filter's bounds included).
    fn holders(c: &Cover, since: Option<i64>, until: Option<i64>, t: i64) -> usize {
        let in_filter = since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u);
        let buckets = c
            .buckets
            .iter()
            .filter(|b| {
                let start = t.div_euclid(LEVELS[b.level] * MICROS) * LEVELS[b.level];
                b.from.is_none_or(|f| start >= f) && b.to.is_none_or(|to| start < to)
            })
            .count();
        let slivers = c
            .slivers
            .iter()
            .filter(|s| in_filter && s.from.is_none_or(|f| t >= f) && s.to.is_none_or(|to| t < to))
            .count();
        buckets + slivers
    }

    #[test]
    fn everything_is_one_unbounded_range_of_the_widest_buckets() {
        let c = cover(None, None);
        assert_eq!(
            c.buckets,
            [Buckets {
                level: LEVELS.len() - 1,
                from: None,
                to: None
            }]
        );
        assert!(c.slivers.is_empty());
    }

    #[test]
    fn a_range_within_an_hour_is_one_sliver() {
        let c = cover(Some(at(7_200, 5)), Some(at(7_300, 0)));
        assert!(c.buckets.is_empty());
        assert_eq!(
            c.slivers,
            [Sliver {
                from: None,
                to: None
            }]
        );
    }

    #[test]
    fn an_empty_range_covers_nothing() {
        assert_eq!(cover(Some(at(100, 0)), Some(at(99, 0))), Cover::default());
    }

    #[test]
    fn thirty_days_take_days_and_hours_and_two_slivers() {
        let now = at(1_765_000_000, 123_456);
        let c = cover(Some(now - chrono::Duration::days(30)), Some(now));
        assert!(c.buckets.iter().any(|b| b.level == 1));
        assert!(c.buckets.iter().all(|b| b.level < 2));
        assert_eq!(c.slivers.len(), 2);
        assert!(c.buckets.len() <= 4);
    }

    proptest! {
        #[test]
        fn each_run_in_range_is_held_exactly_once(
            since in prop::option::of(-4_000_000_000_000i64..4_000_000_000_000_000),
            span in 0i64..400_000_000_000,
            bounded_above in any::<bool>(),
            offsets in prop::collection::vec(-3_000_000_000i64..3_000_000_000, 1..40),
        ) {
            let until = bounded_above.then(|| since.unwrap_or(0) + span);
            let to_time = |us: i64| at(us.div_euclid(MICROS), us.rem_euclid(MICROS) as u32);
            let c = cover(since.map(to_time), until.map(to_time));
            let base = since.unwrap_or(0);
            for offset in offsets {
                for t in [base + offset, base + span / 2 + offset, until.unwrap_or(base) + offset] {
                    let in_range = since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u);
                    prop_assert_eq!(holders(&c, since, until, t), usize::from(in_range), "t = {}", t);
                }
            }
        }
    }
}
