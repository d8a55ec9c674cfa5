//! The text form of stored times on SQLite: RFC 3339 UTC with six fraction
//! digits and `Z`, fixed width, so text order is time order.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::Error;

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
