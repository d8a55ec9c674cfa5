-- Runs, steps and the event log of workflow history.
-- Timestamps are RFC 3339 UTC text with six fraction digits and 'Z', so that
-- text order is time order. JSON objects are stored as text.

CREATE TABLE workflow_runs (
    run_id          TEXT PRIMARY KEY,
    workflow_name   TEXT NOT NULL,
    domain          TEXT,
    partition_key   TEXT,
    status          TEXT NOT NULL
        CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    started_at      TEXT,
    completed_at    TEXT,
    duration_ms     REAL,
    params          TEXT NOT NULL DEFAULT '{}',
    outputs         TEXT NOT NULL DEFAULT '{}',
    error           TEXT,
    error_category  TEXT,
    metrics         TEXT NOT NULL DEFAULT '{}',
    triggered_by    TEXT NOT NULL DEFAULT 'manual',
    created_at      TEXT NOT NULL,
    parent_run_id   TEXT,
    cancel_reason   TEXT
);

-- Every listing orders by started_at; each filter column leads an index that
-- ends in started_at so a filtered, ordered page is an index range scan.
CREATE INDEX idx_workflow_runs_started ON workflow_runs (started_at);
CREATE INDEX idx_workflow_runs_name_started ON workflow_runs (workflow_name, started_at);
CREATE INDEX idx_workflow_runs_name_status_started ON workflow_runs (workflow_name, status, started_at);
CREATE INDEX idx_workflow_runs_status_started ON workflow_runs (status, started_at);
CREATE INDEX idx_workflow_runs_domain_started ON workflow_runs (domain, started_at);
CREATE INDEX idx_workflow_runs_partition_started ON workflow_runs (partition_key, started_at);
CREATE INDEX idx_workflow_runs_parent ON workflow_runs (parent_run_id) WHERE parent_run_id IS NOT NULL;

CREATE TABLE workflow_step_runs (
    step_id            TEXT PRIMARY KEY,
    run_id             TEXT NOT NULL,
    step_name          TEXT NOT NULL,
    step_type          TEXT NOT NULL DEFAULT 'step',
    step_order         INTEGER NOT NULL,
    status             TEXT NOT NULL
        CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'SKIPPED')),
    started_at         TEXT,
    completed_at       TEXT,
    duration_ms        REAL,
    input_params       TEXT NOT NULL DEFAULT '{}',
    output_data        TEXT NOT NULL DEFAULT '{}',
    error              TEXT,
    error_category     TEXT,
    records_processed  INTEGER,
    quality_passed     INTEGER,
    quality_metrics    TEXT NOT NULL DEFAULT '{}',
    parent_step_id     TEXT,
    skip_reason        TEXT,
    UNIQUE (run_id, step_order)
);

CREATE TABLE workflow_events (
    event_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     TEXT NOT NULL,
    step_id    TEXT,
    timestamp  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    level      TEXT,
    target     TEXT,
    message    TEXT,
    fields     TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX idx_workflow_events_run ON workflow_events (run_id, timestamp, event_id);
