//! Parsing one parameter value. Each parser accepts exactly what the
//! parameter's OpenAPI schema ([`super::schema`]) describes, no more: a
//! client that follows the document is never refused, and one that does
//! not is never silently half-understood.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

use super::{Limits, Param, ParamError};
use crate::{RunCursor, WorkflowStatus};

/// A run status name, in any case.
///
/// ```
/// use workflow_history::{surface::params::{parse_status, Param}, WorkflowStatus};
/// assert_eq!(parse_status(Param::Status, "Failed"), Ok(WorkflowStatus::Failed));
/// ```
///
/// # Errors
/// A name that is not a status; the message lists the statuses.
pub fn parse_status(param: Param, text: &str) -> Result<WorkflowStatus, ParamError> {
    text.parse().map_err(|_| {
        let known: Vec<String> = WorkflowStatus::ALL
            .iter()
            .map(|s| s.as_str().to_ascii_lowercase())
            .collect();
        ParamError::new(
            param,
            format!(
                "unknown status {:?}; expected one of {}",
                shorten(text),
                known.join(", ")
            ),
        )
    })
}

/// A point in time: RFC 3339 (`2025-01-10T08:30:00Z`, any offset), a date
/// (`2025-01-10`, midnight UTC), or an age before `now` (see [`parse_age`]).
///
/// ```
/// use workflow_history::surface::params::{parse_time, Param};
/// let now = chrono::Utc::now();
/// let t = parse_time(Param::Since, "12h", now)?;
/// assert_eq!(now - t, chrono::Duration::hours(12));
/// let t = parse_time(Param::Since, "2025-01-10", now)?;
/// assert_eq!(t.to_rfc3339(), "2025-01-10T00:00:00+00:00");
/// # Ok::<(), workflow_history::surface::params::ParamError>(())
/// ```
///
/// # Errors
/// Text in none of the three forms.
pub fn parse_time(
    param: Param,
    text: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ParamError> {
    let bytes = text.as_bytes();
    // RFC 3339 separates date and time with `T` (chrono would also take a
    // space, which the OpenAPI `date-time` format does not).
    if bytes.len() > 10 && is_date_shape(&bytes[..10]) && matches!(bytes[10], b'T' | b't') {
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(t.with_timezone(&Utc));
        }
    } else if is_date_shape(bytes) {
        if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
        }
    } else if let Ok(age) = parse_age(param, text) {
        // An age reaching before the calendar's start selects everything.
        return Ok(now
            .checked_sub_signed(age)
            .unwrap_or(DateTime::<Utc>::MIN_UTC));
    }
    Err(ParamError::new(
        param,
        format!(
            "cannot read {:?} as a time; use RFC 3339 (2025-01-10T08:30:00Z), \
             a date (2025-01-10) or an age (30m, 12h, 7d, 2w)",
            shorten(text)
        ),
    ))
}

/// `YYYY-MM-DD` in digits (chrono alone would also take `2025-1-5`).
fn is_date_shape(bytes: &[u8]) -> bool {
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
}

/// A positive age: a whole number of one to nine digits, without leading
/// zero, followed by `s`, `m`, `h`, `d` or `w` (seconds to weeks).
///
/// ```
/// use workflow_history::surface::params::{parse_age, Param};
/// assert_eq!(parse_age(Param::OlderThan, "90d")?, chrono::Duration::days(90));
/// assert!(parse_age(Param::OlderThan, "0d").is_err());
/// assert!(parse_age(Param::OlderThan, "-1d").is_err());
/// # Ok::<(), workflow_history::surface::params::ParamError>(())
/// ```
///
/// # Errors
/// Any other text.
pub fn parse_age(param: Param, text: &str) -> Result<chrono::Duration, ParamError> {
    let bad = || {
        ParamError::new(
            param,
            format!(
                "cannot read {:?} as an age: use a whole number (1 to 999999999) and a \
                 unit, as in 30m, 12h, 7d, 2w",
                shorten(text)
            ),
        )
    };
    let mut chars = text.chars();
    let unit = chars.next_back();
    let number = chars.as_str();
    let seconds_per_unit: i64 = match unit {
        Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3_600,
        Some('d') => 86_400,
        Some('w') => 7 * 86_400,
        _ => return Err(bad()),
    };
    if number.len() > 9 {
        return Err(bad());
    }
    let n = parse_whole(number).filter(|n| *n > 0).ok_or_else(bad)?;
    // At most 999,999,999 weeks: far inside what i64 seconds hold.
    Ok(chrono::Duration::seconds(n as i64 * seconds_per_unit))
}

