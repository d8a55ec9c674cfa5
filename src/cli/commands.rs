//! The listing commands: each loads the same [`body`] the HTTP API answers
//! with, then prints it as JSON or as text.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;
use workflow_history::surface::body::{
    self, EventList, PruneReport, RunDetail, RunPage, StatisticsReport,
};
use workflow_history::{
    EventFilter, EventKind, HistoryStore, RunEvent, RunFilter, RunStatistics, StepRun,
};

use super::CliError;
use super::render::{self, Cell, Style, Table};

/// Characters a run id is shortened to at least, as with commit hashes.
const SHORT_ID_CHARS: usize = 8;
/// Characters of an error shown in a table.
const ERROR_CHARS: usize = 60;
/// Cells of a step's timeline bar.
const TIMELINE_CELLS: usize = 24;

/// How to print.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    pub(crate) json: bool,
    pub(crate) color: bool,
}

fn to_json(value: &impl Serialize) -> Result<String, CliError> {
    let mut text = serde_json::to_string_pretty(value).map_err(CliError::Json)?;
    text.push('\n');
    Ok(text)
}

/// `runs`: a page of runs as a table, and where the next page starts.
pub(crate) fn runs(
    store: &HistoryStore,
    filter: &RunFilter,
    out: Output,
) -> Result<String, CliError> {
    let page = RunPage::load(store, filter)?;
    if out.json {
        return to_json(&page);
    }
    if page.runs.is_empty() {
        return Ok(if page.total == 0 {
            "no runs match\n".to_owned()
        } else {
            format!(
                "no runs on this page: {} match, --offset {} is past them\n",
                page.total, page.offset
            )
        });
    }
    let mut table = Table::new(vec![
        "RUN ID",
        "WORKFLOW",
        "STATUS",
        "STARTED",
        "DURATION",
        "TRIGGERED BY",
        "ERROR",
    ]);
    for view in &page.runs {
        let run = &view.run;
        table.row(vec![
            store.short_run_id(&run.run_id, SHORT_ID_CHARS)?.into(),
            run.workflow_name.as_str().into(),
            Cell::styled(run.status.as_str(), Style::of_status(run.status.as_str())),
            render::maybe_time(run.started_at).into(),
            render::maybe_duration(view.duration_seconds).into(),
            run.triggered_by.as_str().into(),
            render::shorten(run.error.as_deref().unwrap_or(""), ERROR_CHARS).into(),
        ]);
    }
    let mut text = table.render("", out.color);
    if filter.after.is_some() {
        // Where a cursor page sits among all matches is not counted.
        let _ = write!(text, "{} more of {} runs", page.runs.len(), page.total);
    } else {
        let shown_to = page.offset + page.runs.len() as u64;
        let _ = write!(
            text,
            "{}-{} of {} runs",
            page.offset + 1,
            shown_to,
            page.total
        );
    }
    if let Some(next) = &page.next {
        let _ = write!(
            text,
            "; next page: --after {}",
            render::escape(next.clone())
        );
    }
    text.push('\n');
    Ok(text)
}

/// What `show --json` prints: the HTTP API's run detail and the run's events.
#[derive(Serialize)]
struct ShowJson<'a> {
    #[serde(flatten)]
    detail: &'a RunDetail,
    events: &'a [RunEvent],
}

