//! The writer's batches on PostgreSQL: one transaction, and one statement
//! per table whatever the batch size. Rows go as one array per column and
//! `UNNEST` turns them back into rows, so a batch costs three round trips
//! instead of one per row.

use std::collections::HashMap;

use postgres::types::ToSql;

use super::Connection;
use super::exec::dollar_placeholders;
use crate::Error;
use crate::backend::batch::{
    EVENT_INSERT_COLUMNS, NewEvent, RUN_CONFLICT, RUN_INSERT_COLUMNS, STEP_CONFLICT,
    STEP_INSERT_COLUMNS, event_row, run_row, step_row,
};
use crate::backend::param::Param;
use crate::model::{StepRun, WorkflowRun};

/// Column types, in the order of the insert column lists.
const RUN_TYPES: [&str; 18] = [
    "text",
    "text",
    "text",
    "text",
    "text",
    "timestamptz",
    "timestamptz",
    "float8",
    "jsonb",
    "jsonb",
    "text",
    "text",
    "jsonb",
    "text",
    "timestamptz",
    "text",
    "text",
    "text",
];
const STEP_TYPES: [&str; 18] = [
    "text",
    "text",
    "text",
    "text",
    "int8",
    "text",
    "timestamptz",
    "timestamptz",
    "float8",
    "jsonb",
    "jsonb",
    "text",
    "text",
    "int8",
    "bool",
    "jsonb",
    "text",
    "text",
];
const EVENT_TYPES: [&str; 8] = [
    "text",
    "text",
    "timestamptz",
    "text",
    "text",
    "text",
    "text",
    "jsonb",
];

/// `INSERT INTO table (columns) SELECT * FROM UNNEST(?1::type[], ...)`.
fn unnest_insert(table: &str, columns: &str, types: &[&str], conflict: &str) -> String {
    let arrays: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, ty)| format!("?{}::{ty}[]", i + 1))
        .collect();
    let sql = format!(
        "INSERT INTO {table} ({columns}) SELECT * FROM UNNEST({}){conflict}",
        arrays.join(", ")
    );
    dollar_placeholders(&sql).into_owned()
}

/// Rows turned into one array per column.
fn columns<const N: usize>(rows: impl IntoIterator<Item = [Param; N]>) -> Vec<Vec<Param>> {
    let mut columns: Vec<Vec<Param>> = (0..N).map(|_| Vec::new()).collect();
    for row in rows {
        for (column, value) in columns.iter_mut().zip(row) {
            column.push(value);
        }
    }
    columns
}

/// Keeps the last row of each key: one statement may not upsert a row
/// twice, and a run id given twice by the application would do that.
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
    /// Writes runs, then steps, then events in one transaction; returns the
    /// number of rows written. Nothing is written if any statement fails.
    pub(crate) fn write_batch<'a>(
        &mut self,
        writer_id: &str,
        runs: impl IntoIterator<Item = &'a WorkflowRun>,
        steps: impl IntoIterator<Item = &'a StepRun>,
        events: &[NewEvent],
    ) -> Result<u64, Error> {
        let runs = last_by_key(runs, |r| r.run_id.as_str());
        let steps = last_by_key(steps, |s| s.step_id.as_str());
        let statements = [
            (
                unnest_insert(
                    "workflow_runs",
                    RUN_INSERT_COLUMNS,
                    &RUN_TYPES,
                    RUN_CONFLICT,
                ),
                columns(runs.iter().map(|run| run_row(run, writer_id))),
            ),
            (
                unnest_insert(
                    "workflow_step_runs",
                    STEP_INSERT_COLUMNS,
                    &STEP_TYPES,
                    STEP_CONFLICT,
                ),
                columns(steps.iter().map(|step| step_row(step))),
            ),
            (
                unnest_insert("workflow_events", EVENT_INSERT_COLUMNS, &EVENT_TYPES, ""),
                columns(events.iter().map(event_row)),
            ),
        ];
        let mut tx = self.client()?.transaction()?;
        let mut rows = 0;
        for (sql, columns) in &statements {
            if columns.first().is_none_or(Vec::is_empty) {
                continue;
            }
            let params: Vec<&(dyn ToSql + Sync)> =
                columns.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
            rows += tx.execute(sql.as_str(), &params)?;
        }
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
        let sql = unnest_insert("t", "a, b", &["text", "int8"], "");
        assert_eq!(
            sql,
            "INSERT INTO t (a, b) SELECT * FROM UNNEST($1::text[], $2::int8[])"
        );
    }
}
