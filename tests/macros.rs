//! `#[workflow]` and `#[step]`: every key, their defaults, sync and async
//! functions, methods and generics, `Result` errors failing steps and runs,
//! and compile errors for misuse (`tests/ui`, with trybuild).

mod support;

use std::fmt;

use workflow_history::{StepStatus, WorkflowStatus, step, workflow};

#[derive(Debug)]
struct Inner;

impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection refused")
    }
}

impl std::error::Error for Inner {}

#[derive(Debug)]
struct Outer(Inner);

impl fmt::Display for Outer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fetch failed")
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Not `std::error::Error`: recorded by its alternate `Display`.
#[derive(Debug)]
struct Plain;

impl fmt::Display for Plain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            f.write_str("plain: with detail")
        } else {
            f.write_str("plain")
        }
    }
}

#[workflow(
    name = "finra.ingest",
    domain = "finra",
    partition_key = format!("{week}|{tier}"),
    triggered_by = "schedule",
    run_id = %format!("run-{week}"),
    fields(metric.rows = tracing::field::Empty),
)]
fn every_key(tier: &str, week: &str, fail: bool) -> Result<u64, Outer> {
    tracing::Span::current().record("metric.rows", 7u64);
    fetch(tier, fail)?;
    check(&[1, 2, 3]).map_err(|_| Outer(Inner))?;
    Ok(7)
}

#[step(step_type = "lambda")]
fn fetch(tier: &str, fail: bool) -> Result<(), Outer> {
    workflow_history::records_processed(tier.len() as u64);
    if fail {
        return Err(Outer(Inner));
    }
    Ok(())
}

#[step(name = "quality_check", skip(rows), level = "debug")]
fn check(rows: &[u64]) -> Result<(), Plain> {
    if rows.is_empty() { Err(Plain) } else { Ok(()) }
}

#[workflow]
fn nightly() {
    plain_step();
}

#[step]
fn plain_step() {}

#[workflow(skip_all, run_id = "plain-error")]
fn fails_plainly(rows: Vec<u64>) -> Result<(), Plain> {
    check(&[])?;
    drop(rows);
    Ok(())
}

struct Loader {
    table: &'static str,
}

impl Loader {
    #[workflow(name = "loader", run_id = %self.table)]
    fn run(&self, batch: u32) -> std::io::Result<u32> {
        self.load(batch)
    }

    #[step(step_type = "sql", fields(table = self.table))]
    fn load(&self, batch: u32) -> std::io::Result<u32> {
        Ok(batch * 2)
    }

    #[workflow(name = "loader.async", run_id = %format!("async-{batch}"))]
    async fn run_async(&self, batch: u32) -> Result<u32, std::io::Error> {
        let doubled = self.load_async(batch).await?;
        tokio::task::yield_now().await;
        Ok(doubled)
    }

    #[step]
    async fn load_async(&self, batch: u32) -> std::io::Result<u32> {
        tokio::task::yield_now().await;
        if batch == 0 {
            return Err(std::io::Error::other("empty batch"));
        }
        Ok(batch * 2)
    }
}

#[workflow(run_id = %format!("generic-{}", key))]
fn generic<K: fmt::Display + fmt::Debug>(key: K, items: impl IntoIterator<Item = u32>) -> u32 {
    items.into_iter().sum()
}

#[workflow(run_id = "returns", ret)]
fn returns_a_value() -> Result<u32, Plain> {
    Ok(42)
}

