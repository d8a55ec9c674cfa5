//! The writer's picture of open runs and steps: messages from the layer are
//! applied here, and what changed is handed to the database in batches.

mod later;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::backend::attempts::Attempt;
use crate::backend::tables::NewEvent;
use crate::capture::clock::{Stamp, TimeAnchor};
use crate::message::convention::CreationField;
use crate::message::{Lineage, Msg, Opened, SpanKey};
use crate::model::{StepRun, StepStatus, WorkflowRun, WorkflowStatus};
use later::Origin;

struct OpenRun {
    run: WorkflowRun,
    /// The enclosing run, for a sub-workflow.
    parent: Option<SpanKey>,
    /// Its id is known to be its own in the database: it was generated, or
    /// a claim for the id the application gave has committed.
    claimed: bool,
    /// A claim of it was in a transaction whose commit failed, so whether
    /// it took effect is unknown.
    claim_retried: bool,
    /// Why the first failed step failed: the run's error if it has none.
    failed_step: Option<(String, Option<String>)>,
    panic: Option<String>,
    dirty: bool,
    closed: bool,
}

struct OpenStep {
    step: StepRun,
    run: SpanKey,
    panic: Option<String>,
    dirty: bool,
    closed: bool,
}

/// Open runs and steps, and the rows and events not yet committed.
pub(crate) struct Records {
    anchor: TimeAnchor,
    /// Most rows and events kept while commits fail; beyond it new runs,
    /// steps and log events are refused (and counted by the caller).
    max_pending: usize,
    runs: HashMap<SpanKey, OpenRun>,
    steps: HashMap<SpanKey, OpenStep>,
    dirty_runs: Vec<SpanKey>,
    dirty_steps: Vec<SpanKey>,
    events: Vec<NewEvent>,
    /// The run of each of `events`, by position: ids may still change
    /// when a run's claim moves it to a later attempt.
    event_runs: Vec<SpanKey>,
    /// Runs whose claim is in the transaction being written: claimed for
    /// good once it commits.
    claims_in_flight: Vec<SpanKey>,
    /// Spans whose open was refused or had no run to join, until they close:
    /// everything about them is ignored.
    unknown: HashSet<SpanKey>,
}

fn mark(dirty: &mut bool, list: &mut Vec<SpanKey>, key: SpanKey) {
    if !*dirty {
        *dirty = true;
        list.push(key);
    }
}

impl Records {
    pub(crate) fn new(anchor: TimeAnchor, max_pending: usize) -> Self {
        Records {
            anchor,
            max_pending,
            runs: HashMap::new(),
            steps: HashMap::new(),
            dirty_runs: Vec::new(),
            dirty_steps: Vec::new(),
            events: Vec::new(),
            event_runs: Vec::new(),
            claims_in_flight: Vec::new(),
            unknown: HashSet::new(),
        }
    }

    fn time(&self, at: Stamp) -> DateTime<Utc> {
        self.anchor.to_utc(at)
    }

    /// Re-measures the clock's rate before applying what arrived since.
    pub(crate) fn calibrate(&mut self) {
        self.anchor.calibrate();
    }

    /// Whether anything awaits a commit.
    pub(crate) fn has_pending(&self) -> bool {
        !self.dirty_runs.is_empty() || !self.dirty_steps.is_empty() || !self.events.is_empty()
    }

    /// Rows and events awaiting a commit.
    pub(crate) fn pending_count(&self) -> usize {
        self.dirty_runs.len() + self.dirty_steps.len() + self.events.len()
    }

    /// What to write: changed runs, changed steps, new events.
    pub(crate) fn pending_items(&self) -> (Vec<&WorkflowRun>, Vec<&StepRun>, &[NewEvent]) {
        let runs = self
            .dirty_runs
            .iter()
            .filter_map(|k| self.runs.get(k))
            .map(|r| &r.run)
            .collect();
        let steps = self
            .dirty_steps
            .iter()
            .filter_map(|k| self.steps.get(k))
            .map(|s| &s.step)
            .collect();
        (runs, steps, &self.events)
    }

