//! The `workflow-history` binary, run as a user would, on a database that
//! the real layer filled.

mod support;

#[path = "support/fill.rs"]
mod fill;

use std::path::Path;
use std::process::{Command, Output};

use fill::{BILLING, FINRA, Fixture, QUALITY_ERROR, UNICODE};
use serde_json::Value;
use workflow_history::HistoryStore;

const BIN: &str = env!("CARGO_BIN_EXE_workflow-history");

/// The binary with a clean environment: no database or token variables.
fn command() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("WORKFLOW_HISTORY_DATABASE_URL")
        .env_remove("WORKFLOW_HISTORY_ADMIN_TOKEN")
        .env_remove("NO_COLOR");
    cmd
}

fn run_on(db: &Path, args: &[&str]) -> Output {
    command()
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run the binary")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 stderr")
}

/// Runs a command that must succeed and returns its stdout.
#[track_caller]
fn ok(fx: &Fixture, args: &[&str]) -> String {
    let output = run_on(&fx.db.path, args);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        stderr(&output)
    );
    assert!(output.stderr.is_empty(), "{args:?}: {}", stderr(&output));
    let text = stdout(&output);
    assert!(!text.contains('\x1b'), "colour only on terminals: {text}");
    text
}

#[track_caller]
fn json(fx: &Fixture, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let text = ok(fx, &args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

/// Runs a command that must fail with `code` and one `error:` line.
#[track_caller]
fn fails(output: Output, code: i32) -> String {
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(code), "stderr: {err}");
    assert!(output.stdout.is_empty(), "{}", stdout(&output));
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn ids(page: &Value) -> Vec<String> {
    page["runs"]
        .as_array()
        .expect("runs array")
        .iter()
        .map(|r| r["run_id"].as_str().expect("run_id").to_owned())
        .collect()
}

#[test]
fn runs_lists_a_table_newest_first_with_short_ids_and_human_durations() {
    let fx = Fixture::new();
    let text = ok(&fx, &["runs"]);
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    for column in [
        "RUN ID",
        "WORKFLOW",
        "STATUS",
        "STARTED",
        "DURATION",
        "TRIGGERED BY",
        "ERROR",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let rows: Vec<&str> = lines.by_ref().take(7).collect();
    assert_eq!(text.lines().last(), Some("1-7 of 7 runs"));
    // The status column starts at the same place on every line.
    let at = header.find("STATUS").unwrap();
    for row in &rows {
        let status = &row[row
            .char_indices()
            .map(|(i, _)| i)
            .nth(header[..at].chars().count())
            .unwrap()..];
        assert!(
            ["COMPLETED", "FAILED", "CANCELLED"]
                .iter()
                .any(|s| status.starts_with(s)),
            "{row}"
        );
    }
    // Newest first, each row led by a short id that designates its run:
    // the random tail of its generated id.
    let newest = fx.newest_first();
    for (row, run_id) in rows.iter().zip(&newest) {
        let short = row.split_whitespace().next().unwrap();
        assert_eq!(short.len(), 8, "{short}");
        assert!(run_id.ends_with(short), "{short} {run_id}");
        let shown = json(&fx, &["show", short]);
        assert_eq!(shown["run"]["run_id"], run_id.as_str());
    }
    let finra_ok = rows
        .iter()
        .find(|r| fx.finra_ok.ends_with(r.split(' ').next().unwrap()))
        .unwrap();
    assert!(finra_ok.contains("1m 05s"), "{finra_ok}");
    assert!(finra_ok.contains("schedule"), "{finra_ok}");
    let failed = rows.iter().find(|r| r.contains("FAILED")).unwrap();
    assert!(failed.contains("quality check failed"), "{failed}");
}

#[test]
fn runs_json_has_the_documented_fields_and_pages() {
    let fx = Fixture::new();
    let page = json(&fx, &["runs"]);
    assert_eq!(page["total"], 7);
    assert_eq!(page["limit"], 50);
    assert_eq!(page["offset"], 0);
    assert_eq!(ids(&page), fx.newest_first());
    let run = page["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == fx.finra_failed.as_str())
        .unwrap();
    for field in [
        "run_id",
        "workflow_name",
        "domain",
        "partition_key",
        "status",
        "started_at",
        "completed_at",
        "duration_seconds",
        "params",
        "outputs",
        "metrics",
        "error",
        "error_category",
        "triggered_by",
        "created_at",
        "parent_run_id",
        "cancel_reason",
    ] {
        assert!(run.get(field).is_some(), "missing {field}: {run}");
    }
    assert_eq!(run["status"], "FAILED");
    assert_eq!(run["workflow_name"], FINRA);
    assert_eq!(run["metrics"]["total_records"], 1000);
    assert_eq!(run["params"]["tier"], "T1");

    let second = json(&fx, &["runs", "--limit", "2", "--offset", "2"]);
    assert_eq!(ids(&second), fx.newest_first()[2..4]);
    assert_eq!(second["total"], 7);
    let text = ok(&fx, &["runs", "--limit", "2", "--offset", "2"]);
    let next = second["next"]
        .as_str()
        .expect("a full page has a next cursor");
    assert!(
        text.ends_with(&format!("3-4 of 7 runs; next page: --after {next}\n")),
        "{text}"
    );
    // The cursor walks on from there, whatever the depth.
    let third = json(&fx, &["runs", "--limit", "2", "--after", next]);
    assert_eq!(ids(&third), fx.newest_first()[4..6]);
    let text = ok(&fx, &["runs", "--limit", "2", "--after", next]);
    assert!(
        text.contains("2 more of 7 runs; next page: --after "),
        "{text}"
    );
    let last = json(&fx, &["runs", "--limit", "5", "--offset", "5"]);
    assert_eq!(last["next"], Value::Null, "a short page is the last");
    let past = json(&fx, &["runs", "--offset", "100"]);
    assert_eq!(ids(&past), Vec::<String>::new());
    assert_eq!(past["total"], 7);
}

#[test]
fn runs_filters_by_workflow_domain_partition_status_and_time() {
    let fx = Fixture::new();
    let select = |args: &[&str]| {
        let mut args = args.to_vec();
        args.insert(0, "runs");
        let mut got = ids(&json(&fx, &args));
        got.sort();
        got
    };
    let sorted = |ids: &[&String]| {
        let mut ids: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(
        select(&["--workflow", FINRA, "--status", "failed"]),
        sorted(&[&fx.finra_failed])
    );
    assert_eq!(
        select(&["--domain", "billing"]),
        sorted(&[&fx.billing_ok, &fx.billing_cancelled, &fx.billing_old])
    );
    assert_eq!(
        select(&["--partition", "2025-02"]),
        sorted(&[&fx.billing_cancelled])
    );
    assert_eq!(select(&["--workflow", UNICODE]), sorted(&[&fx.unicode]));
    assert_eq!(
        select(&["--status", "CANCELLED"]),
        sorted(&[&fx.billing_cancelled])
    );
    // Relative times: the aged runs are 40 and 100 days old.
    assert_eq!(select(&["--since", "7d"]).len(), 5);
    assert_eq!(select(&["--since", "50d"]).len(), 6);
    assert_eq!(
        select(&["--until", "30d"]),
        sorted(&[&fx.billing_old, &fx.finra_old])
    );
    assert_eq!(
        select(&["--since", "1000d", "--until", "60d", "--workflow", FINRA]),
        sorted(&[&fx.finra_old])
    );
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(select(&["--since", &tomorrow]), Vec::<String>::new());
    assert_eq!(select(&["--since", "2000-01-01T00:00:00Z"]).len(), 7);
    // SQL in a filter is a value like any other: nothing matches, nothing changes.
    assert_eq!(
        select(&["--workflow", "x'; DROP TABLE workflow_runs; --"]),
        Vec::<String>::new()
    );
    assert_eq!(select(&["--domain", "' OR '1'='1"]), Vec::<String>::new());
    assert_eq!(fx.run_count(), 7);
}

#[test]
fn show_prints_the_run_its_steps_with_timeline_and_its_log() {
    let fx = Fixture::new();
    let text = ok(&fx, &["show", &fx.finra_failed]);
    assert!(
        text.starts_with(&format!("run {}\n", fx.finra_failed)),
        "{text}"
    );
    for expected in [
        FINRA,
        "FAILED",
        "2025-01-17|T1",
        "schedule",
        QUALITY_ERROR,
        "tier",
        "total_records = 1000",
        "TIMELINE",
        "rows without a symbol dropped",
        "RUNNING -> FAILED",
    ] {
        assert!(text.contains(expected), "missing {expected:?}:\n{text}");
    }
    let steps: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "steps")
        .skip(2)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(steps.len(), 3, "{text}");
    for (line, (order, name)) in
        steps
            .iter()
            .zip([(1, "fetch_data"), (2, "transform"), (3, "quality_check")])
    {
        let mut words = line.split_whitespace();
        assert_eq!(words.next(), Some(order.to_string().as_str()), "{line}");
        assert_eq!(words.next(), Some(name), "{line}");
        assert!(line.contains('█'), "a timeline bar: {line}");
    }
    assert!(
        steps[2].contains("FAILED") && steps[2].contains("fail"),
        "{}",
        steps[2]
    );
    assert!(steps[2].contains("quality check failed"), "{}", steps[2]);

    let shown = json(&fx, &["show", &fx.finra_failed]);
    assert_eq!(shown["run"]["status"], "FAILED");
    assert_eq!(
        shown["run"]["error"],
        format!("step 'quality_check' failed: {QUALITY_ERROR}")
    );
    let steps = shown["steps"].as_array().unwrap();
    let names: Vec<&str> = steps
        .iter()
        .map(|s| s["step_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fetch_data", "transform", "quality_check"]);
    assert_eq!(steps[2]["status"], "FAILED");
    assert_eq!(steps[2]["error"], QUALITY_ERROR);
    assert_eq!(steps[2]["quality_passed"], false);
    assert_eq!(steps[0]["records_processed"], 1000);
    assert!(steps[0]["duration_seconds"].is_number());
    let events = shown["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["kind"] == "status_changed"));
    assert!(events.iter().any(|e| e["level"] == "WARN"));

    let skipped = ok(&fx, &["show", &fx.billing_ok]);
    assert!(
        skipped.contains("SKIPPED") && skipped.contains("nobody subscribed"),
        "{skipped}"
    );
    let cancelled = ok(&fx, &["show", &fx.billing_cancelled]);
    assert!(cancelled.contains("CANCELLED") && cancelled.contains("operator request"));
    let stretched = ok(&fx, &["show", &fx.finra_ok]);
    assert!(stretched.contains("1m 05s"), "{stretched}");
}

#[test]
fn logs_filters_by_step_and_level() {
    let fx = Fixture::new();
    let all = json(&fx, &["logs", &fx.finra_failed]);
    assert_eq!(all["run_id"], fx.finra_failed.as_str());
    let all = all["events"].as_array().unwrap().clone();
    assert!(all.len() > 5);

    let quality_step_id = format!("{}-3", fx.finra_failed);
    let in_step = json(&fx, &["logs", &fx.finra_failed, "--step", "quality_check"]);
    let in_step = in_step["events"].as_array().unwrap();
    assert!(!in_step.is_empty());
    assert!(
        in_step
            .iter()
            .all(|e| e["step_id"] == quality_step_id.as_str())
    );
    assert!(in_step.len() < all.len());

    let errors = json(&fx, &["logs", &fx.finra_failed, "--level", "error"]);
    let errors = errors["events"].as_array().unwrap();
    assert!(!errors.is_empty());
    assert!(errors.iter().all(|e| e["level"] == "ERROR"), "{errors:?}");
    let warnings = json(&fx, &["logs", &fx.finra_failed, "--level", "WARN"]);
    let levels: Vec<&str> = warnings["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["level"].as_str().unwrap())
        .collect();
    assert!(
        levels.contains(&"WARN") && levels.contains(&"ERROR"),
        "{levels:?}"
    );
    assert!(levels.iter().all(|l| *l == "WARN" || *l == "ERROR"));

    let text = ok(
        &fx,
        &[
            "logs",
            &fx.finra_failed,
            "--step",
            "transform",
            "--level",
            "warn",
        ],
    );
    assert!(text.contains("rows without a symbol dropped"), "{text}");
    assert!(!text.contains("quality check failed"), "{text}");

    let none = ok(&fx, &["logs", &fx.finra_failed, "--step", "no_such_step"]);
    assert!(
        none.contains("has no step named \"no_such_step\""),
        "{none}"
    );
    assert!(
        none.contains("fetch_data, transform, quality_check"),
        "{none}"
    );
}

#[test]
fn stats_overall_and_by_workflow() {
    let fx = Fixture::new();
    let stats = json(&fx, &["stats"]);
    assert_eq!(stats["total_runs"], 7);
    assert_eq!(stats["completed"], 5);
    assert_eq!(stats["failed"], 1);
    assert_eq!(stats["cancelled"], 1);
    assert_eq!(stats["running"], 0);
    let rate = stats["success_rate"].as_f64().unwrap();
    assert!((rate - 5.0 / 7.0).abs() < 1e-9, "{rate}");
    assert!(stats["max_duration_seconds"].as_f64().unwrap() >= 65.0);
    assert!(stats.get("by_workflow").is_none());

    let by = json(&fx, &["stats", "--by", "workflow", "--since", "7d"]);
    assert_eq!(by["total_runs"], 5);
    let workflows = by["by_workflow"].as_array().unwrap();
    let names: Vec<&str> = workflows
        .iter()
        .map(|w| w["workflow_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [BILLING, FINRA, UNICODE]);
    assert_eq!(workflows[1]["total_runs"], 2);
    assert_eq!(workflows[1]["failed"], 1);
    assert_eq!(workflows[1]["success_rate"], 0.5);
    // Across workflows the percentiles come from the rollup's sketch.
    let p95 = workflows[1]["p95_duration_seconds"].as_f64().unwrap();
    assert!(
        (p95 - 65.0).abs() <= 65.0 * HistoryStore::PERCENTILE_ERROR,
        "{p95}"
    );

    let failed_only = json(&fx, &["stats", "--status", "failed"]);
    assert_eq!(failed_only["total_runs"], 1);

    let text = ok(&fx, &["stats", "--by", "workflow"]);
    assert!(text.contains("success rate  71.4%"), "{text}");
    assert!(
        text.contains("duration p95  1m 05s") || text.contains("duration p95  1m 04s"),
        "{text}"
    );
    let finra_line = text.lines().find(|l| l.starts_with(FINRA)).unwrap();
    assert_eq!(
        finra_line.split_whitespace().take(4).collect::<Vec<_>>(),
        [FINRA, "3", "1", "66.7%"]
    );
}

#[test]
fn prune_dry_run_counts_and_prune_deletes_what_it_prints() {
    let fx = Fixture::new();
    let dry = json(&fx, &["prune", "--older-than", "90d", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["runs_deleted"], 1);
    assert_eq!(dry["by_workflow"][0]["workflow_name"], FINRA);
    assert_eq!(fx.run_count(), 7, "a dry run deletes nothing");
    let text = ok(&fx, &["prune", "--older-than", "30d", "--dry-run"]);
    assert!(
        text.starts_with("would delete 2 runs started before "),
        "{text}"
    );

    let text = ok(&fx, &["prune", "--older-than", "30d"]);
    assert!(text.starts_with("deleted 2 runs started before "), "{text}");
    assert!(text.contains(BILLING) && text.contains(FINRA), "{text}");
    assert_eq!(fx.run_count(), 5);
    let err = fails(run_on(&fx.db.path, &["show", &fx.finra_old]), 1);
    assert!(err.contains("no run with id"), "{err}");
    assert!(
        fx.db.store().get_events(&fx.finra_old).unwrap().is_empty(),
        "events go with their run"
    );
    let again = json(&fx, &["prune", "--older-than", "30d"]);
    assert_eq!(again["runs_deleted"], 0);
}

#[test]
fn errors_are_one_line_with_a_non_zero_exit() {
    let fx = Fixture::new();
    let db = &fx.db.path;

    let err = fails(run_on(db, &["show", "no-such-run"]), 1);
    assert_eq!(err, "error: no run with id \"no-such-run\"\n");
    let err = fails(run_on(db, &["logs", "ffffffff"]), 1);
    assert!(err.contains("no run with id"), "{err}");
    // Every run id here is a UUIDv7 from the same minute: four characters
    // designate them all.
    let err = fails(run_on(db, &["show", &fx.finra_ok[..4]]), 1);
    assert!(err.contains("is ambiguous"), "{err}");

    let err = fails(run_on(db, &["runs", "--status", "done"]), 2);
    assert!(
        err.starts_with("error: --status: unknown status \"done\""),
        "{err}"
    );
    let err = fails(run_on(db, &["runs", "--since", "last tuesday"]), 2);
    assert!(err.starts_with("error: --since: cannot read"), "{err}");
    let err = fails(run_on(db, &["stats", "--until", "2025-02-30"]), 2);
    assert!(err.starts_with("error: --until: "), "{err}");
    let err = fails(run_on(db, &["runs", "--limit", "-5"]), 2);
    assert!(err.starts_with("error: --limit: "), "{err}");
    let err = fails(run_on(db, &["runs", "--limit", "99999999999"]), 2);
    assert!(err.starts_with("error: --limit: "), "{err}");
    let err = fails(run_on(db, &["runs", "--offset", "-1"]), 2);
    assert!(err.starts_with("error: --offset: "), "{err}");
    let err = fails(run_on(db, &["logs", &fx.finra_ok, "--level", "loud"]), 2);
    assert!(err.starts_with("error: --level: unknown level"), "{err}");
    let err = fails(run_on(db, &["stats", "--by", "domain"]), 2);
    assert!(err.starts_with("error: --by: "), "{err}");
    let err = fails(run_on(db, &["prune", "--older-than", "0d"]), 2);
    assert!(err.starts_with("error: --older-than: "), "{err}");
    let err = fails(run_on(db, &["prune", "--older-than", "-5d"]), 2);
    assert!(err.starts_with("error: --older-than: "), "{err}");
    let huge = "x".repeat(100_000);
    let err = fails(run_on(db, &["runs", "--status", &huge]), 2);
    assert!(err.len() < 300, "long values are cut: {} bytes", err.len());
    assert_eq!(fx.run_count(), 7, "no failed command changed anything");

    let missing = fx.db.dir.path().join("missing.db");
    for args in [
        &["runs"][..],
        &["stats"],
        &["show", "x"],
        &["prune", "--older-than", "1d"],
    ] {
        let err = fails(run_on(&missing, args), 1);
        assert!(err.contains("no history database at"), "{err}");
        assert!(err.contains("--db"), "a hint: {err}");
    }
    assert!(!missing.exists(), "reading never creates a database");

    let not_db = fx.db.dir.path().join("notes.txt");
    std::fs::write(&not_db, "not a database, just text that is long enough").unwrap();
    let err = fails(run_on(&not_db, &["runs"]), 1);
    assert!(err.contains("is not an SQLite database"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&not_db).unwrap(),
        "not a database, just text that is long enough"
    );

    // clap's own usage errors: exit 2, no panic.
    let output = run_on(db, &["runs", "--no-such-flag"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(!stderr(&output).contains("panicked"));
}

#[test]
fn the_database_comes_from_the_variable_when_no_flag_is_given() {
    let fx = Fixture::new();
    let from_url = command()
        .args(["runs", "--json"])
        .env(
            "WORKFLOW_HISTORY_DATABASE_URL",
            format!("sqlite://{}", fx.db.path.display()),
        )
        .output()
        .unwrap();
    assert!(from_url.status.success(), "{}", stderr(&from_url));
    let page: Value = serde_json::from_slice(&from_url.stdout).unwrap();
    assert_eq!(page["total"], 7);

    // Without flag or variable: ./history.db in the working directory.
    let output = command()
        .arg("runs")
        .current_dir(fx.db.dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).ends_with("1-7 of 7 runs\n"));

    // A PostgreSQL URL: with the feature, a server that refuses is a clear
    // failure; without it, the build says it cannot use such URLs.
    let output = command()
        .arg("runs")
        .env(
            "WORKFLOW_HISTORY_DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/history",
        )
        .output()
        .unwrap();
    if cfg!(feature = "postgres") {
        let err = fails(output, 1);
        assert!(
            err.contains("cannot connect to the history database postgres://"),
            "{err}"
        );
    } else {
        let err = fails(output, 2);
        assert!(err.contains("no PostgreSQL support"), "{err}");
    }
}

#[test]
fn help_lists_every_command() {
    let output = command().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = stdout(&output);
    for command in ["runs", "show", "logs", "stats", "prune", "serve", "--db"] {
        assert!(help.contains(command), "{command} in {help}");
    }
}

/// Colour appears only on a terminal: run under `script`, which gives the
/// binary a pseudo-terminal as stdout.
#[test]
fn status_is_coloured_only_on_a_terminal() {
    let fx = Fixture::new();
    if !Path::new("/usr/bin/script").exists() {
        return support::skip("no /usr/bin/script (util-linux) to provide a terminal");
    }
    let on_terminal = |no_color: bool| {
        let shell = format!("'{BIN}' --db '{}' runs", fx.db.path.display());
        let mut cmd = Command::new("/usr/bin/script");
        cmd.args(["-qec", &shell, "/dev/null"])
            .env_remove("WORKFLOW_HISTORY_DATABASE_URL")
            .env_remove("NO_COLOR")
            .env("TERM", "xterm");
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        let output = cmd.output().expect("run under script");
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    };
    let coloured = on_terminal(false);
    assert!(
        coloured.contains("\x1b[32mCOMPLETED\x1b[0m"),
        "{coloured:?}"
    );
    assert!(coloured.contains("\x1b[31mFAILED\x1b[0m"), "{coloured:?}");
    let plain = on_terminal(true);
    assert!(
        plain.contains("COMPLETED") && !plain.contains('\x1b'),
        "{plain:?}"
    );
}

/// A copy of the binary in `dir`, which the user `nobody` can execute.
fn binary_for_nobody(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("workflow-history");
    std::fs::copy(BIN, &bin).expect("copy the binary");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    bin
}

/// Runs `bin` as the unprivileged user `nobody` on `db`; why not, when this
/// process cannot switch users (it is not root, or has no `runuser`).
fn run_as_nobody(bin: &Path, db: &Path, args: &[&str]) -> Result<Output, String> {
    let run = || {
        Command::new("runuser")
            .args(["-u", "nobody", "--"])
            .arg(bin)
            .arg("--db")
            .arg(db)
            .args(args)
            .env_remove("WORKFLOW_HISTORY_DATABASE_URL")
            .output()
    };
    // Another test thread forking meanwhile may hold the fresh copy open
    // for a moment ("text file busy"): try again.
    let mut output = run();
    for _ in 0..20 {
        match &output {
            Ok(out) if stderr(out).contains("Text file busy") => {}
            _ => break,
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        output = run();
    }
    let output = output.map_err(|e| format!("cannot run runuser: {e}"))?;
    if stderr(&output).contains("runuser:") {
        return Err(format!("runuser refused: {}", stderr(&output)));
    }
    Ok(output)
}

/// A history in a directory `nobody` may read but not write, holding a run
/// whose writer recorded its stop without closing it.
fn readable_only_history() -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let (_, guard) = workflow_history::HistoryLayer::builder()
        .sqlite(&db)
        .build()
        .unwrap();
    drop(guard);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "INSERT INTO history_writers (writer_id, host, pid, started_at, heartbeat_at, stopped_at) \
         VALUES ('gone', 'h', 1, '2025-01-10T08:00:00.000000Z', '2025-01-10T08:00:00.000000Z', \
                 '2025-01-10T08:00:00.000000Z'); \
         INSERT INTO workflow_runs (run_id, workflow_name, status, started_at, created_at, writer_id) \
         VALUES ('orphan', 'nightly', 'RUNNING', '2025-01-10T07:00:00.000000Z', \
                 '2025-01-10T07:00:00.000000Z', 'gone');",
    )
    .unwrap();
    drop(conn);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    (dir, db)
}

#[test]
fn a_file_the_user_may_only_read_is_read_and_recovery_is_skipped_with_a_note() {
    let (dir, db) = readable_only_history();
    let bin = binary_for_nobody(dir.path());
    let output = match run_as_nobody(&bin, &db, &["runs"]) {
        Ok(output) => output,
        Err(why) => return support::skip(format!("running as another user: {why}")),
    };
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    assert!(
        table.contains("orphan") && table.contains("RUNNING"),
        "{table}"
    );
    let said = stderr(&output);
    let notes: Vec<&str> = said.lines().collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("note: ") && notes[0].contains("1 run"),
        "{notes:?}"
    );
    // Nothing was written: the run is as the dead writer left it.
    let status: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT status FROM workflow_runs WHERE run_id = 'orphan'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "RUNNING");
    for args in [
        &["show", "orphan"][..],
        &["logs", "orphan"],
        &["stats", "--json"],
    ] {
        let output = run_as_nobody(&bin, &db, args).expect("as before");
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    }
    // Deleting needs to write: a clear error, nothing else.
    let prune = run_as_nobody(&bin, &db, &["prune", "--older-than", "1d"]).expect("as before");
    let err = fails(prune, 1);
    assert!(err.contains("read-only"), "{err}");
}

#[test]
fn recorded_text_cannot_write_to_the_terminal() {
    let db = support::TestDb::new();
    // Escape sequences that would clear the screen, retitle the terminal or
    // reverse the text that follows, in every kind of recorded text.
    const HOSTILE: &str = "\x1b[2J\x1b]0;pwned\x07\u{202e}evil\r\x08";
    db.record(|| {
        tracing::info_span!(
            "workflow",
            workflow = HOSTILE,
            run_id = "hostile",
            note = HOSTILE
        )
        .in_scope(|| {
            tracing::info_span!("step", step = HOSTILE).in_scope(|| {
                tracing::info!(detail = HOSTILE, "{HOSTILE}");
                workflow_history::fail_with_category(HOSTILE, HOSTILE);
            });
        });
    });
    for args in [
        &["runs"][..],
        &["show", "hostile"],
        &["logs", "hostile"],
        &["stats", "--by", "workflow"],
    ] {
        let output = run_on(&db.path, args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        let text = stdout(&output);
        let raw: Vec<char> = text
            .chars()
            .filter(|c| (c.is_control() && *c != '\n') || *c == '\u{202e}')
            .collect();
        assert!(raw.is_empty(), "{args:?} printed raw {raw:?}:\n{text}");
    }
    // Escaped, not dropped: the user still sees what was recorded.
    let shown = stdout(&run_on(&db.path, &["show", "hostile"]));
    assert!(shown.contains(r"\u{1b}[2J"), "{shown}");
}