/// `show`: the run's fields, params, metrics, outputs, steps with a
/// timeline, and its log.
pub(crate) fn show(store: &HistoryStore, run_id: &str, out: Output) -> Result<String, CliError> {
    let run_id = body::resolve_run_id(store, run_id)?;
    let detail = RunDetail::load(store, &run_id)?;
    let events = EventList::load(store, &run_id, &EventFilter::default())?.events;
    if out.json {
        return to_json(&ShowJson {
            detail: &detail,
            events: &events,
        });
    }
    let run = &detail.run.run;
    let color = out.color;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{} {}",
        render::paint("run", Some(Style::Bold), color),
        render::escape(run.run_id.clone())
    );
    let mut facts: Vec<(&str, String)> = vec![
        ("workflow", run.workflow_name.clone()),
        ("status", run.status.as_str().to_owned()),
    ];
    let optional = [
        ("domain", run.domain.clone()),
        ("partition", run.partition_key.clone()),
        ("triggered by", Some(run.triggered_by.clone())),
        ("started", run.started_at.map(render::time)),
        ("completed", run.completed_at.map(render::time)),
        (
            "duration",
            detail.run.duration_seconds.map(render::duration),
        ),
        ("parent run", run.parent_run_id.clone()),
        (
            "attempt",
            (!detail.attempts.is_empty())
                .then(|| format!("{} of {}", run.attempt, detail.attempts.len())),
        ),
        ("error", run.error.clone()),
        ("category", run.error_category.clone()),
        ("cancelled", run.cancel_reason.clone()),
    ];
    facts.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
    for (key, value) in facts {
        let value = render::escape(value);
        let style = match key {
            "status" => Some(Style::of_status(run.status.as_str())),
            "error" => Some(Style::Red),
            _ => None,
        };
        let _ = writeln!(text, "  {key:<14}{}", render::paint(&value, style, color));
    }
    if !detail.attempts.is_empty() {
        let _ = writeln!(
            text,
            "\n{}",
            render::paint("attempts", Some(Style::Bold), color)
        );
        for attempt in &detail.attempts {
            let marker = if attempt.run_id == run.run_id {
                "*"
            } else {
                " "
            };
            let _ = writeln!(
                text,
                "{marker} {:>3}  {}  {}  {}  {}  {}",
                attempt.attempt,
                render::escape(attempt.run_id.clone()),
                render::paint(
                    attempt.status.as_str(),
                    Some(Style::of_status(attempt.status.as_str())),
                    color
                ),
                attempt.started_at.map(render::time).unwrap_or_default(),
                attempt
                    .duration_seconds
                    .map(render::duration)
                    .unwrap_or_default(),
                render::escape(render::shorten(
                    attempt.error.as_deref().unwrap_or(""),
                    ERROR_CHARS
                )),
            );
        }
    }
    for (title, map) in [
        ("params", &run.params),
        ("metrics", &run.metrics),
        ("outputs", &run.outputs),
    ] {
        let _ = writeln!(text, "\n{}", render::paint(title, Some(Style::Bold), color));
        text.push_str(&render::fields(map, "  "));
    }

    let _ = writeln!(
        text,
        "\n{}",
        render::paint("steps", Some(Style::Bold), color)
    );
    let steps: Vec<&StepRun> = detail.steps.iter().map(|v| &v.step).collect();
    if steps.is_empty() {
        text.push_str("  (none)\n");
    } else {
        text.push_str(&steps_table(&detail, color));
    }

    let _ = writeln!(
        text,
        "\n{}",
        render::paint("events", Some(Style::Bold), color)
    );
    text.push_str(&event_lines(&events, &steps, "  ", color));
    Ok(text)
}

/// The steps table, nested steps indented under their parent.
fn steps_table(detail: &RunDetail, color: bool) -> String {
    let run = &detail.run.run;
    let from = run
        .started_at
        .or_else(|| detail.steps.iter().filter_map(|s| s.step.started_at).min());
    let to = run.completed_at.unwrap_or_else(|| {
        detail
            .steps
            .iter()
            .filter_map(|s| s.step.completed_at.or(s.step.started_at))
            .max()
            .unwrap_or_else(chrono::Utc::now)
    });
    let depth = step_depths(detail.steps.iter().map(|v| &v.step));
    let mut table = Table::new(vec![
        "#", "STEP", "TYPE", "STATUS", "DURATION", "RECORDS", "QUALITY", "TIMELINE", "ERROR",
    ]);
    for view in &detail.steps {
        let step = &view.step;
        let indent = "  ".repeat(depth.get(step.step_id.as_str()).copied().unwrap_or(0));
        let quality = match step.quality_passed {
            Some(true) => Cell::styled("pass", Style::Green),
            Some(false) => Cell::styled("fail", Style::Red),
            None => "-".into(),
        };
        let bar = match from {
            Some(from) => {
                render::timeline(from, to, step.started_at, step.completed_at, TIMELINE_CELLS)
            }
            None => "·".repeat(TIMELINE_CELLS),
        };
        let note = step
            .error
            .as_deref()
            .or(step.skip_reason.as_deref())
            .unwrap_or("");
        table.row(vec![
            step.step_order.to_string().into(),
            format!("{indent}{}", step.step_name).into(),
            step.step_type.as_str().into(),
            Cell::styled(step.status.as_str(), Style::of_status(step.status.as_str())),
            render::maybe_duration(view.duration_seconds).into(),
            step.records_processed
                .map_or_else(|| "-".to_owned(), |n| n.to_string())
                .into(),
            quality,
            bar.into(),
            render::shorten(note, ERROR_CHARS).into(),
        ]);
    }
    table.render("  ", color)
}

/// How deep each step is nested under others.
fn step_depths<'a>(steps: impl Iterator<Item = &'a StepRun> + Clone) -> HashMap<&'a str, usize> {
    let parents: HashMap<&str, &str> = steps
        .clone()
        .filter_map(|s| Some((s.step_id.as_str(), s.parent_step_id.as_deref()?)))
        .collect();
    steps
        .map(|s| {
            let mut depth = 0;
            let mut at = s.step_id.as_str();
            // Bounded by the number of steps, so a cycle in bad data cannot hang.
            while let Some(parent) = parents.get(at).filter(|_| depth < parents.len()) {
                depth += 1;
                at = parent;
            }
            (s.step_id.as_str(), depth)
        })
        .collect()
}