    /// The first `n` pending events were written on their own.
    pub(crate) fn forget_events(&mut self, n: usize) {
        let n = n.min(self.events.len());
        self.events.drain(..n);
        self.event_runs.drain(..n);
    }

    /// Everything pending was committed: forget what is finished.
    pub(crate) fn committed(&mut self) {
        self.claims_committed();
        for key in self.dirty_runs.drain(..) {
            if let Some(open) = self.runs.get_mut(&key) {
                open.dirty = false;
                if open.closed {
                    self.runs.remove(&key);
                }
            }
        }
        for key in self.dirty_steps.drain(..) {
            if let Some(open) = self.steps.get_mut(&key) {
                open.dirty = false;
                if open.closed {
                    self.steps.remove(&key);
                }
            }
        }
        self.events.clear();
        self.event_runs.clear();
    }

    /// Keeps an event of `run` for the next commit.
    fn log(&mut self, run: SpanKey, event: NewEvent) {
        self.events.push(event);
        self.event_runs.push(run);
    }

    /// The runs whose ids the application gave and that no commit has
    /// claimed yet (nor the transaction being written), to be claimed
    /// before anything of them is written; with whether an earlier claim's
    /// outcome is unknown. All open runs, not only changed ones: a run
    /// whose claim was refused may have only new steps or events.
    pub(crate) fn unclaimed(&self) -> Vec<(SpanKey, &WorkflowRun, bool)> {
        self.runs
            .iter()
            .filter(|(key, open)| !open.claimed && !self.claims_in_flight.contains(key))
            .map(|(key, open)| (*key, &open.run, open.claim_retried))
            .collect()
    }

    /// The claims in the transaction just written committed.
    pub(crate) fn claims_committed(&mut self) {
        for key in self.claims_in_flight.drain(..) {
            if let Some(open) = self.runs.get_mut(&key) {
                open.claimed = true;
            }
        }
    }

    /// The transaction being written failed: its claims are undone, and
    /// are made again with the next. (A run moved to a later attempt
    /// keeps that id: its claim tries it first.)
    pub(crate) fn claims_failed(&mut self) {
        for key in self.claims_in_flight.drain(..) {
            if let Some(open) = self.runs.get_mut(&key) {
                open.claim_retried = true;
            }
        }
    }

    /// `key`'s id was claimed in the transaction being written, under
    /// `moved` when its id was taken: the run, its steps, its events and
    /// its sub-workflows then take the attempt's id.
    pub(crate) fn claimed(&mut self, key: SpanKey, moved: Option<Attempt>) {
        let Some(open) = self.runs.get_mut(&key) else {
            return;
        };
        self.claims_in_flight.push(key);
        let Some(attempt) = moved else {
            return;
        };
        let old = std::mem::replace(&mut open.run.run_id, attempt.run_id.clone());
        open.run.attempt = attempt.attempt;
        open.run.first_attempt_id = Some(attempt.first_attempt_id);
        let new = attempt.run_id;
        let rename_step = |step_id: &mut String| {
            if let Some(order) = step_id.strip_prefix(old.as_str()) {
                *step_id = format!("{new}{order}");
            }
        };
        for open in self.steps.values_mut().filter(|s| s.run == key) {
            open.step.run_id.clone_from(&new);
            rename_step(&mut open.step.step_id);
            if let Some(parent) = &mut open.step.parent_step_id {
                rename_step(parent);
            }
        }
        for (event, _) in self
            .events
            .iter_mut()
            .zip(&self.event_runs)
            .filter(|(_, run)| **run == key)
        {
            event.run_id.clone_from(&new);
            if let Some(step_id) = &mut event.step_id {
                rename_step(step_id);
            }
        }
        for open in self.runs.values_mut().filter(|r| r.parent == Some(key)) {
            open.run.parent_run_id = Some(new.clone());
        }
    }

