//! Field values as captured on the caller's thread, turned into JSON on the
//! writer's.

use std::fmt::{self, Write};

use serde_json::Value as Json;

/// A field value, copied out of a span or event with its type intact.
///
/// Capturing keeps numbers as numbers and leaves JSON building to the
/// writer thread; only strings and `Debug`/`Display` output are copied.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Bool(bool),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    /// Strings, `Display` and `Debug` output, and error chains.
    Text(String),
}

impl Value {
    pub(crate) fn to_json(&self) -> Json {
        match *self {
            Value::Bool(b) => Json::Bool(b),
            Value::I64(n) => Json::from(n),
            Value::U64(n) => Json::from(n),
            // JSON numbers beyond 64 bits lose precision in most readers,
            // so those are kept exactly as text.
            Value::I128(n) => match i64::try_from(n) {
                Ok(small) => Json::from(small),
                Err(_) => Json::String(n.to_string()),
            },
            Value::U128(n) => match u64::try_from(n) {
                Ok(small) => Json::from(small),
                Err(_) => Json::String(n.to_string()),
            },
            // JSON has no NaN or infinities; keep them as their usual names.
            Value::F64(f) => serde_json::Number::from_f64(f)
                .map(Json::Number)
                .unwrap_or_else(|| Json::String(f.to_string())),
            Value::Text(ref s) => Json::String(s.clone()),
        }
    }

    pub(crate) fn into_json(self) -> Json {
        match self {
            Value::Text(s) => Json::String(s),
            other => other.to_json(),
        }
    }

    /// The value as plain text, for columns such as `error` or `domain`.
    pub(crate) fn into_text(self) -> String {
        match self {
            Value::Text(s) => s,
            Value::Bool(b) => b.to_string(),
            Value::I64(n) => n.to_string(),
            Value::U64(n) => n.to_string(),
            Value::I128(n) => n.to_string(),
            Value::U128(n) => n.to_string(),
            Value::F64(f) => f.to_string(),
        }
    }

    /// The value as an integer, for `records_processed`.
    pub(crate) fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I64(n) => Some(n),
            Value::U64(n) => i64::try_from(n).ok(),
            Value::I128(n) => i64::try_from(n).ok(),
            Value::U128(n) => i64::try_from(n).ok(),
            Value::F64(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(f as i64),
            Value::Text(ref s) => s.trim().parse().ok(),
            Value::Bool(_) | Value::F64(_) => None,
        }
    }

    /// The value as a boolean, for `quality_passed`.
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            Value::Text(ref s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// Collects formatted text up to a byte limit, then counts what it drops.
///
/// Formatting a huge `Debug` value into a bounded buffer keeps a runaway
/// field from costing more memory than the limit on the caller's thread.
pub(crate) struct BoundedText {
    text: String,
    limit: usize,
    dropped: usize,
}

impl BoundedText {
    /// Room for a typical message up front: growing a `String` from empty
    /// reallocates several times while `fmt` writes it piece by piece.
    const INITIAL_CAPACITY: usize = 64;

    pub(crate) fn new(limit: usize) -> Self {
        BoundedText {
            text: String::with_capacity(limit.min(Self::INITIAL_CAPACITY)),
            limit,
            dropped: 0,
        }
    }

    pub(crate) fn from_str(s: &str, limit: usize) -> String {
        if s.len() <= limit {
            // The common case: one allocation of exactly the right size.
            return s.to_owned();
        }
        let mut bounded = BoundedText::new(limit);
        // Writing into a BoundedText never fails.
        let _ = bounded.write_str(s);
        bounded.finish()
    }

    /// The text, with a visible marker if anything was cut.
    pub(crate) fn finish(mut self) -> String {
        if self.dropped > 0 {
            let _ = write!(self.text, "…[truncated {} bytes]", self.dropped);
        }
        self.text
    }
}

impl fmt::Write for BoundedText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.dropped > 0 {
            self.dropped += s.len();
            return Ok(());
        }
        let room = self.limit - self.text.len();
        if s.len() <= room {
            self.text.push_str(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&s[..cut]);
        self.dropped = s.len() - cut;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_stay_numbers() {
        assert_eq!(Value::I64(-3).to_json(), serde_json::json!(-3));
        assert_eq!(Value::U64(7).to_json(), serde_json::json!(7));
        assert_eq!(Value::F64(1.5).to_json(), serde_json::json!(1.5));
        assert_eq!(Value::Bool(true).to_json(), serde_json::json!(true));
    }

    #[test]
    fn values_json_cannot_hold_become_text() {
        assert_eq!(Value::F64(f64::NAN).to_json(), serde_json::json!("NaN"));
        assert_eq!(
            Value::F64(f64::INFINITY).to_json(),
            serde_json::json!("inf")
        );
        assert_eq!(
            Value::U128(u128::MAX).to_json(),
            serde_json::json!(u128::MAX.to_string())
        );
        assert_eq!(Value::I128(-5).to_json(), serde_json::json!(-5));
    }

    #[test]
    fn bounded_text_cuts_on_char_boundary_with_marker() {
        let s = "é".repeat(10); // 20 bytes
        let out = BoundedText::from_str(&s, 5);
        assert!(out.starts_with("éé"));
        assert!(out.ends_with("…[truncated 16 bytes]"), "{out}");
        assert_eq!(BoundedText::from_str("short", 5), "short");
    }

    #[test]
    fn bounded_text_counts_bytes_of_later_writes() {
        let mut b = BoundedText::new(3);
        let (first, second) = ("abcd", "efgh");
        write!(b, "{first}{second}").unwrap();
        assert_eq!(b.finish(), "abc…[truncated 5 bytes]");
    }
}
