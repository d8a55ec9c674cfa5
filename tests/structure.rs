//! A property over the shape of what is recorded: random trees of runs,
//! steps and sub-workflows, nested up to three deep, each ending in one of
//! the outcomes (nothing, skip, cancel, an error event, an `error` field, a
//! panic), with convention fields (`records_processed`, a metric), recorded
//! by writers with random batch sizes and flushes in the middle of spans,
//! so a span's start and close land in different batches. What the store
//! reads back is compared with a model of the README's status rules,
//! written here apart from the library's own code.
//!
//! Runs on both databases (see `backends!`).

mod support;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use support::TestDb;
use tracing::field;
use workflow_history::{
    EventKind, HistoryGuard, RunFilter, StepStatus, WorkflowRun, WorkflowStatus,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Nothing,
    Skip,
    Cancel,
    ErrorEvent,
    ErrorField,
    Panic,
}

#[derive(Debug, Clone)]
struct Node {
    run: bool,
    name: &'static str,
    action: Action,
    records: Option<u64>,
    metric: Option<i64>,
    /// Commit what is pending before the span closes.
    flush_before_close: bool,
    children: Vec<Node>,
}

fn node(run: bool) -> impl Strategy<Value = Node> {
    (
        prop::sample::select(vec!["fetch", "transform", "load", "check"]),
        prop_oneof![
            4 => Just(Action::Nothing),
            1 => Just(Action::Skip),
            1 => Just(Action::Cancel),
            1 => Just(Action::ErrorEvent),
            1 => Just(Action::ErrorField),
            1 => Just(Action::Panic),
        ],
        prop::option::of(0u64..1_000_000),
        prop::option::weighted(0.3, -50i64..50),
        prop::bool::weighted(0.25),
    )
        .prop_map(move |(name, action, records, metric, flush)| Node {
            run,
            name: if run { "sub" } else { name },
            // A run has no skip of its own.
            action: if run && action == Action::Skip {
                Action::Nothing
            } else {
                action
            },
            records,
            metric,
            flush_before_close: flush,
            children: Vec::new(),
        })
}

/// A run whose children are steps or sub-workflows, down to three levels.
fn tree() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![4 => node(false), 1 => node(true)];
    let inner = leaf.prop_recursive(3, 12, 3, |inner| {
        (
            prop_oneof![4 => node(false), 1 => node(true)],
            prop::collection::vec(inner, 0..3),
        )
            .prop_map(|(mut parent, children)| {
                parent.children = children;
                parent
            })
    });
    (node(true), prop::collection::vec(inner, 1..4)).prop_map(|(mut root, children)| {
        root.name = "root";
        root.children = children;
        root
    })
}

/// Numbers the nodes in the order they start, for unique run ids and
/// messages.
fn message(kind: &str, id: usize) -> String {
    format!("{kind}-{id}")
}

// ---------------------------------------------------------------------------
// Recording a tree
// ---------------------------------------------------------------------------