    fn is_full(&self) -> bool {
        self.pending_count() >= self.max_pending
    }

    /// Applies one message from the layer and returns how many records it
    /// would have added but could not keep. Flush and shutdown are the
    /// writer loop's business and are ignored here.
    ///
    /// When the pending records are at their bound (commits keep failing),
    /// a new run or step is refused whole, so it never appears half
    /// recorded; updates to records already kept still apply.
    pub(crate) fn apply(&mut self, msg: Msg) -> u64 {
        match msg {
            Msg::Opened(opened) if self.is_full() => {
                self.unknown.insert(opened.key);
                return 1;
            }
            Msg::Opened(opened) => {
                let key = opened.key;
                let kept = match &opened.lineage {
                    Lineage::Run {
                        parent_run,
                        identity,
                    } => {
                        let (parent_run, run_id) = (*parent_run, identity.run_id.to_string());
                        let given = identity.is_given();
                        self.open_run(opened, parent_run, run_id, given)
                    }
                    &Lineage::Step {
                        run,
                        parent_step,
                        order,
                    } => self.open_step(opened, run, parent_step, order),
                };
                if !kept {
                    self.unknown.insert(key);
                }
            }
            // The writer never kept this span: its close ends its story.
            Msg::Closed { span, .. } if !self.is_open(span) => {
                self.unknown.remove(&span);
            }
            Msg::Recorded { span, fields } => {
                for (name, value) in fields {
                    self.apply_later(span, name, value, Origin::Record);
                }
            }
            Msg::Event(event) => return self.apply_event(event),
            Msg::Panicked { span, message } => {
                let message = message.unwrap_or_else(|| "panicked".to_owned());
                if let Some(open) = self.steps.get_mut(&span) {
                    open.panic.get_or_insert(message);
                } else if let Some(open) = self.runs.get_mut(&span) {
                    open.panic.get_or_insert(message);
                }
            }
            Msg::Closed { span, at } => {
                let at = self.time(at);
                if self.steps.contains_key(&span) {
                    self.close_step(span, at);
                } else {
                    self.close_run(span, at);
                }
            }
            Msg::Flush(_) | Msg::Shutdown => {}
        }
        0
    }

    fn is_open(&self, span: SpanKey) -> bool {
        self.steps.contains_key(&span) || self.runs.contains_key(&span)
    }

    /// Starts a run; always kept.
    fn open_run(
        &mut self,
        opened: Opened,
        parent_run: Option<SpanKey>,
        run_id: String,
        given_id: bool,
    ) -> bool {
        let mut run = WorkflowRun::new(run_id, opened.metadata.target());
        run.created_at = self.time(opened.created_at);
        run.started_at = Some(self.time(opened.started_at));
        run.status = WorkflowStatus::Running;
        run.parent_run_id = parent_run
            .and_then(|parent| self.runs.get(&parent))
            .map(|parent| parent.run.run_id.clone());
        for (name, value) in opened.fields {
            match CreationField::of_run(name) {
                CreationField::WorkflowName => run.workflow_name = value.into_text(),
                CreationField::Domain => run.domain = Some(value.into_text()),
                CreationField::PartitionKey => run.partition_key = Some(value.into_text()),
                CreationField::TriggeredBy => run.triggered_by = value.into_text(),
                CreationField::StepName | CreationField::StepType | CreationField::Param(_) => {
                    run.params.insert(name.to_owned(), value.into_json());
                }
            }
        }
        self.log(
            opened.key,
            NewEvent::status_change(
                &run.run_id,
                None,
                run.started_at.unwrap_or(run.created_at),
                WorkflowStatus::Pending.as_str(),
                WorkflowStatus::Running.as_str(),
            ),
        );
        let mut open = OpenRun {
            run,
            parent: parent_run,
            claimed: !given_id,
            claim_retried: false,
            failed_step: None,
            panic: None,
            dirty: false,
            closed: false,
        };
        mark(&mut open.dirty, &mut self.dirty_runs, opened.key);
        self.runs.insert(opened.key, open);
        true
    }

