//! The writer's batches on SQLite: one transaction, a prepared upsert per
//! row (SQLite runs in-process, so a row costs no round trip).

use rusqlite::{Connection, params_from_iter};

use crate::Error;
use crate::backend::batch::{
    NewEvent, RUN_CONFLICT, RUN_INSERT_COLUMNS, STEP_CONFLICT, STEP_INSERT_COLUMNS, insert_event,
    run_row, step_row,
};
use crate::backend::exec::slots;
use crate::model::{StepRun, WorkflowRun};

/// Writes runs, then steps, then events in one transaction; returns the
/// number of rows written. Nothing is written if any statement fails.
pub(crate) fn write_batch<'a>(
    conn: &mut Connection,
    writer_id: &str,
    runs: impl IntoIterator<Item = &'a WorkflowRun>,
    steps: impl IntoIterator<Item = &'a StepRun>,
    events: &[NewEvent],
) -> Result<u64, Error> {
    let mut tx = conn.transaction()?;
    let mut rows = 0;
    {
        let mut upsert = tx.prepare_cached(&format!(
            "INSERT INTO workflow_runs ({RUN_INSERT_COLUMNS}) VALUES ({}){RUN_CONFLICT}",
            slots(18)
        ))?;
        for run in runs {
            rows += upsert.execute(params_from_iter(run_row(run, writer_id)))? as u64;
        }
        let mut upsert = tx.prepare_cached(&format!(
            "INSERT INTO workflow_step_runs ({STEP_INSERT_COLUMNS}) VALUES ({}){STEP_CONFLICT}",
            slots(18)
        ))?;
        for step in steps {
            rows += upsert.execute(params_from_iter(step_row(step)))? as u64;
        }
    }
    for event in events {
        rows += insert_event(&mut tx, event)?;
    }
    tx.commit()?;
    Ok(rows)
}
