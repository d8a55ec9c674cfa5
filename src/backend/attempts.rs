//! Retries never overwrite history. A run whose given `run_id` another run
//! already has (an earlier execution, finished or still running anywhere)
//! is recorded as the next attempt, `<run_id>~<attempt>`; the writer
//! claims each given id this way before it first writes the run.

use super::exec::{Exec, query_opt};
use super::param::Param;
use super::tables::RUNS;
use crate::Error;
use crate::model::WorkflowRun;

/// Where a run was recorded instead of under the id it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attempt {
    pub(crate) run_id: String,
    pub(crate) attempt: u32,
    pub(crate) first_attempt_id: String,
}

/// Ids tried for one run before giving up: each miss means another writer
/// took that attempt meanwhile, so this many means something is wrong.
const MAX_TRIES: u32 = 100;

/// The id of attempt `attempt` of the run first given `first_attempt_id`.
pub(crate) fn attempt_id(first_attempt_id: &str, attempt: u32) -> String {
    format!("{first_attempt_id}~{attempt}")
}

/// Writes `run` as a new row under its id if no run has it (nor ever had
/// it: later attempts of a deleted first one keep it taken), else under
/// the next free attempt's id; returns that attempt when the run moved.
///
/// A plain insert that does nothing on a conflict, so two writers claiming
/// the same id at once cannot both win it, on either database. `retried`
/// says an earlier claim of this run was in a transaction whose outcome is
/// unknown (its commit failed): the row may then be the run's own.
pub(crate) fn claim(
    tx: &mut dyn Exec,
    run: &WorkflowRun,
    writer_id: &str,
    retried: bool,
) -> Result<Option<Attempt>, Error> {
    if retried && is_own(tx, &run.run_id, run, writer_id)? {
        return Ok(None);
    }
    let first = run
        .first_attempt_id
        .clone()
        .unwrap_or_else(|| run.run_id.clone());
    let base_is_free = run.first_attempt_id.is_some() || last_attempt(tx, &first)?.is_none();
    if base_is_free && insert_if_new(tx, run, writer_id)? {
        return Ok(None);
    }
    let mut moved = run.clone();
    for _ in 0..MAX_TRIES {
        let last = last_attempt(tx, &first)?.unwrap_or(1);
        let attempt = u32::try_from(last + 1).map_err(|_| Error::Corrupt {
            column: "attempt",
            detail: format!("{last} attempts of run {first}"),
        })?;
        moved.attempt = attempt;
        moved.run_id = attempt_id(&first, attempt);
        moved.first_attempt_id = Some(first.clone());
        if insert_if_new(tx, &moved, writer_id)? {
            return Ok(Some(Attempt {
                run_id: moved.run_id,
                attempt,
                first_attempt_id: first,
            }));
        }
    }
    Err(Error::WriteFailed(format!(
        "no free attempt id for run {first} after {MAX_TRIES} tries"
    )))
}

/// The number of the last later attempt of the run first given `first`,
/// if it has any.
fn last_attempt(tx: &mut dyn Exec, first: &str) -> Result<Option<i64>, Error> {
    Ok(query_opt(
        tx,
        "SELECT MAX(attempt) FROM workflow_runs WHERE first_attempt_id = ?1",
        &[Param::text(first)],
        |row| row.int(0),
    )?
    .flatten())
}

/// Whether the row at `run_id` is `run` itself, claimed by an earlier try
/// of this writer whose commit went through although the writer never
/// heard back (a connection lost during the commit): then it is already
/// claimed, and retrying must not make it an attempt of itself. Asked only
/// after such a failure: two runs of one writer created in the same
/// microsecond with one given id would look alike.
fn is_own(
    tx: &mut dyn Exec,
    run_id: &str,
    run: &WorkflowRun,
    writer_id: &str,
) -> Result<bool, Error> {
    let own = query_opt(
        tx,
        "SELECT 1 FROM workflow_runs WHERE run_id = ?1 AND writer_id = ?2 AND created_at = ?3",
        &[
            Param::text(run_id),
            Param::text(writer_id),
            Param::Time(Some(run.created_at)),
        ],
        |_| Ok(()),
    )?;
    Ok(own.is_some())
}