    /// Starts a step; not kept when its run was never recorded.
    fn open_step(
        &mut self,
        opened: Opened,
        run_key: SpanKey,
        parent_step: Option<SpanKey>,
        order: u32,
    ) -> bool {
        let Some(run) = self.runs.get(&run_key) else {
            return false;
        };
        let mut step = StepRun::new(run.run.run_id.clone(), order, opened.metadata.target());
        step.started_at = Some(self.anchor.to_utc(opened.started_at));
        step.status = StepStatus::Running;
        step.parent_step_id = parent_step
            .and_then(|parent| self.steps.get(&parent))
            .map(|parent| parent.step.step_id.clone());
        for (name, value) in opened.fields {
            match CreationField::of_step(name) {
                CreationField::StepName => step.step_name = value.into_text(),
                CreationField::StepType => step.step_type = value.into_text(),
                _ => {
                    step.input_params.insert(name.to_owned(), value.into_json());
                }
            }
        }
        self.log(
            run_key,
            NewEvent::status_change(
                &step.run_id,
                Some(&step.step_id),
                step.started_at.unwrap_or_else(Utc::now),
                StepStatus::Pending.as_str(),
                StepStatus::Running.as_str(),
            ),
        );
        let mut open = OpenStep {
            step,
            run: run_key,
            panic: None,
            dirty: false,
            closed: false,
        };
        mark(&mut open.dirty, &mut self.dirty_steps, opened.key);
        self.steps.insert(opened.key, open);
        true
    }

    fn close_step(&mut self, key: SpanKey, at: DateTime<Utc>) {
        let Some(open) = self.steps.get_mut(&key) else {
            return;
        };
        let step = &mut open.step;
        step.completed_at = Some(at);
        step.status = if step.skip_reason.is_some() {
            StepStatus::Skipped
        } else if step.error.is_some() || open.panic.is_some() {
            if step.error.is_none() {
                step.error = open.panic.clone();
            }
            StepStatus::Failed
        } else {
            StepStatus::Completed
        };
        // Not `log`: `open` borrows the steps, and fields apart can be pushed to.
        self.events.push(NewEvent::status_change(
            &step.run_id,
            Some(&step.step_id),
            at,
            StepStatus::Running.as_str(),
            step.status.as_str(),
        ));
        self.event_runs.push(open.run);
        if step.status == StepStatus::Failed
            && let Some(run) = self.runs.get_mut(&open.run)
        {
            run.failed_step.get_or_insert_with(|| {
                let why = step.error.as_deref().unwrap_or("failed");
                (
                    format!("step '{}' failed: {why}", step.step_name),
                    step.error_category.clone(),
                )
            });
        }
        open.closed = true;
        mark(&mut open.dirty, &mut self.dirty_steps, key);
    }

    fn close_run(&mut self, key: SpanKey, at: DateTime<Utc>) {
        let Some(open) = self.runs.get_mut(&key) else {
            return;
        };
        let run = &mut open.run;
        run.completed_at = Some(at);
        run.status = if run.cancel_reason.is_some() {
            WorkflowStatus::Cancelled
        } else if run.error.is_some() || open.failed_step.is_some() || open.panic.is_some() {
            if run.error.is_none() {
                match open.failed_step.take() {
                    Some((error, category)) => {
                        run.error = Some(error);
                        if run.error_category.is_none() {
                            run.error_category = category;
                        }
                    }
                    None => run.error = open.panic.clone(),
                }
            }
            WorkflowStatus::Failed
        } else {
            WorkflowStatus::Completed
        };
        self.events.push(NewEvent::status_change(
            &run.run_id,
            None,
            at,
            WorkflowStatus::Running.as_str(),
            run.status.as_str(),
        ));
        self.event_runs.push(key);
        open.closed = true;
        mark(&mut open.dirty, &mut self.dirty_runs, key);
    }
}
