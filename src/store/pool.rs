//! The store's connections: a pool, so reads run in parallel (the requests
//! of an HTTP server, the panels of a dashboard) and a slow query does not
//! hold up the others. A caller waits a bounded time for a connection, then
//! gets [`Error::Busy`] (an HTTP 503), never an unbounded queue.

use std::sync::Arc;
use std::time::Duration;

use crate::Error;
use crate::backend::{Database, DatabaseTarget, OpenMode};

/// Opens the pool's connections, all alike.
#[derive(Debug, Clone)]
pub(crate) struct Connector {
    pub(crate) target: DatabaseTarget,
    pub(crate) mode: OpenMode,
}

impl r2d2::ManageConnection for Connector {
    type Connection = Database;
    type Error = Error;

    fn connect(&self) -> Result<Database, Error> {
        Database::open(&self.target, self.mode)
    }

    // A connection that broke (a PostgreSQL restart) reopens itself on its
    // next statement, so none is ever thrown away, nor checked first.
    fn is_valid(&self, _: &mut Database) -> Result<(), Error> {
        Ok(())
    }

    fn has_broken(&self, _: &mut Database) -> bool {
        false
    }
}

/// Connections open at most by default: one per core (SQLite reads run in
/// this process, so more would only queue for the processor), at least two.
pub(crate) fn default_size() -> u32 {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 16) as u32
}

/// A pool of at most `size` of `connector`'s connections, opened as they
/// are needed.
pub(crate) fn build(connector: Connector, size: u32) -> Result<r2d2::Pool<Connector>, Error> {
    r2d2::Pool::builder()
        .max_size(size.max(1))
        .min_idle(Some(0))
        .test_on_check_out(false)
        // Never used: every checkout gives its own limit.
        .connection_timeout(Duration::from_secs(30))
        // Connections are opened on the pool's own thread; one is enough,
        // where r2d2 would start three for every store.
        .thread_pool(Arc::new(
            scheduled_thread_pool::ScheduledThreadPool::builder()
                .num_threads(1)
                .thread_name_pattern("workflow-history-pool-{}")
                .build(),
        ))
        .error_handler(Box::new(r2d2::NopErrorHandler))
        .event_handler(Box::new(r2d2::NopEventHandler))
        .build(connector)
        .map_err(|e| Error::Busy {
            waited: Duration::ZERO,
            detail: e.to_string(),
        })
}
