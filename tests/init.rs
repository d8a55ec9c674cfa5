//! `workflow_history::init()`: each case runs in a child process of its
//! own, since a global subscriber can be set once per process.

mod support;

use std::process::Output;

use support::TestDb;
use support::child::{self, SAY};
use workflow_history::{Error, StepStatus, WorkflowStatus};

const TEST: &str = "child";

/// What each child does, by role; the parent tests below read the result.
#[test]
fn child() {
    let Some(role) = child::child_role() else {
        return;
    };
    match role.as_str() {
        "record" => {
            let guard = workflow_history::init().expect("first init");
            ingest("T1").expect("ingest");
            match workflow_history::init() {
                Err(Error::GlobalSubscriberSet) => child::say("second init: refused"),
                Err(other) => child::say(format!("second init: {other}")),
                Ok(_) => child::say("second init: accepted"),
            }
            guard.shutdown().expect("clean shutdown");
        }
        "bad-filter" => match workflow_history::init() {
            Err(Error::InvalidLogFilter { value, .. }) => child::say(format!("refused {value}")),
            Err(other) => child::say(format!("other error: {other}")),
            Ok(_) => child::say("accepted"),
        },
        "already-set" => {
            tracing::subscriber::set_global_default(tracing_subscriber::registry())
                .expect("first subscriber");
            match workflow_history::init() {
                Err(Error::GlobalSubscriberSet) => child::say("refused"),
                Err(other) => child::say(format!("other error: {other}")),
                Ok(_) => child::say("accepted"),
            }
        }
        other => panic!("unknown role {other}"),
    }
}

#[workflow_history::workflow(name = "init.ingest", domain = "test")]
fn ingest(tier: &str) -> Result<(), std::io::Error> {
    fetch(tier)?;
    Ok(())
}

#[workflow_history::step]
fn fetch(tier: &str) -> Result<(), std::io::Error> {
    tracing::info!(tier, "console-visible line");
    tracing::debug!("below the console filter");
    Ok(())
}

/// Runs the child with `role` in `dir`, the database variable set to `url`
/// (or removed), and `RUST_LOG` as given; its stdout.
fn run_child(role: &str, dir: &std::path::Path, url: Option<&str>, rust_log: &str) -> Output {
    let mut command = child::child_command(TEST, role);
    command.current_dir(dir).env("RUST_LOG", rust_log);
    match url {
        Some(url) => command.env(workflow_history::DATABASE_URL_VAR, url),
        None => command.env_remove(workflow_history::DATABASE_URL_VAR),
    };
    let output = command.output().expect("run child");
    assert!(output.status.success(), "child failed: {output:?}");
    output
}

fn said(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        // libtest's "test child ... " may start the line.
        .filter_map(|line| line.find(SAY).map(|at| line[at + SAY.len()..].to_owned()))
        .collect()
}

/// The run `ingest` recorded, checked whole.
fn assert_recorded(db: &TestDb) {
    let run = db.only_run();
    assert_eq!(run.workflow_name, "init.ingest");
    assert_eq!(run.domain.as_deref(), Some("test"));
    assert_eq!(run.status, WorkflowStatus::Completed);
    assert_eq!(run.params["tier"], "T1");
    let steps = db.steps(&run.run_id);
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].step_name, "fetch");
    assert_eq!(steps[0].status, StepStatus::Completed);
    // The default capture level is INFO: the INFO line is kept, whatever
    // the console shows.
    let events = db.store().get_events(&run.run_id).expect("events");
    let has = |text: &str| events.iter().any(|e| e.message.as_deref() == Some(text));
    assert!(has("console-visible line"), "{events:#?}");
    assert!(!has("below the console filter"), "{events:#?}");
}

#[test]
fn init_records_to_history_db_in_the_working_directory() {
    let db = TestDb::new();
    let output = run_child("record", db.dir.path(), None, "info");
    assert_eq!(said(&output), ["second init: refused"]);
    // `TestDb::new` names `history.db` in its directory: the default path.
    assert_recorded(&db);
    let console = String::from_utf8_lossy(&output.stdout);
    assert!(console.contains("console-visible line"), "{console}");
    assert!(!console.contains("below the console filter"), "{console}");
}

backends! {
    fn init_records_to_the_url_in_the_variable(db) {
        let elsewhere = tempfile::tempdir().expect("temp dir");
        let output = run_child("record", elsewhere.path(), Some(&db.url), "info");
        assert_eq!(said(&output), ["second init: refused"]);
        assert_recorded(db);
        assert!(!elsewhere.path().join("history.db").exists());
    }
}

#[test]
fn the_console_filter_does_not_filter_the_history() {
    let db = TestDb::new();
    // The console shows warnings only; the history keeps the INFO line.
    let output = run_child("record", db.dir.path(), None, "warn");
    assert_recorded(&db);
    let console = String::from_utf8_lossy(&output.stdout);
    assert!(!console.contains("console-visible line"), "{console}");
}

#[test]
fn a_bad_rust_log_is_refused_before_anything_is_opened() {
    let db = TestDb::new();
    let output = run_child("bad-filter", db.dir.path(), None, "info,fetch=loudest");
    assert_eq!(said(&output), ["refused info,fetch=loudest"]);
    assert!(!db.path.exists(), "no database is created");
}

#[test]
fn init_with_a_subscriber_already_set_is_an_error_not_a_panic() {
    let db = TestDb::new();
    let output = run_child("already-set", db.dir.path(), None, "info");
    assert_eq!(said(&output), ["refused"]);
    assert!(!db.path.exists(), "no database is created");
}
