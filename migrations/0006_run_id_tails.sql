-- The run list shows a generated id (a UUIDv7) by its last 8 characters,
-- which are random, where its start is shared by every run created in the
-- same minute. This index finds a run by that tail. The expression and the
-- condition are written the same in both dialects, and queries repeat them
-- exactly, so either database uses the index.

CREATE INDEX idx_workflow_runs_id_tail ON workflow_runs (substr(run_id, 29))
    WHERE length(run_id) = 36;
