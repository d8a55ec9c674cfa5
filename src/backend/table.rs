//! A table described once: its columns, their types and where each value
//! comes from. Insert lists, placeholders, conflict clauses, PostgreSQL's
//! array types, select lists and the reading of rows are all derived from
//! that one description, so a new column is added in one place.

use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::exec::{Row, required};
use super::param::Param;
use crate::Error;
use crate::model::JsonMap;

/// How a column is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SqlType {
    Text,
    Int,
    Float,
    Bool,
    /// RFC 3339 text on SQLite, `timestamptz` on PostgreSQL.
    Time,
    /// JSON text on SQLite, `jsonb` on PostgreSQL.
    Json,
}

#[cfg(any(feature = "postgres", test))]
impl SqlType {
    /// The PostgreSQL type, for casting the arrays of a batch.
    pub(crate) fn postgres(self) -> &'static str {
        match self {
            SqlType::Text => "text",
            SqlType::Int => "int8",
            SqlType::Float => "float8",
            SqlType::Bool => "bool",
            SqlType::Time => "timestamptz",
            SqlType::Json => "jsonb",
        }
    }
}

/// Where the value of a column comes from when a row is written.
pub(crate) enum Source<R: 'static> {
    /// A field of the record.
    Field(for<'r> fn(&'r R) -> Param<'r>),
    /// The id of the writer that writes the batch.
    WriterId,
    /// The database assigns it (an identity column): never written.
    Generated,
}

pub(crate) struct Column<R: 'static> {
    pub(crate) name: &'static str,
    /// Only PostgreSQL's batches cast by it; SQLite takes any value.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) ty: SqlType,
    pub(crate) source: Source<R>,
}

/// A table whose rows are records of type `R`.
pub(crate) struct Table<R: 'static> {
    pub(crate) name: &'static str,
    /// The column an upsert matches on; `None` for a table that is only
    /// appended to.
    pub(crate) key: Option<&'static str>,
    /// Every column, in the order rows are bound and selected.
    pub(crate) columns: &'static [Column<R>],
    /// Columns an upsert leaves as they were first inserted.
    pub(crate) kept_on_conflict: &'static [&'static str],
}

impl<R: 'static> Table<R> {
    fn written(&self) -> impl Iterator<Item = &Column<R>> {
        self.columns
            .iter()
            .filter(|c| !matches!(c.source, Source::Generated))
    }

    /// How many values a written row has.
    pub(crate) fn width(&self) -> usize {
        self.written().count()
    }

    /// `a, b, c`: the columns a writer inserts.
    pub(crate) fn insert_columns(&self) -> String {
        join(self.written().map(|c| c.name))
    }

    /// The PostgreSQL types of the inserted columns, in order.
    #[cfg(any(feature = "postgres", test))]
    pub(crate) fn insert_types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.written().map(|c| c.ty.postgres())
    }

    /// ` ON CONFLICT (key) DO UPDATE SET c = excluded.c, ...`, or nothing for
    /// an append-only table.
    pub(crate) fn on_conflict(&self) -> String {
        let Some(key) = self.key else {
            return String::new();
        };
        let set = join(
            self.written()
                .map(|c| c.name)
                .filter(|name| *name != key && !self.kept_on_conflict.contains(name))
                .map(|name| format!("{name} = excluded.{name}")),
        );
        format!(" ON CONFLICT ({key}) DO UPDATE SET {set}")
    }

    /// `INSERT INTO t (a, b) VALUES (?1, ?2)`, without a conflict clause.
    fn insert_row(&self) -> String {
        let slots = join((1..=self.width()).map(|i| format!("?{i}")));
        format!(
            "INSERT INTO {} ({}) VALUES ({slots})",
            self.name,
            self.insert_columns()
        )
    }

    /// `INSERT INTO t (a, b) VALUES (?1, ?2)` with the conflict clause.
    pub(crate) fn insert_one(&self) -> String {
        format!("{}{}", self.insert_row(), self.on_conflict())
    }

    /// `INSERT ... ON CONFLICT (key) DO NOTHING`: writes the row only if
    /// its key is free, and says so by the count of rows it changed.
    pub(crate) fn insert_if_new(&self) -> String {
        match self.key {
            Some(key) => format!("{} ON CONFLICT ({key}) DO NOTHING", self.insert_row()),
            None => self.insert_row(),
        }
    }

    /// `SELECT <every column> FROM t`; rows read back with [`Reader`].
    pub(crate) fn select(&self) -> String {
        format!(
            "SELECT {} FROM {}",
            join(self.columns.iter().map(|c| c.name)),
            self.name
        )
    }

    /// The values of `record` to insert, in [`Table::insert_columns`] order.
    pub(crate) fn values<'r>(&self, record: &'r R, writer_id: &'r str) -> Vec<Param<'r>> {
        self.written()
            .map(|c| match &c.source {
                Source::Field(value) => value(record),
                Source::WriterId => Param::text(writer_id),
                Source::Generated => unreachable!("generated columns are not written"),
            })
            .collect()
    }

    /// The position of `name` in [`Table::select`]'s list.
    fn position(&self, name: &'static str) -> Result<usize, Error> {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| Error::Corrupt {
                column: name,
                detail: format!("not a column of {}", self.name),
            })
    }
}

