//! Shared test harness: a real SQLite file in a temp dir, the real layer on
//! a thread-local subscriber, and the real store to read it back.
#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;

use tracing::Dispatch;
use tracing_subscriber::prelude::*;
use workflow_history::{
    HistoryGuard, HistoryLayer, HistoryLayerBuilder, HistoryStore, RunFilter, StepRun, WorkflowRun,
};

/// A history database in its own temporary directory.
pub struct TestDb {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TestDb {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("history.db");
        TestDb { dir, path }
    }

    /// A builder pointed at this database.
    pub fn builder(&self) -> HistoryLayerBuilder {
        HistoryLayer::builder().sqlite(&self.path)
    }

    /// Runs `body` with the layer (default configuration) as this thread's
    /// subscriber, then shuts the writer down so everything is committed.
    pub fn record<R>(&self, body: impl FnOnce() -> R) -> R {
        self.record_with(self.builder(), body)
    }

    /// As `record`, with a custom builder.
    pub fn record_with<R>(&self, builder: HistoryLayerBuilder, body: impl FnOnce() -> R) -> R {
        let (layer, guard) = builder.build().expect("build layer");
        let result =
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), body);
        let stats = guard.shutdown().expect("clean shutdown");
        assert_eq!(stats.messages_dropped, 0, "{stats:?}");
        result
    }

    /// The layer as a `Dispatch` (for async tests and other threads) and its guard.
    pub fn dispatch(&self, builder: HistoryLayerBuilder) -> (Dispatch, HistoryGuard) {
        let (layer, guard) = builder.build().expect("build layer");
        (
            Dispatch::new(tracing_subscriber::registry().with(layer)),
            guard,
        )
    }

    pub fn store(&self) -> HistoryStore {
        HistoryStore::open_sqlite(&self.path).expect("open store")
    }

    /// Every run, newest first.
    pub fn runs(&self) -> Vec<WorkflowRun> {
        self.store()
            .list_runs(&RunFilter {
                limit: u32::MAX,
                ..RunFilter::default()
            })
            .expect("list runs")
    }

    /// The only run recorded; fails the test if there is not exactly one.
    #[track_caller]
    pub fn only_run(&self) -> WorkflowRun {
        let mut runs = self.runs();
        assert_eq!(runs.len(), 1, "expected exactly one run: {runs:#?}");
        runs.remove(0)
    }

    pub fn steps(&self, run_id: &str) -> Vec<StepRun> {
        self.store().get_steps(run_id).expect("get steps")
    }
}