fn record(node: &Node, case: u64, next: &mut usize, guard: &HistoryGuard) {
    let id = *next;
    *next += 1;
    let span = if node.run {
        tracing::info_span!(
            "workflow",
            workflow = node.name,
            run_id = %format!("c{case}-{id}"),
            error = field::Empty
        )
    } else {
        tracing::info_span!("step", step = node.name, error = field::Empty)
    };
    span.in_scope(|| {
        for child in &node.children {
            record(child, case, next, guard);
        }
        if let Some(n) = node.records {
            workflow_history::records_processed(n);
        }
        if let Some(m) = node.metric {
            workflow_history::metric!(rows = m);
        }
        match node.action {
            Action::Nothing => {}
            Action::Skip => workflow_history::skip(message("skip", id)),
            Action::Cancel => workflow_history::cancel(message("cancel", id)),
            Action::ErrorEvent => tracing::error!(error = %message("event", id)),
            Action::ErrorField => {
                tracing::Span::current().record("error", message("field", id));
            }
            Action::Panic => std::panic::panic_any(message("panic", id)),
        }
        if node.flush_before_close {
            guard.flush().expect("flush inside a span");
        }
    });
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
struct RunModel {
    parent_run: Option<String>,
    next_order: u32,
    cancel: Option<String>,
    error: Option<String>,
    panic: Option<String>,
    /// The first step that closed FAILED: its name and error.
    failed_step: Option<(&'static str, String)>,
    metric: Option<i64>,
    records: Option<u64>,
    status: Option<WorkflowStatus>,
    /// The text the run's error must contain.
    error_has: Option<String>,
    steps: BTreeMap<u32, StepModel>,
}

#[derive(Debug, Default)]
struct StepModel {
    name: &'static str,
    parent: Option<u32>,
    skip: Option<String>,
    error: Option<String>,
    records: Option<u64>,
    status: Option<StepStatus>,
}

#[derive(Default)]
struct Model {
    runs: BTreeMap<String, RunModel>,
}

impl Model {
    /// Follows the README's rules for `node`, inside `run` and `step`;
    /// returns the message of a panic unwinding out of it.
    fn visit(
        &mut self,
        node: &Node,
        case: u64,
        next: &mut usize,
        run: Option<&str>,
        step: Option<u32>,
    ) -> Option<String> {
        let id = *next;
        *next += 1;
        let (run_id, my_step) = if node.run {
            let run_id = format!("c{case}-{id}");
            self.runs.insert(
                run_id.clone(),
                RunModel {
                    parent_run: run.map(str::to_owned),
                    ..RunModel::default()
                },
            );
            (run_id, None)
        } else {
            let run_id = run.expect("steps are inside runs").to_owned();
            let open = self.runs.get_mut(&run_id).expect("open run");
            open.next_order += 1;
            let order = open.next_order;
            open.steps.insert(
                order,
                StepModel {
                    name: node.name,
                    parent: step,
                    ..StepModel::default()
                },
            );
            (run_id, Some(order))
        };
        let inner_step = if node.run { None } else { my_step };
        let mut panic = None;
        for child in &node.children {
            panic = self.visit(child, case, next, Some(&run_id), inner_step);
            if panic.is_some() {
                break;
            }
        }
        if panic.is_none() {
            let open = self.runs.get_mut(&run_id).expect("open run");
            if let Some(n) = node.records {
                match my_step {
                    Some(order) => open.steps.get_mut(&order).expect("step").records = Some(n),
                    None => open.records = Some(n),
                }
            }
            if let Some(m) = node.metric {
                open.metric = Some(m);
            }
            let error = match node.action {
                Action::ErrorEvent => Some(message("event", id)),
                Action::ErrorField => Some(message("field", id)),
                _ => None,
            };
            match (node.action, my_step) {
                (Action::Skip, Some(order)) => {
                    open.steps.get_mut(&order).expect("step").skip = Some(message("skip", id));
                }
                (Action::Cancel, _) => open.cancel = Some(message("cancel", id)),
                (Action::Panic, _) => panic = Some(message("panic", id)),
                _ => {}
            }
            if let Some(error) = error {
                match my_step {
                    Some(order) => open.steps.get_mut(&order).expect("step").error = Some(error),
                    None => open.error = Some(error),
                }
            }
        }
        let open = self.runs.get_mut(&run_id).expect("open run");
        match my_step {
            Some(order) => {
                let step = open.steps.get_mut(&order).expect("step");
                let why = step.error.clone().or_else(|| panic.clone());
                step.status = Some(if step.skip.is_some() {
                    StepStatus::Skipped
                } else if why.is_some() {
                    StepStatus::Failed
                } else {
                    StepStatus::Completed
                });
                if step.status == Some(StepStatus::Failed) && open.failed_step.is_none() {
                    open.failed_step = Some((step.name, why.unwrap_or_default()));
                }
            }
            None => {
                open.panic = panic.clone();
                let failed = open
                    .failed_step
                    .as_ref()
                    .map(|(name, why)| format!("step '{name}' failed: {why}"));
                // A cancelled run keeps only an error of its own.
                open.error_has = if open.cancel.is_some() {
                    open.error.clone()
                } else {
                    open.error.clone().or(failed).or_else(|| panic.clone())
                };
                open.status = Some(if open.cancel.is_some() {
                    WorkflowStatus::Cancelled
                } else if open.error_has.is_some() {
                    WorkflowStatus::Failed
                } else {
                    WorkflowStatus::Completed
                });
            }
        }
        panic
    }
}

// ---------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------

fn check_case(db: &TestDb, case: u64, root: &Node, batch_size: usize) -> Result<(), TestCaseError> {
    let (dispatch, guard) = db.dispatch(db.builder().batch_size(batch_size));
    tracing::dispatcher::with_default(&dispatch, || {
        let outcome = catch_unwind(AssertUnwindSafe(|| record(root, case, &mut 0, &guard)));
        let mut model = Model::default();
        let panicked = model.visit(root, case, &mut 0, None, None).is_some();
        prop_assert_eq!(outcome.is_err(), panicked, "panicked as the model says");
        Ok(model)
    })
    .and_then(|model| {
        let stats = guard
            .shutdown()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(stats.records_lost, 0);
        compare(db, case, &model)
    })
}

fn compare(db: &TestDb, case: u64, model: &Model) -> Result<(), TestCaseError> {
    let store = db.store();
    let prefix = format!("c{case}-");
    let runs: BTreeMap<String, WorkflowRun> = store
        .list_runs(&RunFilter {
            limit: u32::MAX,
            ..RunFilter::default()
        })
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .into_iter()
        .filter(|r| r.run_id.starts_with(&prefix))
        .map(|r| (r.run_id.clone(), r))
        .collect();
    prop_assert_eq!(
        runs.keys().collect::<Vec<_>>(),
        model.runs.keys().collect::<Vec<_>>()
    );
    for (run_id, expected) in &model.runs {
        let run = &runs[run_id];
        prop_assert_eq!(Some(run.status), expected.status, "{} {:#?}", run_id, run);
        prop_assert_eq!(&run.parent_run_id, &expected.parent_run, "{}", run_id);
        prop_assert_eq!(&run.cancel_reason, &expected.cancel, "{}", run_id);
        match (&run.error, &expected.error_has) {
            (Some(actual), Some(has)) => prop_assert!(
                actual.contains(has.as_str())
                    || expected
                        .panic
                        .as_ref()
                        .is_some_and(|p| actual.contains(p.as_str())),
                "{}: error {:?} lacks {:?}",
                run_id,
                actual,
                has
            ),
            (actual, has) => prop_assert_eq!(actual.is_some(), has.is_some(), "{}", run_id),
        }
        prop_assert_eq!(
            run.metrics.get("rows").and_then(|v| v.as_i64()),
            expected.metric
        );
        prop_assert_eq!(
            run.outputs
                .get("records_processed")
                .and_then(|v| v.as_u64()),
            expected.records
        );
        let steps = store
            .get_steps(run_id)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let orders: Vec<u32> = steps.iter().map(|s| s.step_order).collect();
        prop_assert_eq!(
            orders,
            expected.steps.keys().copied().collect::<Vec<_>>(),
            "{}",
            run_id
        );
        for step in &steps {
            let model = &expected.steps[&step.step_order];
            prop_assert_eq!(&step.step_name, model.name);
            prop_assert_eq!(Some(step.status), model.status, "{:#?}", step);
            prop_assert_eq!(&step.skip_reason, &model.skip);
            prop_assert_eq!(step.records_processed, model.records.map(|n| n as i64));
            let parent = model.parent.map(|order| format!("{run_id}-{order}"));
            prop_assert_eq!(&step.parent_step_id, &parent);
            if let Some(error) = &model.error {
                prop_assert_eq!(step.error.as_ref(), Some(error));
            }
            prop_assert_eq!(
                step.error.is_some(),
                model.status == Some(StepStatus::Failed),
                "{:#?}",
                step
            );
        }
        // Every transition is in the audit trail: two per run and step.
        let changes = store
            .get_events(run_id)
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .into_iter()
            .filter(|e| e.kind == EventKind::StatusChanged)
            .count();
        prop_assert_eq!(changes, 2 * (1 + steps.len()), "{}", run_id);
    }
    Ok(())
}

backends! {
    fn random_trees_are_recorded_as_the_rules_say(db) {
        let mut runner = TestRunner::new(Config {
            cases: 64,
            failure_persistence: None,
            ..Config::default()
        });
        let case = std::cell::Cell::new(0u64);
        let result = runner.run(&(tree(), 1usize..40), |(root, batch_size)| {
            case.set(case.get() + 1);
            check_case(db, case.get(), &root, batch_size)
        });
        if let Err(failure) = result {
            panic!("{failure}");
        }
    }
}
