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
    level            BIGINT NOT NULL,
    bucket_start     BIGINT NOT NULL,
    workflow_name    TEXT NOT NULL,
    domain           TEXT NOT NULL,
    status           TEXT NOT NULL,
    runs             BIGINT NOT NULL,
    retries          BIGINT NOT NULL,
    timed            BIGINT NOT NULL,
    duration_sum_us  BIGINT NOT NULL,
    duration_max_ms  DOUBLE PRECISION,
    durations        BYTEA NOT NULL,
    PRIMARY KEY (level, bucket_start, workflow_name, domain, status)
);

CREATE TABLE workflow_rollup_pending (
    change_id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sign           BIGINT NOT NULL,
    workflow_name  TEXT NOT NULL,
    domain         TEXT,
    status         TEXT NOT NULL,
    started_at     TIMESTAMPTZ NOT NULL,
    duration_ms    DOUBLE PRECISION,
    attempt        BIGINT NOT NULL
);

CREATE FUNCTION workflow_runs_rollup_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF OLD.status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND OLD.started_at IS NOT NULL THEN
            INSERT INTO workflow_rollup_pending
                (sign, workflow_name, domain, status, started_at, duration_ms, attempt)
            VALUES (-1, OLD.workflow_name, OLD.domain, OLD.status, OLD.started_at,
                    OLD.duration_ms, OLD.attempt);
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF NEW.status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND NEW.started_at IS NOT NULL THEN
            INSERT INTO workflow_rollup_pending
                (sign, workflow_name, domain, status, started_at, duration_ms, attempt)
            VALUES (1, NEW.workflow_name, NEW.domain, NEW.status, NEW.started_at,
                    NEW.duration_ms, NEW.attempt);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER workflow_runs_rollup_insert AFTER INSERT ON workflow_runs
FOR EACH ROW WHEN (NEW.status IN ('COMPLETED', 'FAILED', 'CANCELLED'))
EXECUTE FUNCTION workflow_runs_rollup_note();

CREATE TRIGGER workflow_runs_rollup_update AFTER UPDATE ON workflow_runs
FOR EACH ROW WHEN (
    (OLD.workflow_name, OLD.domain, OLD.status, OLD.started_at, OLD.duration_ms, OLD.attempt)
    IS DISTINCT FROM
    (NEW.workflow_name, NEW.domain, NEW.status, NEW.started_at, NEW.duration_ms, NEW.attempt)
)
EXECUTE FUNCTION workflow_runs_rollup_note();

CREATE TRIGGER workflow_runs_rollup_delete AFTER DELETE ON workflow_runs
FOR EACH ROW WHEN (OLD.status IN ('COMPLETED', 'FAILED', 'CANCELLED'))
EXECUTE FUNCTION workflow_runs_rollup_note();

-- TRUNCATE fires no row trigger: it empties the rollup with the runs.
CREATE FUNCTION workflow_runs_rollup_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM workflow_rollup;
    DELETE FROM workflow_rollup_pending;
    RETURN NULL;
END
$$;

CREATE TRIGGER workflow_runs_rollup_truncate AFTER TRUNCATE ON workflow_runs
FOR EACH STATEMENT EXECUTE FUNCTION workflow_runs_rollup_truncated();

-- The history so far, noted as pending: folded into the rollup in the same
-- transaction as this migration.
INSERT INTO workflow_rollup_pending
    (sign, workflow_name, domain, status, started_at, duration_ms, attempt)
SELECT 1, workflow_name, domain, status, started_at, duration_ms, attempt
FROM workflow_runs
WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND started_at IS NOT NULL;
