//! Field values as captured on the caller's thread, turned into JSON on the
//! writer's.

use std::fmt::{self, Write};

use serde_json::Value as Json;

/// A field value, copied out of a span or event with its type intact.
///
/// Capturing keeps numbers as numbers and leaves JSON building to the
/// writer thread; only text is copied, and short text without allocating.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    /// Strings, `Display` and `Debug` output, error chains, and integers
    /// beyond 64 bits (JSON numbers that large lose precision in most
    /// readers, so they are kept exactly, as decimal text).
    Text(Text),
}

impl Value {
    pub(crate) fn i128(n: i128) -> Value {
        if let Ok(small) = i64::try_from(n) {
            Value::I64(small)
        } else if let Ok(unsigned) = u64::try_from(n) {
            Value::U64(unsigned)
        } else {
            Value::Text(Text::from(n.to_string()))
        }
    }

    pub(crate) fn u128(n: u128) -> Value {
        match u64::try_from(n) {
            Ok(small) => Value::U64(small),
            Err(_) => Value::Text(Text::from(n.to_string())),
        }
    }

    pub(crate) fn to_json(&self) -> Json {
        match self {
            Value::Bool(b) => Json::Bool(*b),
            Value::I64(n) => Json::from(*n),
            Value::U64(n) => Json::from(*n),
            // JSON has no NaN or infinities; keep them as their usual names.
            Value::F64(f) => serde_json::Number::from_f64(*f)
                .map(Json::Number)
                .unwrap_or_else(|| Json::String(f.to_string())),
            Value::Text(text) => Json::String(text.as_str().to_owned()),
        }
    }

    pub(crate) fn into_json(self) -> Json {
        match self {
            Value::Text(text) => Json::String(text.into_string()),
            other => other.to_json(),
        }
    }

    /// The value as plain text, for columns such as `error` or `domain`.
    pub(crate) fn into_text(self) -> String {
        match self {
            Value::Text(text) => text.into_string(),
            Value::Bool(b) => b.to_string(),
            Value::I64(n) => n.to_string(),
            Value::U64(n) => n.to_string(),
            Value::F64(f) => f.to_string(),
        }
    }

    /// The value as an integer, for `records_processed`.
    pub(crate) fn as_i64(&self) -> Option<i64> {
        match self {
            Value::I64(n) => Some(*n),
            Value::U64(n) => i64::try_from(*n).ok(),
            Value::F64(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            Value::Text(text) => text.as_str().trim().parse().ok(),
            Value::Bool(_) | Value::F64(_) => None,
        }
    }

    /// The value as a boolean, for `quality_passed`.
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Text(text) => text.as_str().trim().parse().ok(),
            _ => None,
        }
    }
}

/// Bytes of text kept inline: most names, ids and short messages.
const INLINE: usize = 22;

