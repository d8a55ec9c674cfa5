//! Statistics and counts answered from the runs table alone, as before the
//! statistics rollup: the comparison a benchmark measures in the same run.

use std::path::Path;

use rusqlite::Connection;

/// While this lives, a change waits to be folded into the rollup (a note
/// that changes nothing), so a store that cannot write answers from
/// `workflow_runs` alone.
pub struct RunsTableOnly(Connection);

/// The note's workflow name, which no run has.
const NO_CHANGE: &str = "(benchmark: runs table only)";

impl RunsTableOnly {
    pub fn new(path: &Path) -> Self {
        let conn = Connection::open(path).expect("open for writing");
        conn.execute(
            "INSERT INTO workflow_rollup_pending (sign, workflow_name, status, started_at, attempt) \
             VALUES (0, ?1, 'COMPLETED', '1970-01-01T00:00:00.000000Z', 1)",
            [NO_CHANGE],
        )
        .expect("note a change");
        RunsTableOnly(conn)
    }
}

impl Drop for RunsTableOnly {
    fn drop(&mut self) {
        let _ = self.0.execute(
            "DELETE FROM workflow_rollup_pending WHERE workflow_name = ?1",
            [NO_CHANGE],
        );
    }
}
