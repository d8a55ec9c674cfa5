//! A mergeable summary of durations with a bounded relative error, from
//! which percentiles are read back within [`RELATIVE_ERROR`].
//!
//! Values fall into log-spaced bins: bin `i` holds the positive values in
//! `(γ^(i-1), γ^i]`, and reads back as `2γ^i / (γ+1)`, which is within
//! `(γ-1)/(γ+1)` of every value in it (the DDSketch layout). Counts are
//! signed, so a sketch can also carry a change: runs added and removed.
//! Negative values (only hand-written rows have them) use mirrored bins,
//! and zero has a count of its own.

use crate::Error;

/// The ratio between neighbouring bins' upper ends.
const GAMMA: f64 = 1.02;

/// Every value reads back within this fraction of itself: `(γ-1)/(γ+1)`,
/// just under 1%.
pub(crate) const RELATIVE_ERROR: f64 = (GAMMA - 1.0) / (GAMMA + 1.0);

/// Bin indexes are clamped here, so an infinite or subnormal value cannot
/// ask for a bin array of billions of entries; `γ^±36000` is beyond the
/// range of `f64` in either direction.
const MAX_INDEX: i32 = 36_000;

fn index_of(magnitude: f64) -> i32 {
    // `as` saturates (and maps NaN to 0), the clamp bounds the rest.
    ((magnitude.ln() / GAMMA.ln()).ceil() as i32).clamp(-MAX_INDEX, MAX_INDEX)
}

fn value_of(index: i32) -> f64 {
    2.0 * GAMMA.powi(index) / (GAMMA + 1.0)
}

/// Dense counts for a contiguous range of bin indexes.
#[derive(Debug, Clone, Default, PartialEq)]
struct Bins {
    first: i32,
    counts: Vec<i64>,
}

impl Bins {
    fn add(&mut self, index: i32, count: i64) {
        if self.counts.is_empty() {
            self.first = index;
            self.counts.push(0);
        } else if index < self.first {
            let grow = (self.first - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.first = index;
        } else if index >= self.first + self.counts.len() as i32 {
            self.counts.resize((index - self.first) as usize + 1, 0);
        }
        self.counts[(index - self.first) as usize] += count;
    }

    /// The non-zero bins, by ascending index.
    fn entries(&self) -> impl DoubleEndedIterator<Item = (i32, i64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c != 0)
            .map(|(i, c)| (self.first + i as i32, *c))
    }
}

/// Durations (or a change to them) as counts of log-spaced bins.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Sketch {
    zero: i64,
    positive: Bins,
    negative: Bins,
}

impl Sketch {
    /// Adds `count` values equal to `value` (removes them if negative).
    pub(crate) fn add(&mut self, value: f64, count: i64) {
        if value > 0.0 {
            self.positive.add(index_of(value), count);
        } else if value < 0.0 {
            self.negative.add(index_of(-value), count);
        } else {
            self.zero += count;
        }
    }

    /// Adds every count of `other`.
    pub(crate) fn merge(&mut self, other: &Sketch) {
        self.zero += other.zero;
        for (i, c) in other.positive.entries() {
            self.positive.add(i, c);
        }
        for (i, c) in other.negative.entries() {
            self.negative.add(i, c);
        }
    }

    /// The number of values: the sum of all counts.
    pub(crate) fn count(&self) -> i64 {
        self.zero
            + self.positive.counts.iter().sum::<i64>()
            + self.negative.counts.iter().sum::<i64>()
    }

    /// Whether no count is below zero: a summary of real values, rather
    /// than a change that removed more than was there.
    pub(crate) fn is_whole(&self) -> bool {
        self.zero >= 0
            && self.positive.counts.iter().all(|c| *c >= 0)
            && self.negative.counts.iter().all(|c| *c >= 0)
    }

    /// Each bin's value and count, in ascending order of value.
    pub(crate) fn ascending(&self) -> impl Iterator<Item = (f64, i64)> + '_ {
        let negative = self
            .negative
            .entries()
            .rev()
            .map(|(i, c)| (-value_of(i), c));
        let zero = (self.zero != 0).then_some((0.0, self.zero));
        let positive = self.positive.entries().map(|(i, c)| (value_of(i), c));
        negative.chain(zero).chain(positive)
    }

    /// The stored form: the zero count, then each sign's non-zero bins as
    /// (index gap, count) pairs, all as LEB128 varints (indexes zigzagged).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, zigzag(self.zero));
        for bins in [&self.positive, &self.negative] {
            let entries: Vec<(i32, i64)> = bins.entries().collect();
            put_varint(&mut out, entries.len() as u64);
            let mut previous = 0i64;
            for (index, count) in entries {
                put_varint(&mut out, zigzag(i64::from(index) - previous));
                put_varint(&mut out, zigzag(count));
                previous = i64::from(index);
            }
        }
        out
    }

    /// Adds the counts of a sketch in its stored form.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for bytes [`Sketch::encode`] did not write.
    pub(crate) fn merge_encoded(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let mut input = bytes;
        self.zero += unzigzag(take_varint(&mut input)?);
        for negative in [false, true] {
            let entries = take_varint(&mut input)?;
            let mut index = 0i64;
            for _ in 0..entries {
                index += unzigzag(take_varint(&mut input)?);
                let count = unzigzag(take_varint(&mut input)?);
                let index = i32::try_from(index)
                    .ok()
                    .filter(|i| i.abs() <= MAX_INDEX)
                    .ok_or_else(|| corrupt("bin index out of range"))?;
                let bins = if negative {
                    &mut self.negative
                } else {
                    &mut self.positive
                };
                bins.add(index, count);
            }
        }
        if input.is_empty() {
            Ok(())
        } else {
            Err(corrupt("trailing bytes"))
        }
    }
}

