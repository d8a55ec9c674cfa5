//! Folding the pending changes into the rollup, inside the transaction
//! that made them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::cover::{LEVELS, bucket_start};
use super::{SUMMARY_COLUMNS, Summary, longest};
use crate::Error;
use crate::backend::exec::{Exec, Row, query, required};
use crate::backend::liveness::fnv1a;
use crate::backend::param::Param;

/// Changes taken from the pending table per statement: a migration that
/// rolls up a whole history goes through it in pieces of this size.
const CHANGES_PER_PASS: u32 = 10_000;

/// How many locks buckets share. A transaction holds its locks until it
/// ends, and PostgreSQL's lock table has room for a few thousand in all
/// (`max_locks_per_transaction` times the connections): rolling up a
/// whole history takes at most this many. Two buckets sharing a lock only
/// make their writers take turns.
const LOCK_SLOTS: u32 = 1024;

/// Buckets read or written per statement (each binds up to 11 values).
const BUCKETS_PER_STATEMENT: usize = 200;

/// One bucket of the rollup.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    level: usize,
    bucket_start: i64,
    workflow_name: String,
    /// '' for a run without a domain.
    domain: String,
    status: String,
}

impl Key {
    fn params(&self) -> [Param<'_>; 5] {
        [
            Param::count(self.level as u64),
            Param::Int(Some(self.bucket_start)),
            Param::text(self.workflow_name.as_str()),
            Param::text(self.domain.as_str()),
            Param::text(self.status.as_str()),
        ]
    }

    /// The lock that orders writers folding into the same bucket: one of
    /// [`LOCK_SLOTS`], by a stable hash (FNV-1a) of the bucket.
    fn lock_key(&self) -> i32 {
        let level = [self.level as u8];
        let start = self.bucket_start.to_le_bytes();
        let parts: [&[u8]; 5] = [
            &level,
            &start,
            self.workflow_name.as_bytes(),
            self.domain.as_bytes(),
            self.status.as_bytes(),
        ];
        // Each part ends in 0xff, which no UTF-8 text holds.
        let bytes = parts
            .into_iter()
            .flat_map(|part| part.iter().copied().chain([0xff]));
        (fnv1a(bytes) % LOCK_SLOTS) as i32
    }
}

/// What the pending changes do to one bucket.
#[derive(Debug, Default)]
struct Change {
    /// Runs added and removed, with signed counts.
    summary: Summary,
    /// The longest duration taken away: if it was the bucket's maximum,
    /// the maximum is found again from the runs.
    removed_max_ms: Option<f64>,
}

/// Folds every pending change into the rollup and clears them; run it in
/// the transaction that made them, before it commits.
pub(crate) fn fold_pending(db: &mut dyn Exec) -> Result<(), Error> {
    loop {
        let (taken, changes) = take_pending(db)?;
        if taken > 0 {
            apply(db, changes)?;
        }
        if taken < u64::from(CHANGES_PER_PASS) {
            return Ok(());
        }
    }
}

/// Removes up to [`CHANGES_PER_PASS`] pending changes and sums them by
/// bucket; returns how many it removed, and the sums. On PostgreSQL a note another writer removed meanwhile is not
/// returned here, so each is folded in once.
fn take_pending(db: &mut dyn Exec) -> Result<(u64, BTreeMap<Key, Change>), Error> {
    let mut changes: BTreeMap<Key, Change> = BTreeMap::new();
    let (mut taken, mut unreadable) = (0, 0);
    db.for_each_row(
        "DELETE FROM workflow_rollup_pending WHERE change_id IN \
         (SELECT change_id FROM workflow_rollup_pending WHERE sign <> 0 \
          ORDER BY change_id LIMIT ?1) \
         RETURNING sign, workflow_name, domain, status, started_at, duration_ms, attempt",
        &[Param::count(u64::from(CHANGES_PER_PASS))],
        &mut |row| {
            taken += 1;
            match Note::read(row) {
                Ok(note) => note.add_to(&mut changes),
                // A run written by hand with a value the library cannot
                // read (a start that is not a time): failing here would
                // fail every write after it.
                Err(_) => unreadable += 1,
            }
            Ok(())
        },
    )?;
    if unreadable > 0 {
        mark_untrusted(db)?;
    }
    Ok((taken, changes))
}

/// Leaves a standing note that changes nothing (sign 0), which folds never
/// take: while it is there, statistics are read from the runs table alone
/// (see [`super::has_pending`]). [`rebuild`] clears it.
fn mark_untrusted(db: &mut dyn Exec) -> Result<(), Error> {
    db.execute(
        "INSERT INTO workflow_rollup_pending \
         (sign, workflow_name, status, started_at, attempt) VALUES (0, ?1, 'COMPLETED', ?2, 1)",
        &[
            Param::text("(a change the rollup could not read)"),
            Param::from(DateTime::<Utc>::UNIX_EPOCH),
        ],
    )?;
    Ok(())
}

