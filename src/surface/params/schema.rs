//! What each typed parameter accepts, as OpenAPI schemas: exactly what its
//! parser ([`super::parse`]) takes, so the document, the server and any
//! client generated from the document agree (a fuzzer driven by the
//! document checks both directions).

use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};

use crate::WorkflowStatus;

/// An age: one to nine digits, no leading zero, and a unit.
pub(crate) const AGE_PATTERN: &str = "^[1-9][0-9]{0,8}[smhdw]$";
/// A listing cursor: microseconds since 1970, `_`, a run id.
pub(crate) const CURSOR_PATTERN: &str = r"^-?[0-9]{1,17}_[\s\S]+$";
/// The only grouping of statistics.
pub(crate) const BY_PATTERN: &str = "^workflow$";

fn string(pattern: Option<String>, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(pattern)
        .description(Some(description))
}

/// `^(?:a|b)$` over `words`, each in any case: ECMA-262 regular expressions
/// (OpenAPI's) have no case-insensitive flag, so each letter is a class.
fn any_case(words: &[&str]) -> String {
    let alternatives: Vec<String> = words
        .iter()
        .map(|word| {
            word.chars()
                .map(|c| {
                    let (lower, upper) = (c.to_ascii_lowercase(), c.to_ascii_uppercase());
                    if lower == upper {
                        c.to_string()
                    } else {
                        format!("[{lower}{upper}]")
                    }
                })
                .collect()
        })
        .collect();
    format!("^(?:{})$", alternatives.join("|"))
}

fn status_words() -> Vec<&'static str> {
    WorkflowStatus::ALL.iter().map(|s| s.as_str()).collect()
}

const LEVEL_WORDS: [&str; 6] = ["error", "warn", "warning", "info", "debug", "trace"];

/// A run status, in any case.
pub(crate) fn status() -> RefOr<Schema> {
    string(
        Some(any_case(&status_words())),
        "A run status, in any case: pending, running, completed, failed, cancelled.",
    )
    .into()
}

/// A log level, in any case.
pub(crate) fn level() -> RefOr<Schema> {
    string(
        Some(any_case(&LEVEL_WORDS)),
        "A log level, in any case: error, warn (or warning), info, debug, trace; \
         that level or more severe.",
    )
    .into()
}

/// A time: RFC 3339, a date, or an age back from now.
pub(crate) fn time() -> RefOr<Schema> {
    let formatted = |format, description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
            .description(Some(description))
    };
    OneOfBuilder::new()
        .item(formatted(
            KnownFormat::DateTime,
            "An RFC 3339 time, as in 2025-01-10T08:30:00Z.",
        ))
        .item(formatted(
            KnownFormat::Date,
            "A date, as in 2025-01-10: midnight UTC.",
        ))
        .item(string(
            Some(AGE_PATTERN.to_owned()),
            "An age back from now, as in 30m, 12h, 7d, 2w.",
        ))
        .into()
}

/// A listing cursor.
pub(crate) fn cursor() -> RefOr<Schema> {
    string(
        Some(CURSOR_PATTERN.to_owned()),
        "The `next` of a previous page, as it was given.",
    )
    .into()
}

/// A grouping of statistics.
pub(crate) fn by() -> RefOr<Schema> {
    string(Some(BY_PATTERN.to_owned()), "`workflow`: per workflow too.").into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::surface::params::{Param, parse};

    /// A tiny matcher for the patterns above (anchored alternations of
    /// literal letters and two-letter classes), enough to check that the
    /// pattern and the parser agree on each sample.
    fn matches_any_case(words: &[&str], text: &str) -> bool {
        words.iter().any(|w| w.eq_ignore_ascii_case(text))
    }

    #[test]
    fn case_patterns_spell_every_letter_both_ways() {
        assert_eq!(any_case(&["ab", "c1"]), "^(?:[aA][bB]|[cC]1)$");
    }

    #[test]
    fn status_and_level_patterns_agree_with_their_parsers() {
        for text in [
            "failed", "FAILED", "Running", "done", "", "failed ", "FAILED\n",
        ] {
            assert_eq!(
                matches_any_case(&status_words(), text),
                parse::parse_status(Param::Status, text).is_ok(),
                "{text:?}"
            );
        }
        for text in ["warn", "WARNING", "Trace", "fatal", ""] {
            assert_eq!(
                matches_any_case(&LEVEL_WORDS, text),
                parse::parse_level(Param::Level, text).is_ok(),
                "{text:?}"
            );
        }
    }
}
