//! The command line and the HTTP API on either database: the same history,
//! recorded by the real layer, read by the real binary and a real server.
#![cfg(feature = "server")]

mod support;

use std::process::Command;

use serde_json::Value;
use support::TestDb;
use support::http::{BIN, Served};
use tracing::info_span;

/// One clean run and one whose `check` step fails.
fn record_two_runs(db: &TestDb) {
    db.record(|| {
        for (run_id, fails) in [("good", false), ("bad", true)] {
            info_span!("workflow", workflow = "ingest", run_id).in_scope(|| {
                info_span!("step", step = "fetch").in_scope(|| {});
                info_span!("step", step = "check").in_scope(|| {
                    if fails {
                        workflow_history::fail_with_category("null rate 12%", "DATA_QUALITY");
                    }
                });
            });
        }
    });
}

fn cli(db: &TestDb, args: &[&str]) -> Value {
    let output = Command::new(BIN)
        .arg("--db")
        .arg(&db.url)
        .args(args)
        .output()
        .expect("run the binary");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

backends! {
    fn the_command_line_finds_the_failed_step_and_why(db) {
        record_two_runs(db);
        let page = cli(db, &["runs", "--workflow", "ingest", "--status", "failed", "--since", "1d", "--json"]);
        assert_eq!(page["total"], 1);
        assert_eq!(page["runs"][0]["run_id"], "bad");
        let shown = cli(db, &["show", "bad", "--json"]);
        let steps = shown["steps"].as_array().expect("steps");
        let failed: Vec<_> = steps.iter().filter(|s| s["status"] == "FAILED").collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0]["step_name"], "check");
        assert_eq!(failed[0]["error"], "null rate 12%");
        assert_eq!(failed[0]["error_category"], "DATA_QUALITY");
        assert_eq!(shown["run"]["error"], "step 'check' failed: null rate 12%");
    }

    fn the_http_api_serves_the_same_history(db) {
        record_two_runs(db);
        let server = Served::database(&db.url);
        let get = |target: &str| {
            let response = server.get(target);
            (response.status, response.json())
        };

        let (status, page) = get("/history/runs?workflow_name=ingest&status=failed");
        assert_eq!(status, 200);
        assert_eq!(page["total"], 1);
        let (status, detail) = get("/history/runs/bad");
        assert_eq!(status, 200);
        assert_eq!(detail["steps"][1]["status"], "FAILED");
        let (status, stats) = get("/history/statistics?workflow_name=ingest");
        assert_eq!(status, 200);
        assert_eq!((stats["completed"].clone(), stats["failed"].clone()), (1.into(), 1.into()));
        let (status, _) = get("/history/runs/nope");
        assert_eq!(status, 404);
    }
}