/// Sums the rollup again from every finished run, in the caller's
/// transaction: for a history whose runs were changed by hand in a way the
/// rollup could not follow.
pub(crate) fn rebuild(db: &mut dyn Exec) -> Result<(), Error> {
    db.execute("DELETE FROM workflow_rollup", &[])?;
    db.execute("DELETE FROM workflow_rollup_pending", &[])?;
    db.execute(
        "INSERT INTO workflow_rollup_pending \
         (sign, workflow_name, domain, status, started_at, duration_ms, attempt) \
         SELECT 1, workflow_name, domain, status, started_at, duration_ms, attempt \
         FROM workflow_runs \
         WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND started_at IS NOT NULL",
        &[],
    )?;
    fold_pending(db)
}

/// One pending change, read.
struct Note {
    sign: i64,
    workflow_name: String,
    domain: String,
    status: String,
    started_at: DateTime<Utc>,
    duration_ms: Option<f64>,
    attempt: i64,
}

impl Note {
    fn read(row: &dyn Row) -> Result<Note, Error> {
        Ok(Note {
            sign: required(row.int(0)?, "sign")?.signum(),
            workflow_name: required(row.text(1)?, "workflow_name")?,
            domain: row.text(2)?.unwrap_or_default(),
            status: required(row.text(3)?, "status")?,
            started_at: required(row.time(4, "started_at")?, "started_at")?,
            duration_ms: row.float(5)?,
            attempt: required(row.int(6)?, "attempt")?,
        })
    }

    /// Adds the change to the bucket of each level it falls in.
    fn add_to(&self, changes: &mut BTreeMap<Key, Change>) {
        for level in 0..LEVELS.len() {
            let key = Key {
                level,
                bucket_start: bucket_start(level, self.started_at),
                workflow_name: self.workflow_name.clone(),
                domain: self.domain.clone(),
                status: self.status.clone(),
            };
            let change = changes.entry(key).or_default();
            change
                .summary
                .add_run(self.sign, self.attempt, self.duration_ms);
            if self.sign < 0
                && let Some(ms) = self.duration_ms
            {
                change.removed_max_ms = longest(change.removed_max_ms, Some(ms));
            }
        }
    }
}

fn apply(db: &mut dyn Exec, changes: BTreeMap<Key, Change>) -> Result<(), Error> {
    let mut locks: Vec<i32> = changes.keys().map(Key::lock_key).collect();
    locks.sort_unstable();
    locks.dedup();
    db.lock_keys(&locks)?;
    let keys: Vec<&Key> = changes.keys().collect();
    let mut stored = BTreeMap::new();
    for part in keys.chunks(BUCKETS_PER_STATEMENT) {
        read_buckets(db, part, &mut stored)?;
    }
    let mut write = Vec::new();
    for (key, change) in &changes {
        let found = stored.remove(key);
        let exists = found.is_some();
        let before = found.flatten();
        let mut after = before.clone().unwrap_or_default();
        after.merge(&change.summary);
        let stored_max = before.as_ref().and_then(|b| b.max_ms);
        let max_may_be_gone = change
            .removed_max_ms
            .is_some_and(|removed| stored_max.is_none_or(|max| removed >= max));
        let unreadable = exists && before.is_none();
        let after = if unreadable || max_may_be_gone || !after.is_consistent() {
            recount(db, key)?
        } else {
            after
        };
        if after.runs == 0 {
            if exists {
                let [level, start, name, domain, status] = key.params();
                db.execute(
                    "DELETE FROM workflow_rollup WHERE level = ?1 AND bucket_start = ?2 \
                     AND workflow_name = ?3 AND domain = ?4 AND status = ?5",
                    &[level, start, name, domain, status],
                )?;
            }
        } else {
            write.push((key, after));
        }
    }
    for part in write.chunks(BUCKETS_PER_STATEMENT) {
        write_buckets(db, part)?;
    }
    Ok(())
}

