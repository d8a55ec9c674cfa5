//! When the database refuses a batch for its data (a constraint, a value it
//! cannot store), retrying the batch can never succeed and would block all
//! history after it. The writer then writes the batch one record at a time,
//! keeps what is accepted, and drops and counts what is refused.

use std::collections::HashSet;

use super::Writer;
use crate::Error;
use crate::backend::Rows;
use crate::setup::stats::Counters;

/// How one record fared on its own.
enum Outcome {
    Written(u64),
    Refused,
}

fn one(result: Result<u64, Error>) -> Result<Outcome, Error> {
    match result {
        Ok(rows) => Ok(Outcome::Written(rows)),
        Err(e) if e.is_data_error() => Ok(Outcome::Refused),
        Err(e) => Err(e),
    }
}

impl Writer {
    /// Writes every pending record in a transaction of its own. Returns an
    /// error, leaving the rest pending, if the database fails for another
    /// reason meanwhile (then the batch is retried as usual).
    pub(super) fn salvage(&mut self) -> Result<(), Error> {
        self.claim_one_by_one()?;
        // A run whose claim was refused: nothing of it is written.
        let unclaimed: HashSet<String> = self
            .records
            .unclaimed()
            .into_iter()
            .map(|(_, run, _)| run.run_id.clone())
            .collect();
        let writer_id = self.chores.writer_id().to_owned();
        let (runs, steps, events) = self.records.pending_items();
        let (mut rows, mut refused) = (0, 0);
        // A run that is refused takes its steps and events with it, so
        // nothing of it appears half recorded.
        let mut refused_runs: HashSet<&str> = HashSet::new();
        // Runs and steps are upserts: writing one again later is harmless.
        for run in runs {
            if unclaimed.contains(&run.run_id) {
                refused += 1;
                refused_runs.insert(&run.run_id);
                continue;
            }
            let mut batch = Rows {
                runs: &[run],
                steps: &[],
                events: &[],
            };
            match one(self.db.write_batch(&writer_id, &mut batch))? {
                Outcome::Written(n) => rows += n,
                Outcome::Refused => {
                    refused += 1;
                    refused_runs.insert(&run.run_id);
                }
            }
        }
        for step in steps {
            if refused_runs.contains(step.run_id.as_str()) || unclaimed.contains(&step.run_id) {
                refused += 1;
                continue;
            }
            let mut batch = Rows {
                runs: &[],
                steps: &[step],
                events: &[],
            };
            match one(self.db.write_batch(&writer_id, &mut batch))? {
                Outcome::Written(n) => rows += n,
                Outcome::Refused => refused += 1,
            }
        }
        // Events are inserts: each one written is forgotten at once, so a
        // failure midway never writes it twice.
        let events = events.to_vec();
        let refused_runs: HashSet<String> = refused_runs.into_iter().map(str::to_owned).collect();
        for (written, event) in events.iter().enumerate() {
            if refused_runs.contains(&event.run_id) || unclaimed.contains(&event.run_id) {
                refused += 1;
                continue;
            }
            let mut batch = Rows {
                runs: &[],
                steps: &[],
                events: std::slice::from_ref(event),
            };
            let outcome = one(self.db.write_batch(&writer_id, &mut batch));
            match outcome {
                Ok(Outcome::Written(n)) => rows += n,
                Ok(Outcome::Refused) => refused += 1,
                Err(e) => {
                    self.records.forget_events(written);
                    return Err(e);
                }
            }
        }
        Counters::add(&self.counters.rows_written, rows);
        Counters::add(&self.counters.records_lost, refused);
        self.records.committed();
        Ok(())
    }
}
