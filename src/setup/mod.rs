//! Setting history up and tearing it down: the builder that wires the
//! layer to its writer, the guard that owns the writer, the exit hook, and
//! the counters both sides share.

pub(crate) mod builder;
mod exit;
pub(crate) mod guard;
#[cfg(feature = "init")]
pub(crate) mod init;
pub(crate) mod stats;
