//! The `tracing` layer: notices `workflow` and `step` spans and the events
//! inside them, and sends compact messages to the writer thread.
//!
//! Nothing here touches the database, builds JSON or formats timestamps; per
//! span state lives in the span's extensions, not in a shared map.

pub(crate) mod clock;
mod current;
pub(crate) mod helpers;
mod panic;
#[doc(hidden)]
pub mod private;
mod visit;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crossbeam_channel::{Sender, TrySendError};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::Backpressure;
use crate::message::convention::{LaterField, RUN_ID_FIELD, RUN_SPAN, STEP_SPAN};
use crate::message::value::Value;
use crate::message::{self, Fields, Lineage, Msg, Opened, RunIdentity, SpanKey};
use crate::setup::stats::Counters;
use clock::{ClockSource, Stamp};
use visit::FieldCollector;

pub use current::{current_run_id, current_step_id};
pub(crate) use panic::install_hook as install_panic_hook;

/// A `tracing` layer that records `workflow` spans as runs and `step` spans
/// as steps, with their fields and the events inside them.
///
/// Made by [`HistoryLayer::builder`], together with the
/// [`HistoryGuard`](crate::HistoryGuard) that owns the writer thread.
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
/// # fn docs() -> Result<(), workflow_history::Error> {
/// let (layer, guard) = workflow_history::HistoryLayer::builder()
///     .sqlite("history.db")
///     .build()?;
/// tracing_subscriber::registry().with(layer).init();
///
/// tracing::info_span!("workflow", workflow = "ingest", tier = "T1").in_scope(|| {
///     tracing::info_span!("step", step = "fetch").in_scope(|| {
///         tracing::info!(records_processed = 42u64, "fetched");
///     });
/// });
/// drop(guard); // commits everything and stops the writer
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct HistoryLayer {
    /// Tells this layer's state in a span's extensions from another
    /// history layer's in the same subscriber.
    id: LayerId,
    sending: Sending,
    counters: Arc<Counters>,
    config: CaptureConfig,
    clock: ClockSource,
}

/// Numbers the history layers of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LayerId(u32);

impl LayerId {
    fn next() -> LayerId {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        LayerId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// The layer's ends of the writer's queues, and what to do when full.
#[derive(Debug)]
pub(crate) struct Sending {
    pub(crate) queue: Sender<Msg>,
    /// For the closes and panics that find the main queue full under
    /// `DropNewest`; as large as the main queue.
    pub(crate) overflow: Sender<Msg>,
    pub(crate) policy: Backpressure,
}

/// What the layer captures; fixed when the layer is built.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CaptureConfig {
    /// Events at this level or more severe go into the run's log.
    pub(crate) capture_level: Level,
    /// Longer text values are cut, with a marker.
    pub(crate) max_field_bytes: usize,
    /// Whether ERROR-level events fail their step or run.
    pub(crate) error_events_fail: bool,
}

/// A tracked span's state for one layer, kept in its extensions.
///
/// Extensions hold one value per type, so when more than one history layer
/// tracks a span (each with its own database), the first layer's state
/// holds the others': the common single layer pays one comparison for it.
struct Tracked {
    layer: LayerId,
    key: SpanKey,
    /// The run the span belongs to: itself for a run.
    run: SpanKey,
    /// That run's id, shared by its steps and by the other history layers.
    identity: Arc<RunIdentity>,
    /// The step's order in its run, given at its first enter; 0 until
    /// then, and for a run.
    step_order: u32,
    /// Present until the first enter sends it to the writer.
    pending: Option<Pending>,
    /// Its start was dropped on a full queue: the writer never heard of it,
    /// so nothing more is sent about it.
    dropped: bool,
    /// The states of the same span for the other history layers.
    others: Vec<Tracked>,
}

impl Tracked {
    /// `layer`'s state, found in the first layer's.
    fn of(&self, layer: LayerId) -> Option<&Tracked> {
        if self.layer == layer {
            return Some(self);
        }
        self.others.iter().find(|t| t.layer == layer)
    }

    fn of_mut(&mut self, layer: LayerId) -> Option<&mut Tracked> {
        if self.layer == layer {
            return Some(self);
        }
        self.others.iter_mut().find(|t| t.layer == layer)
    }
}

struct Pending {
    lineage: Lineage,
    /// Runs only: steps have no creation time of their own.
    created_at: Option<Stamp>,
    fields: Fields,
    /// Recorded with `Span::record` before the first enter: rare, so kept
    /// out of line rather than making every span's state larger.
    recorded: Vec<(&'static str, Value)>,
}

/// Takes the run's own id out of its fields, so it is not also a param.
fn take_run_id(fields: &mut Fields) -> Option<String> {
    let at = fields.iter().position(|(name, _)| *name == RUN_ID_FIELD)?;
    Some(fields.remove(at).1.into_text())
}

#[inline]
fn is_tracked_name(name: &str) -> bool {
    name == RUN_SPAN || name == STEP_SPAN
}

impl HistoryLayer {
    pub(crate) fn new(
        sending: Sending,
        counters: Arc<Counters>,
        config: CaptureConfig,
        clock: ClockSource,
    ) -> Self {
        HistoryLayer {
            id: LayerId::next(),
            sending,
            counters,
            config,
            clock,
        }
    }