/// Text copied from a field: short text inline, longer text on the heap.
///
/// Each allocation on the caller's thread is freed on the writer's, which
/// defeats the allocator's per-thread caches; most field values are short,
/// so keeping them inline saves that round trip.
#[derive(Clone)]
pub(crate) enum Text {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Text {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Only whole UTF-8 text is ever copied in, so this cannot fail.
            Text::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Text::Heap(text) => text,
        }
    }

    pub(crate) fn into_string(self) -> String {
        match self {
            Text::Heap(text) => text.into_string(),
            inline => inline.as_str().to_owned(),
        }
    }

    /// `s` inline if it fits.
    fn inline(s: &str) -> Option<Text> {
        let len = u8::try_from(s.len())
            .ok()
            .filter(|&n| usize::from(n) <= INLINE)?;
        let mut bytes = [0; INLINE];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Some(Text::Inline { len, bytes })
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::inline(s).unwrap_or_else(|| Text::Heap(s.into()))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::inline(&s).unwrap_or_else(|| Text::Heap(s.into_boxed_str()))
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Collects formatted text up to a byte limit, then counts what it drops.
///
/// Short output stays in an inline buffer; formatting a huge `Debug` value
/// costs no more memory than the limit on the caller's thread.
pub(crate) struct BoundedText {
    inline: [u8; INLINE],
    inline_len: usize,
    heap: Option<String>,
    limit: usize,
    dropped: usize,
}

impl BoundedText {
    /// Room for a typical message once it outgrows the inline buffer:
    /// growing a `String` from empty reallocates several times.
    const HEAP_START: usize = 96;

    pub(crate) fn new(limit: usize) -> Self {
        BoundedText {
            inline: [0; INLINE],
            inline_len: 0,
            heap: None,
            limit,
            dropped: 0,
        }
    }

    pub(crate) fn from_str(s: &str, limit: usize) -> Text {
        if s.len() <= limit {
            // The common case: inline, or one allocation of the right size.
            return Text::from(s);
        }
        let mut bounded = BoundedText::new(limit);
        // Writing into a BoundedText never fails.
        let _ = bounded.write_str(s);
        bounded.finish()
    }

    fn len(&self) -> usize {
        self.heap.as_ref().map_or(self.inline_len, String::len)
    }

    fn push(&mut self, s: &str) {
        match &mut self.heap {
            Some(heap) => heap.push_str(s),
            None if self.inline_len + s.len() <= INLINE => {
                self.inline[self.inline_len..self.inline_len + s.len()]
                    .copy_from_slice(s.as_bytes());
                self.inline_len += s.len();
            }
            None => {
                let kept = &self.inline[..self.inline_len];
                let mut heap = String::with_capacity((kept.len() + s.len()).max(Self::HEAP_START));
                heap.push_str(std::str::from_utf8(kept).unwrap_or_default());
                heap.push_str(s);
                self.heap = Some(heap);
            }
        }
    }

    /// The text, with a visible marker if anything was cut.
    pub(crate) fn finish(mut self) -> Text {
        if self.dropped > 0 {
            // Pushed past the limit: the marker must stay visible.
            self.push(&format!("…[truncated {} bytes]", self.dropped));
        }
        match self.heap {
            Some(heap) => Text::from(heap),
            None => Text::Inline {
                len: self.inline_len as u8,
                bytes: self.inline,
            },
        }
    }
}

impl fmt::Write for BoundedText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.dropped > 0 {
            self.dropped += s.len();
            return Ok(());
        }
        let room = self.limit - self.len();
        if s.len() <= room {
            self.push(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.push(&s[..cut]);
        self.dropped = s.len() - cut;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::Text(Text::from(s))
    }

    #[test]
    fn numbers_stay_numbers() {
        assert_eq!(Value::I64(-3).to_json(), serde_json::json!(-3));
        assert_eq!(Value::U64(7).to_json(), serde_json::json!(7));
        assert_eq!(Value::F64(1.5).to_json(), serde_json::json!(1.5));
        assert_eq!(Value::Bool(true).to_json(), serde_json::json!(true));
        assert_eq!(Value::i128(-5), Value::I64(-5));
        assert_eq!(Value::i128(i128::from(u64::MAX)), Value::U64(u64::MAX));
        assert_eq!(Value::u128(5), Value::U64(5));
    }

    #[test]
    fn values_json_cannot_hold_become_text() {
        assert_eq!(Value::F64(f64::NAN).to_json(), serde_json::json!("NaN"));
        assert_eq!(
            Value::F64(f64::INFINITY).to_json(),
            serde_json::json!("inf")
        );
        assert_eq!(Value::u128(u128::MAX), text(&u128::MAX.to_string()));
        assert_eq!(Value::i128(i128::MIN), text(&i128::MIN.to_string()));
    }

    #[test]
    fn text_is_inline_up_to_its_buffer_and_equal_either_way() {
        let short = Text::from("x".repeat(INLINE).as_str());
        assert!(matches!(short, Text::Inline { .. }));
        let long = Text::from("x".repeat(INLINE + 1));
        assert!(matches!(long, Text::Heap(_)));
        assert_eq!(long.as_str().len(), INLINE + 1);
        assert_eq!(Text::from("é"), Text::from(String::from("é")));
    }

    #[test]
    fn bounded_text_cuts_on_char_boundary_with_marker() {
        let s = "é".repeat(10); // 20 bytes
        let out = BoundedText::from_str(&s, 5);
        assert!(out.as_str().starts_with("éé"));
        assert!(out.as_str().ends_with("…[truncated 16 bytes]"), "{out:?}");
        assert_eq!(BoundedText::from_str("short", 5).as_str(), "short");
    }

    #[test]
    fn bounded_text_counts_bytes_of_later_writes() {
        let mut b = BoundedText::new(3);
        let (first, second) = ("abcd", "efgh");
        write!(b, "{first}{second}").unwrap();
        assert_eq!(b.finish().as_str(), "abc…[truncated 5 bytes]");
    }

    #[test]
    fn bounded_text_moves_from_inline_to_heap_keeping_everything() {
        let mut b = BoundedText::new(1000);
        for piece in ["0123456789", "0123456789", "0123456789"] {
            b.write_str(piece).unwrap();
        }
        assert_eq!(b.finish().as_str(), "0123456789".repeat(3));
    }
}
