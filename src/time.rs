//! Clock readings and their stored text form.

use std::time::{Instant, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::Error;

/// Pairs a monotonic instant with the wall clock read at the same moment.
///
/// The layer reads only the monotonic clock; the writer turns instants into
/// wall-clock times through the anchor. Durations are therefore never negative
/// even if the system clock is stepped while a run is open.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeAnchor {
    instant: Instant,
    system: SystemTime,
}

impl TimeAnchor {
    pub(crate) fn new() -> Self {
        TimeAnchor {
            instant: Instant::now(),
            system: SystemTime::now(),
        }
    }

    pub(crate) fn to_utc(self, at: Instant) -> DateTime<Utc> {
        let system = match at.checked_duration_since(self.instant) {
            Some(after) => self.system + after,
            None => self.system - self.instant.duration_since(at),
        };
        truncate_to_micros(DateTime::<Utc>::from(system))
    }
}

/// Drops sub-microsecond precision, which the text form does not keep, so a
/// value read back equals the value written.
pub(crate) fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let micros = t.timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or(t)
}

/// `2025-01-10T08:30:00.123456Z`: fixed width, so text order is time order.
pub(crate) fn format_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn parse_timestamp(column: &'static str, text: &str) -> Result<DateTime<Utc>, Error> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::Corrupt {
            column,
            detail: format!("{text:?} is not an RFC 3339 time: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_has_six_fraction_digits_and_z() {
        let t = DateTime::from_timestamp(1_736_498_400, 5_000).unwrap();
        assert_eq!(format_timestamp(t), "2025-01-10T08:40:00.000005Z");
        assert_eq!(parse_timestamp("t", &format_timestamp(t)).unwrap(), t);
    }

    #[test]
    fn anchor_maps_earlier_and_later_instants() {
        let anchor = TimeAnchor::new();
        let later = anchor.instant + std::time::Duration::from_millis(1500);
        let diff = anchor.to_utc(later) - anchor.to_utc(anchor.instant);
        assert_eq!(diff.num_milliseconds(), 1500);
    }

    #[test]
    fn bad_text_is_a_corrupt_error() {
        assert!(matches!(
            parse_timestamp("started_at", "yesterday"),
            Err(Error::Corrupt {
                column: "started_at",
                ..
            })
        ));
    }
}