    /// Queues `msg` for the writer; returns whether it was queued. Losses
    /// are counted: a full queue under `DropNewest`, or a writer that has
    /// stopped (sends then fail at once, they never block).
    // Inlined into the `Layer` methods, which are generic and so compiled in
    // the application's crate: without it every send is a cross-crate call.
    #[inline]
    fn send(&self, msg: Msg) -> bool {
        let queued = match self.sending.policy {
            // The non-blocking attempt first: it skips the waiting machinery
            // of a blocking send, which the common case never needs.
            Backpressure::Block => match self.sending.queue.try_send(msg) {
                Ok(()) => true,
                Err(TrySendError::Full(msg)) => self.sending.queue.send(msg).is_ok(),
                Err(TrySendError::Disconnected(_)) => false,
            },
            Backpressure::DropNewest => match self.sending.queue.try_send(msg) {
                Ok(()) => true,
                Err(TrySendError::Full(msg @ (Msg::Closed { .. } | Msg::Panicked { .. }))) => {
                    self.sending.overflow.try_send(msg).is_ok()
                }
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
        };
        if !queued {
            Counters::add(&self.counters.dropped, 1);
        }
        queued
    }

    fn collect<'f>(&self, fields: &'f mut Fields) -> FieldCollector<'f> {
        FieldCollector {
            fields,
            max_bytes: self.config.max_field_bytes,
        }
    }
}

/// The first of `span` and its ancestors that `pick` accepts.
///
/// Walks with `parent()`, one registry lookup per span: `SpanRef::scope`
/// would look the starting span up a second time.
fn nearest<'a, S, T>(
    mut span: Option<SpanRef<'a, S>>,
    pick: impl Fn(&SpanRef<'a, S>) -> Option<T>,
) -> Option<T>
where
    S: for<'l> LookupSpan<'l>,
{
    while let Some(current) = span {
        if let Some(found) = pick(&current) {
            return Some(found);
        }
        span = current.parent();
    }
    None
}

impl HistoryLayer {
    /// What `read` takes from this layer's state of `span`, if it tracks it.
    #[inline]
    fn with_tracked<S, T>(
        &self,
        span: &SpanRef<'_, S>,
        read: impl FnOnce(&Tracked) -> Option<T>,
    ) -> Option<T>
    where
        S: for<'l> LookupSpan<'l>,
    {
        if !is_tracked_name(span.name()) {
            return None;
        }
        read(span.extensions().get::<Tracked>()?.of(self.id)?)
    }

    /// The key and run of `span` if this layer tracks it, and, when
    /// `identity` is asked for, its run's identity.
    fn tracked<S>(
        &self,
        span: &SpanRef<'_, S>,
        identity: bool,
    ) -> Option<(SpanKey, SpanKey, Option<Arc<RunIdentity>>)>
    where
        S: for<'l> LookupSpan<'l>,
    {
        self.with_tracked(span, |t| {
            Some((t.key, t.run, identity.then(|| Arc::clone(&t.identity))))
        })
    }

