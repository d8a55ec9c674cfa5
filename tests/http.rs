//! The HTTP API on a real server on an ephemeral loopback port, over a
//! database that the real layer filled, spoken to in plain HTTP/1.1 so the
//! tests control every byte of the request.

mod support;

#[path = "support/fill.rs"]
mod fill;

use std::net::{SocketAddr, TcpStream};

use fill::{BILLING, FINRA, Fixture, QUALITY_ERROR, UNICODE};
use serde_json::Value;
use support::http::{Response, Served, enc, request};
use workflow_history::HistoryStore;
use workflow_history::api::Api;

const TOKEN: &str = "correct horse battery staple";

/// A server on its own runtime; stops when dropped.
struct Server {
    addr: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    /// Serves the fixture read-only, with deletes enabled by `TOKEN` when
    /// `admin` is true.
    fn start(fx: &Fixture, admin: bool) -> Server {
        let mut api = Api::new(HistoryStore::open_sqlite_read_only(&fx.db.path).unwrap());
        if admin {
            api = api.admin(TOKEN, HistoryStore::open_sqlite(&fx.db.path).unwrap());
        }
        let runtime = support::runtime(2);
        // Bound before returning, so requests can go out at once.
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(async move { axum::serve(listener, api.router()).await });
        Server {
            addr,
            _runtime: runtime,
        }
    }

