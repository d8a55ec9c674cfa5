-- Every writer registers itself and keeps a heartbeat, and every run names
-- the writer that records it: a run left RUNNING by a writer that is gone
-- can then be recognised and closed as abandoned.

CREATE TABLE history_writers (
    writer_id         TEXT COLLATE "C" PRIMARY KEY,
    host              TEXT NOT NULL,
    pid               BIGINT NOT NULL,
    started_at        TIMESTAMPTZ NOT NULL,
    heartbeat_at      TIMESTAMPTZ NOT NULL,
    stopped_at        TIMESTAMPTZ,
    messages_dropped  BIGINT NOT NULL DEFAULT 0,
    records_lost      BIGINT NOT NULL DEFAULT 0
);

ALTER TABLE workflow_runs ADD COLUMN writer_id TEXT COLLATE "C";

-- Recovery looks only at open runs, a tiny part of the table.
CREATE INDEX idx_workflow_runs_open_writer ON workflow_runs (writer_id)
    WHERE status IN ('PENDING', 'RUNNING');
