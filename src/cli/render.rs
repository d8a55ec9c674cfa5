//! Text for people: aligned tables, human durations, timeline bars, and
//! colour when (and only when) stdout is a terminal.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

/// A colour for a cell; ANSI codes only when the output is a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Green,
    Red,
    Yellow,
    Cyan,
    Dim,
    Bold,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Green => "32",
            Style::Red => "31",
            Style::Yellow => "33",
            Style::Cyan => "36",
            Style::Dim => "2",
            Style::Bold => "1",
        }
    }

    /// The style of a run or step status name.
    pub(crate) fn of_status(status: &str) -> Style {
        match status {
            "COMPLETED" => Style::Green,
            "FAILED" => Style::Red,
            "CANCELLED" | "SKIPPED" => Style::Yellow,
            _ => Style::Cyan,
        }
    }

    /// The style of a log level name.
    pub(crate) fn of_level(level: &str) -> Option<Style> {
        match level {
            "ERROR" => Some(Style::Red),
            "WARN" => Some(Style::Yellow),
            "DEBUG" | "TRACE" => Some(Style::Dim),
            _ => None,
        }
    }
}

/// Whether to colour: stdout is a terminal, and `NO_COLOR` is not set
/// (<https://no-color.org>), and the terminal is not `dumb`.
pub(crate) fn use_color(stdout_is_terminal: bool, env: impl Fn(&str) -> Option<String>) -> bool {
    stdout_is_terminal
        && env("NO_COLOR").is_none_or(|v| v.is_empty())
        && env("TERM").as_deref() != Some("dumb")
}

/// `text` in `style`, or as is without colour.
pub(crate) fn paint(text: &str, style: Option<Style>, color: bool) -> String {
    match style {
        Some(style) if color => format!("\x1b[{}m{text}\x1b[0m", style.code()),
        _ => text.to_owned(),
    }
}

/// Table cell: text and an optional style.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    text: String,
    style: Option<Style>,
}

impl Cell {
    pub(crate) fn styled(text: impl Into<String>, style: Style) -> Self {
        Cell {
            text: escape(text.into()),
            style: Some(style),
        }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell {
            text: escape(text),
            style: None,
        }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::from(text.to_owned())
    }
}

/// Columns aligned on the widest cell; the last column is not padded, so
/// lines carry no trailing spaces.
#[derive(Debug)]
pub(crate) struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub(crate) fn new(headers: Vec<&'static str>) -> Self {
        Table {
            headers,
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<Cell>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        self.rows.push(cells);
    }

    pub(crate) fn render(&self, indent: &str, color: bool) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(&cell.text));
            }
        }
        let mut out = String::new();
        let header: Vec<Cell> = self
            .headers
            .iter()
            .map(|h| Cell::styled(*h, Style::Bold))
            .collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::from(indent);
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(&paint(&cell.text, cell.style, color));
                if i + 1 < row.len() {
                    line.push_str(&" ".repeat(w - width(&cell.text)));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Whether `c` could act on a terminal rather than show: control
/// characters (C0, DEL, C1) and the bidirectional overrides that reorder
/// what follows them.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Recorded text made safe to print: every character that could act on
/// the terminal is shown as its escape (`\n`, `\u{1b}`), as the `fmt`
/// layer does, so a recorded value can neither rewrite the screen nor
/// hide what it says.
pub(crate) fn escape(text: String) -> String {
    if !text.chars().any(is_unsafe) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Display width, counting characters (good enough for ids and names).
fn width(text: &str) -> usize {
    text.chars().count()
}

/// `850ms`, `4.2s`, `1m 05s`, `2h 03m`, `3d 04h`.
pub(crate) fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".to_owned();
    }
    if seconds < 1.0 {
        return format!("{}ms", (seconds * 1000.0).round() as u64);
    }
    if seconds < 60.0 {
        return format!("{:.1}s", (seconds * 10.0).floor() / 10.0);
    }
    let total = seconds.floor() as u64;
    let (m, s) = (total / 60, total % 60);
    if m < 60 {
        return format!("{m}m {s:02}s");
    }
    let (h, m) = (m / 60, m % 60);
    if h < 24 {
        return format!("{h}h {m:02}m");
    }
    format!("{}d {:02}h", h / 24, h % 24)
}

/// An optional duration, `-` when unknown (still running).
pub(crate) fn maybe_duration(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "-".to_owned(), duration)
}

