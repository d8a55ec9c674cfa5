//! A batch the database refuses for its data must not block history: the
//! writer keeps what the database accepts, record by record, drops and
//! counts the rest, and goes on.

mod support;

use tracing::info_span;
use workflow_history::{StepStatus, WorkflowStatus};

fn workflow(name: &str, run_id: &str) {
    info_span!("workflow", workflow = name, run_id).in_scope(|| {
        info_span!("step", step = "only").in_scope(|| tracing::info!("working"));
    });
}

/// Makes the database refuse runs of the workflow `poison`, as a
/// constraint would. The schema must exist (a layer was built).
fn refuse_poison(db: &support::TestDb) {
    if db.is_postgres() {
        db.sql_execute(
            "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN \
                 IF NEW.workflow_name = 'poison' THEN \
                 RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql",
            &[],
        );
        db.sql_execute(
            "CREATE TRIGGER refuse_poison BEFORE INSERT OR UPDATE ON workflow_runs \
                 FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
            &[],
        );
    } else {
        db.sql_execute(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON workflow_runs \
                 WHEN NEW.workflow_name = 'poison' BEGIN SELECT RAISE(ABORT, 'refused'); END",
            &[],
        );
    }
}

backends! {
    fn a_refused_run_is_dropped_and_counted_and_the_rest_is_kept(db) {
        let (dispatch, guard) = db.dispatch(db.builder());
        refuse_poison(db);
        tracing::dispatcher::with_default(&dispatch, || {
            workflow("fine", "before");
            workflow("poison", "poison");
            workflow("fine", "after");
        });
        guard.flush().expect("the batch is salvaged, not retried forever");
        let lost = guard.stats().records_lost;
        // The run is refused whole: itself, its step, its four status
        // changes and its log line.
        assert_eq!(lost, 7, "{:?}", guard.stats());
        tracing::dispatcher::with_default(&dispatch, || workflow("fine", "later"));
        guard.flush().expect("the writer goes on");
        assert_eq!(guard.stats().records_lost, lost, "nothing more was lost");
        // Shutting down reports the loss rather than hiding it.
        match guard.shutdown() {
            Err(workflow_history::Error::WriteFailed(why)) => {
                assert!(why.starts_with(&format!("{lost} records")), "{why}");
            }
            other => panic!("expected the loss reported: {other:?}"),
        }

        let store = db.store();
        assert!(store.get_run("poison").expect("get").is_none());
        assert!(store.get_steps("poison").expect("steps").is_empty(), "no orphan steps");
        assert!(store.get_events("poison").expect("events").is_empty(), "no orphan events");
        for run_id in ["before", "after", "later"] {
            let run = store.get_run(run_id).expect("get").expect("kept");
            assert_eq!(run.status, WorkflowStatus::Completed);
            let steps = store.get_steps(run_id).expect("steps");
            assert_eq!(steps.len(), 1);
            assert_eq!(steps[0].status, StepStatus::Completed);
        }
    }
}

backends! {
    fn a_retry_refused_once_is_never_written_over_its_first_attempt(db) {
        let (dispatch, guard) = db.dispatch(db.builder());
        refuse_poison(db);
        tracing::dispatcher::with_default(&dispatch, || workflow("fine", "nightly"));
        guard.flush().expect("first attempt");
        // The retry's claim is refused for its data while it runs...
        let retry = tracing::dispatcher::with_default(&dispatch, || {
            let retry = info_span!("workflow", workflow = "poison", run_id = "nightly");
            retry.in_scope(|| info_span!("step", step = "retried").in_scope(|| {}));
            retry
        });
        guard.flush().expect("the refused batch is salvaged");
        // A step of it that ends meanwhile is not written either: not as a
        // step of the first attempt, which has the same id.
        tracing::dispatcher::with_default(&dispatch, || {
            retry.in_scope(|| info_span!("step", step = "meanwhile").in_scope(|| {}));
        });
        guard.flush().expect("refused again, salvaged again");
        // ... then its data becomes acceptable: it is still a new attempt.
        retry.record("workflow", "renamed");
        drop(retry);
        guard.flush().expect("the retry, claimed");
        let store = db.store();
        let first = store.get_run("nightly").expect("get").expect("first attempt");
        assert_eq!((first.workflow_name.as_str(), first.attempt), ("fine", 1));
        let steps = store.get_steps("nightly").expect("steps");
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].step_name, "only", "the first attempt's step is intact");
        let second = store.get_run("nightly~2").expect("get").expect("second attempt");
        assert_eq!((second.workflow_name.as_str(), second.attempt), ("renamed", 2));
        drop(guard);
    }
}