    /// The key of `span` if this layer tracks it and its writer knows of
    /// it: it has been entered and its start was not dropped.
    fn entered_key<S>(&self, span: &SpanRef<'_, S>) -> Option<SpanKey>
    where
        S: for<'l> LookupSpan<'l>,
    {
        self.with_tracked(span, |t| {
            (t.pending.is_none() && !t.dropped).then_some(t.key)
        })
    }
}

impl<S> Layer<S> for HistoryLayer
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let metadata = attrs.metadata();
        let is_run = match metadata.name() {
            RUN_SPAN => true,
            STEP_SPAN => false,
            _ => return,
        };
        let Some(span) = ctx.span(id) else { return };
        let enclosing = span
            .parent()
            .and_then(|parent| nearest(Some(parent), |s| self.tracked(s, !is_run)));
        if !is_run && enclosing.is_none() {
            // A step outside any workflow is not part of any run's history.
            return;
        }
        let mut fields = Fields::new();
        attrs.record(&mut self.collect(&mut fields));
        let given_run_id = if is_run {
            take_run_id(&mut fields)
        } else {
            None
        };
        let key = SpanKey::next();
        // `insert` panics on a type already there: look first.
        let mut extensions = span.extensions_mut();
        let first = extensions.get_mut::<Tracked>();
        if first.as_ref().is_some_and(|t| t.of(self.id).is_some()) {
            return;
        }
        // Another history layer tracking the span already named its run:
        // use that, so the databases name it alike (a step only when both
        // layers put it in the same run: their filters may differ).
        let shared = first.as_ref().map(|t| Arc::clone(&t.identity));
        let (lineage, run, identity) = if is_run {
            let identity = shared.unwrap_or_else(|| RunIdentity::new(given_run_id));
            let lineage = Lineage::Run {
                parent_run: enclosing.map(|(_, run, _)| run),
                identity: Arc::clone(&identity),
            };
            (lineage, key, identity)
        } else {
            let Some((enclosing, run, Some(run_identity))) = enclosing else {
                return;
            };
            let lineage = Lineage::Step {
                run,
                parent_step: (enclosing != run).then_some(enclosing),
                // Numbered at the first enter.
                order: 0,
            };
            let identity = match shared {
                Some(shared) if Arc::ptr_eq(&shared, &run_identity) => shared,
                _ => run_identity,
            };
            (lineage, run, identity)
        };
        let tracked = Tracked {
            layer: self.id,
            key,
            run,
            identity,
            step_order: 0,
            pending: Some(Pending {
                lineage,
                created_at: is_run.then(|| self.clock.now()),
                fields,
                recorded: Vec::new(),
            }),
            dropped: false,
            others: Vec::new(),
        };
        match first {
            None => extensions.insert(tracked),
            Some(first) => first.others.push(tracked),
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if !is_tracked_name(span.name()) {
            return;
        }
        let mut extensions = span.extensions_mut();
        let Some(tracked) = extensions
            .get_mut::<Tracked>()
            .and_then(|t| t.of_mut(self.id))
        else {
            return;
        };
        if let Some(pending) = &mut tracked.pending {
            // The writer learns of the span at its first enter; hold the
            // fields until then, apart from the creation fields.
            let mut fields = Fields::new();
            values.record(&mut self.collect(&mut fields));
            pending.recorded.extend(fields);
            return;
        }
        if tracked.dropped {
            return;
        }
        let key = tracked.key;
        drop(extensions);
        let mut fields = Fields::new();
        values.record(&mut self.collect(&mut fields));
        if !fields.is_empty() {
            self.send(Msg::Recorded { span: key, fields });
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if !is_tracked_name(span.name()) {
            return;
        }
        let first_enter = {
            let mut extensions = span.extensions_mut();
            extensions.get_mut::<Tracked>().and_then(|first| {
                // The first layer numbers a step; the others use its number
                // when they put the step in the same run.
                let numbered = (first.step_order, Arc::as_ptr(&first.identity));
                let tracked = first.of_mut(self.id)?;
                let mut pending = tracked.pending.take()?;
                if let Lineage::Step { order, .. } = &mut pending.lineage {
                    *order = match numbered {
                        (n, run) if n > 0 && std::ptr::eq(run, Arc::as_ptr(&tracked.identity)) => n,
                        _ => tracked.identity.next_step_order(),
                    };
                    tracked.step_order = *order;
                }
                Some((tracked.key, pending))
            })
        };
        if let Some((key, pending)) = first_enter {
            let started_at = self.clock.now();
            let opened = self.send(Msg::Opened(Opened {
                key,
                lineage: pending.lineage,
                metadata: span.metadata(),
                created_at: pending.created_at.unwrap_or(started_at),
                started_at,
                fields: pending.fields,
            }));
            if !opened {
                if let Some(tracked) = span
                    .extensions_mut()
                    .get_mut::<Tracked>()
                    .and_then(|t| t.of_mut(self.id))
                {
                    tracked.dropped = true;
                }
                return;
            }
            if !pending.recorded.is_empty() {
                self.send(Msg::Recorded {
                    span: key,
                    fields: pending.recorded.into_iter().collect(),
                });
            }
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        // An exit during unwinding means a panic passed through the span. For
        // async spans the close comes later, outside the panic, so note it now.
        if !std::thread::panicking() {
            return;
        }
        let Some(key) = ctx.span(id).and_then(|s| self.entered_key(&s)) else {
            return;
        };
        self.send(Msg::Panicked {
            span: key,
            message: panic::last_message(),
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(key) = ctx.span(&id).and_then(|s| self.entered_key(&s)) else {
            return;
        };
        if std::thread::panicking() {
            self.send(Msg::Panicked {
                span: key,
                message: panic::last_message(),
            });
        }
        self.send(Msg::Closed {
            span: key,
            at: self.clock.now(),
        });
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        let level = *metadata.level();
        // tracing orders levels by verbosity: ERROR is the smallest.
        let keep_in_log = level <= self.config.capture_level;
        let fails = level == Level::ERROR && self.config.error_events_fail;
        if !keep_in_log
            && !fails
            && !metadata
                .fields()
                .iter()
                .any(|field| LaterField::is_convention(field.name()))
        {
            return;
        }
        let Some(span) = nearest(ctx.event_span(event), |s| self.entered_key(s)) else {
            return;
        };
        let mut fields = Fields::new();
        event.record(&mut self.collect(&mut fields));
        self.send(Msg::Event(message::Event {
            span,
            metadata,
            at: self.clock.now(),
            fields,
            keep_in_log,
            fails,
        }));
    }
}
