-- A run_id given again (a retry) no longer overwrites the run that has it:
-- the new execution is recorded as attempt 2, 3, ... under the id
-- '<run_id>~<attempt>', with first_attempt_id naming the first attempt.
-- Every run recorded before this version is a first attempt.

ALTER TABLE workflow_runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE workflow_runs ADD COLUMN first_attempt_id TEXT;

CREATE INDEX idx_workflow_runs_first_attempt ON workflow_runs (first_attempt_id, attempt)
    WHERE first_attempt_id IS NOT NULL;
