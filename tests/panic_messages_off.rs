//! `.capture_panic_messages(false)` leaves the process's panic hook alone:
//! a panic still fails its step and run, with no message to keep. A test
//! binary of its own, since the hook, once wrapped, stays for the process.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use workflow_history::{StepStatus, WorkflowStatus};

backends! {
    fn without_the_hook_a_panic_fails_the_run_without_its_message(db) {
        db.record_with(db.builder().capture_panic_messages(false), || {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                tracing::info_span!("workflow", workflow = "panics", run_id = "quiet").in_scope(|| {
                    tracing::info_span!("step", step = "transform")
                        .in_scope(|| panic!("disk on fire"));
                });
            }));
            assert!(outcome.is_err());
        });
        let run = db.only_run();
        assert_eq!(run.status, WorkflowStatus::Failed);
        let steps = db.steps("quiet");
        assert_eq!(steps[0].status, StepStatus::Failed);
        // The hook that would have kept the message was never installed.
        assert_eq!(steps[0].error.as_deref(), Some("panicked"));
        assert!(!run.error.unwrap_or_default().contains("disk on fire"));
    }
}
