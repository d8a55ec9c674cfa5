//! Memory while 10,000,000 steps are pushed through the real layer as fast
//! as one thread can: resident memory must stay bounded (the queue is, and
//! with the default `Block` policy the caller waits for the writer), so
//! what is reported is the peak, and how it moves over time.
//!
//! `cargo bench --bench memory`
//!
//! `WORKFLOW_HISTORY_BENCH_STEPS=1000000` pushes fewer steps, for a quick
//! run. Each case runs in a process of its own so that its peak (`VmHWM`) is
//! its own: first the floor (the same loop with a layer that does nothing),
//! then ours, writing into a temporary database. Nothing about time is
//! asserted; the steps per second are printed for context.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{Dispatch, Subscriber};
use tracing_subscriber::layer::Layer;
use tracing_subscriber::prelude::*;

const DEFAULT_STEPS: u64 = 10_000_000;
const STEPS_PER_WORKFLOW: u64 = 100;
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// Samples printed besides the peak: enough to see a trend, not a wall.
const SAMPLES_SHOWN: usize = 10;
/// Set on the child processes: which case to run.
const CASE: &str = "WORKFLOW_HISTORY_MEMORY_CASE";
const CASES: [&str; 2] = ["floor", "history_layer"];

/// Steps pushed so far, for the samples: updated once per workflow.
static PROGRESS: AtomicU64 = AtomicU64::new(0);

/// The floor of any layer: a registry that frees closed spans, doing nothing else.
struct NoopLayer;
impl<S: Subscriber> Layer<S> for NoopLayer {}

/// The lifecycle of `benches/step_lifecycle.rs`: a `step` span with three
/// fields, entered, one INFO event with one field, exited, closed.
fn step_lifecycle(i: u64) {
    let span = tracing::info_span!("step", step = "transform", step_type = "lambda", batch = i);
    let entered = span.enter();
    tracing::info!(rows = 42u64, "batch transformed");
    drop(entered);
    drop(span);
}

fn push_steps(dispatch: &Dispatch, steps: u64) {
    tracing::dispatcher::with_default(dispatch, || {
        let mut done = 0;
        while done < steps {
            let n = STEPS_PER_WORKFLOW.min(steps - done);
            let workflow = tracing::info_span!("workflow", workflow = "memory", batch = done);
            let _in_workflow = workflow.enter();
            for i in done..done + n {
                step_lifecycle(i);
            }
            done += n;
            PROGRESS.store(done, Ordering::Relaxed);
        }
    });
}

/// A `kB` line of `/proc/self/status`, such as `VmRSS` or `VmHWM`.
fn status_kb(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

struct Sample {
    at: Duration,
    steps: u64,
    rss_kb: u64,
}

/// Reads `VmRSS` every `SAMPLE_EVERY` on a thread of its own until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Sample>>,
}

impl Sampler {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            let mut samples = Vec::new();
            loop {
                samples.push(Sample {
                    at: start.elapsed(),
                    steps: PROGRESS.load(Ordering::Relaxed),
                    rss_kb: status_kb("VmRSS"),
                });
                if stopped.load(Ordering::Relaxed) {
                    return samples;
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
        });
        Sampler { stop, thread }
    }

    fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("sampler thread")
    }
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

fn report(case: &str, steps: u64, elapsed: Duration, samples: &[Sample]) {
    let peak = samples.iter().map(|s| s.rss_kb).max().unwrap_or(0);
    let hwm = status_kb("VmHWM");
    println!(
        "{case}: {steps} steps in {:.2} s = {:.0} steps/s; peak VmRSS sampled {}, VmHWM {}",
        elapsed.as_secs_f64(),
        steps as f64 / elapsed.as_secs_f64(),
        mib(peak),
        mib(hwm)
    );
    let every = samples.len().div_ceil(SAMPLES_SHOWN).max(1);
    let last = samples.len() - 1;
    let first_peak = samples.iter().position(|s| s.rss_kb == peak);
    for (i, s) in samples.iter().enumerate() {
        let is_peak = Some(i) == first_peak;
        if i % every == 0 || i == last || is_peak {
            println!(
                "  t={:>6.1} s  steps={:>10}  VmRSS={:>10}{}",
                s.at.as_secs_f64(),
                s.steps,
                mib(s.rss_kb),
                if is_peak {
                    "  (first reached peak)"
                } else {
                    ""
                }
            );
        }
    }
    // For the parent's summary.
    println!(
        "summary {case} {steps} {} {peak} {hwm}",
        elapsed.as_secs_f64()
    );
}

fn run_floor(steps: u64) {
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(NoopLayer));
    let sampler = Sampler::start();
    let start = Instant::now();
    push_steps(&dispatch, steps);
    let elapsed = start.elapsed();
    report("floor", steps, elapsed, &sampler.finish());
}

fn run_ours(steps: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.db");
    let (layer, guard) = workflow_history::HistoryLayer::builder()
        .sqlite(&path)
        .build()
        .expect("build layer");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let sampler = Sampler::start();
    let start = Instant::now();
    push_steps(&dispatch, steps);
    let pushed = start.elapsed();
    drop(dispatch);
    // Until everything is committed: the writer's backlog is part of the run.
    let stats = guard.shutdown().expect("shutdown");
    let elapsed = start.elapsed();
    let samples = sampler.finish();
    let size: u64 = ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", path.display())).ok())
        .map(|m| m.len())
        .sum();
    report("history_layer", steps, elapsed, &samples);
    println!(
        "  pushed in {:.2} s, all committed {:.2} s later; {} messages, {} rows, \
         {} write errors, {} lost; database {:.0} MiB",
        pushed.as_secs_f64(),
        (elapsed - pushed).as_secs_f64(),
        stats.messages_sent,
        stats.rows_written,
        stats.write_errors,
        stats.records_lost,
        size as f64 / (1024.0 * 1024.0)
    );
    assert_eq!(stats.write_errors, 0);
    assert_eq!(stats.records_lost, 0);
}

/// Runs each case in a child process and compares their summaries.
fn run_all(steps: u64) {
    let exe = std::env::current_exe().expect("current exe");
    let mut summaries = Vec::new();
    for case in CASES {
        let out = Command::new(&exe)
            .env(CASE, case)
            .output()
            .expect("run case");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{case} failed: {}", out.status);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let summary: Vec<f64> = stdout
            .lines()
            .find_map(|l| l.strip_prefix("summary "))
            .expect("summary line")
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().expect("number"))
            .collect();
        summaries.push((case, summary));
        println!();
    }
    println!("{steps} steps, {STEPS_PER_WORKFLOW} per workflow");
    println!(
        "{:<14} {:>12} {:>14} {:>12} {:>12}",
        "case", "time", "steps/s", "peak RSS", "VmHWM"
    );
    for (case, s) in &summaries {
        println!(
            "{case:<14} {:>10.2} s {:>14.0} {:>12} {:>12}",
            s[1],
            s[0] / s[1],
            mib(s[2] as u64),
            mib(s[3] as u64)
        );
    }
}

fn main() {
    let steps = std::env::var("WORKFLOW_HISTORY_BENCH_STEPS")
        .ok()
        .map(|n| {
            n.replace('_', "")
                .parse()
                .expect("WORKFLOW_HISTORY_BENCH_STEPS: a number")
        })
        .unwrap_or(DEFAULT_STEPS);
    match std::env::var(CASE).as_deref() {
        Ok("floor") => run_floor(steps),
        Ok("history_layer") => run_ours(steps),
        Ok(other) => panic!("{CASE}={other}: unknown case"),
        Err(_) => run_all(steps),
    }
}