    fn get(&self, target: &str) -> Response {
        request(self.addr, "GET", target, &[])
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_owned())
        .collect()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[test]
fn lists_runs_newest_first_with_the_total_and_pages() {
    let fx = Fixture::new();
    let server = Server::start(&fx, false);
    let response = server.get("/history/runs");
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let page = response.json();
    assert_eq!(page["total"], 7);
    assert_eq!(page["limit"], 50);
    assert_eq!(page["offset"], 0);
    assert_eq!(ids(&page), fx.newest_first());
    let failed = &page["runs"][3];
    assert_eq!(failed["run_id"], fx.finra_failed.as_str());
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(
        failed["error"],
        format!("step 'quality_check' failed: {QUALITY_ERROR}")
    );
    assert!(failed["duration_seconds"].is_number());

    // Pages of 3 cover every run exactly once, in order.
    let mut seen = Vec::new();
    for offset in [0, 3, 6] {
        let page = server
            .get(&format!("/history/runs?limit=3&offset={offset}"))
            .json();
        assert_eq!(page["total"], 7);
        assert_eq!(page["limit"], 3);
        assert_eq!(page["offset"], offset);
        seen.extend(ids(&page));
    }
    assert_eq!(seen, fx.newest_first());
    let past = server.get("/history/runs?offset=10000");
    assert_eq!(past.status, 200);
    assert_eq!(past.json()["runs"], serde_json::json!([]));
    assert_eq!(past.json()["total"], 7);
    assert_eq!(server.get("/history/runs?limit=200").json()["limit"], 200);
}

#[test]
fn filters_runs_like_the_command_line() {
    let fx = Fixture::new();
    let server = Server::start(&fx, false);
    let select = |query: &str| {
        let response = server.get(&format!("/history/runs?{query}"));
        assert_eq!(response.status, 200, "{query}: {}", response.body);
        sorted(ids(&response.json()))
    };
    assert_eq!(
        select(&format!("workflow_name={FINRA}&status=failed")),
        [fx.finra_failed.as_str()]
    );
    assert_eq!(select("status=FAILED"), [fx.finra_failed.as_str()]);
    assert_eq!(
        select("domain=billing"),
        sorted(vec![
            fx.billing_ok.clone(),
            fx.billing_cancelled.clone(),
            fx.billing_old.clone()
        ])
    );
    assert_eq!(
        select(&format!("partition_key={}", enc("2025-01-17|T1"))),
        [fx.finra_failed.as_str()]
    );
    assert_eq!(
        select(&format!("workflow_name={}", enc(UNICODE))),
        [fx.unicode.as_str()]
    );
    assert_eq!(select("since=7d").len(), 5);
    assert_eq!(
        select("until=30d"),
        sorted(vec![fx.billing_old.clone(), fx.finra_old.clone()])
    );
    let cutoff = (chrono::Utc::now() - chrono::Duration::days(70)).to_rfc3339();
    assert_eq!(
        select(&format!("until={}&workflow_name={FINRA}", enc(&cutoff))),
        [fx.finra_old.as_str()]
    );
    assert_eq!(select("since=2000-01-01").len(), 7);
    assert_eq!(
        select("status=cancelled&domain=finra"),
        Vec::<String>::new()
    );
    // An empty name filters nothing; an empty status or time is no status
    // or time, as the document says.
    assert_eq!(select("workflow_name=&domain=").len(), 7);
    for query in ["status=", "since=", "limit=", "after="] {
        server
            .get(&format!("/history/runs?{query}"))
            .assert_error(400, "bad_parameter");
    }
}

#[test]
fn a_run_with_its_steps_by_full_or_short_id() {
    let fx = Fixture::new();
    let server = Server::start(&fx, false);
    let detail = server.get(&format!("/history/runs/{}", fx.finra_failed));
    assert_eq!(detail.status, 200, "{}", detail.body);
    let detail = detail.json();
    assert_eq!(detail["run"]["run_id"], fx.finra_failed.as_str());
    assert_eq!(detail["run"]["workflow_name"], FINRA);
    let steps = detail["steps"].as_array().unwrap();
    let names: Vec<&str> = steps
        .iter()
        .map(|s| s["step_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fetch_data", "transform", "quality_check"]);
    let orders: Vec<u64> = steps
        .iter()
        .map(|s| s["step_order"].as_u64().unwrap())
        .collect();
    assert_eq!(orders, [1, 2, 3]);
    assert_eq!(steps[2]["status"], "FAILED");
    assert_eq!(steps[2]["error"], QUALITY_ERROR);

    let short = server.get(&format!(
        "/history/runs/{}",
        &fx.finra_failed[..fx.finra_failed.len() - 4]
    ));
    assert_eq!(short.status, 200, "{}", short.body);
    assert_eq!(short.json()["run"]["run_id"], fx.finra_failed.as_str());

    let skipped = server
        .get(&format!("/history/runs/{}", fx.billing_ok))
        .json();
    assert_eq!(skipped["steps"][1]["status"], "SKIPPED");
    assert_eq!(skipped["steps"][1]["skip_reason"], "nobody subscribed");

    let detail = server
        .get("/history/runs/00000000-0000-7000-8000-000000000000")
        .assert_error(404, "run_not_found");
    assert!(
        detail.contains("00000000-0000-7000-8000-000000000000"),
        "{detail}"
    );
    server
        .get(&format!("/history/runs/{}", &fx.finra_failed[..4]))
        .assert_error(300, "ambiguous_run_id");
    server
        .get(&format!("/history/runs/{}", enc("zürich'; --")))
        .assert_error(404, "run_not_found");
}

#[test]
fn a_runs_events_filtered_by_step_and_level() {
    let fx = Fixture::new();
    let server = Server::start(&fx, false);
    let base = format!("/history/runs/{}/events", fx.finra_failed);
    let all = server.get(&base);
    assert_eq!(all.status, 200, "{}", all.body);
    let all = all.json();
    assert_eq!(all["run_id"], fx.finra_failed.as_str());
    let all = all["events"].as_array().unwrap().clone();
    assert!(all.iter().any(|e| e["kind"] == "status_changed"));
    assert!(all.iter().any(|e| e["kind"] == "log"));
    let times: Vec<&str> = all
        .iter()
        .map(|e| e["timestamp"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in order");

    let step = server.get(&format!("{base}?step=transform")).json();
    let step = step["events"].as_array().unwrap();
    assert!(!step.is_empty());
    let transform_id = format!("{}-2", fx.finra_failed);
    assert!(step.iter().all(|e| e["step_id"] == transform_id.as_str()));

    let warn = server.get(&format!("{base}?level=warn")).json();
    let levels: Vec<&str> = warn["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["level"].as_str().unwrap())
        .collect();
    assert!(
        levels.contains(&"WARN") && levels.contains(&"ERROR"),
        "{levels:?}"
    );
    assert!(levels.iter().all(|l| ["WARN", "ERROR"].contains(l)));

    let both = server
        .get(&format!("{base}?step=quality_check&level=ERROR"))
        .json();
    let both = both["events"].as_array().unwrap();
    assert_eq!(both.len(), 1, "{both:?}");
    assert_eq!(both[0]["fields"]["error"], QUALITY_ERROR);

    let none = server.get(&format!("{base}?step=no_such_step")).json();
    assert_eq!(none["events"], serde_json::json!([]));

    server
        .get(&format!("{base}?level=loud"))
        .assert_error(400, "bad_parameter");
    server
        .get("/history/runs/nope/events")
        .assert_error(404, "run_not_found");
}

#[test]
fn statistics_with_the_same_filters_and_per_workflow() {
    let fx = Fixture::new();
    let server = Server::start(&fx, false);
    let stats = server.get("/history/statistics");
    assert_eq!(stats.status, 200, "{}", stats.body);
    let stats = stats.json();
    assert_eq!(stats["total_runs"], 7);
    assert_eq!(stats["completed"], 5);
    assert_eq!(stats["failed"], 1);
    assert_eq!(stats["cancelled"], 1);
    assert!(stats.get("by_workflow").is_none());
    assert!(stats["p95_duration_seconds"].as_f64().unwrap() >= 65.0);

    let finra = server
        .get(&format!(
            "/history/statistics?workflow_name={FINRA}&since=7d"
        ))
        .json();
    assert_eq!(finra["total_runs"], 2);
    assert_eq!(finra["success_rate"], 0.5);

    let by = server
        .get("/history/statistics?by=workflow&domain=billing")
        .json();
    let by = by["by_workflow"].as_array().unwrap();
    assert_eq!(by.len(), 1);
    assert_eq!(by[0]["workflow_name"], BILLING);
    assert_eq!(by[0]["total_runs"], 3);
    assert_eq!(by[0]["cancelled"], 1);

    server
        .get("/history/statistics?by=domain")
        .assert_error(400, "bad_parameter");
    server
        .get("/history/statistics?limit=5")
        .assert_error(400, "bad_parameter");
}

#[test]
fn deleting_old_runs_needs_the_admin_token() {
    let fx = Fixture::new();
    let disabled = Server::start(&fx, false);
    let detail = request(
        disabled.addr,
        "DELETE",
        "/history/runs/old?days=1",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    )
    .assert_error(403, "forbidden");
    assert!(detail.contains("--admin-token"), "{detail}");

    let server = Server::start(&fx, true);
    let delete = |query: &str, auth: Option<&str>| {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        request(
            server.addr,
            "DELETE",
            &format!("/history/runs/old{query}"),
            &headers,
        )
    };
    let bearer = format!("Bearer {TOKEN}");

    let unauthenticated = delete("?days=1", None);
    unauthenticated.assert_error(401, "unauthorized");
    assert_eq!(unauthenticated.header("www-authenticate"), Some("Bearer"));
    delete("?days=1", Some("Basic YWRtaW46YWRtaW4=")).assert_error(401, "unauthorized");
    delete("?days=1", Some("Bearer wrong")).assert_error(403, "forbidden");
    delete("?days=1", Some(&format!("Bearer {TOKEN}x"))).assert_error(403, "forbidden");
    // The token is checked before the parameters: no information for free.
    delete("?days=oops", None).assert_error(401, "unauthorized");
    assert_eq!(fx.run_count(), 7, "refused requests delete nothing");

    for bad in [
        "",
        "?days=",
        "?days=0",
        "?days=-1",
        "?days=1.5",
        "?days=abc",
        "?days=99999999999999999999",
        "?days=36501",
        "?days=1&hours=2",
    ] {
        delete(bad, Some(&bearer)).assert_error(400, "bad_parameter");
    }
    assert_eq!(fx.run_count(), 7);

    let deleted = delete("?days=90", Some(&bearer));
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let deleted = deleted.json();
    assert_eq!(deleted["runs_deleted"], 1);
    assert_eq!(deleted["dry_run"], false);
    assert_eq!(deleted["by_workflow"][0]["workflow_name"], FINRA);
    assert_eq!(fx.run_count(), 6);
    server
        .get(&format!("/history/runs/{}", fx.finra_old))
        .assert_error(404, "run_not_found");
    assert_eq!(server.get("/history/runs").json()["total"], 6);
    assert_eq!(delete("?days=90", Some(&bearer)).json()["runs_deleted"], 0);
}

#[test]
fn health_and_unknown_routes_answer_in_json() {
    let fx = Fixture::new();
    let server = Server::start(&fx, false);
    let health = server.get("/healthz");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    assert_eq!(
        health.json()["schema_version"],
        workflow_history::SCHEMA_VERSION
    );
    server.get("/nope").assert_error(404, "not_found");
    server
        .get("/history/runs/a/b/c")
        .assert_error(404, "not_found");
    request(
        server.addr,
        "POST",
        "/history/runs",
        &[("Content-Length", "0")],
    )
    .assert_error(405, "method_not_allowed");
    request(
        server.addr,
        "DELETE",
        &format!("/history/runs/{}", fx.finra_ok),
        &[],
    )
    .assert_error(405, "method_not_allowed");
    assert_eq!(fx.run_count(), 7);
}

/// Every route the server answers is in `/openapi.json`, with the method,
/// parameters and responses the handlers really have.
#[test]
fn openapi_describes_every_route() {
    let fx = Fixture::new();
    let server = Server::start(&fx, true);
    let doc = server.get("/openapi.json");
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let routes = [
        ("/history/runs", "get"),
        ("/history/runs/{run_id}", "get"),
        ("/history/runs/{run_id}/events", "get"),
        ("/history/statistics", "get"),
        ("/history/runs/old", "delete"),
        ("/healthz", "get"),
        ("/openapi.json", "get"),
    ];
    let mut described: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |method| (path.clone(), method.clone()))
        })
        .collect();
    described.sort();
    let mut expected: Vec<(String, String)> = routes
        .iter()
        .map(|(p, m)| ((*p).to_owned(), (*m).to_owned()))
        .collect();
    expected.sort();
    assert_eq!(described, expected);

    // Each described route exists on the server (no route-level 404/405).
    for (path, method) in &routes {
        let target = path.replace("{run_id}", &fx.finra_ok);
        let response = request(server.addr, &method.to_uppercase(), &target, &[]);
        assert!(
            ![404, 405].contains(&response.status),
            "{method} {path}: {}",
            response.status
        );
        // Every answer's status is one the document lists for the route.
        let listed = &paths[*path][*method]["responses"];
        assert!(
            listed.get(response.status.to_string()).is_some(),
            "{method} {path} answered {} which is not documented",
            response.status
        );
    }

    let params = |path: &str, method: &str| -> Vec<String> {
        let mut names: Vec<String> = paths[path][method]["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .map(|p| p["name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    assert_eq!(
        params("/history/runs", "get"),
        [
            "after",
            "domain",
            "limit",
            "offset",
            "partition_key",
            "since",
            "status",
            "until",
            "workflow_name"
        ]
    );
    assert_eq!(
        params("/history/statistics", "get"),
        [
            "by",
            "domain",
            "partition_key",
            "since",
            "status",
            "until",
            "workflow_name"
        ]
    );
    assert_eq!(
        params("/history/runs/{run_id}/events", "get"),
        ["level", "run_id", "step"]
    );
    assert_eq!(params("/history/runs/old", "delete"), ["days"]);
    let days = &paths["/history/runs/old"]["delete"]["parameters"][0];
    assert_eq!(days["required"], true);
    assert_eq!(days["schema"]["minimum"], 1);
    assert!(paths["/history/runs/old"]["delete"]["security"].is_array());
    assert!(doc["components"]["securitySchemes"]["admin_token"].is_object());

    // Every referenced schema is defined, and the page schema has the
    // fields the server really sends.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{name} is referenced but not defined"
        );
    }
    let page_schema = &doc["components"]["schemas"]["RunPage"]["properties"];
    let page = server.get("/history/runs").json();
    for field in page.as_object().unwrap().keys() {
        assert!(page_schema.get(field).is_some(), "RunPage lacks {field}");
    }
    let run_schema = &doc["components"]["schemas"]["WorkflowRun"]["properties"];
    for field in page["runs"][0].as_object().unwrap().keys() {
        if field != "duration_seconds" {
            assert!(run_schema.get(field).is_some(), "WorkflowRun lacks {field}");
        }
    }
    assert_eq!(doc, serde_json::to_value(Api::openapi()).unwrap());
}

/// Hostile input gets a clear 400 or a correct empty answer: never a 500,
/// and never a change to the data.
#[test]
fn bad_input_is_refused_or_harmless() {
    let fx = Fixture::new();
    let server = Server::start(&fx, true);
    let huge = "x".repeat(20_000);
    let hostile = [
        "x'; DROP TABLE workflow_runs; --",
        "' OR '1'='1",
        "%",
        "_",
        "\\",
        "\"",
        "ümlaut ✓ 🚀 漢字",
        "\u{0}",
        "\u{202e}reversed",
        huge.as_str(),
    ];
    let mut answered = 0;
    for value in hostile {
        for param in [
            "workflow_name",
            "domain",
            "partition_key",
            "status",
            "since",
            "until",
            "limit",
            "offset",
        ] {
            for route in ["/history/runs", "/history/statistics"] {
                if route == "/history/statistics" && ["limit", "offset"].contains(&param) {
                    continue;
                }
                let response = server.get(&format!("{route}?{param}={}", enc(value)));
                match response.status {
                    200 => {
                        let body = response.json();
                        let empty = body["runs"].as_array().is_some_and(|r| r.is_empty())
                            || body["total_runs"] == 0;
                        assert!(empty, "{route}?{param}: matched something: {body}");
                    }
                    400 => {
                        let detail = response.assert_error(400, "bad_parameter");
                        assert!(detail.starts_with(param), "{detail}");
                        assert!(detail.len() < 400, "long values are cut");
                    }
                    other => panic!("{route}?{param}={value:.40}: {other} {}", response.body),
                }
                answered += 1;
            }
        }
        for route in ["/history/runs/", "/history/runs/"] {
            let response = server.get(&format!("{route}{}", enc(value)));
            assert!([400, 404].contains(&response.status), "{}", response.status);
            response.json();
        }
        let response = server.get(&format!(
            "/history/runs/{}/events?step={}&level=info",
            fx.finra_ok,
            enc(value)
        ));
        assert_eq!(response.status, 200);
        assert_eq!(response.json()["events"], serde_json::json!([]));
    }
    assert!(answered > 100);

    for (target, param) in [
        ("/history/runs?limit=0", "limit"),
        ("/history/runs?limit=-1", "limit"),
        ("/history/runs?limit=201", "limit"),
        ("/history/runs?limit=18446744073709551616", "limit"),
        ("/history/runs?limit=1e3", "limit"),
        ("/history/runs?offset=-1", "offset"),
        ("/history/runs?offset=99999999999999999999999", "offset"),
        ("/history/runs?status=done", "status"),
        ("/history/runs?since=yesterday", "since"),
        ("/history/runs?since=2025-02-30", "since"),
        ("/history/runs?since=99999999999999d", "since"),
    ] {
        let detail = server.get(target).assert_error(400, "bad_parameter");
        assert!(detail.starts_with(param), "{target}: {detail}");
    }
    // Unknown or repeated parameters are refused, not silently ignored.
    let detail = server
        .get("/history/runs?stauts=failed")
        .assert_error(400, "bad_parameter");
    assert!(detail.contains("stauts"), "{detail}");
    server
        .get("/history/runs?status=failed&status=completed")
        .assert_error(400, "bad_parameter");
    // Malformed percent-encoding in the path.
    let response = server.get("/history/runs/%FF%FE");
    assert!([400, 404].contains(&response.status), "{}", response.status);
    response.json();
    // Absurd offsets are refused before they reach the database.
    server
        .get("/history/runs?offset=9223372036854775807")
        .assert_error(400, "bad_parameter");

    assert_eq!(fx.run_count(), 7, "nothing changed");
    assert_eq!(server.get("/healthz").status, 200);
}

#[test]
fn the_read_only_store_cannot_write() {
    let fx = Fixture::new();
    let store = HistoryStore::open_sqlite_read_only(&fx.db.path).unwrap();
    assert!(
        store
            .delete_runs_older_than(chrono::Duration::zero())
            .is_err()
    );
    assert_eq!(store.count_runs(&Default::default()).unwrap(), 7);
}

/// `workflow-history serve`: binds what it is told (port 0: any free port),
/// says where, serves the API, takes the token from the environment.
#[test]
fn the_binary_serves_the_api() {
    let fx = Fixture::new();
    let served = Served::from_environment(&fx.db.path, TOKEN);
    let addr = served.addr;
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);
    // The line is printed once the socket is bound, so this should answer
    // at once; a bounded loop keeps a slow machine from failing it.
    let mut health = None;
    for _ in 0..50 {
        if let Ok(stream) = TcpStream::connect(addr) {
            drop(stream);
            health = Some(request(addr, "GET", "/healthz", &[]));
            break;
        }
        std::thread::yield_now();
    }
    let health = health.expect("the server accepts connections");
    assert_eq!(health.status, 200);
    assert_eq!(
        request(addr, "GET", "/history/runs?limit=1", &[]).json()["total"],
        7
    );
    let deleted = request(
        addr,
        "DELETE",
        "/history/runs/old?days=30",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    );
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.json()["runs_deleted"], 2);
    drop(served);
    assert_eq!(fx.run_count(), 5);
}

