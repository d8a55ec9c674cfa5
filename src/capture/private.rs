//! What the `#[workflow]` and `#[step]` expansions call; not an API.
//!
//! A function returning `Err` fails its run or step with an ERROR event
//! whose `error` field is the error itself: as `&dyn Error` when the type is
//! one, so its chain of sources is recorded (`outer: inner`), else as its
//! alternate `Display` (`{:#}`, which `anyhow` and `eyre` print as the
//! chain). The choice is made at compile time, by method resolution
//! ("autoref specialization"): the `&&Failure` impl is looked at first.

use std::error::Error;
use std::fmt;

/// A function's error, as the expansion hands it over.
pub struct Failure<'a, E>(pub &'a E);

/// For errors that are `std::error::Error`: recorded with their sources.
pub trait FailWithChain {
    /// The `error` field's value.
    fn error_value(&self) -> &(dyn Error + 'static);
}

impl<E: Error + 'static> FailWithChain for &&Failure<'_, E> {
    fn error_value(&self) -> &(dyn Error + 'static) {
        self.0
    }
}

/// For any other error that can be displayed.
pub trait FailWithDisplay {
    /// The `error` field's value.
    fn error_value(&self) -> tracing::field::DisplayValue<Alternate<'_>>;
}

impl<E: fmt::Display> FailWithDisplay for &Failure<'_, E> {
    fn error_value(&self) -> tracing::field::DisplayValue<Alternate<'_>> {
        tracing::field::display(Alternate(self.0))
    }
}

/// Displays a value in its alternate form.
pub struct Alternate<'a>(&'a dyn fmt::Display);

impl fmt::Display for Alternate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.0)
    }
}
