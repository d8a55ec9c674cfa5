//! Before a run whose id the application gave is first written, its id is
//! claimed (see [`attempts`](crate::backend::attempts)): a retry becomes a
//! new attempt instead of overwriting the run that had the id.

use super::Writer;
use crate::Error;
use crate::backend::attempts::{Attempt, claim};
use crate::message::SpanKey;

impl Writer {
    /// Claims the given ids of the runs about to be written for the first
    /// time, in one transaction, and moves the runs that must become later
    /// attempts. A claim the database refuses for its data is left to the
    /// batch, which salvages what it can as for any refused record.
    pub(super) fn claim_given_ids(&mut self) -> Result<(), Error> {
        let unclaimed = self.records.unclaimed();
        if unclaimed.is_empty() {
            return Ok(());
        }
        let writer_id = self.chores.writer_id();
        let all = self.db.transaction(|tx| {
            unclaimed
                .iter()
                .map(|(key, run)| Ok((*key, claim(tx, run, writer_id)?)))
                .collect::<Result<Vec<_>, Error>>()
        });
        let claims: Vec<(SpanKey, Option<Attempt>)> = match all {
            Err(e) if e.is_data_error() => {
                let mut claims = Vec::with_capacity(unclaimed.len());
                for (key, run) in &unclaimed {
                    match self.db.transaction(|tx| claim(tx, run, writer_id)) {
                        Ok(moved) => claims.push((*key, moved)),
                        Err(e) if e.is_data_error() => claims.push((*key, None)),
                        Err(e) => return Err(e),
                    }
                }
                claims
            }
            other => other?,
        };
        for (key, moved) in claims {
            self.records.claimed(key, moved);
        }
        Ok(())
    }
}
