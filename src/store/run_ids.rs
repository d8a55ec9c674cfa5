//! Finding a run from what a person typed or copied: a full id, the start
//! of one, the tail of a generated id (what the run list shows), or an
//! attempt of a retried run (`<id>~<attempt>`); and the short form of an
//! id that finds its run again.

use super::HistoryStore;
use crate::Error;
use crate::backend::attempts::attempt_id;
use crate::backend::exec::{Exec, query, required};
use crate::backend::param::Param;
use crate::backend::tables::{RUNS, run_from_row};
use crate::model::{RunIdMatch, WorkflowRun};

/// How many candidates [`HistoryStore::resolve_run_id`] reports for an
/// ambiguous id.
const AMBIGUOUS_SHOWN: usize = 5;

/// The length of a generated run id (a UUID in its hyphenated form).
const GENERATED_ID_CHARS: usize = 36;

/// The characters of a generated id that its tail index covers: its last
/// eight, which are random (a UUIDv7 begins with its time and continues
/// with a counter, so its start is shared by runs created together).
const TAIL_CHARS: usize = 8;

/// `substr(run_id, 29)`, the last [`TAIL_CHARS`] of a generated id, and
/// the condition that makes it one: the expression and the partial
/// condition of the tail index (migration 0006), written alike in both
/// dialects so either database uses the index.
const TAIL_MATCH: &str = "length(run_id) = 36 AND substr(run_id, 29) = ?1";

/// The tails the run list tries for a generated id, shortest first; the
/// full id follows when none of them finds the run alone.
const TAIL_LENGTHS: [usize; 2] = [TAIL_CHARS, 12];

/// Whether `id` names an attempt, `<id>~<n>`, as lookups read it.
#[cfg(feature = "server")]
pub(crate) fn names_attempt(id: &str) -> bool {
    split_attempt(id).is_some()
}

/// `id~attempt` split, when `id` ends in `~` and a number.
fn split_attempt(id: &str) -> Option<(&str, u32)> {
    let (head, attempt) = id.rsplit_once('~')?;
    let attempt = attempt.parse().ok().filter(|n| *n >= 1)?;
    (!head.is_empty()).then_some((head, attempt))
}

/// Whether `run_id` has the shape of a generated id.
fn is_generated(run_id: &str) -> bool {
    run_id.len() == GENERATED_ID_CHARS && uuid::Uuid::try_parse(run_id).is_ok()
}

