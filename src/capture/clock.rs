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
/// Durations come from the monotonic clock alone, so they are never
/// negative even if the system clock is stepped while a run is open.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeAnchor {
    source: ClockSource,
    origin_ticks: u64,
    system: SystemTime,
    nanos_per_tick: f64,
}

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
        }
    }

    /// The clock the layer reads.
    pub(crate) fn source(&self) -> ClockSource {
        self.source
    }

    /// Measures the counter's rate over the time since the origin: the
    /// longer the interval, the better; two reads a few nanoseconds apart
    /// bound the error in absolute terms.
    pub(crate) fn calibrate(&mut self) {
        if self.source.clock != Clock::Tsc {
            return;
        }
        let ticks = read_tsc().saturating_sub(self.origin_ticks);
        let nanos = self.source.origin.elapsed().as_nanos() as f64;
        if ticks > 0 && nanos > 0.0 {
            self.nanos_per_tick = nanos / ticks as f64;
        }
    }

    pub(crate) fn to_utc(self, at: Stamp) -> DateTime<Utc> {
        let nanos = match self.source.clock {
            Clock::Tsc => {
                (at.0.saturating_sub(self.origin_ticks) as f64 * self.nanos_per_tick) as u64
            }
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
}
