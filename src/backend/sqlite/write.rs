//! The writer's batches on SQLite: one transaction, a prepared upsert per
//! row (SQLite runs in-process, so a row costs no round trip).

use rusqlite::{Connection, TransactionBehavior, params_from_iter};

use crate::Error;
use crate::backend::table::Table;
use crate::backend::tables::{EVENTS, RUNS, STEPS};
use crate::backend::{Batch, rollup};

/// Claims the batch's new ids, then writes runs, steps and events, in one
/// transaction; returns the number of rows written. Nothing is written if
/// any statement fails.
pub(crate) fn write_batch(
    conn: &mut Connection,
    writer_id: &str,
    batch: &mut dyn Batch,
) -> Result<u64, Error> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    batch.claim(&mut tx)?;
    let (runs, steps, events) = batch.rows();
    let mut rows = write_all(&tx, &RUNS, runs, writer_id)?;
    rows += write_all(&tx, &STEPS, steps, writer_id)?;
    rows += write_all(&tx, &EVENTS, events, writer_id)?;
    rollup::fold_pending(&mut tx)?;
    tx.commit()?;
    Ok(rows)
}

fn write_all<'a, R: 'static>(
    conn: &Connection,
    table: &Table<R>,
    records: impl IntoIterator<Item = &'a R>,
    writer_id: &str,
) -> Result<u64, Error> {
    let mut statement = conn.prepare_cached(&table.insert_one())?;
    let mut rows = 0;
    for record in records {
        rows += statement.execute(params_from_iter(table.values(record, writer_id)))? as u64;
    }
    Ok(rows)
}
