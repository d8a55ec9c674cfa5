-- How each writer shows that it lives: 'file' (an flock on
-- <database>-writers/<writer_id>, SQLite) or 'session' (a session advisory
-- lock, PostgreSQL). The system releases either when the process ends, so
-- a free lock proves the writer gone, where a process id could not (other
-- hosts, PID namespaces, hidepid). NULL for writers of older versions,
-- which only their heartbeat can speak for.

ALTER TABLE history_writers ADD COLUMN lock_kind TEXT;
