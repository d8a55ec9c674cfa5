//! Sustained end-to-end throughput: steps per second fully committed to
//! SQLite, against a raw rusqlite loop writing the same rows.
//!
//! `cargo bench --bench throughput`

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::{Connection, params};
use tracing::{Dispatch, info_span};
use tracing_subscriber::prelude::*;

/// One measured iteration: this many workflows of `STEPS` steps each.
const WORKFLOWS: u64 = 100;
const STEPS: u64 = 10;

fn one_workflow(i: u64) {
    info_span!("workflow", workflow = "throughput", tier = "T1", batch = i).in_scope(|| {
        for step in 0..STEPS {
            info_span!(
                "step",
                step = "transform",
                step_type = "lambda",
                part = step
            )
            .in_scope(|| {});
        }
    });
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The floor: the rows our writer produces for the same workflows (a run
/// row, a step row per step, and two status-change events for each),
/// inserted with prepared statements, one transaction per iteration.
fn raw_loop(conn: &mut Connection, first: u64) {
    let tx = conn.transaction().expect("begin");
    {
        let mut run = tx
            .prepare_cached(
                "INSERT INTO workflow_runs (run_id, workflow_name, status, started_at, \
                 completed_at, duration_ms, params, triggered_by, created_at, writer_id) \
                 VALUES (?1, 'throughput', 'COMPLETED', ?2, ?2, 0.5, ?3, 'manual', ?2, 'raw')",
            )
            .expect("prepare");
        let mut step = tx
            .prepare_cached(
                "INSERT INTO workflow_step_runs (step_id, run_id, step_name, step_type, \
                 step_order, status, started_at, completed_at, duration_ms, input_params) \
                 VALUES (?1, ?2, 'transform', 'lambda', ?3, 'COMPLETED', ?4, ?4, 0.05, ?5)",
            )
            .expect("prepare");
        let mut event = tx
            .prepare_cached(
                "INSERT INTO workflow_events (run_id, step_id, timestamp, kind, fields) \
                 VALUES (?1, ?2, ?3, 'status_changed', ?4)",
            )
            .expect("prepare");
        for i in first..first + WORKFLOWS {
            let run_id = uuid::Uuid::now_v7().to_string();
            let params = serde_json::json!({ "tier": "T1", "batch": i }).to_string();
            run.execute(params![run_id, now(), params]).expect("run");
            for change in [("PENDING", "RUNNING"), ("RUNNING", "COMPLETED")] {
                let fields = serde_json::json!({ "old": change.0, "new": change.1 }).to_string();
                event
                    .execute(params![run_id, None::<String>, now(), fields])
                    .expect("event");
            }
            for order in 1..=STEPS {
                let step_id = format!("{run_id}-{order}");
                let input = serde_json::json!({ "part": order - 1 }).to_string();
                step.execute(params![step_id, run_id, order as i64, now(), input])
                    .expect("step");
                for change in [("PENDING", "RUNNING"), ("RUNNING", "COMPLETED")] {
                    let fields =
                        serde_json::json!({ "old": change.0, "new": change.1 }).to_string();
                    event
                        .execute(params![run_id, step_id, now(), fields])
                        .expect("event");
                }
            }
        }
    }
    tx.commit().expect("commit");
}

/// Times committing `WORKFLOWS` workflows per iteration through a layer.
fn bench_layer(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    builder: workflow_history::HistoryLayerBuilder,
) {
    let (layer, guard) = builder.build().expect("build layer");
    let ours = Dispatch::new(tracing_subscriber::registry().with(layer));
    let mut next = 0;
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            tracing::dispatcher::with_default(&ours, || {
                for _ in 0..iters {
                    (next..next + WORKFLOWS).for_each(one_workflow);
                    next += WORKFLOWS;
                }
            });
            guard.flush().expect("flush");
            start.elapsed()
        })
    });
    let stats = guard.shutdown().expect("shutdown");
    assert_eq!(stats.write_errors, 0);
}

