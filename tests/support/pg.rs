//! A PostgreSQL schema of its own per test, so tests run in parallel on one
//! server without seeing each other's history.

use std::sync::atomic::{AtomicU32, Ordering};

/// The server the PostgreSQL cases run against.
pub const PG_URL_VAR: &str = "WORKFLOW_HISTORY_TEST_PG_URL";

pub struct Schema {
    /// The test server's URL, with this schema as the search path.
    pub url: String,
    base_url: String,
    name: String,
}

impl Schema {
    /// `None` when no test server is configured.
    pub fn create() -> Option<Schema> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let base_url = std::env::var(PG_URL_VAR).ok().filter(|u| !u.is_empty())?;
        let name = format!(
            "wh_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut client = postgres::Client::connect(&base_url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("{PG_URL_VAR} is set but the server is unreachable: {e}"));
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
            ))
            .expect("create test schema");
        let separator = if base_url.contains('?') { '&' } else { '?' };
        let url = format!("{base_url}{separator}options=-csearch_path%3D{name}");
        Some(Schema {
            url,
            base_url,
            name,
        })
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.base_url, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}
