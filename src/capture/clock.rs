//! The layer's clock: cheap readings on the caller's thread, turned into
//! times of day on the writer's.

use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};

/// Which clock the layer reads on the caller's thread, chosen once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    /// The processor's time-stamp counter: a third of the cost of
    /// `Instant::now` (9 ns against 22 ns here), read three times per step.
    /// Used only where the kernel itself keeps time with it, which it does
    /// only when the counter is invariant and synchronized across cores.
    Tsc,
    /// `Instant`, everywhere else.
    Monotonic,
}

impl Clock {
    fn detect() -> Clock {
        let kernel_uses_tsc = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|source| source.trim() == "tsc");
        if cfg!(target_arch = "x86_64") && kernel_uses_tsc {
            Clock::Tsc
        } else {
            Clock::Monotonic
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn read_tsc() -> u64 {
    // SAFETY: RDTSC exists on every x86_64 processor and reads a counter;
    // it has no precondition and no effect on memory.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn read_tsc() -> u64 {
    // `Clock::detect` never picks the TSC off x86_64.
    0
}

/// A monotonic clock reading taken by the layer: counter ticks, or
/// nanoseconds since the origin. Only the writer's [`TimeAnchor`] makes a
/// time of day of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp(u64);

/// The layer's clock: cheap to copy, cheap to read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClockSource {
    clock: Clock,
    origin: Instant,
}

impl ClockSource {
    #[inline]
    pub(crate) fn now(self) -> Stamp {
        match self.clock {
            Clock::Tsc => Stamp(read_tsc()),
            Clock::Monotonic => Stamp(self.origin.elapsed().as_nanos() as u64),
        }
    }
}

/// Turns the layer's stamps into times of day: the clock's origin paired
/// with the wall clock read at the same moment, and for the counter its
/// rate, measured against `Instant` over everything since the origin.
///
/// The counter's mapping is piecewise linear and continuous: each
/// calibration starts a new piece at the moment it measures, where the
/// previous piece ends, with the better rate. Rescaling the whole interval
/// since the origin instead would move every later time by the error of
/// each new measurement (microseconds after a few seconds, more if the
/// thread is preempted while measuring), so two stamps converted on either
/// side of a calibration could swap order.
///
/// Durations come from the monotonic clock alone, so they are never
/// negative even if the system clock is stepped while a run is open.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeAnchor {
    source: ClockSource,
    origin_ticks: u64,
    system: SystemTime,
    nanos_per_tick: f64,
    /// The start of the current piece: a count, and its time since
    /// `system` in nanoseconds. `None` until the first calibration.
    piece: Option<(u64, f64)>,
}

/// Longest a calibration's two counter reads, around its read of
/// `Instant`, may lie apart (in ticks: a few hundred nanoseconds at any
/// rate a counter runs at): a thread preempted in between would measure
/// the interval wrongly by as long as it waited.
const MAX_CALIBRATION_TICKS: u64 = 2_000;

/// How far a piece's end may stray from the time `Instant` measures before
/// the mapping is set back to it: a safeguard, far above the nanoseconds
/// a piece drifts by.
const MAX_DRIFT_NANOS: f64 = 1_000_000.0;

impl TimeAnchor {
    pub(crate) fn new() -> Self {
        let clock = Clock::detect();
        let origin = Instant::now();
        let origin_ticks = if clock == Clock::Tsc { read_tsc() } else { 0 };
        TimeAnchor {
            source: ClockSource { clock, origin },
            origin_ticks,
            system: SystemTime::now(),
            // A guess until `calibrate` has an interval to measure.
            nanos_per_tick: 1.0,
            piece: None,
        }
    }

    /// The clock the layer reads.
    pub(crate) fn source(&self) -> ClockSource {
        self.source
    }

    /// Measures the counter's rate over the time since the origin (the
    /// longer the interval, the better) and starts a new piece of the
    /// mapping here. A measurement the thread was preempted in is skipped.
    pub(crate) fn calibrate(&mut self) {
        if self.source.clock != Clock::Tsc {
            return;
        }
        let measure = || {
            let before = read_tsc();
            let nanos = self.source.origin.elapsed().as_nanos() as f64;
            let after = read_tsc();
            (
                before + after.saturating_sub(before) / 2,
                nanos,
                after.saturating_sub(before),
            )
        };
        let mut measured = measure();
        for _ in 0..3 {
            if measured.2 <= MAX_CALIBRATION_TICKS {
                break;
            }
            measured = measure();
        }
        let (now, nanos, spread) = measured;
        // Skipped when preempted, unless there is no measurement at all yet.
        if spread > MAX_CALIBRATION_TICKS && self.piece.is_some() {
            return;
        }
        let ticks = now.saturating_sub(self.origin_ticks);
        if ticks == 0 || nanos <= 0.0 {
            return;
        }
        let start = match self.piece {
            Some(_) => {
                let mapped = self.nanos_since_origin(now);
                if (mapped - nanos).abs() <= MAX_DRIFT_NANOS {
                    mapped
                } else {
                    nanos
                }
            }
            None => nanos,
        };
        self.nanos_per_tick = nanos / ticks as f64;
        self.piece = Some((now, start));
    }

    /// Nanoseconds from the origin to the count `at`, by the current piece.
    fn nanos_since_origin(&self, at: u64) -> f64 {
        let (start_ticks, start_nanos) = self.piece.unwrap_or((self.origin_ticks, 0.0));
        // Signed: a stamp taken just before the piece began maps before it.
        let ticks = at as f64 - start_ticks as f64;
        (start_nanos + ticks * self.nanos_per_tick).max(0.0)
    }

    pub(crate) fn to_utc(self, at: Stamp) -> DateTime<Utc> {
        let nanos = match self.source.clock {
            Clock::Tsc => self.nanos_since_origin(at.0) as u64,
            Clock::Monotonic => at.0,
        };
        truncate_to_micros(DateTime::<Utc>::from(
            self.system + Duration::from_nanos(nanos),
        ))
    }
}

/// Drops sub-microsecond precision, which the text form does not keep, so a
/// value read back equals the value written.
pub(crate) fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let micros = t.timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_map_to_increasing_times_a_known_interval_apart() {
        let mut anchor = TimeAnchor::new();
        let clock = anchor.source();
        let first = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let second = clock.now();
        anchor.calibrate();
        let (a, b) = (anchor.to_utc(first), anchor.to_utc(second));
        let apart = (b - a).num_microseconds().expect("small");
        assert!((20_000..40_000).contains(&apart), "{apart} µs apart");
        let now = Utc::now();
        assert!((now - b).num_milliseconds().abs() < 50, "{b} vs {now}");
    }

    #[test]
    fn recalibrating_never_moves_a_later_stamp_before_an_earlier_one() {
        let mut anchor = TimeAnchor::new();
        let clock = anchor.source();
        anchor.calibrate();
        let mut last = anchor.to_utc(clock.now());
        for _ in 0..20_000 {
            let stamp = clock.now();
            anchor.calibrate();
            let at = anchor.to_utc(stamp);
            assert!(at >= last, "{at} after {last}");
            last = at;
        }
    }
}