#[test]
fn serve_fails_clearly_on_a_missing_database() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(support::http::BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("missing.db"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8(output.stderr).unwrap();
    assert!(err.starts_with("error: no history database at"), "{err}");
}

#[test]
fn deep_pages_go_by_cursor_and_offsets_are_capped() {
    let fx = Fixture::new();
    let server = Server::start(&fx, false);
    // Walking the whole listing by `next` visits every run once, in order.
    let mut seen = Vec::new();
    let mut target = "/history/runs?limit=2".to_owned();
    loop {
        let page = server.get(&target).json();
        seen.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => target = format!("/history/runs?limit=2&after={}", enc(next)),
            None => break,
        }
    }
    assert_eq!(seen, fx.newest_first());
    // A request may not make the server walk the whole table.
    assert_eq!(server.get("/history/runs?offset=10000").status, 200);
    let detail = server
        .get("/history/runs?offset=10001")
        .assert_error(400, "bad_parameter");
    assert!(detail.contains("after"), "{detail}");
    server
        .get("/history/runs?after=yesterday")
        .assert_error(400, "bad_parameter");
    // An empty range is no error: it matches nothing.
    let empty = server.get("/history/runs?since=1h&until=2h").json();
    assert_eq!(empty["total"], 0);
}

#[test]
fn a_server_failure_says_nothing_of_the_database_and_logs_why() {
    let fx = Fixture::new();
    let served = Served::start(
        &["serve", "--addr", "127.0.0.1:0"],
        &[(
            "WORKFLOW_HISTORY_DATABASE_URL",
            &fx.db.path.display().to_string(),
        )],
    );
    // Another connection breaks the schema under the running server.
    rusqlite::Connection::open(&fx.db.path)
        .unwrap()
        .execute_batch("DROP TABLE workflow_step_runs")
        .unwrap();
    let failed = served.get(&format!("/history/runs/{}", fx.finra_failed));
    let detail = failed.assert_error(500, "internal");
    assert!(!detail.contains("workflow_step_runs"), "{detail}");
    assert!(
        !detail.contains(&fx.db.path.display().to_string()),
        "{detail}"
    );
    let log = served.stop();
    assert!(log.contains("no such table: workflow_step_runs"), "{log}");
}