/// One line per event: time, level (or `status`), step, message, fields.
fn event_lines(events: &[RunEvent], steps: &[&StepRun], indent: &str, color: bool) -> String {
    if events.is_empty() {
        return format!("{indent}(none)\n");
    }
    let names: HashMap<&str, &str> = steps
        .iter()
        .map(|s| (s.step_id.as_str(), s.step_name.as_str()))
        .collect();
    let mut table = Table::new(vec!["TIME", "LEVEL", "STEP", "MESSAGE"]);
    for event in events {
        let step = event
            .step_id
            .as_deref()
            .map_or("-", |id| names.get(id).copied().unwrap_or(id));
        let (level, message) = match event.kind {
            EventKind::StatusChanged => {
                let get = |k: &str| event.fields.get(k).and_then(|v| v.as_str()).unwrap_or("?");
                (
                    Cell::styled("status", Style::Dim),
                    format!("{} -> {}", get("old"), get("new")),
                )
            }
            EventKind::Log => {
                let level = event.level.as_deref().unwrap_or("-");
                let mut message = event.message.clone().unwrap_or_default();
                for (key, value) in &event.fields {
                    let _ = write!(message, " {key}={value}");
                }
                let cell = match Style::of_level(level) {
                    Some(style) => Cell::styled(level, style),
                    None => level.into(),
                };
                (cell, message.trim().to_owned())
            }
        };
        table.row(vec![
            render::precise_time(event.timestamp).into(),
            level,
            step.into(),
            message.into(),
        ]);
    }
    table.render(indent, color)
}

/// `logs`: the run's events, filtered.
pub(crate) fn logs(
    store: &HistoryStore,
    run_id: &str,
    filter: &EventFilter,
    out: Output,
) -> Result<String, CliError> {
    let list = EventList::load(store, run_id, filter)?;
    if out.json {
        return to_json(&list);
    }
    let steps = store.get_steps(&list.run_id)?;
    let steps: Vec<&StepRun> = steps.iter().collect();
    let mut text = event_lines(&list.events, &steps, "", out.color);
    if let Some(name) = &filter.step_name
        && !steps.iter().any(|s| &s.step_name == name)
    {
        let known: Vec<&str> = steps.iter().map(|s| s.step_name.as_str()).collect();
        let _ = writeln!(
            text,
            "note: run {} has no step named {name:?}; its steps: {}",
            render::escape(list.run_id.clone()),
            if known.is_empty() {
                "(none)".to_owned()
            } else {
                render::escape(known.join(", "))
            }
        );
    }
    Ok(text)
}

/// `stats`: overall, and per workflow when asked.
pub(crate) fn stats(
    store: &HistoryStore,
    filter: &RunFilter,
    by_workflow: bool,
    out: Output,
) -> Result<String, CliError> {
    let report = StatisticsReport::load(store, filter, by_workflow)?;
    if out.json {
        return to_json(&report);
    }
    let s = &report.overall;
    let mut text = String::new();
    for (key, value) in [
        ("runs", s.total_runs.to_string()),
        ("completed", s.completed.to_string()),
        ("failed", s.failed.to_string()),
        ("cancelled", s.cancelled.to_string()),
        ("running", s.running.to_string()),
        ("success rate", percent(s.success_rate)),
        (
            "duration avg",
            render::maybe_duration(s.avg_duration_seconds),
        ),
        (
            "duration p50",
            render::maybe_duration(s.p50_duration_seconds),
        ),
        (
            "duration p95",
            render::maybe_duration(s.p95_duration_seconds),
        ),
        (
            "duration max",
            render::maybe_duration(s.max_duration_seconds),
        ),
    ] {
        let _ = writeln!(text, "{key:<14}{value}");
    }
    if let Some(workflows) = &report.by_workflow {
        text.push('\n');
        let mut table = Table::new(vec!["WORKFLOW", "RUNS", "FAILED", "SUCCESS", "P50", "P95"]);
        for w in workflows {
            let s: &RunStatistics = &w.statistics;
            table.row(vec![
                w.workflow_name.as_str().into(),
                s.total_runs.to_string().into(),
                s.failed.to_string().into(),
                percent(s.success_rate).into(),
                render::maybe_duration(s.p50_duration_seconds).into(),
                render::maybe_duration(s.p95_duration_seconds).into(),
            ]);
        }
        text.push_str(&table.render("", out.color));
    }
    Ok(text)
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// `prune`: deletes (or counts) and says what.
pub(crate) fn prune(
    store: &HistoryStore,
    age: chrono::Duration,
    dry_run: bool,
    out: Output,
) -> Result<String, CliError> {
    let report = PruneReport::run(store, age, chrono::Utc::now(), dry_run)?;
    if out.json {
        return to_json(&report);
    }
    let verb = if dry_run { "would delete" } else { "deleted" };
    let mut text = format!(
        "{verb} {} run{} started before {}, with their steps and events{}\n",
        report.runs_deleted,
        if report.runs_deleted == 1 { "" } else { "s" },
        render::time(report.cutoff),
        if dry_run {
            " (dry run: nothing deleted)"
        } else {
            ""
        },
    );
    if !report.by_workflow.is_empty() {
        let mut table = Table::new(vec!["WORKFLOW", "RUNS"]);
        for w in &report.by_workflow {
            table.row(vec![
                w.workflow_name.as_str().into(),
                w.runs.to_string().into(),
            ]);
        }
        text.push_str(&table.render("  ", out.color));
    }
    Ok(text)
}
