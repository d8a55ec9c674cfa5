//! Retries never overwrite history: a `run_id` given again records a new
//! attempt, whether the earlier run ended or is still running elsewhere.

mod support;

use std::collections::BTreeSet;
use std::sync::Barrier;

use support::TestDb;
use support::child::{self, SAY};
use workflow_history::{RunFilter, StepStatus, WorkflowStatus};

/// One execution of the retried job: `fetch` then `load`, failing in
/// `load` when told to.
fn execution(run_id: &str, fail: bool) {
    tracing::info_span!("workflow", workflow = "retried", run_id).in_scope(|| {
        tracing::info_span!("step", step = "fetch").in_scope(|| tracing::info!("fetched"));
        tracing::info_span!("step", step = "load").in_scope(|| {
            if fail {
                tracing::error!("connection refused");
            }
        });
    });
}

backends! {
    fn the_same_run_id_three_times_leaves_three_runs(db) {
        db.record(|| execution("nightly-2025-01-10", false));
        let first_before = db.store().get_run("nightly-2025-01-10").expect("get").expect("first");
        let first_steps_before = db.steps("nightly-2025-01-10");
        let first_events_before = db.store().get_events("nightly-2025-01-10").expect("events");

        db.record(|| execution("nightly-2025-01-10", true));
        db.record(|| execution("nightly-2025-01-10", false));

        let store = db.store();
        // The first attempt is exactly as it was.
        assert_eq!(store.get_run("nightly-2025-01-10").expect("get"), Some(first_before));
        assert_eq!(db.steps("nightly-2025-01-10"), first_steps_before);
        assert_eq!(store.get_events("nightly-2025-01-10").expect("events"), first_events_before);

        let attempts = store.get_attempts("nightly-2025-01-10~3").expect("attempts");
        let summary: Vec<_> = attempts
            .iter()
            .map(|r| (r.run_id.as_str(), r.attempt, r.first_attempt_id.as_deref(), r.status))
            .collect();
        assert_eq!(
            summary,
            [
                ("nightly-2025-01-10", 1, None, WorkflowStatus::Completed),
                ("nightly-2025-01-10~2", 2, Some("nightly-2025-01-10"), WorkflowStatus::Failed),
                ("nightly-2025-01-10~3", 3, Some("nightly-2025-01-10"), WorkflowStatus::Completed),
            ]
        );
        for run in &attempts {
            let steps = db.steps(&run.run_id);
            let names: Vec<_> = steps.iter().map(|s| (s.step_id.clone(), s.step_name.as_str())).collect();
            assert_eq!(
                names,
                [(format!("{}-1", run.run_id), "fetch"), (format!("{}-2", run.run_id), "load")]
            );
            let events = store.get_events(&run.run_id).expect("events");
            assert!(events.iter().all(|e| e.run_id == run.run_id));
            assert!(events.iter().any(|e| e.message.as_deref() == Some("fetched")));
        }
        let failed = &db.steps("nightly-2025-01-10~2")[1];
        assert_eq!(failed.status, StepStatus::Failed);
        assert_eq!(failed.error.as_deref(), Some("connection refused"));

        // Statistics tell retries apart.
        let stats = store.statistics(&RunFilter::default()).expect("stats");
        assert_eq!((stats.total_runs, stats.retries, stats.failed), (3, 2, 1));
    }

    fn a_sub_workflow_of_a_retried_run_points_at_its_attempt(db) {
        let nested = || {
            tracing::info_span!("workflow", workflow = "outer", run_id = "outer-1").in_scope(|| {
                tracing::info_span!("step", step = "prepare").in_scope(|| {
                    tracing::info_span!("step", step = "inner").in_scope(|| {});
                    tracing::info_span!("workflow", workflow = "sub").in_scope(|| {});
                });
            });
        };
        db.record(nested);
        db.record(nested);
        let sub_parents: BTreeSet<Option<String>> = db
            .runs()
            .into_iter()
            .filter(|r| r.workflow_name == "sub")
            .map(|r| r.parent_run_id)
            .collect();
        assert_eq!(
            sub_parents,
            BTreeSet::from([Some("outer-1".to_owned()), Some("outer-1~2".to_owned())])
        );
        let steps = db.steps("outer-1~2");
        assert_eq!(steps[1].parent_step_id.as_deref(), Some("outer-1~2-1"));
    }

    fn two_runs_with_one_id_at_once_in_one_process_stay_apart(db) {
        let (dispatch, guard) = db.dispatch(db.builder());
        let both_open = Barrier::new(2);
        std::thread::scope(|scope| {
            for fail in [false, true] {
                let (dispatch, both_open) = (dispatch.clone(), &both_open);
                scope.spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        tracing::info_span!("workflow", workflow = "twice", run_id = "same").in_scope(|| {
                            both_open.wait();
                            tracing::info_span!("step", step = if fail { "failing" } else { "fine" })
                                .in_scope(|| {
                                    if fail {
                                        tracing::error!("boom");
                                    }
                                });
                        });
                    });
                });
            }
        });
        guard.shutdown().expect("shutdown");
        let attempts = db.store().get_attempts("same").expect("attempts");
        assert_eq!(attempts.len(), 2);
        for run in attempts {
            let steps = db.steps(&run.run_id);
            assert_eq!(steps.len(), 1, "{}: {steps:?}", run.run_id);
            let expected = if steps[0].step_name == "failing" {
                WorkflowStatus::Failed
            } else {
                WorkflowStatus::Completed
            };
            assert_eq!(run.status, expected, "each run keeps its own step");
        }
    }

    fn a_history_from_before_attempts_migrates_and_retries_its_runs(db) {
        db.record(|| execution("legacy", false));
        // Back to the schema before attempts existed, data kept.
        db.undo_rollup_migration();
        db.sql_batch(
            "DROP INDEX idx_workflow_runs_id_tail;
             DROP INDEX idx_workflow_runs_first_attempt;
             ALTER TABLE workflow_runs DROP COLUMN first_attempt_id;
             ALTER TABLE workflow_runs DROP COLUMN attempt;
             DELETE FROM schema_migrations WHERE version > 4;",
        );
        let store = db.store();
        let legacy = store.get_run("legacy").expect("get").expect("kept");
        assert_eq!((legacy.attempt, legacy.first_attempt_id), (1, None));
        drop(store);
        db.record(|| execution("legacy", true));
        let attempts = db.store().get_attempts("legacy").expect("attempts");
        let ids: Vec<_> = attempts.iter().map(|r| (r.run_id.as_str(), r.status)).collect();
        assert_eq!(
            ids,
            [("legacy", WorkflowStatus::Completed), ("legacy~2", WorkflowStatus::Failed)]
        );
    }
}

