//! What the capture layer sends to the writer thread: the only thing the two
//! sides share.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crossbeam_channel::Sender;
use smallvec::SmallVec;
use tracing::Metadata;

use crate::capture::clock::Stamp;

pub(crate) mod convention;
pub(crate) mod value;

use value::Value;

/// Field values in the order the span or event gave them; the first few
/// inline, so a typical span or event needs no allocation for them.
pub(crate) type Fields = SmallVec<[(&'static str, Value); 4]>;

/// Names one tracked span for the life of the process.
///
/// Span ids are reused after a span closes, so the writer needs its own key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SpanKey(pub(crate) u64);

impl SpanKey {
    /// A key no other span of this process has had.
    ///
    /// Each thread takes keys from a block of its own, so creating spans on
    /// many threads does not contend on one shared counter.
    #[inline]
    pub(crate) fn next() -> SpanKey {
        const BLOCK: u64 = 1 << 16;
        static NEXT_BLOCK: AtomicU64 = AtomicU64::new(0);
        thread_local! {
            static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
        }
        RANGE.with(|range| {
            let (mut next, mut end) = range.get();
            if next == end {
                next = NEXT_BLOCK.fetch_add(BLOCK, Ordering::Relaxed);
                end = next + BLOCK;
            }
            range.set((next + 1, end));
            SpanKey(next)
        })
    }
}

/// A run's id and the numbering of its steps, decided by the layer when
/// the run's span is created: so the code inside a run can ask for its id
/// ([`current_run_id`](crate::current_run_id)) without waiting for the
/// writer, and other history layers of the span can share it.
#[derive(Debug)]
pub(crate) struct RunIdentity {
    pub(crate) run_id: RunId,
    /// The order of the last step numbered.
    last_step: AtomicU32,
}

/// A run's id as the layer decided it.
#[derive(Debug)]
pub(crate) enum RunId {
    /// Given by the application (`run_id`): another run may have had it
    /// already (a retry), so the writer claims it before writing.
    Given(Box<str>),
    /// A new UUIDv7, kept as its 16 bytes: formatted only when asked for,
    /// on the writer's thread as a rule.
    Generated(uuid::Uuid),
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunId::Given(id) => f.write_str(id),
            RunId::Generated(uuid) => uuid.hyphenated().fmt(f),
        }
    }
}

impl RunIdentity {
    pub(crate) fn new(given: Option<String>) -> Arc<RunIdentity> {
        let run_id = match given {
            Some(id) if !id.is_empty() => RunId::Given(id.into_boxed_str()),
            // Without a shared context: the default one is a process-wide
            // lock, and every bit after the time is then random.
            _ => RunId::Generated(uuid::Uuid::new_v7(uuid::Timestamp::now(uuid::NoContext))),
        };
        Arc::new(RunIdentity {
            run_id,
            last_step: AtomicU32::new(0),
        })
    }

    /// Whether the application gave the id.
    pub(crate) fn is_given(&self) -> bool {
        matches!(self.run_id, RunId::Given(_))
    }

    /// Numbers a new step of the run: 1, 2, ... in the order steps are
    /// first entered, whichever thread enters them.
    pub(crate) fn next_step_order(&self) -> u32 {
        self.last_step.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Whether a tracked span is a run or a step, and what encloses it.
#[derive(Debug)]
pub(crate) enum Lineage {
    /// A `workflow` span, inside another run or not.
    Run {
        parent_run: Option<SpanKey>,
        identity: Arc<RunIdentity>,
    },
    /// A `step` span of `run`, inside another step or not.
    Step {
        run: SpanKey,
        parent_step: Option<SpanKey>,
        order: u32,
    },
}

/// A tracked span was entered for the first time.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) key: SpanKey,
    pub(crate) lineage: Lineage,
    pub(crate) metadata: &'static Metadata<'static>,
    pub(crate) created_at: Stamp,
    pub(crate) started_at: Stamp,
    /// Fields given at creation.
    pub(crate) fields: Fields,
}

/// A `tracing` event inside a run.
#[derive(Debug)]
pub(crate) struct Event {
    /// The innermost tracked span around the event.
    pub(crate) span: SpanKey,
    pub(crate) metadata: &'static Metadata<'static>,
    pub(crate) at: Stamp,
    pub(crate) fields: Fields,
    /// Store it in the run's log (it is at or above the capture level).
    pub(crate) keep_in_log: bool,
    /// It is an ERROR-level event and those fail their step or run.
    pub(crate) fails: bool,
}

/// One message from the layer to the writer.
#[derive(Debug)]
pub(crate) enum Msg {
    Opened(Opened),
    /// Fields recorded on an open tracked span with `Span::record`.
    Recorded {
        span: SpanKey,
        fields: Fields,
    },
    Event(Event),
    /// A panic unwound through an open tracked span.
    Panicked {
        span: SpanKey,
        message: Option<String>,
    },
    Closed {
        span: SpanKey,
        at: Stamp,
    },
    /// Commit everything received so far, then answer.
    Flush(Sender<Result<(), String>>),
    /// Commit everything received so far, then stop.
    Shutdown,
}