fn join(parts: impl Iterator<Item = impl AsRef<str>>) -> String {
    let mut out = String::new();
    for (i, part) in parts.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(part.as_ref());
    }
    out
}

/// A row of [`Table::select`], read by column name.
pub(crate) struct Reader<'a, R: 'static> {
    row: &'a dyn Row,
    table: &'static Table<R>,
}

impl<'a, R: 'static> Reader<'a, R> {
    pub(crate) fn new(row: &'a dyn Row, table: &'static Table<R>) -> Self {
        Reader { row, table }
    }

    pub(crate) fn text(&self, name: &'static str) -> Result<Option<String>, Error> {
        self.row.text(self.table.position(name)?)
    }

    pub(crate) fn required_text(&self, name: &'static str) -> Result<String, Error> {
        required(self.text(name)?, name)
    }

    pub(crate) fn int(&self, name: &'static str) -> Result<Option<i64>, Error> {
        self.row.int(self.table.position(name)?)
    }

    pub(crate) fn boolean(&self, name: &'static str) -> Result<Option<bool>, Error> {
        self.row.boolean(self.table.position(name)?)
    }

    pub(crate) fn time(&self, name: &'static str) -> Result<Option<DateTime<Utc>>, Error> {
        self.row.time(self.table.position(name)?, name)
    }

    pub(crate) fn json(&self, name: &'static str) -> Result<JsonMap, Error> {
        self.row.json(self.table.position(name)?, name)
    }

    /// Text that must parse as `T` (a status, a kind).
    pub(crate) fn parsed<T: FromStr>(&self, name: &'static str) -> Result<T, Error> {
        let text = self.required_text(name)?;
        text.parse().map_err(|_| Error::Corrupt {
            column: name,
            detail: format!("unexpected value {text:?}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Thing {
        id: String,
        n: i64,
    }

    static THINGS: Table<Thing> = Table {
        name: "things",
        key: Some("id"),
        columns: &[
            Column {
                name: "id",
                ty: SqlType::Text,
                source: Source::Field(|t| Param::text(t.id.as_str())),
            },
            Column {
                name: "serial",
                ty: SqlType::Int,
                source: Source::Generated,
            },
            Column {
                name: "n",
                ty: SqlType::Int,
                source: Source::Field(|t| Param::Int(Some(t.n))),
            },
            Column {
                name: "born",
                ty: SqlType::Time,
                source: Source::Field(|_| Param::Time(None)),
            },
            Column {
                name: "writer",
                ty: SqlType::Text,
                source: Source::WriterId,
            },
        ],
        kept_on_conflict: &["born"],
    };

    #[test]
    fn statements_follow_the_one_description() {
        assert_eq!(
            THINGS.insert_one(),
            "INSERT INTO things (id, n, born, writer) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (id) DO UPDATE SET n = excluded.n, writer = excluded.writer"
        );
        assert_eq!(
            THINGS.insert_if_new(),
            "INSERT INTO things (id, n, born, writer) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (id) DO NOTHING"
        );
        assert_eq!(
            THINGS.select(),
            "SELECT id, serial, n, born, writer FROM things"
        );
        assert_eq!(
            THINGS.insert_types().collect::<Vec<_>>(),
            ["text", "int8", "timestamptz", "text"]
        );
        let thing = Thing {
            id: "a".into(),
            n: 7,
        };
        assert_eq!(
            THINGS.values(&thing, "w1"),
            [
                Param::text("a"),
                Param::Int(Some(7)),
                Param::Time(None),
                Param::text("w1")
            ]
        );
    }

    #[test]
    fn unknown_names_are_an_error_not_a_wrong_column() {
        assert!(THINGS.position("n").is_ok());
        assert!(matches!(
            THINGS.position("missing"),
            Err(Error::Corrupt {
                column: "missing",
                ..
            })
        ));
    }
}