const CONCURRENT_TEST: &str = "concurrent_reuse_from_two_processes";
const PER_PROCESS: usize = 15;

/// Two processes record the same `run_id` over and over at once: every
/// execution is a run of its own, with its own steps.
fn concurrent_reuse_from_two_processes(db: &TestDb) {
    if child::child_role().is_some() {
        let url = std::env::var("WORKFLOW_HISTORY_TEST_CHILD_URL").expect("url");
        let (dispatch, guard) = workflow_history::HistoryLayer::builder()
            .database_url(url)
            .flush_interval(std::time::Duration::from_millis(1))
            .build()
            .map(|(layer, guard)| {
                use tracing_subscriber::prelude::*;
                (
                    tracing::Dispatch::new(tracing_subscriber::registry().with(layer)),
                    guard,
                )
            })
            .expect("build");
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..PER_PROCESS {
                execution("shared", i % 3 == 0);
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        });
        guard.shutdown().expect("shutdown");
        child::say("done");
        return;
    }
    // The schema exists before the children race.
    let (_, guard) = db.builder().build().expect("create the schema");
    guard.shutdown().expect("shutdown");
    let test = format!(
        "{CONCURRENT_TEST}::{}",
        if db.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        }
    );
    let children: Vec<_> = (0..2)
        .map(|i| {
            child::spawn_child(
                &test,
                &format!("writer-{i}"),
                &[("WORKFLOW_HISTORY_TEST_CHILD_URL", &db.url)],
            )
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("child");
        assert!(out.status.success(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{SAY}done")));
    }
    let attempts = db.store().get_attempts("shared").expect("attempts");
    assert_eq!(attempts.len(), 2 * PER_PROCESS, "no execution lost");
    let numbers: BTreeSet<u32> = attempts.iter().map(|r| r.attempt).collect();
    assert_eq!(numbers, (1..=2 * PER_PROCESS as u32).collect());
    for run in &attempts {
        assert!(run.is_terminal(), "{run:?}");
        let steps = db.steps(&run.run_id);
        assert_eq!(steps.len(), 2, "{}", run.run_id);
    }
    let failed = attempts
        .iter()
        .filter(|r| r.status == WorkflowStatus::Failed)
        .count();
    assert_eq!(failed, 2 * PER_PROCESS.div_ceil(3));
}

mod concurrent_reuse_from_two_processes {
    use super::*;

    #[test]
    fn sqlite() {
        super::concurrent_reuse_from_two_processes(&TestDb::new());
    }

    #[test]
    fn postgres() {
        if child::child_role().is_some() {
            return super::concurrent_reuse_from_two_processes(&TestDb::new());
        }
        match TestDb::postgres() {
            Some(db) => super::concurrent_reuse_from_two_processes(&db),
            None => support::skip("set WORKFLOW_HISTORY_TEST_PG_URL to run on PostgreSQL"),
        }
    }
}

#[cfg(feature = "server")]
backends! {
    fn show_and_the_api_open_the_latest_attempt_and_list_them_all(db) {
        use support::http::{self, Served};
        for fail in [false, true, false] {
            db.record(|| execution("weekly", fail));
        }
        let served = Served::database(&db.url);
        let latest = http::get(served.addr, "/history/runs/weekly").json();
        assert_eq!(latest["run"]["run_id"], "weekly~3");
        assert_eq!(latest["run"]["attempt"], 3);
        assert_eq!(latest["run"]["first_attempt_id"], "weekly");
        let attempts: Vec<(String, String)> = latest["attempts"]
            .as_array()
            .expect("attempts")
            .iter()
            .map(|a| (a["run_id"].as_str().unwrap().to_owned(), a["status"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            attempts,
            [
                ("weekly".to_owned(), "COMPLETED".to_owned()),
                ("weekly~2".to_owned(), "FAILED".to_owned()),
                ("weekly~3".to_owned(), "COMPLETED".to_owned()),
            ]
        );
        // An attempt by its number, the first included.
        assert_eq!(http::get(served.addr, "/history/runs/weekly~1").json()["run"]["run_id"], "weekly");
        let second = http::get(served.addr, "/history/runs/weekly~2").json();
        assert_eq!(second["run"]["error"], "step 'load' failed: connection refused");
        assert_eq!(second["attempts"].as_array().map(Vec::len), Some(3));
        assert_eq!(http::get(served.addr, "/history/runs/weekly~4").status, 404);
        // The log of the latest attempt, unless another is named.
        let events = http::get(served.addr, "/history/runs/weekly/events").json();
        assert_eq!(events["run_id"], "weekly~3");

        // The start of a retried run's id designates the run (its latest
        // attempt), not each of its attempts; `~n` works on a short id too.
        assert_eq!(http::get(served.addr, "/history/runs/week").json()["run"]["run_id"], "weekly~3");
        assert_eq!(http::get(served.addr, "/history/runs/week~2").json()["run"]["run_id"], "weekly~2");
        // The run list's short form of each attempt opens that attempt.
        let store = db.store();
        for run_id in ["weekly", "weekly~2", "weekly~3"] {
            let short = store.short_run_id(run_id, 3).expect("short id");
            let found = http::get(served.addr, &format!("/history/runs/{short}")).json();
            assert_eq!(found["run"]["run_id"], run_id, "{short}");
        }
        assert_eq!(store.short_run_id("weekly", 3).expect("short"), "weekly~1");

        let statistics = http::get(served.addr, "/history/statistics").json();
        assert_eq!(statistics["retries"], 2);

        let output = std::process::Command::new(http::BIN)
            .env_remove("WORKFLOW_HISTORY_DATABASE_URL")
            .args(["--db", &db.url, "show", "weekly"])
            .output()
            .expect("show");
        let text = String::from_utf8(output.stdout).expect("UTF-8");
        assert!(text.starts_with("run weekly~3\n"), "{text}");
        assert!(text.contains("attempt       3 of 3"), "{text}");
        let listed: Vec<&str> = text
            .lines()
            .skip_while(|line| *line != "attempts")
            .skip(1)
            .take(3)
            .collect();
        assert!(listed[0].contains("weekly ") && listed[0].contains("COMPLETED"), "{text}");
        assert!(listed[1].contains("weekly~2") && listed[1].contains("FAILED"), "{text}");
        assert!(listed[2].starts_with('*') && listed[2].contains("weekly~3"), "{text}");

        // Retention took the first attempt: its id still reaches the run.
        db.sql_execute("DELETE FROM workflow_runs WHERE run_id = 'weekly'", &[]);
        let latest = http::get(served.addr, "/history/runs/weekly").json();
        assert_eq!(latest["run"]["run_id"], "weekly~3");
        assert_eq!(latest["attempts"].as_array().map(Vec::len), Some(2));
        let second = http::get(served.addr, "/history/runs/weekly~2").json();
        assert_eq!(second["run"]["run_id"], "weekly~2");
        assert_eq!(http::get(served.addr, "/history/runs/weekly~1").status, 404);
    }
}
