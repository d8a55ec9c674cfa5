//! The command line and the HTTP API on either database: the same history,
//! recorded by the real layer, read by the real binary and a real server.
#![cfg(feature = "server")]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};

use serde_json::Value;
use support::TestDb;
use tracing::info_span;

const BIN: &str = env!("CARGO_BIN_EXE_workflow-history");

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

/// A GET over a plain HTTP/1.1 connection: status and JSON body.
fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("headers");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, serde_json::from_str(body).expect("JSON body"))
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
        let mut server = Command::new(BIN)
            .args(["--db", &db.url, "serve", "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server");
        let mut line = String::new();
        BufReader::new(server.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("first line");
        let addr: SocketAddr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("address");

        let (status, page) = get(addr, "/history/runs?workflow_name=ingest&status=failed");
        assert_eq!(status, 200);
        assert_eq!(page["total"], 1);
        let (status, detail) = get(addr, "/history/runs/bad");
        assert_eq!(status, 200);
        assert_eq!(detail["steps"][1]["status"], "FAILED");
        let (status, stats) = get(addr, "/history/statistics?workflow_name=ingest");
        assert_eq!(status, 200);
        assert_eq!((stats["completed"].clone(), stats["failed"].clone()), (1.into(), 1.into()));
        let (status, _) = get(addr, "/history/runs/nope");
        assert_eq!(status, 404);
        server.kill().expect("stop the server");
        server.wait().expect("reap");
    }
}
