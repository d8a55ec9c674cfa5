//! Copies field values out of spans and events.

use std::error::Error as StdError;
use std::fmt::{self, Write};

use tracing::field::{Field, Visit};

use crate::message::Fields;
use crate::message::value::{BoundedText, Value};

/// A visitor that appends every field to `fields`, cutting text values at
/// `max_bytes`.
pub(crate) struct FieldCollector<'a> {
    pub(crate) fields: &'a mut Fields,
    pub(crate) max_bytes: usize,
}

impl FieldCollector<'_> {
    fn push(&mut self, field: &Field, value: Value) {
        self.fields.push((field.name(), value));
    }

    /// The text limit for `field`. A run id is a key, never cut: two long
    /// ids cut to the same prefix would merge two runs into one.
    fn limit(&self, field: &Field) -> usize {
        if field.name() == "run_id" {
            usize::MAX
        } else {
            self.max_bytes
        }
    }
}

impl Visit for FieldCollector<'_> {
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::U64(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.push(field, Value::i128(value));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.push(field, Value::u128(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(
            field,
            Value::Text(BoundedText::from_str(value, self.limit(field))),
        );
    }

    /// The error's message followed by its sources: `outer: inner: root`.
    fn record_error(&mut self, field: &Field, value: &(dyn StdError + 'static)) {
        let mut text = BoundedText::new(self.limit(field));
        let _ = write!(text, "{value}");
        let mut source = value.source();
        while let Some(cause) = source {
            let _ = write!(text, ": {cause}");
            source = cause.source();
        }
        self.push(field, Value::Text(text.finish()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = BoundedText::new(self.limit(field));
        let _ = write!(text, "{value:?}");
        self.push(field, Value::Text(text.finish()));
    }
}
