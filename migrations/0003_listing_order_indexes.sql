-- Listings order by (started_at DESC, run_id DESC). Indexes that end in
-- started_at alone leave the run_id tie-break to a temporary sort, which
-- loads every skipped row of a deep page; ending them in run_id lets a page
-- at any offset walk the index only (offset 50,000: p99 ~100 ms -> ~3 ms
-- on a million runs).

DROP INDEX idx_workflow_runs_started;
DROP INDEX idx_workflow_runs_name_started;
DROP INDEX idx_workflow_runs_name_status_started;
DROP INDEX idx_workflow_runs_status_started;
DROP INDEX idx_workflow_runs_domain_started;
DROP INDEX idx_workflow_runs_partition_started;

CREATE INDEX idx_workflow_runs_started ON workflow_runs (started_at, run_id);
CREATE INDEX idx_workflow_runs_name_started ON workflow_runs (workflow_name, started_at, run_id);
CREATE INDEX idx_workflow_runs_name_status_started ON workflow_runs (workflow_name, status, started_at, run_id);
CREATE INDEX idx_workflow_runs_status_started ON workflow_runs (status, started_at, run_id);
CREATE INDEX idx_workflow_runs_domain_started ON workflow_runs (domain, started_at, run_id);
CREATE INDEX idx_workflow_runs_partition_started ON workflow_runs (partition_key, started_at, run_id);
