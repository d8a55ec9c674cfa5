//! Helpers that emit the convention fields, so callers need not remember
//! their spellings. Each is an INFO event inside the current span, which
//! the layer applies to the innermost run or step; other layers (such as
//! `fmt`) see it as an ordinary event.

use std::fmt::Display;

/// Ends the current step as `SKIPPED` with `reason` when it closes.
///
/// ```
/// use tracing::info_span;
/// info_span!("step", step = "fetch").in_scope(|| {
///     workflow_history::skip("no new file since last week");
/// });
/// ```
pub fn skip(reason: impl Display) {
    tracing::info!(skip_reason = %reason, "step skipped");
}

/// Ends the current run as `CANCELLED` with `reason` when it closes.
///
/// ```
/// tracing::info_span!("workflow", workflow = "ingest").in_scope(|| {
///     workflow_history::cancel("market holiday");
/// });
/// ```
pub fn cancel(reason: impl Display) {
    tracing::warn!(cancel_reason = %reason, "run cancelled");
}

/// Fails the current step (or run) with `error`, which is recorded with
/// its chain of sources.
///
/// ```
/// let err = std::io::Error::other("connection reset");
/// tracing::info_span!("step", step = "load").in_scope(|| {
///     workflow_history::fail(&err);
/// });
/// ```
pub fn fail(error: &(dyn std::error::Error + 'static)) {
    tracing::error!(error);
}

/// Fails the current step (or run) with `error`, tagged with `category`
/// (for example `"DATA_QUALITY"` or `"TRANSIENT"`).
///
/// ```
/// tracing::info_span!("step", step = "quality_check").in_scope(|| {
///     workflow_history::fail_with_category("null rate 12% > 5%", "DATA_QUALITY");
/// });
/// ```
pub fn fail_with_category(error: impl Display, category: impl Display) {
    tracing::error!(error = %error, error_category = %category);
}

/// Sets the current step's `records_processed`.
///
/// ```
/// tracing::info_span!("step", step = "transform").in_scope(|| {
///     workflow_history::records_processed(1_250);
/// });
/// ```
pub fn records_processed(count: u64) {
    tracing::info!(records_processed = count);
}

/// Sets the current step's `quality_passed`.
///
/// ```
/// tracing::info_span!("step", step = "quality_check").in_scope(|| {
///     workflow_history::quality_passed(true);
/// });
/// ```
pub fn quality_passed(passed: bool) {
    tracing::info!(quality_passed = passed);
}

/// Records run metrics: `metric!(total_records = 1250, bytes = n)` stores
/// `total_records` and `bytes` in the enclosing run's `metrics`.
///
/// ```
/// tracing::info_span!("workflow", workflow = "ingest").in_scope(|| {
///     workflow_history::metric!(total_records = 1250u64, null_rate = 0.02);
/// });
/// ```
#[macro_export]
macro_rules! metric {
    ($($name:ident = $value:expr),+ $(,)?) => {
        ::tracing::info!($(metric.$name = $value),+)
    };
}

/// Records outputs of the current step (or run):
/// `output!(url = "s3://...")` stores `url` in its `output_data`.
///
/// ```
/// tracing::info_span!("workflow", workflow = "ingest").in_scope(|| {
///     workflow_history::output!(file = "week_2025-01-10.csv", rows = 1250u64);
/// });
/// ```
#[macro_export]
macro_rules! output {
    ($($name:ident = $value:expr),+ $(,)?) => {
        ::tracing::info!($(output.$name = $value),+)
    };
}

/// Records quality metrics of the current step:
/// `quality!(null_rate = 0.02)` stores `null_rate` in its `quality_metrics`.
///
/// ```
/// tracing::info_span!("workflow", workflow = "ingest").in_scope(|| {
///     workflow_history::quality!(null_rate = 0.02, duplicates = 0u64);
/// });
/// ```
#[macro_export]
macro_rules! quality {
    ($($name:ident = $value:expr),+ $(,)?) => {
        ::tracing::info!($(quality.$name = $value),+)
    };
}
