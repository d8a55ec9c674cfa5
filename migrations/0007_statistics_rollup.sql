-- Statistics from a rollup: per workflow, domain, status and time bucket
-- (an hour, a day, 32 and 512 days), the count of finished runs, their
-- retries, and their durations: how many are timed, their sum in
-- microseconds, their maximum, and a sketch (log-spaced bins, within 1%)
-- for percentiles.
-- Only finished runs are rolled up; open ones are few and counted from the
-- runs table. `domain` is '' for a run without one.
--
-- Triggers note every change to a finished run (a close, a re-write, a
-- delete, whoever makes it) in workflow_rollup_pending, and the library
-- folds those notes into the rollup before its transaction commits, so the
-- two never disagree in a committed state. Notes left by changes made with
-- plain SQL are folded in by the next writer; until then queries read the
-- runs table instead of the rollup.

CREATE TABLE workflow_rollup (
    level            INTEGER NOT NULL,
    bucket_start     INTEGER NOT NULL,
    workflow_name    TEXT NOT NULL,
    domain           TEXT NOT NULL,
    status           TEXT NOT NULL,
    runs             INTEGER NOT NULL,
    retries          INTEGER NOT NULL,
    timed            INTEGER NOT NULL,
    duration_sum_us  INTEGER NOT NULL,
    duration_max_ms  REAL,
    durations        BLOB NOT NULL,
    PRIMARY KEY (level, bucket_start, workflow_name, domain, status)
) WITHOUT ROWID;

CREATE TABLE workflow_rollup_pending (
    change_id      INTEGER PRIMARY KEY,
    sign           INTEGER NOT NULL,
    workflow_name  TEXT NOT NULL,
    domain         TEXT,
    status         TEXT NOT NULL,
    started_at     TEXT NOT NULL,
    duration_ms    REAL,
    attempt        INTEGER NOT NULL
);

CREATE TRIGGER workflow_runs_rollup_insert AFTER INSERT ON workflow_runs
WHEN new.status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND new.started_at IS NOT NULL
BEGIN
    INSERT INTO workflow_rollup_pending
        (sign, workflow_name, domain, status, started_at, duration_ms, attempt)
    VALUES (1, new.workflow_name, new.domain, new.status, new.started_at, new.duration_ms, new.attempt);
END;

CREATE TRIGGER workflow_runs_rollup_update AFTER UPDATE ON workflow_runs
WHEN old.workflow_name IS NOT new.workflow_name OR old.domain IS NOT new.domain
    OR old.status IS NOT new.status OR old.started_at IS NOT new.started_at
    OR old.duration_ms IS NOT new.duration_ms OR old.attempt IS NOT new.attempt
BEGIN
    INSERT INTO workflow_rollup_pending
        (sign, workflow_name, domain, status, started_at, duration_ms, attempt)
    SELECT -1, old.workflow_name, old.domain, old.status, old.started_at, old.duration_ms, old.attempt
    WHERE old.status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND old.started_at IS NOT NULL;
    INSERT INTO workflow_rollup_pending
        (sign, workflow_name, domain, status, started_at, duration_ms, attempt)
    SELECT 1, new.workflow_name, new.domain, new.status, new.started_at, new.duration_ms, new.attempt
    WHERE new.status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND new.started_at IS NOT NULL;
END;

CREATE TRIGGER workflow_runs_rollup_delete AFTER DELETE ON workflow_runs
WHEN old.status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND old.started_at IS NOT NULL
BEGIN
    INSERT INTO workflow_rollup_pending
        (sign, workflow_name, domain, status, started_at, duration_ms, attempt)
    VALUES (-1, old.workflow_name, old.domain, old.status, old.started_at, old.duration_ms, old.attempt);
END;

-- The history so far, noted as pending: folded into the rollup in the same
-- transaction as this migration.
INSERT INTO workflow_rollup_pending
    (sign, workflow_name, domain, status, started_at, duration_ms, attempt)
SELECT 1, workflow_name, domain, status, started_at, duration_ms, attempt
FROM workflow_runs
WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND started_at IS NOT NULL;