/// The nearest-rank percentile `p` (the value at rank ceil(p * n) in
/// ascending order) of the values summarised in `sketch` together with the
/// `exact` ones (sorted here): exact when every value is exact, else within
/// [`RELATIVE_ERROR`] of the true one, since every binned value is.
pub(crate) fn nearest_rank(sketch: &Sketch, exact: &mut [f64], p: f64) -> Option<f64> {
    let total = sketch.count().max(0) as u64 + exact.len() as u64;
    if total == 0 {
        return None;
    }
    let rank = ((p * total as f64).ceil() as u64).clamp(1, total);
    exact.sort_by(f64::total_cmp);
    let mut exact = exact.iter().copied().peekable();
    let mut binned = sketch.ascending().peekable();
    let mut seen = 0u64;
    loop {
        let take_exact = match (binned.peek(), exact.peek()) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some((b, _)), Some(e)) => e <= b,
        };
        let (value, count) = if take_exact {
            (exact.next()?, 1)
        } else {
            let (value, count) = binned.next()?;
            (value, count.max(0) as u64)
        };
        seen += count;
        if seen >= rank {
            return Some(value);
        }
    }
}

fn corrupt(detail: &str) -> Error {
    Error::Corrupt {
        column: "durations",
        detail: format!("not a duration sketch: {detail}"),
    }
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn take_varint(input: &mut &[u8]) -> Result<u64, Error> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first().ok_or_else(|| corrupt("cut short"))?;
        *input = rest;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(corrupt("varint too long"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact_rank(values: &mut [f64], p: f64) -> f64 {
        values.sort_by(f64::total_cmp);
        let n = values.len() as u64;
        let rank = ((p * n as f64).ceil() as u64).clamp(1, n);
        values[(rank - 1) as usize]
    }

    #[test]
    fn every_value_reads_back_within_the_bound() {
        for v in [
            1e-6,
            0.001,
            0.5,
            1.0,
            7.3,
            999.99,
            4.2e3,
            86_400_000.0,
            3e12,
        ] {
            let mut sketch = Sketch::default();
            sketch.add(v, 1);
            let back = nearest_rank(&sketch, &mut [], 0.5).unwrap();
            assert!(
                (back - v).abs() <= RELATIVE_ERROR * v * (1.0 + 1e-12),
                "{v} -> {back}"
            );
        }
        const { assert!(RELATIVE_ERROR < 0.01) };
    }

    #[test]
    fn zero_negative_and_extreme_values_keep_their_order() {
        let mut sketch = Sketch::default();
        for v in [-5.0, 0.0, 3.0, f64::INFINITY, f64::MIN_POSITIVE / 1e10] {
            sketch.add(v, 1);
        }
        let values: Vec<f64> = sketch.ascending().map(|(v, _)| v).collect();
        assert_eq!(values.len(), 5);
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
        assert!((values[0] + 5.0).abs() <= 5.0 * RELATIVE_ERROR);
        assert_eq!(values[2], 0.0);
    }

    #[test]
    fn removing_what_was_added_leaves_nothing() {
        let mut sketch = Sketch::default();
        sketch.add(12.5, 3);
        let mut change = Sketch::default();
        change.add(12.5, -3);
        sketch.merge(&change);
        assert_eq!(sketch.count(), 0);
        assert!(sketch.is_whole());
        assert!(!change.is_whole());
        assert_eq!(sketch.ascending().count(), 0);
    }

    #[test]
    fn damaged_bytes_are_an_error_not_a_panic() {
        let mut sketch = Sketch::default();
        sketch.add(40.0, 2);
        let bytes = sketch.encode();
        for cut in 0..bytes.len() {
            assert!(Sketch::default().merge_encoded(&bytes[..cut]).is_err());
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(Sketch::default().merge_encoded(&long).is_err());
        assert!(
            Sketch::default()
                .merge_encoded(&[0, 1, 0xff, 0xff, 0xff, 0x7f, 2, 0])
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn encoding_round_trips(values in prop::collection::vec(-1e9f64..1e12, 0..200)) {
            let mut sketch = Sketch::default();
            for v in &values {
                sketch.add(*v, 1);
            }
            let mut back = Sketch::default();
            back.merge_encoded(&sketch.encode()).unwrap();
            prop_assert_eq!(back.ascending().collect::<Vec<_>>(), sketch.ascending().collect::<Vec<_>>());
        }

        #[test]
        fn percentiles_are_within_the_bound(
            binned in prop::collection::vec(0.0f64..1e8, 0..300),
            exact in prop::collection::vec(0.0f64..1e8, 0..30),
            p in 0.0f64..=1.0,
        ) {
            prop_assume!(!binned.is_empty() || !exact.is_empty());
            let mut sketch = Sketch::default();
            for v in &binned {
                sketch.add(*v, 1);
            }
            let mut all: Vec<f64> = binned.iter().chain(&exact).copied().collect();
            let truth = exact_rank(&mut all, p);
            let got = nearest_rank(&sketch, &mut exact.clone(), p).unwrap();
            prop_assert!((got - truth).abs() <= truth * RELATIVE_ERROR * (1.0 + 1e-9), "{} vs {}", got, truth);
        }

        #[test]
        fn exact_values_alone_give_the_exact_rank(
            mut exact in prop::collection::vec(-1e6f64..1e6, 1..50),
            p in 0.0f64..=1.0,
        ) {
            let got = nearest_rank(&Sketch::default(), &mut exact.clone(), p);
            prop_assert_eq!(got, Some(exact_rank(&mut exact, p)));
        }
    }
}
