//! One call that installs history and a console log as the global
//! subscriber, for applications that have no subscriber of their own.

use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::prelude::*;

use crate::{Error, HistoryGuard, HistoryLayer, HistoryLayerBuilder};

/// Records history and logs to the console, in one line: installs the
/// global `tracing` subscriber with a [`HistoryLayer`] and a `fmt` layer.
///
/// - History goes to the database named by `WORKFLOW_HISTORY_DATABASE_URL`
///   ([`DATABASE_URL_VAR`](crate::DATABASE_URL_VAR)), else to
///   `./history.db`, with the builder's defaults.
/// - The console shows what `RUST_LOG` lets through (default `info`). That
///   filter is the console's alone: the history layer still records runs,
///   steps and events the console hides.
///
/// Keep the returned guard alive until the end of `main`: dropping it
/// commits everything queued and stops the writer.
///
/// ```no_run
/// use workflow_history::{step, workflow};
///
/// #[workflow(domain = "demo")]
/// fn nightly() -> Result<(), std::io::Error> {
///     load()?;
///     Ok(())
/// }
///
/// #[step]
/// fn load() -> Result<(), std::io::Error> {
///     Ok(())
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let _history = workflow_history::init()?;
///     nightly()?;
///     Ok(())
/// }
/// ```
///
/// Without the console layer, or with layers of your own, add
/// [`HistoryLayer`] to your subscriber instead (see [`HistoryLayer::builder`]).
///
/// # Errors
///
/// [`Error::GlobalSubscriberSet`] when a global subscriber is already
/// installed (a second call, or another library's `init`);
/// [`Error::InvalidLogFilter`] when `RUST_LOG` cannot be parsed; and any
/// error of [`HistoryLayerBuilder::build`].
pub fn init() -> Result<HistoryGuard, Error> {
    init_with(HistoryLayer::builder())
}

/// [`init`] with a configured builder: the database, capture level,
/// retention and the rest are the builder's; the console layer is as for
/// [`init`].
///
/// ```no_run
/// # fn main() -> Result<(), workflow_history::Error> {
/// let _history = workflow_history::init_with(
///     workflow_history::HistoryLayer::builder()
///         .sqlite("/var/lib/pipelines/history.db")
///         .retention(chrono::Duration::days(90)),
/// )?;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// As for [`init`].
pub fn init_with(builder: HistoryLayerBuilder) -> Result<HistoryGuard, Error> {
    // Checked first so that a refused call opens no database and starts no
    // writer; `set_global_default` below still settles a race.
    if tracing::dispatcher::has_been_set() {
        return Err(Error::GlobalSubscriberSet);
    }
    let console_filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env()
        .map_err(|source| Error::InvalidLogFilter {
            value: std::env::var(EnvFilter::DEFAULT_ENV).unwrap_or_default(),
            reason: source.to_string(),
        })?;
    let (history, guard) = builder.build()?;
    let subscriber = tracing_subscriber::registry()
        .with(history)
        .with(tracing_subscriber::fmt::layer().with_filter(console_filter));
    tracing::subscriber::set_global_default(subscriber).map_err(|_| Error::GlobalSubscriberSet)?;
    Ok(guard)
}