/// Inserts `run` unless its id is taken; whether it did.
fn insert_if_new(tx: &mut dyn Exec, run: &WorkflowRun, writer_id: &str) -> Result<bool, Error> {
    let inserted = tx.execute(&RUNS.insert_if_new(), &RUNS.values(run, writer_id))?;
    Ok(inserted == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::OpenMode;

    fn database() -> (tempfile::TempDir, rusqlite::Connection) {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn =
            crate::backend::sqlite::open(&dir.path().join("h.db"), OpenMode::Create).expect("open");
        (dir, conn)
    }

    #[test]
    fn a_taken_id_moves_to_the_next_attempt_and_a_free_one_stays() {
        let (_dir, mut conn) = database();
        let first = WorkflowRun::new("nightly", "w");
        assert_eq!(
            claim(&mut conn, &first, "writer-a", false).expect("claim"),
            None
        );
        let retry = WorkflowRun::new("nightly", "w");
        let moved = claim(&mut conn, &retry, "writer-b", false).expect("claim");
        assert_eq!(
            moved,
            Some(Attempt {
                run_id: "nightly~2".into(),
                attempt: 2,
                first_attempt_id: "nightly".into(),
            })
        );
        let third = WorkflowRun::new("nightly", "w");
        let moved = claim(&mut conn, &third, "writer-a", false).expect("claim");
        assert_eq!(moved.map(|a| a.run_id), Some("nightly~3".into()));
    }

    #[test]
    fn claiming_again_what_this_writer_already_committed_changes_nothing() {
        let (_dir, mut conn) = database();
        let run = WorkflowRun::new("nightly", "w");
        assert_eq!(
            claim(&mut conn, &run, "writer-a", false).expect("claim"),
            None
        );
        // The commit went through but the writer never heard: it tries again.
        assert_eq!(
            claim(&mut conn, &run, "writer-a", true).expect("again"),
            None
        );
        let runs: i64 = conn
            .query_row("SELECT COUNT(*) FROM workflow_runs", [], |row| row.get(0))
            .expect("count");
        assert_eq!(runs, 1);
    }

    #[test]
    fn a_first_attempt_deleted_by_retention_keeps_its_id_taken() {
        let (_dir, mut conn) = database();
        for _ in 0..2 {
            claim(
                &mut conn,
                &WorkflowRun::new("daily", "w"),
                "writer-a",
                false,
            )
            .expect("claim");
        }
        conn.execute("DELETE FROM workflow_runs WHERE run_id = 'daily'", [])
            .expect("delete the first attempt");
        let moved = claim(
            &mut conn,
            &WorkflowRun::new("daily", "w"),
            "writer-a",
            false,
        )
        .expect("claim");
        assert_eq!(
            moved.map(|a| (a.run_id, a.attempt)),
            Some(("daily~3".into(), 3))
        );
    }

    #[test]
    fn a_given_id_that_names_an_attempt_starts_its_own_attempts() {
        let (_dir, mut conn) = database();
        for _ in 0..2 {
            claim(&mut conn, &WorkflowRun::new("job", "w"), "writer-a", false).expect("claim");
        }
        // "job~2" exists as attempt 2 of "job"; given again, it is retried
        // as a run of its own, not as attempt 3 of "job".
        let moved = claim(
            &mut conn,
            &WorkflowRun::new("job~2", "w"),
            "writer-a",
            false,
        )
        .expect("claim");
        assert_eq!(
            moved,
            Some(Attempt {
                run_id: "job~2~2".into(),
                attempt: 2,
                first_attempt_id: "job~2".into(),
            })
        );
    }
}