fn run_ids(db: &mut dyn Exec, sql: &str, params: &[Param<'_>]) -> Result<Vec<String>, Error> {
    query(db, sql, params, |row| required(row.text(0)?, "run_id"))
}

fn exact(db: &mut dyn Exec, run_id: &str) -> Result<Option<String>, Error> {
    Ok(run_ids(
        db,
        "SELECT run_id FROM workflow_runs WHERE run_id = ?1",
        &[Param::text(run_id)],
    )?
    .pop())
}

/// What [`HistoryStore::resolve_run_id`] says of `id`.
fn resolve(db: &mut dyn Exec, id: &str) -> Result<RunIdMatch, Error> {
    if id.is_empty() {
        return Ok(RunIdMatch::NotFound);
    }
    if let Some(run_id) = exact(db, id)? {
        return Ok(RunIdMatch::Found(run_id));
    }
    // The first attempt is gone (retention) but later ones remain.
    if let Some(run_id) = latest_attempt(db, id)? {
        return Ok(RunIdMatch::Found(run_id));
    }
    if let Some((head, attempt)) = split_attempt(id) {
        return Ok(match resolve(db, head)? {
            RunIdMatch::Found(found) => {
                // `head` may have found a later attempt: count from the first.
                let first = run_ids(
                    db,
                    "SELECT COALESCE(first_attempt_id, run_id) FROM workflow_runs WHERE run_id = ?1",
                    &[Param::text(&found)],
                )?
                .pop()
                .unwrap_or(found);
                let wanted = if attempt == 1 {
                    first
                } else {
                    attempt_id(&first, attempt)
                };
                match exact(db, &wanted)? {
                    Some(run_id) => RunIdMatch::Found(run_id),
                    None => RunIdMatch::NotFound,
                }
            }
            other => other,
        });
    }
    let mut matches = starting_with(db, id)?;
    for run_id in ending_with(db, id)? {
        if !matches.contains(&run_id) {
            matches.push(run_id);
        }
    }
    Ok(match matches.len() {
        0 => RunIdMatch::NotFound,
        1 => RunIdMatch::Found(matches.remove(0)),
        _ => {
            matches.sort();
            matches.truncate(AMBIGUOUS_SHOWN);
            RunIdMatch::Ambiguous(matches)
        }
    })
}

/// The latest later attempt of the run first given `first`, if any.
fn latest_attempt(db: &mut dyn Exec, first: &str) -> Result<Option<String>, Error> {
    Ok(run_ids(
        db,
        "SELECT run_id FROM workflow_runs WHERE first_attempt_id = ?1 \
         ORDER BY attempt DESC LIMIT 1",
        &[Param::text(first)],
    )?
    .pop())
}

/// A few of the ids that start with `prefix`.
fn starting_with(db: &mut dyn Exec, prefix: &str) -> Result<Vec<String>, Error> {
    // Ids starting with the prefix sort right after it (byte order, as
    // SQLite's BINARY collation, PostgreSQL's "C" collation of run_id and
    // `str::starts_with` all use), so a short range scan of the primary
    // key finds them all. Later attempts are left out: they are reached
    // through their first (`<id>~<n>`), so the start of a retried run's id
    // designates the run, not each of its attempts.
    let after = run_ids(
        db,
        "SELECT run_id FROM workflow_runs WHERE run_id > ?1 AND first_attempt_id IS NULL \
         ORDER BY run_id LIMIT ?2",
        &[
            Param::text(prefix),
            Param::count(AMBIGUOUS_SHOWN as u64 + 1),
        ],
    )?;
    Ok(after
        .into_iter()
        .take_while(|run_id| run_id.starts_with(prefix))
        .collect())
}

/// A few of the generated ids that end with `tail`, when it is long
/// enough for the tail index.
fn ending_with(db: &mut dyn Exec, tail: &str) -> Result<Vec<String>, Error> {
    if !(TAIL_CHARS..=GENERATED_ID_CHARS).contains(&tail.len())
        || !tail.is_char_boundary(tail.len() - TAIL_CHARS)
    {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT run_id FROM workflow_runs WHERE {TAIL_MATCH} LIMIT ?2");
    let indexed = &tail[tail.len() - TAIL_CHARS..];
    let candidates = run_ids(
        db,
        &sql,
        &[
            Param::text(indexed),
            Param::count(AMBIGUOUS_SHOWN as u64 + 1),
        ],
    )?;
    Ok(candidates
        .into_iter()
        .filter(|run_id| run_id.ends_with(tail))
        .collect())
}

impl HistoryStore {
    /// Finds the run designated by what a person typed or copied:
    ///
    /// - a full run id (an exact id always wins);
    /// - the start of one, the way `git` accepts a short commit hash;
    /// - the tail of a generated id, at least 8 characters: what the run
    ///   list shows, since generated ids created together share their start;
    /// - `<id>~<n>`: attempt `n` of a run given the same `run_id` again
    ///   (`<id>~1` is the first attempt), where `<id>` may itself be short.
    ///
    /// ```no_run
    /// use workflow_history::{HistoryStore, RunIdMatch};
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let store = HistoryStore::open_sqlite("history.db")?;
    /// match store.resolve_run_id("5f2c9a1e")? {
    ///     RunIdMatch::Found(run_id) => println!("{:?}", store.get_run(&run_id)?),
    ///     RunIdMatch::NotFound => println!("no such run"),
    ///     RunIdMatch::Ambiguous(some) => println!("which one? {some:?}"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn resolve_run_id(&self, id: &str) -> Result<RunIdMatch, Error> {
        resolve(self.db()?.exec(), id)
    }

    /// The short form of `run_id` that [`HistoryStore::resolve_run_id`]
    /// finds this run by today (runs recorded later may make it ambiguous,
    /// as with short commit hashes):
    ///
    /// - a generated id: its last 8 characters (12, or the whole id, in
    ///   the rare case another run ends the same way);
    /// - a later attempt: the short form of the first, then `~<attempt>`;
    ///   the first attempt of a retried run: its short form, then `~1`
    ///   (its bare id designates the latest attempt where people look);
    /// - an id the application gave: its shortest start of at least
    ///   `min_chars` characters that no other id shares.
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let store = workflow_history::HistoryStore::open_sqlite("history.db")?;
    /// for run in store.list_runs(&Default::default())? {
    ///     println!("{}", store.short_run_id(&run.run_id, 8)?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn short_run_id(&self, run_id: &str, min_chars: usize) -> Result<String, Error> {
        // The first attempt of a retried run: its own id opens the latest
        // attempt (as `show` and the API do), `~1` opens it.
        if self.latest_attempt_id(run_id)?.is_some() {
            let short = format!("{}~1", self.short_first_attempt(run_id, min_chars)?);
            return self.short_if_it_finds(short, run_id, || format!("{run_id}~1"));
        }
        self.short_first_attempt(run_id, min_chars)
    }

    /// `short` if it designates `run_id` alone, else `fallback()`.
    fn short_if_it_finds(
        &self,
        short: String,
        run_id: &str,
        fallback: impl FnOnce() -> String,
    ) -> Result<String, Error> {
        let finds_it = self.resolve_run_id(&short)? == RunIdMatch::Found(run_id.to_owned());
        Ok(if finds_it { short } else { fallback() })
    }

    /// [`HistoryStore::short_run_id`] for any run but the first attempt of
    /// a retried one.
    fn short_first_attempt(&self, run_id: &str, min_chars: usize) -> Result<String, Error> {
        if let Some((first, attempt)) = split_attempt(run_id)
            && is_generated(first)
        {
            let short = format!("{}~{attempt}", self.short_first_attempt(first, min_chars)?);
            return self.short_if_it_finds(short, run_id, || run_id.to_owned());
        }
        if is_generated(run_id) {
            for chars in TAIL_LENGTHS {
                let tail =
                    &run_id[GENERATED_ID_CHARS - chars.max(min_chars).min(GENERATED_ID_CHARS)..];
                if self.resolve_run_id(tail)? == RunIdMatch::Found(run_id.to_owned()) {
                    return Ok(tail.to_owned());
                }
            }
            return Ok(run_id.to_owned());
        }
        let mut db = self.db()?;
        let mut neighbour = |sql: &str| -> Result<Option<String>, Error> {
            Ok(run_ids(db.exec(), sql, &[Param::text(run_id)])?.pop())
        };
        let before = neighbour(
            "SELECT run_id FROM workflow_runs WHERE run_id < ?1 ORDER BY run_id DESC LIMIT 1",
        )?;
        let after = neighbour(
            "SELECT run_id FROM workflow_runs WHERE run_id > ?1 ORDER BY run_id LIMIT 1",
        )?;
        // Only the neighbours in id order can share a longer start with it.
        let shared = [before, after]
            .iter()
            .flatten()
            .map(|other| common_prefix_chars(run_id, other))
            .max()
            .unwrap_or(0);
        let chars = (shared + 1).max(min_chars);
        Ok(run_id.chars().take(chars).collect())
    }

    /// Every attempt of the run `run_id` belongs to, by attempt number:
    /// the run first given that id and each later execution given it
    /// again. Empty when no run has this id.
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let store = workflow_history::HistoryStore::open_sqlite("history.db")?;
    /// for run in store.get_attempts("ingest-2025-01-10")? {
    ///     println!("attempt {}: {} {}", run.attempt, run.run_id, run.status);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn get_attempts(&self, run_id: &str) -> Result<Vec<WorkflowRun>, Error> {
        let Some(run) = self.get_run(run_id)? else {
            return Ok(Vec::new());
        };
        let first = run.first_attempt_id.unwrap_or(run.run_id);
        let sql = format!(
            "{} WHERE run_id = ?1 OR first_attempt_id = ?1 ORDER BY attempt",
            RUNS.select()
        );
        query(self.db()?.exec(), &sql, &[Param::text(first)], run_from_row)
    }

    /// The id of the latest attempt of the run first given `run_id`, when
    /// its id was given again later; `None` otherwise (and for an id that
    /// is itself a later attempt).
    ///
    /// ```no_run
    /// # fn docs() -> Result<(), workflow_history::Error> {
    /// let store = workflow_history::HistoryStore::open_sqlite("history.db")?;
    /// let id = "ingest-2025-01-10";
    /// let latest = store.latest_attempt_id(id)?.unwrap_or_else(|| id.to_owned());
    /// # Ok(()) }
    /// ```
    pub fn latest_attempt_id(&self, run_id: &str) -> Result<Option<String>, Error> {
        latest_attempt(self.db()?.exec(), run_id)
    }
}

/// How many characters two strings share at their start.
fn common_prefix_chars(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_split_off_only_when_numbered() {
        assert_eq!(split_attempt("nightly~2"), Some(("nightly", 2)));
        assert_eq!(split_attempt("a~b~10"), Some(("a~b", 10)));
        assert_eq!(split_attempt("nightly~0"), None);
        assert_eq!(split_attempt("nightly~x"), None);
        assert_eq!(split_attempt("~2"), None);
        assert_eq!(split_attempt("nightly"), None);
    }

    #[test]
    fn generated_ids_are_recognised_by_shape() {
        assert!(is_generated("01a22f5c-87b2-7158-a522-e3154397f945"));
        assert!(!is_generated("01a22f5c-87b2-7158-a522-e3154397f945~2"));
        assert!(!is_generated("nightly-2025-01-10"));
    }
}