/// The stored buckets among `keys`; `None` for one that cannot be read
/// (changed by hand), which is then summed again from its runs rather than
/// failing every write that touches it.
fn read_buckets(
    db: &mut dyn Exec,
    keys: &[&Key],
    into: &mut BTreeMap<Key, Option<Summary>>,
) -> Result<(), Error> {
    let rows: Vec<String> = (0..keys.len())
        .map(|i| {
            let n = i * 5;
            format!(
                "(CAST(?{} AS BIGINT), CAST(?{} AS BIGINT), ?{}, ?{}, ?{})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5
            )
        })
        .collect();
    let params: Vec<Param> = keys.iter().flat_map(|k| k.params()).collect();
    let sql = format!(
        "SELECT level, bucket_start, workflow_name, domain, status, {SUMMARY_COLUMNS} \
         FROM workflow_rollup WHERE (level, bucket_start, workflow_name, domain, status) \
         IN (VALUES {})",
        rows.join(", ")
    );
    db.for_each_row(&sql, &params, &mut |row| {
        let key = Key {
            level: required(row.int(0)?, "level")?.max(0) as usize,
            bucket_start: required(row.int(1)?, "bucket_start")?,
            workflow_name: required(row.text(2)?, "workflow_name")?,
            domain: required(row.text(3)?, "domain")?,
            status: required(row.text(4)?, "status")?,
        };
        into.insert(key, Summary::read(row, 5).ok());
        Ok(())
    })
}

fn write_buckets(db: &mut dyn Exec, buckets: &[(&Key, Summary)]) -> Result<(), Error> {
    const WIDTH: usize = 11;
    let rows: Vec<String> = (0..buckets.len())
        .map(|i| {
            let slots: Vec<String> = (1..=WIDTH).map(|j| format!("?{}", i * WIDTH + j)).collect();
            format!("({})", slots.join(", "))
        })
        .collect();
    let encoded: Vec<Vec<u8>> = buckets.iter().map(|(_, s)| s.durations.encode()).collect();
    let mut params: Vec<Param> = Vec::with_capacity(buckets.len() * WIDTH);
    for ((key, summary), durations) in buckets.iter().zip(&encoded) {
        params.extend(key.params());
        params.extend([
            Param::Int(Some(summary.runs)),
            Param::Int(Some(summary.retries)),
            Param::Int(Some(summary.timed)),
            Param::Int(Some(summary.sum_us)),
            Param::Float(summary.max_ms),
            Param::bytes(durations),
        ]);
    }
    let sql = format!(
        "INSERT INTO workflow_rollup (level, bucket_start, workflow_name, domain, status, \
         {SUMMARY_COLUMNS}) VALUES {} \
         ON CONFLICT (level, bucket_start, workflow_name, domain, status) DO UPDATE SET \
         runs = excluded.runs, retries = excluded.retries, timed = excluded.timed, \
         duration_sum_us = excluded.duration_sum_us, duration_max_ms = excluded.duration_max_ms, \
         durations = excluded.durations",
        rows.join(", ")
    );
    db.execute(&sql, &params)?;
    Ok(())
}

/// The bucket summed again from the runs it holds: after its maximum was
/// removed, or when the rollup and its changes disagree (a change made by
/// hand to a table the library keeps).
fn recount(db: &mut dyn Exec, key: &Key) -> Result<Summary, Error> {
    let width = LEVELS[key.level];
    let at = |secs: i64| DateTime::<Utc>::from_timestamp(secs, 0).map(Param::from);
    let (Some(from), Some(to)) = (at(key.bucket_start), at(key.bucket_start + width)) else {
        return Ok(Summary::default());
    };
    let params = [
        Param::text(key.workflow_name.as_str()),
        Param::text(key.domain.as_str()),
        Param::text(key.status.as_str()),
        from,
        to,
    ];
    let runs = query(
        db,
        "SELECT attempt, duration_ms FROM workflow_runs WHERE workflow_name = ?1 \
         AND COALESCE(domain, '') = ?2 AND status = ?3 AND started_at >= ?4 AND started_at < ?5",
        &params,
        |row| Ok((required(row.int(0)?, "attempt")?, row.float(1)?)),
    )?;
    let mut summary = Summary::default();
    for (attempt, duration_ms) in runs {
        summary.add_run(1, attempt, duration_ms);
    }
    // Changes to these runs that still wait (for a later pass of this fold,
    // or committed by another connection since this pass took its notes)
    // are counted when they are folded in: the recount leaves them out.
    let waiting = query(
        db,
        "SELECT sign, attempt, duration_ms FROM workflow_rollup_pending WHERE sign <> 0 \
         AND workflow_name = ?1 AND COALESCE(domain, '') = ?2 AND status = ?3 \
         AND started_at >= ?4 AND started_at < ?5",
        &params,
        |row| {
            Ok((
                required(row.int(0)?, "sign")?.signum(),
                required(row.int(1)?, "attempt")?,
                row.float(2)?,
            ))
        },
    )?;
    for (sign, attempt, duration_ms) in waiting {
        summary.add_run(-sign, attempt, duration_ms);
    }
    Ok(summary)
}
