-- Runs, steps and the event log of workflow history, on PostgreSQL.
-- The same tables and columns as on SQLite, with native types: timestamptz
-- for times, jsonb for JSON objects (so params can be queried with JSON
-- operators), bigint for integers. Ids use the "C" collation so that they
-- sort byte by byte, as short-id lookups expect.

CREATE TABLE workflow_runs (
    run_id          TEXT COLLATE "C" PRIMARY KEY,
    workflow_name   TEXT NOT NULL,
    domain          TEXT,
    partition_key   TEXT,
    status          TEXT NOT NULL
        CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    started_at      TIMESTAMPTZ,
    completed_at    TIMESTAMPTZ,
    duration_ms     DOUBLE PRECISION,
    params          JSONB NOT NULL DEFAULT '{}',
    outputs         JSONB NOT NULL DEFAULT '{}',
    error           TEXT,
    error_category  TEXT,
    metrics         JSONB NOT NULL DEFAULT '{}',
    triggered_by    TEXT NOT NULL DEFAULT 'manual',
    created_at      TIMESTAMPTZ NOT NULL,
    parent_run_id   TEXT COLLATE "C",
    cancel_reason   TEXT
);

CREATE INDEX idx_workflow_runs_started ON workflow_runs (started_at);
CREATE INDEX idx_workflow_runs_name_started ON workflow_runs (workflow_name, started_at);
CREATE INDEX idx_workflow_runs_name_status_started ON workflow_runs (workflow_name, status, started_at);
CREATE INDEX idx_workflow_runs_status_started ON workflow_runs (status, started_at);
CREATE INDEX idx_workflow_runs_domain_started ON workflow_runs (domain, started_at);
CREATE INDEX idx_workflow_runs_partition_started ON workflow_runs (partition_key, started_at);
CREATE INDEX idx_workflow_runs_parent ON workflow_runs (parent_run_id) WHERE parent_run_id IS NOT NULL;

CREATE TABLE workflow_step_runs (
    step_id            TEXT COLLATE "C" PRIMARY KEY,
    run_id             TEXT COLLATE "C" NOT NULL,
    step_name          TEXT NOT NULL,
    step_type          TEXT NOT NULL DEFAULT 'step',
    step_order         BIGINT NOT NULL,
    status             TEXT NOT NULL
        CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'SKIPPED')),
    started_at         TIMESTAMPTZ,
    completed_at       TIMESTAMPTZ,
    duration_ms        DOUBLE PRECISION,
    input_params       JSONB NOT NULL DEFAULT '{}',
    output_data        JSONB NOT NULL DEFAULT '{}',
    error              TEXT,
    error_category     TEXT,
    records_processed  BIGINT,
    quality_passed     BOOLEAN,
    quality_metrics    JSONB NOT NULL DEFAULT '{}',
    parent_step_id     TEXT COLLATE "C",
    skip_reason        TEXT,
    UNIQUE (run_id, step_order)
);

CREATE TABLE workflow_events (
    event_id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id     TEXT COLLATE "C" NOT NULL,
    step_id    TEXT COLLATE "C",
    timestamp  TIMESTAMPTZ NOT NULL,
    kind       TEXT NOT NULL,
    level      TEXT,
    target     TEXT,
    message    TEXT,
    fields     JSONB NOT NULL DEFAULT '{}'
);

CREATE INDEX idx_workflow_events_run ON workflow_events (run_id, timestamp, event_id);
