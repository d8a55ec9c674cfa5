//! Paging through a listing: by offset, and by keyset (`RunFilter::after`),
//! which must give the same runs in the same order, none twice.

mod support;

use tracing::info_span;
use workflow_history::{RunCursor, RunFilter};

backends! {
    fn keyset_pages_walk_the_listing_exactly_once(db) {
        db.record(|| {
            for i in 0..23 {
                // Same-microsecond starts are likely here: the run id breaks ties.
                info_span!("workflow", workflow = "paged", run_id = %format!("run-{i:02}"))
                    .in_scope(|| {});
            }
        });
        let store = db.store();
        let everything: Vec<String> = store
            .list_runs(&RunFilter { limit: 100, ..RunFilter::default() })
            .expect("list")
            .into_iter()
            .map(|run| run.run_id)
            .collect();
        assert_eq!(everything.len(), 23);

        let mut filter = RunFilter { limit: 5, ..RunFilter::default() };
        let mut by_keyset = Vec::new();
        loop {
            let page = store.list_runs(&filter).expect("page");
            assert!(page.len() <= 5);
            let Some(last) = page.last() else { break };
            filter.after = RunCursor::after(last);
            by_keyset.extend(page.into_iter().map(|run| run.run_id));
        }
        assert_eq!(by_keyset, everything);

        // The cursor combines with filters and counts what is left.
        let after_ten = RunFilter {
            after: RunCursor::after(&store.get_run(&everything[9]).expect("get").expect("run")),
            ..RunFilter::default()
        };
        assert_eq!(store.count_runs(&after_ten).expect("count"), 13);
    }
}