backends! {
    fn every_key_lands_in_its_column(db) {
        let outcome = db.record(|| every_key("T1", "2025-01-10", false));
        assert_eq!(outcome.expect("ok"), 7);
        let run = db.only_run();
        assert_eq!(run.run_id, "run-2025-01-10");
        assert_eq!(run.workflow_name, "finra.ingest");
        assert_eq!(run.domain.as_deref(), Some("finra"));
        assert_eq!(run.partition_key.as_deref(), Some("2025-01-10|T1"));
        assert_eq!(run.triggered_by, "schedule");
        assert_eq!(run.status, WorkflowStatus::Completed);
        assert_eq!(run.metrics["rows"], 7);
        // The arguments are params, as with #[instrument].
        assert_eq!(run.params["tier"], "T1");
        assert_eq!(run.params["week"], "2025-01-10");
        assert_eq!(run.params["fail"], false);
        let steps = db.steps(&run.run_id);
        let named: Vec<(&str, &str)> = steps
            .iter()
            .map(|s| (s.step_name.as_str(), s.step_type.as_str()))
            .collect();
        assert_eq!(named, [("fetch", "lambda"), ("quality_check", "step")]);
        assert_eq!(steps[0].input_params["tier"], "T1");
        assert_eq!(steps[0].records_processed, Some(2));
        // `skip(rows)`: not a param.
        assert!(steps[1].input_params.is_empty(), "{:?}", steps[1].input_params);
    }

    fn an_err_fails_the_step_and_the_run_with_its_chain(db) {
        let outcome = db.record(|| every_key("T1", "2025-01-17", true));
        assert!(outcome.is_err());
        let run = db.only_run();
        assert_eq!(run.status, WorkflowStatus::Failed);
        let steps = db.steps(&run.run_id);
        assert_eq!(steps.len(), 1, "the failing step ends the run");
        assert_eq!(steps[0].status, StepStatus::Failed);
        assert_eq!(steps[0].error.as_deref(), Some("fetch failed: connection refused"));
        assert_eq!(
            run.error.as_deref(),
            Some("fetch failed: connection refused"),
            "the run's own Err, with its chain"
        );
    }

    fn an_error_that_is_only_display_is_recorded_in_its_alternate_form(db) {
        let outcome = db.record(|| fails_plainly(vec![1]));
        assert!(outcome.is_err());
        let run = db.only_run();
        assert_eq!(run.status, WorkflowStatus::Failed);
        assert_eq!(run.error.as_deref(), Some("plain: with detail"));
        assert!(run.params.is_empty(), "skip_all: {:?}", run.params);
        let steps = db.steps(&run.run_id);
        assert_eq!(steps[0].status, StepStatus::Failed);
    }

    fn names_default_to_the_function(db) {
        db.record(nightly);
        let run = db.only_run();
        assert_eq!(run.workflow_name, "nightly");
        assert_eq!(db.steps(&run.run_id)[0].step_name, "plain_step");
    }

    fn methods_skip_self_and_record_their_arguments(db) {
        let loader = Loader { table: "trades" };
        let doubled = db.record(|| loader.run(21));
        assert_eq!(doubled.expect("ok"), 42);
        let run = db.only_run();
        assert_eq!(run.run_id, "trades");
        assert_eq!(run.params.len(), 1);
        assert_eq!(run.params["batch"], 21);
        let step = &db.steps("trades")[0];
        assert_eq!((step.step_name.as_str(), step.step_type.as_str()), ("load", "sql"));
        assert_eq!(step.input_params["table"], "trades");
    }

    fn async_methods_on_a_multi_threaded_runtime(db) {
        let runtime = support::runtime(2);
        let (dispatch, guard) = db.dispatch(db.builder());
        let loader = Loader { table: "async" };
        let (ok, failed) = runtime.block_on(async {
            use tracing::instrument::WithSubscriber;
            let ok = loader.run_async(4).with_subscriber(dispatch.clone()).await;
            (ok, loader.run_async(0).with_subscriber(dispatch.clone()).await)
        });
        assert_eq!(ok.expect("ok"), 8);
        assert!(failed.is_err());
        guard.shutdown().expect("shutdown");
        let store = db.store();
        let ok = store.get_run("async-4").expect("get").expect("recorded");
        assert_eq!(ok.status, WorkflowStatus::Completed);
        let failed = store.get_run("async-0").expect("get").expect("recorded");
        assert_eq!(failed.status, WorkflowStatus::Failed);
        assert_eq!(failed.error.as_deref(), Some("empty batch"), "the run's own Err");
        let steps = db.steps("async-0");
        assert_eq!(steps[0].step_name, "load_async");
        assert_eq!(steps[0].error.as_deref(), Some("empty batch"));
    }

    fn generic_and_impl_trait_arguments(db) {
        let total = db.record(|| generic("k1", [1, 2, 3]));
        assert_eq!(total, 6);
        let run = db.only_run();
        assert_eq!(run.run_id, "generic-k1");
        assert_eq!(run.params["key"], "\"k1\"");
        assert!(run.params.get("items").is_none(), "impl Trait is skipped");
    }

    fn ret_records_the_value_in_the_log(db) {
        assert_eq!(db.record(returns_a_value).ok(), Some(42));
        let events = db.store().get_events("returns").expect("events");
        let logged = events.iter().find(|e| e.fields.contains_key("return"));
        assert!(logged.is_some(), "{events:#?}");
    }
}

#[test]
fn misuse_is_a_compile_error_at_the_offending_token() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
