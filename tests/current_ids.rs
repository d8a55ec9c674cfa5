//! `current_run_id()` and `current_step_id()`: the ids the code inside a
//! run sees are the ids its records are stored under.

mod support;

use std::sync::Mutex;

use support::TestDb;
use tracing::Instrument;
use workflow_history::{current_run_id, current_step_id, step, workflow};

/// What the code saw, as (where, run id, step id).
type Seen = Mutex<Vec<(&'static str, Option<String>, Option<String>)>>;

fn note(seen: &Seen, at: &'static str) {
    seen.lock()
        .expect("lock")
        .push((at, current_run_id(), current_step_id()));
}

#[workflow(name = "outer", skip(seen))]
fn outer(seen: &Seen) {
    note(seen, "outer");
    fetch(seen);
    note(seen, "outer after fetch");
}

#[step(skip(seen))]
fn fetch(seen: &Seen) {
    note(seen, "fetch");
    parse(seen);
    sub(seen);
}

#[step(skip(seen))]
fn parse(seen: &Seen) {
    note(seen, "parse");
}

#[workflow(name = "sub", skip(seen))]
fn sub(seen: &Seen) {
    note(seen, "sub");
    sub_step(seen);
}

#[step(skip(seen))]
fn sub_step(seen: &Seen) {
    note(seen, "sub_step");
}

backends! {
    fn ids_inside_nested_steps_and_sub_workflows_are_the_stored_ids(db) {
        let seen = Seen::default();
        note(&seen, "before");
        db.record(|| outer(&seen));
        note(&seen, "after");
        let seen = seen.into_inner().expect("lock");
        let at = |name: &str| {
            seen.iter()
                .find(|(at, _, _)| *at == name)
                .map(|(_, run, step)| (run.clone(), step.clone()))
                .expect(name)
        };
        assert_eq!(at("before"), (None, None));
        assert_eq!(at("after"), (None, None));

        let runs = db.runs();
        let outer_run = runs.iter().find(|r| r.workflow_name == "outer").expect("outer");
        let sub_run = runs.iter().find(|r| r.workflow_name == "sub").expect("sub");
        assert_eq!(sub_run.parent_run_id.as_deref(), Some(outer_run.run_id.as_str()));
        let step_id = |run: &str, name: &str| {
            db.steps(run)
                .into_iter()
                .find(|s| s.step_name == name)
                .map(|s| s.step_id)
                .expect(name)
        };
        let outer_id = Some(outer_run.run_id.clone());
        let sub_id = Some(sub_run.run_id.clone());
        assert_eq!(at("outer"), (outer_id.clone(), None), "directly inside the run");
        assert_eq!(at("fetch"), (outer_id.clone(), Some(step_id(&outer_run.run_id, "fetch"))));
        assert_eq!(at("parse"), (outer_id.clone(), Some(step_id(&outer_run.run_id, "parse"))));
        assert_eq!(at("outer after fetch"), (outer_id, None));
        // Inside a sub-workflow, the sub-workflow is the run.
        assert_eq!(at("sub"), (sub_id.clone(), None));
        assert_eq!(at("sub_step"), (sub_id, Some(step_id(&sub_run.run_id, "sub_step"))));
    }

    fn ids_follow_async_tasks_across_threads(db) {
        let runtime = support::runtime(2);
        let (dispatch, guard) = db.dispatch(db.builder());
        let seen: Vec<(Option<String>, Option<String>)> = runtime.block_on(
            async {
                let mut tasks = Vec::new();
                for i in 0..8 {
                    let span = tracing::info_span!("workflow", workflow = "tasks", run_id = format!("task-{i}"));
                    tasks.push(tokio::spawn(
                        async move {
                            tokio::task::yield_now().await;
                            let step = tracing::info_span!("step", step = "work");
                            async {
                                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                                (current_run_id(), current_step_id())
                            }
                            .instrument(step)
                            .await
                        }
                        .instrument(span)
                        .with_current_subscriber(),
                    ));
                }
                let mut seen = Vec::new();
                for task in tasks {
                    seen.push(task.await.expect("task"));
                }
                seen
            }
            .with_subscriber(dispatch),
        );
        guard.shutdown().expect("shutdown");
        for (i, (run, step)) in seen.into_iter().enumerate() {
            let id = format!("task-{i}");
            assert_eq!(run.as_deref(), Some(id.as_str()));
            let stored = db.steps(&id);
            assert_eq!(step, Some(stored[0].step_id.clone()));
        }
    }

    fn generated_ids_are_the_same_in_two_layers(db) {
        use tracing_subscriber::prelude::*;
        let other = TestDb::new();
        let (first, first_guard) = db.builder().build().expect("first");
        let (second, second_guard) = other.builder().build().expect("second");
        let subscriber = tracing_subscriber::registry().with(first).with(second);
        let seen = Seen::default();
        tracing::subscriber::with_default(subscriber, || outer(&seen));
        first_guard.shutdown().expect("first stops");
        second_guard.shutdown().expect("second stops");
        let ids = |db: &TestDb| {
            let mut ids: Vec<String> = db.runs().into_iter().map(|r| r.run_id).collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(db), ids(&other));
        let outer_id = seen.into_inner().expect("lock")[0].1.clone().expect("inside a run");
        let steps = |db: &TestDb| {
            db.steps(&outer_id)
                .into_iter()
                .map(|s| (s.step_id, s.step_name, s.parent_step_id))
                .collect::<Vec<_>>()
        };
        assert_eq!(steps(db).len(), 2);
        assert_eq!(steps(db), steps(&other));
    }
}

use tracing::instrument::WithSubscriber;
