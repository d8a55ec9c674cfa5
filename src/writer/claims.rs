//! Before a run whose id the application gave is first written, its id is
//! claimed (see [`attempts`](crate::backend::attempts)), in the same
//! transaction as the rows: a retry becomes a new attempt instead of
//! overwriting the run that had the id.

use super::Writer;
use super::records::Records;
use crate::Error;
use crate::backend::Batch;
use crate::backend::attempts::claim;
use crate::backend::exec::Exec;
use crate::backend::tables::NewEvent;
use crate::model::{StepRun, WorkflowRun};

/// Everything pending, with the claims of the new runs among it.
pub(super) struct PendingBatch<'a> {
    pub(super) records: &'a mut Records,
    pub(super) writer_id: &'a str,
}

impl Batch for PendingBatch<'_> {
    fn claim(&mut self, tx: &mut dyn Exec) -> Result<(), Error> {
        let claims = self
            .records
            .unclaimed()
            .into_iter()
            .map(|(key, run, retried)| Ok((key, claim(tx, run, self.writer_id, retried)?)))
            .collect::<Result<Vec<_>, Error>>()?;
        for (key, moved) in claims {
            self.records.claimed(key, moved);
        }
        Ok(())
    }

    fn rows(&self) -> (Vec<&WorkflowRun>, Vec<&StepRun>, &[NewEvent]) {
        self.records.pending_items()
    }
}

impl Writer {
    /// Claims the new runs' ids one run per transaction, for a batch the
    /// database refused. A run whose claim the database refuses for its
    /// data stays unclaimed, and is refused with the batch's other bad
    /// records: it must never be written without its claim.
    pub(super) fn claim_one_by_one(&mut self) -> Result<(), Error> {
        let writer_id = self.chores.writer_id();
        let unclaimed: Vec<_> = self
            .records
            .unclaimed()
            .into_iter()
            .map(|(key, run, retried)| (key, run.clone(), retried))
            .collect();
        for (key, run, retried) in unclaimed {
            match self
                .db
                .transaction(|tx| claim(tx, &run, writer_id, retried))
            {
                Ok(moved) => {
                    self.records.claimed(key, moved);
                    self.records.claims_committed();
                }
                Err(e) if e.is_data_error() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