/// `2025-01-10 08:30:05Z`: UTC, like the stored times and the filters.
pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// With milliseconds, for log lines.
pub(crate) fn precise_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3fZ").to_string()
}

pub(crate) fn maybe_time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".to_owned(), time)
}

/// One line, at most `max` characters, ending in `…` when cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(max.saturating_sub(1)) {
        Some((end, _)) if width(&line) > max => format!("{}…", &line[..end]),
        _ => line,
    }
}

/// A bar of `width` cells showing where `[start, end]` falls in
/// `[from, to]`: `·····████····`. At least one cell is filled, so a short
/// step stays visible.
pub(crate) fn timeline(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    width: usize,
) -> String {
    let span = (to - from).num_microseconds().unwrap_or(0).max(1) as f64;
    let Some(start) = start else {
        return "·".repeat(width);
    };
    let end = end.unwrap_or(to);
    let cell = |t: DateTime<Utc>| {
        let at = (t - from).num_microseconds().unwrap_or(0) as f64 / span;
        ((at * width as f64).floor().max(0.0) as usize).min(width)
    };
    let first = cell(start).min(width - 1);
    let last = cell(end).max(first + 1).min(width);
    let mut bar = String::with_capacity(width * 3);
    for i in 0..width {
        bar.push(if (first..last).contains(&i) {
            '█'
        } else {
            '·'
        });
    }
    bar
}

/// `key = value` lines of a JSON object, or `(none)`.
pub(crate) fn fields(map: &workflow_history::JsonMap, indent: &str) -> String {
    if map.is_empty() {
        return format!("{indent}(none)\n");
    }
    let keys: Vec<String> = map.keys().map(|k| escape(k.clone())).collect();
    let key_width = keys.iter().map(|k| width(k)).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in keys.iter().zip(map.values()) {
        let pad = " ".repeat(key_width - width(key));
        let _ = writeln!(out, "{indent}{key}{pad} = {}", escape(value.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(duration(0.0004), "0ms");
        assert_eq!(duration(0.85), "850ms");
        assert_eq!(duration(4.27), "4.2s");
        assert_eq!(duration(65.0), "1m 05s");
        assert_eq!(duration(3599.9), "59m 59s");
        assert_eq!(duration(7380.0), "2h 03m");
        assert_eq!(duration(273_600.0), "3d 04h");
        assert_eq!(duration(f64::NAN), "-");
        assert_eq!(maybe_duration(None), "-");
    }

    #[test]
    fn tables_align_without_trailing_spaces() {
        let mut table = Table::new(vec!["ID", "NAME"]);
        table.row(vec!["a".into(), "x".into()]);
        table.row(vec!["long-id".into(), Cell::styled("y", Style::Red)]);
        assert_eq!(
            table.render("", false),
            "ID       NAME\na        x\nlong-id  y\n"
        );
        assert!(table.render("", true).contains("\x1b[31my\x1b[0m"));
    }

    #[test]
    fn timeline_places_the_step() {
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        assert_eq!(
            timeline(t(0), t(10), Some(t(5)), Some(t(10)), 10),
            "·····█████"
        );
        assert_eq!(timeline(t(0), t(10), Some(t(0)), Some(t(0)), 4), "█···");
        assert_eq!(timeline(t(0), t(10), Some(t(10)), Some(t(10)), 4), "···█");
        assert_eq!(timeline(t(0), t(10), None, None, 3), "···");
    }

    #[test]
    fn escapes_show_what_would_act_on_a_terminal() {
        assert_eq!(escape("plain ünï".into()), "plain ünï");
        assert_eq!(escape("a\x1b[2Jb\n".into()), "a\\u{1b}[2Jb\\n");
        assert_eq!(escape("\u{202e}x".into()), "\\u{202e}x");
        let cell = Cell::from("\x07".to_owned());
        assert_eq!(cell.text, "\\u{7}");
    }

    #[test]
    fn shortening_keeps_one_line() {
        assert_eq!(shorten("a\nb   c", 10), "a b c");
        assert_eq!(shorten("abcdefghij", 5), "abcd…");
        assert_eq!(shorten("ünïcödé", 7), "ünïcödé");
    }

    #[test]
    fn colour_only_for_terminals_without_no_color() {
        let none = |_: &str| None;
        assert!(use_color(true, none));
        assert!(!use_color(false, none));
        assert!(!use_color(true, |k: &str| (k == "NO_COLOR").then(|| "1".to_owned())));
    }
}
