//! The ids of the run and step the calling code is inside, read from the
//! span state the layer keeps.

use tracing_subscriber::Registry;
use tracing_subscriber::registry::LookupSpan;

use super::{Tracked, nearest};

/// The id of the run the calling code is inside: the innermost `workflow`
/// span around it (a sub-workflow's own id inside a sub-workflow). `None`
/// outside any run, or when no [`HistoryLayer`](crate::HistoryLayer)
/// records the current span.
///
/// Use it to log the id or to build a link to the run
/// (`workflow-history show <id>`, `GET /history/runs/<id>`).
///
/// ```
/// use tracing_subscriber::prelude::*;
/// # fn main() -> Result<(), workflow_history::Error> {
/// # let dir = tempfile::tempdir().unwrap();
/// let (layer, guard) = workflow_history::HistoryLayer::builder()
///     .sqlite(dir.path().join("history.db"))
///     .build()?;
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || {
///     assert_eq!(workflow_history::current_run_id(), None);
///     tracing::info_span!("workflow", workflow = "nightly", run_id = "nightly-2025-01-10")
///         .in_scope(|| {
///             let id = workflow_history::current_run_id();
///             assert_eq!(id.as_deref(), Some("nightly-2025-01-10"));
///         });
/// });
/// # guard.shutdown()?; Ok(()) }
/// ```
///
/// A run given a `run_id` that an earlier run already has is recorded as a
/// new attempt, under `<run_id>~<attempt>` (see the README's "Retries");
/// this returns the id as given, which `show` and the API resolve to the
/// latest attempt.
///
/// It needs the subscriber to be `tracing_subscriber`'s `Registry` with
/// layers (as `tracing_subscriber::registry().with(..)` and
/// [`init`](crate::init) build); with any other subscriber it is `None`.
pub fn current_run_id() -> Option<String> {
    innermost(|tracked| Some(tracked.identity.run_id.to_string()))
}

/// The id of the step the calling code is inside (`<run_id>-<step_order>`,
/// as in [`StepRun::step_id`](crate::StepRun::step_id)): the innermost
/// `step` span, when it is nearer than any `workflow` span. `None` outside
/// any step, or directly inside a run.
///
/// Built from the run's id as given: in a run recorded as a later attempt
/// (its `run_id` given again), the stored step id is
/// `<run_id>~<attempt>-<step_order>` instead.
///
/// ```
/// use tracing_subscriber::prelude::*;
/// # fn main() -> Result<(), workflow_history::Error> {
/// # let dir = tempfile::tempdir().unwrap();
/// let (layer, guard) = workflow_history::HistoryLayer::builder()
///     .sqlite(dir.path().join("history.db"))
///     .build()?;
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info_span!("workflow", workflow = "nightly", run_id = "r1").in_scope(|| {
///         assert_eq!(workflow_history::current_step_id(), None);
///         tracing::info_span!("step", step = "fetch").in_scope(|| {
///             assert_eq!(workflow_history::current_step_id().as_deref(), Some("r1-1"));
///         });
///     });
/// });
/// # guard.shutdown()?; Ok(()) }
/// ```
pub fn current_step_id() -> Option<String> {
    innermost(|tracked| {
        (tracked.step_order > 0)
            .then(|| format!("{}-{}", tracked.identity.run_id, tracked.step_order))
    })
}

/// What `read` makes of the innermost tracked span around the caller
/// (whichever history layer tracks it: they share their ids).
fn innermost(read: impl Fn(&Tracked) -> Option<String>) -> Option<String> {
    tracing::Span::current().with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let tracked = nearest(registry.span(id), |span| {
            span.extensions().get::<Tracked>().map(&read)
        });
        tracked.flatten()
    })?
}
