//! Caller-side cost of one step lifecycle, side by side with the
//! alternatives: a `step` span with three fields inside a workflow, entered,
//! one INFO event with one field, exited, closed.
//!
//! `cargo bench --bench step_lifecycle`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::Connection;
use tracing::span::{Attributes, Id};
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// Iterations timed between two flushes: small enough that the queue
/// (`QUEUE` messages, three per iteration) never fills, so the figure is
/// the caller's cost and not the database's pace.
const CHUNK: u64 = 5_000;
const QUEUE: usize = 32_768;

fn step_lifecycle(i: u64) {
    let span = tracing::info_span!("step", step = "transform", step_type = "lambda", batch = i);
    let entered = span.enter();
    tracing::info!(rows = 42u64, "batch transformed");
    drop(entered);
    drop(span);
}

/// The floor of any layer: a registry that frees closed spans, doing nothing else.
struct NoopLayer;
impl<S: Subscriber> Layer<S> for NoopLayer {}

/// The reference prototype's approach: a synchronous upsert when a step
/// starts and another when it ends, on the caller's thread.
struct SyncSqliteLayer {
    conn: std::sync::Mutex<Connection>,
}

impl SyncSqliteLayer {
    fn new(path: &std::path::Path) -> Self {
        let conn = Connection::open(path).expect("open");
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .expect("wal");
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL;
             CREATE TABLE steps (step_id INTEGER PRIMARY KEY, name TEXT, status TEXT,
                                 started_at TEXT, completed_at TEXT);",
        )
        .expect("schema");
        SyncSqliteLayer {
            conn: std::sync::Mutex::new(conn),
        }
    }

    fn upsert(&self, id: &Id, status: &str) {
        let now = chrono::Utc::now().to_rfc3339();
        let conn = self.conn.lock().expect("lock");
        conn.prepare_cached(
            "INSERT INTO steps (step_id, name, status, started_at) VALUES (?1, 'step', ?2, ?3)
             ON CONFLICT (step_id) DO UPDATE SET status = excluded.status, completed_at = ?3",
        )
        .and_then(|mut stmt| stmt.execute((id.into_u64() as i64, status, now)))
        .expect("upsert");
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SyncSqliteLayer {
    fn on_new_span(&self, _: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        self.upsert(id, "RUNNING");
    }
    fn on_close(&self, id: Id, _: Context<'_, S>) {
        self.upsert(&id, "COMPLETED");
    }
}

/// Times `iters` step lifecycles inside one open workflow span, calling
/// `between` (untimed) after every `CHUNK`.
fn timed(dispatch: &Dispatch, iters: u64, mut between: impl FnMut()) -> Duration {
    tracing::dispatcher::with_default(dispatch, || {
        let workflow = tracing::info_span!("workflow", workflow = "bench");
        let _in_workflow = workflow.enter();
        let mut total = Duration::ZERO;
        let mut done = 0;
        while done < iters {
            let n = CHUNK.min(iters - done);
            let start = Instant::now();
            for i in 0..n {
                step_lifecycle(black_box(done + i));
            }
            total += start.elapsed();
            done += n;
            between();
        }
        total
    })
}

fn caller_cost(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("step_lifecycle");

    group.bench_function("no_subscriber", |b| {
        b.iter_custom(|iters| timed(&Dispatch::none(), iters, || {}))
    });

    let floor = Dispatch::new(tracing_subscriber::registry().with(NoopLayer));
    group.bench_function("registry_noop_layer", |b| {
        b.iter_custom(|iters| timed(&floor, iters, || {}))
    });

    let fmt = Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink)),
    );
    group.bench_function("fmt_layer_to_sink", |b| {
        b.iter_custom(|iters| timed(&fmt, iters, || {}))
    });

    let (layer, guard) = workflow_history::HistoryLayer::builder()
        .sqlite(dir.path().join("history.db"))
        .queue_capacity(QUEUE)
        .build()
        .expect("build layer");
    let ours = Dispatch::new(tracing_subscriber::registry().with(layer));
    group.bench_function("history_layer", |b| {
        b.iter_custom(|iters| timed(&ours, iters, || guard.flush().expect("flush")))
    });

    let sync = Dispatch::new(
        tracing_subscriber::registry().with(SyncSqliteLayer::new(&dir.path().join("sync.db"))),
    );
    group.bench_function("sync_sqlite_upserts", |b| {
        b.iter_custom(|iters| timed(&sync, iters, || {}))
    });

    group.finish();
    let stats = guard.shutdown().expect("shutdown");
    assert_eq!(stats.write_errors, 0);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = caller_cost
}
criterion_main!(benches);