/// A whole number as written: digits only, no sign, no leading zero.
fn parse_whole(text: &str) -> Option<u64> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let canonical = text == "0" || !text.starts_with('0');
    (digits && canonical).then(|| text.parse().ok()).flatten()
}

/// A page size from 1 to `limits.max`; `limits.default` when absent.
///
/// ```
/// use workflow_history::surface::params::{parse_limit, Limits};
/// assert_eq!(parse_limit(None, Limits::HTTP), Ok(50));
/// assert_eq!(parse_limit(Some("200"), Limits::HTTP), Ok(200));
/// assert!(parse_limit(Some("201"), Limits::HTTP).is_err());
/// ```
///
/// # Errors
/// Anything but a whole number in range.
pub fn parse_limit(text: Option<&str>, limits: Limits) -> Result<u32, ParamError> {
    let Some(text) = text else {
        return Ok(limits.default);
    };
    match parse_whole(text) {
        Some(n) if (1..=u64::from(limits.max)).contains(&n) => Ok(n as u32),
        _ => Err(ParamError::new(
            Param::Limit,
            format!(
                "{:?} is not a whole number from 1 to {}",
                shorten(text),
                limits.max
            ),
        )),
    }
}

/// A number of rows to skip, 0 when absent, at most `limits.max_offset`.
/// Offsets past the end are valid: they select an empty page.
///
/// ```
/// use workflow_history::surface::params::{parse_offset, Limits};
/// assert_eq!(parse_offset(Some("150"), Limits::HTTP), Ok(150));
/// assert!(parse_offset(Some("-1"), Limits::HTTP).is_err());
/// assert!(parse_offset(Some("10001"), Limits::HTTP).is_err());
/// ```
///
/// # Errors
/// Anything but a whole number from 0 to `limits.max_offset`.
pub fn parse_offset(text: Option<&str>, limits: Limits) -> Result<u64, ParamError> {
    let Some(text) = text else {
        return Ok(0);
    };
    match parse_whole(text) {
        Some(n) if n <= limits.max_offset => Ok(n),
        _ => Err(ParamError::new(
            Param::Offset,
            format!(
                "{:?} is not a whole number from 0 to {}; for deeper pages, pass the \
                 previous page's `next` cursor as `after`",
                shorten(text),
                limits.max_offset
            ),
        )),
    }
}

/// A whole number of days from 1 to [`super::MAX_AGE_DAYS`], for retention.
///
/// # Errors
/// Anything else.
pub(crate) fn parse_days(text: &str) -> Result<chrono::Duration, ParamError> {
    match parse_whole(text) {
        Some(days) if (1..=super::MAX_AGE_DAYS as u64).contains(&days) => {
            Ok(chrono::Duration::days(days as i64))
        }
        _ => Err(ParamError::new(
            Param::Days,
            format!(
                "{:?} is not a whole number of days from 1 to {}",
                shorten(text),
                super::MAX_AGE_DAYS
            ),
        )),
    }
}

/// A listing cursor, as a page's `next` gives it:
/// `<microseconds since 1970, at most 17 digits>_<run id>`.
///
/// ```
/// use workflow_history::surface::params::parse_cursor;
/// let cursor = parse_cursor("1736498400123456_0193abcd")?;
/// assert_eq!(cursor.run_id, "0193abcd");
/// # Ok::<(), workflow_history::surface::params::ParamError>(())
/// ```
///
/// # Errors
/// Text of any other shape.
pub fn parse_cursor(text: &str) -> Result<RunCursor, ParamError> {
    let bad = || {
        ParamError::new(
            Param::After,
            format!(
                "{:?} is not a cursor: pass a page's `next` as it is",
                shorten(text)
            ),
        )
    };
    let (micros, _) = text.split_once('_').ok_or_else(bad)?;
    let digits = micros.strip_prefix('-').unwrap_or(micros);
    if digits.is_empty() || digits.len() > 17 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

/// A log level name, in any case: `error`, `warn` (or `warning`), `info`,
/// `debug`, `trace`.
///
/// ```
/// use workflow_history::surface::params::{parse_level, Param};
/// assert_eq!(parse_level(Param::Level, "WARNING"), Ok(tracing::Level::WARN));
/// ```
///
/// # Errors
/// Any other name.
pub fn parse_level(param: Param, text: &str) -> Result<tracing::Level, ParamError> {
    let level = match text.to_ascii_lowercase().as_str() {
        "error" => tracing::Level::ERROR,
        "warn" | "warning" => tracing::Level::WARN,
        "info" => tracing::Level::INFO,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        _ => {
            return Err(ParamError::new(
                param,
                format!(
                    "unknown level {:?}; expected one of error, warn, info, debug, trace",
                    shorten(text)
                ),
            ));
        }
    };
    Ok(level)
}

/// A run id or the start of one: any non-empty text.
///
/// # Errors
/// Empty text, which would designate every run.
pub fn parse_run_id(text: &str) -> Result<&str, ParamError> {
    if text.is_empty() {
        return Err(ParamError::new(Param::RunId, "a run id cannot be empty"));
    }
    Ok(text)
}

/// Echoed values are cut so that a megabyte of garbage does not come back
/// in the error message.
pub(crate) fn shorten(text: &str) -> Shortened<'_> {
    Shortened(text)
}