fn throughput(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("committed_steps");
    group.throughput(Throughput::Elements(WORKFLOWS * STEPS));

    bench_layer(
        &mut group,
        "history_layer",
        workflow_history::HistoryLayer::builder().sqlite(dir.path().join("history.db")),
    );

    // The same schema, so the same indexes are maintained.
    let raw_path = dir.path().join("raw.db");
    drop(
        workflow_history::HistoryLayer::builder()
            .sqlite(&raw_path)
            .build()
            .expect("schema"),
    );
    let mut raw = Connection::open(&raw_path).expect("open");
    raw.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .expect("wal");
    raw.pragma_update(None, "synchronous", "NORMAL")
        .expect("sync");
    let mut first = 0;
    group.bench_function("raw_rusqlite_loop", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                raw_loop(&mut raw, first);
                first += WORKFLOWS;
            }
            start.elapsed()
        })
    });

    #[cfg(feature = "postgres")]
    postgres_side::bench(&mut group);
    group.finish();
}

/// The same comparison on PostgreSQL, when `WORKFLOW_HISTORY_BENCH_PG_URL`
/// names a server: the layer, against the straightforward client loop (a
/// prepared insert per row, one transaction per iteration).
#[cfg(feature = "postgres")]
mod postgres_side {
    use super::*;

    const URL_VAR: &str = "WORKFLOW_HISTORY_BENCH_PG_URL";

    /// A fresh schema for one side of the comparison.
    fn schema(base: &str, name: &str) -> String {
        let mut client = postgres::Client::connect(base, postgres::NoTls).expect("connect");
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
            ))
            .expect("schema");
        let separator = if base.contains('?') { '&' } else { '?' };
        format!("{base}{separator}options=-csearch_path%3D{name}")
    }

    fn raw_loop(client: &mut postgres::Client, first: u64) {
        let mut tx = client.transaction().expect("begin");
        let run = tx
            .prepare(
                "INSERT INTO workflow_runs (run_id, workflow_name, status, started_at, \
                 completed_at, duration_ms, params, triggered_by, created_at, writer_id) \
                 VALUES ($1, 'throughput', 'COMPLETED', $2, $2, 0.5, $3, 'manual', $2, 'raw')",
            )
            .expect("prepare");
        let step = tx
            .prepare(
                "INSERT INTO workflow_step_runs (step_id, run_id, step_name, step_type, \
                 step_order, status, started_at, completed_at, duration_ms, input_params) \
                 VALUES ($1, $2, 'transform', 'lambda', $3, 'COMPLETED', $4, $4, 0.05, $5)",
            )
            .expect("prepare");
        let event = tx
            .prepare(
                "INSERT INTO workflow_events (run_id, step_id, timestamp, kind, fields) \
                 VALUES ($1, $2, $3, 'status_changed', $4)",
            )
            .expect("prepare");
        let changes = [("PENDING", "RUNNING"), ("RUNNING", "COMPLETED")];
        for i in first..first + WORKFLOWS {
            let run_id = uuid::Uuid::now_v7().to_string();
            let params = serde_json::json!({ "tier": "T1", "batch": i });
            tx.execute(&run, &[&run_id, &Utc::now(), &params])
                .expect("run");
            for (old, new) in changes {
                let fields = serde_json::json!({ "old": old, "new": new });
                tx.execute(&event, &[&run_id, &None::<String>, &Utc::now(), &fields])
                    .expect("event");
            }
            for order in 1..=STEPS as i64 {
                let step_id = format!("{run_id}-{order}");
                let input = serde_json::json!({ "part": order - 1 });
                tx.execute(&step, &[&step_id, &run_id, &order, &Utc::now(), &input])
                    .expect("step");
                for (old, new) in changes {
                    let fields = serde_json::json!({ "old": old, "new": new });
                    tx.execute(&event, &[&run_id, &Some(&step_id), &Utc::now(), &fields])
                        .expect("event");
                }
            }
        }
        tx.commit().expect("commit");
    }

    pub(super) fn bench(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    ) {
        let Ok(base) = std::env::var(URL_VAR) else {
            eprintln!("PostgreSQL side skipped: set {URL_VAR}");
            return;
        };
        bench_layer(
            group,
            "history_layer_postgres",
            workflow_history::HistoryLayer::builder().database_url(schema(&base, "wh_bench_layer")),
        );
        let raw_url = schema(&base, "wh_bench_raw");
        let (_, guard) = workflow_history::HistoryLayer::builder()
            .database_url(&raw_url)
            .build()
            .expect("schema");
        drop(guard);
        let mut client = postgres::Client::connect(&raw_url, postgres::NoTls).expect("connect");
        let mut first = 0;
        group.bench_function("raw_postgres_loop", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    raw_loop(&mut client, first);
                    first += WORKFLOWS;
                }
                start.elapsed()
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = throughput
}
criterion_main!(benches);
