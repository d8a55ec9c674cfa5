//! E. The HTTP API under concurrent clients: requests per second and
//! p50 / p99 latency of a run list page and a run's detail, at 1, 8 and 32
//! clients, each a keep-alive connection on loopback to the real router.
//!
//! The baselines, measured in the same run: the same server reading
//! through one connection (what the store did before it had a pool), and
//! for the list also with its `total` counted from the runs table (as it
//! was before the statistics rollup).
//!
//! `cargo bench --features server --bench http_load`. The history is
//! `WORKFLOW_HISTORY_BENCH_DB` (an SQLite file, e.g. the one
//! `generate_history` writes) when set, else 20,000 runs of 5 steps
//! recorded here by the layer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "support/runs_table_only.rs"]
mod runs_table_only;

use runs_table_only::RunsTableOnly;
use tracing_subscriber::prelude::*;
use workflow_history::{HistoryLayer, HistoryStore, RunFilter};

const CLIENTS: [usize; 3] = [1, 8, 32];
const MEASURE: Duration = Duration::from_secs(3);
const RUNS: u64 = 20_000;

fn record_history(path: &std::path::Path) {
    let (layer, guard) = HistoryLayer::builder()
        .sqlite(path)
        .build()
        .expect("build layer");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..RUNS {
            tracing::info_span!("workflow", workflow = "load", tier = "T1", batch = i).in_scope(
                || {
                    for part in 0..5 {
                        tracing::info_span!("step", step = "transform", part)
                            .in_scope(|| tracing::info!("done"));
                    }
                },
            );
        }
    });
    guard.shutdown().expect("shutdown");
}

/// Serves `store` on a free loopback port from a runtime of its own.
fn serve(store: HistoryStore) -> (SocketAddr, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let app = workflow_history::api::router(store);
    runtime.spawn(async move { axum::serve(listener, app).await });
    (addr, runtime)
}

/// One keep-alive connection sending GET requests and reading answers.
struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream: BufReader::new(stream),
        }
    }

    /// Sends one request and reads its answer whole; its status.
    fn get(&mut self, target: &str) -> u16 {
        let request = format!("GET {target} HTTP/1.1\r\nHost: bench\r\n\r\n");
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .expect("send");
        let mut line = String::new();
        self.stream.read_line(&mut line).expect("status line");
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        let mut length = 0;
        loop {
            line.clear();
            self.stream.read_line(&mut line).expect("header");
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().expect("length");
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).expect("body");
        status
    }
}

struct Figures {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

/// `clients` connections asking for `targets` in turn for [`MEASURE`].
fn load(addr: SocketAddr, clients: usize, targets: &Arc<Vec<String>>) -> Figures {
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|c| {
                let targets = Arc::clone(targets);
                scope.spawn(move || {
                    let mut client = Client::connect(addr);
                    let mut took = Vec::new();
                    let mut i = c * 7919;
                    while started.elapsed() < MEASURE {
                        let target = &targets[i % targets.len()];
                        let at = Instant::now();
                        let status = client.get(target);
                        took.push(at.elapsed());
                        assert_eq!(status, 200, "{target}");
                        i += 1;
                    }
                    took
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("client"))
            .collect()
    });
    let elapsed = started.elapsed();
    latencies.sort();
    let rank = |p: f64| latencies[((p * latencies.len() as f64).ceil() as usize).saturating_sub(1)];
    Figures {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: rank(0.50),
        p99: rank(0.99),
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = match std::env::var_os("WORKFLOW_HISTORY_BENCH_DB") {
        Some(path) => std::path::PathBuf::from(path),
        None => {
            let path = dir.path().join("history.db");
            record_history(&path);
            path
        }
    };
    let open = || HistoryStore::open_sqlite_read_only(&path).expect("open");
    let run_ids: Vec<String> = open()
        .list_runs(&RunFilter {
            limit: 1_000,
            ..RunFilter::default()
        })
        .expect("runs")
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    let list = Arc::new(vec!["/history/runs?limit=50".to_owned()]);
    let detail = Arc::new(
        run_ids
            .iter()
            .map(|id| format!("/history/runs/{id}"))
            .collect::<Vec<_>>(),
    );
    println!("| request | clients | store | req/s | p50 | p99 |");
    println!("|---|---|---|---|---|---|");
    // (store, connections, counted from the runs table alone)
    let stores = [
        ("one connection, runs table", Some(1), true),
        ("one connection", Some(1), false),
        ("pool", None, false),
    ];
    for (name, targets) in [("list, limit 50", &list), ("run detail", &detail)] {
        for clients in CLIENTS {
            for (store_name, connections, runs_table) in stores {
                if runs_table && name != "list, limit 50" {
                    continue;
                }
                let _runs_table = runs_table.then(|| RunsTableOnly::new(&path));
                let store = match connections {
                    Some(n) => open().max_connections(n).expect("pool"),
                    None => open(),
                };
                let (addr, runtime) = serve(store);
                let figures = load(addr, clients, targets);
                println!(
                    "| {name} | {clients} | {store_name} | {:.0} | {:.2} ms | {:.2} ms |",
                    figures.per_second,
                    figures.p50.as_secs_f64() * 1e3,
                    figures.p99.as_secs_f64() * 1e3,
                );
                runtime.shutdown_timeout(Duration::from_secs(1));
            }
        }
    }
}
