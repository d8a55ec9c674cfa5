//! The writer's batches on PostgreSQL: one transaction, and one statement
//! per table whatever the batch size. Rows go as one array per column and
//! `UNNEST` turns them back into rows, so a batch costs three round trips
//! instead of one per row.

use std::collections::HashMap;

use postgres::types::ToSql;

use super::Connection;
use super::exec::dollar_placeholders;
use crate::Error;
use crate::backend::param::Param;
use crate::backend::table::Table;
use crate::backend::tables::{EVENTS, RUNS, STEPS};
use crate::backend::{Batch, rollup};

/// `INSERT INTO table (columns) SELECT * FROM UNNEST($1::type[], ...)`.
fn unnest_insert<R>(table: &Table<R>) -> String {
    let arrays: Vec<String> = table
        .insert_types()
        .enumerate()
        .map(|(i, ty)| format!("?{}::{ty}[]", i + 1))
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}) SELECT * FROM UNNEST({}){}",
        table.name,
        table.insert_columns(),
        arrays.join(", "),
        table.on_conflict()
    );
    dollar_placeholders(&sql).into_owned()
}

/// The records' rows turned into one array per column.
fn columns<'r, R>(
    table: &Table<R>,
    records: impl IntoIterator<Item = &'r R>,
    writer_id: &'r str,
) -> Vec<Vec<Param<'r>>>
where
    R: 'r,
{
    let mut columns: Vec<Vec<Param<'r>>> = (0..table.width()).map(|_| Vec::new()).collect();
    for record in records {
        for (column, value) in columns.iter_mut().zip(table.values(record, writer_id)) {
            column.push(value);
        }
    }
    columns
}

/// Keeps the last row of each key: one statement may not upsert a row
/// twice, and PostgreSQL would refuse the whole batch for it. Claims give
/// every run of a batch an id of its own; this guards the statement should
/// two records ever share a key all the same.
fn last_by_key<'a, T>(
    items: impl IntoIterator<Item = &'a T>,
    key: impl Fn(&T) -> &str,
) -> Vec<&'a T>
where
    T: 'a,
{
    let mut position: HashMap<&str, usize> = HashMap::new();
    let mut kept: Vec<&T> = Vec::new();
    for item in items {
        match position.get(key(item)) {
            Some(&i) => kept[i] = item,
            None => {
                position.insert(key(item), kept.len());
                kept.push(item);
            }
        }
    }
    kept
}

impl Connection {
    /// Claims the batch's new ids, then writes runs, steps and events, in
    /// one transaction; returns the number of rows written. Nothing is
    /// written if any statement fails.
    pub(crate) fn write_batch(
        &mut self,
        writer_id: &str,
        batch: &mut dyn Batch,
    ) -> Result<u64, Error> {
        let mut tx = self.write_transaction()?;
        batch.claim(&mut tx)?;
        let (runs, steps, events) = batch.rows();
        let runs = last_by_key(runs, |r| r.run_id.as_str());
        let steps = last_by_key(steps, |s| s.step_id.as_str());
        let statements = [
            (unnest_insert(&RUNS), columns(&RUNS, runs, writer_id)),
            (unnest_insert(&STEPS), columns(&STEPS, steps, writer_id)),
            (unnest_insert(&EVENTS), columns(&EVENTS, events, writer_id)),
        ];
        let mut rows = 0;
        for (sql, columns) in &statements {
            if columns.first().is_none_or(Vec::is_empty) {
                continue;
            }
            let params: Vec<&(dyn ToSql + Sync)> =
                columns.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
            rows += tx.execute(sql.as_str(), &params)?;
        }
        rollup::fold_pending(&mut tx)?;
        tx.commit()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_rows_of_a_key_replace_earlier_ones_in_place() {
        let items = [("a", 1), ("b", 2), ("a", 3)];
        let kept = last_by_key(items.iter(), |(k, _)| k);
        assert_eq!(kept, [&("a", 3), &("b", 2)]);
    }

    #[test]
    fn unnest_statement_casts_each_array() {
        let sql = unnest_insert(&EVENTS);
        assert_eq!(
            sql,
            "INSERT INTO workflow_events (run_id, step_id, timestamp, kind, level, target, \
             message, fields) SELECT * FROM UNNEST($1::text[], $2::text[], \
             $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::jsonb[])"
        );
    }
}
