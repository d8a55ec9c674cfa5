//! Short ids that always work: the id the run list prints reaches its run
//! in `show` and the HTTP API, even for thousands of runs started
//! together, whose generated ids share their start.

mod support;

use std::collections::HashSet;
use std::process::Command;

use support::TestDb;
use support::http::{self, Served};

const RUNS: usize = 10_000;

fn workflow_history(db: &TestDb, args: &[&str]) -> String {
    let output = Command::new(http::BIN)
        .env_remove("WORKFLOW_HISTORY_DATABASE_URL")
        .arg("--db")
        .arg(&db.url)
        .args(args)
        .output()
        .expect("run the binary");
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).expect("UTF-8")
}

backends! {
    fn every_printed_short_id_reaches_its_run(db) {
        db.record(|| {
            for i in 0..RUNS {
                tracing::info_span!("workflow", workflow = "burst", i).in_scope(|| {});
            }
        });
        let runs = db.runs();
        assert_eq!(runs.len(), RUNS);
        // Created together, the ids share their start: a prefix would need
        // most of the id to tell them apart.
        let starts: HashSet<&str> = runs.iter().map(|r| &r.run_id[..8]).collect();
        assert!(starts.len() <= 2, "{} distinct starts", starts.len());

        let table = workflow_history(db, &["runs", "--limit", "10000", "--workflow", "burst"]);
        let printed: Vec<&str> = table
            .lines()
            .skip(1)
            .take(RUNS)
            .map(|line| line.split_whitespace().next().expect("an id"))
            .collect();
        assert_eq!(printed.len(), RUNS);
        let eight = printed.iter().filter(|id| id.len() == 8).count();
        // 32 random bits each: a clash among 10,000 is rare, and then
        // takes 12 characters.
        assert!(eight >= RUNS - 10, "{eight} of {RUNS} ids print in 8 characters");
        assert!(printed.iter().all(|id| id.len() == 8 || id.len() == 12), "{printed:?}");

        // Newest first, as listed; every id reaches its own run.
        let served = Served::database(&db.url);
        let full = run_ids(&workflow_history(
            db,
            &["runs", "--limit", "10000", "--workflow", "burst", "--json"],
        ));
        assert_eq!(full.len(), RUNS);
        for (short, run_id) in printed.iter().zip(&full) {
            assert!(run_id.ends_with(short), "{short} {run_id}");
            let found = http::get(served.addr, &format!("/history/runs/{short}"));
            assert_eq!(found.status, 200, "{short}: {}", found.body);
            assert_eq!(found.json()["run"]["run_id"], run_id.as_str(), "{short}");
        }
        for (short, run_id) in printed.iter().zip(&full).step_by(RUNS / 10) {
            let shown = workflow_history(db, &["show", short, "--json"]);
            let shown: serde_json::Value = serde_json::from_str(&shown).expect("JSON");
            assert_eq!(shown["run"]["run_id"], run_id.as_str(), "{short}");
        }
    }
}

/// The run ids of `runs --json`, in order.
fn run_ids(json: &str) -> Vec<String> {
    let page: serde_json::Value = serde_json::from_str(json).expect("JSON");
    page["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|run| run["run_id"].as_str().expect("run_id").to_owned())
        .collect()
}

/// The tail lookup must use its index: without it, finding a run by its
/// short id reads the whole table.
#[test]
fn the_tail_lookup_uses_its_index_on_sqlite() {
    let db = TestDb::new();
    db.record(|| tracing::info_span!("workflow", workflow = "one").in_scope(|| {}));
    let conn = rusqlite::Connection::open(&db.path).expect("open");
    let plan: Vec<String> = conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT run_id FROM workflow_runs \
             WHERE length(run_id) = 36 AND substr(run_id, 29) = ?1 LIMIT 6",
        )
        .expect("prepare")
        .query_map(["e3154397"], |row| row.get::<_, String>(3))
        .expect("plan")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(
        plan.iter()
            .any(|step| step.contains("idx_workflow_runs_id_tail")),
        "{plan:?}"
    );
}