pub(crate) struct Shortened<'a>(&'a str);

impl fmt::Debug for Shortened<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX_CHARS: usize = 64;
        match self.0.char_indices().nth(MAX_CHARS) {
            None => write!(f, "{:?}", self.0),
            Some((end, _)) => write!(f, "{:?}…", &self.0[..end]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_now as now;
    use super::*;

    #[test]
    fn times_in_every_form() {
        let at = |text| parse_time(Param::Since, text, now());
        assert_eq!(at("30m").unwrap(), now() - chrono::Duration::minutes(30));
        assert_eq!(at("2w").unwrap(), now() - chrono::Duration::days(14));
        assert_eq!(
            at("2025-01-09T10:00:00+02:00").unwrap().to_rfc3339(),
            "2025-01-09T08:00:00+00:00"
        );
        assert!(at("2025-01-09t10:00:00z").is_ok());
        assert_eq!(at("999999999w").unwrap(), DateTime::<Utc>::MIN_UTC);
        for bad in [
            "yesterday",
            "7",
            "d",
            "7x",
            "-7d",
            "07d",
            "+7d",
            "1234567890s",
            "2025-13-01",
            "2025-02-30",
            "2025-1-5",
            "+2025-01-05",
            "2025-01-10 08:30:00Z",
            "7 d",
            "७d",
            "Ú",
            "1Ú",
            "",
        ] {
            let err = at(bad).unwrap_err();
            assert_eq!(err.param, Param::Since, "{bad}");
        }
    }

    #[test]
    fn whole_numbers_are_written_plainly() {
        assert_eq!(parse_whole("0"), Some(0));
        assert_eq!(parse_whole("150"), Some(150));
        for bad in [
            "",
            "+1",
            "-1",
            "01",
            "1e3",
            " 1",
            "1.0",
            "99999999999999999999",
        ] {
            assert_eq!(parse_whole(bad), None, "{bad}");
        }
    }

    #[test]
    fn limits_offsets_and_days() {
        for bad in ["0", "-1", "201", "1e3", "abc", "4294967296", "+5", "05"] {
            assert!(parse_limit(Some(bad), Limits::HTTP).is_err(), "{bad}");
        }
        assert_eq!(parse_limit(Some("5000"), Limits::CLI), Ok(5000));
        assert!(parse_offset(Some("9223372036854775808"), Limits::CLI).is_err());
        assert_eq!(
            parse_offset(Some("9223372036854775807"), Limits::CLI),
            Ok(i64::MAX as u64)
        );
        assert_eq!(parse_offset(Some("10000"), Limits::HTTP), Ok(10_000));
        let deep = parse_offset(Some("10001"), Limits::HTTP).unwrap_err();
        assert!(deep.detail.contains("after"), "{}", deep.detail);
        assert_eq!(parse_days("36500"), Ok(chrono::Duration::days(36_500)));
        assert!(parse_days("36501").is_err() && parse_days("0").is_err());
    }

    #[test]
    fn cursors_have_one_shape() {
        assert!(parse_cursor("-5_x").is_ok());
        for bad in ["", "_x", "5_", "+5_x", "a_x", "123456789012345678_x", "5"] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let huge = "x".repeat(100_000);
        let err = parse_status(Param::Status, &huge).unwrap_err();
        assert!(err.detail.len() < 200, "{}", err.detail);
        assert_eq!(err.for_cli().split(':').next(), Some("--status"));
    }
}
