//! When the writer commits, how much it takes in before it does, and how it
//! retries: the batching policy, apart from the thread that follows it.
//!
//! - Normally a commit happens when a batch (`batch_size` messages) has
//!   been taken, or `flush_interval` after the oldest uncommitted change.
//! - While commits fail (a locked or full database, a server restarting),
//!   attempts are spaced by a doubling backoff, and meanwhile the writer
//!   takes in everything queued: the pending records, not the queue, absorb
//!   the outage, so callers never wait for the database.
//! - A flush request or a stop commits at once, backoff or not.

use std::time::{Duration, Instant};

/// First and longest wait before retrying a failed commit.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub(crate) struct Batching {
    batch_size: usize,
    flush_interval: Duration,
    /// When the oldest uncommitted change arrived.
    oldest_change: Option<Instant>,
    /// Messages taken since the last commit attempt.
    taken: usize,
    /// The failed commit's next attempt, and the wait that led to it.
    retry: Option<(Instant, Duration)>,
}

impl Batching {
    pub(crate) fn new(batch_size: usize, flush_interval: Duration) -> Self {
        Batching {
            batch_size: batch_size.max(1),
            flush_interval,
            oldest_change: None,
            taken: 0,
            retry: None,
        }
    }

    /// A message that changes history was taken at `now`.
    pub(crate) fn took(&mut self, now: Instant) {
        self.oldest_change.get_or_insert(now);
        self.taken += 1;
    }

    /// Whether to take another message before committing: until a batch is
    /// full, and without limit while commits fail.
    pub(crate) fn wants_more(&self) -> bool {
        self.retry.is_some() || self.taken < self.batch_size
    }

    /// Whether commits are failing.
    pub(crate) fn is_retrying(&self) -> bool {
        self.retry.is_some()
    }

    /// Whether to commit now. `pending`: anything awaits a commit;
    /// `urgent`: a flush was asked for, or the writer is stopping.
    pub(crate) fn commit_due(&self, now: Instant, pending: bool, urgent: bool) -> bool {
        if !pending {
            return false;
        }
        if urgent {
            return true;
        }
        if let Some((at, _)) = self.retry {
            return now >= at;
        }
        self.taken >= self.batch_size
            || self
                .oldest_change
                .is_some_and(|oldest| now >= oldest + self.flush_interval)
    }

    /// A commit succeeded: everything pending is written.
    pub(crate) fn committed(&mut self) {
        self.oldest_change = None;
        self.taken = 0;
        self.retry = None;
    }

    /// A commit failed at `now`; returns when the next attempt is due.
    pub(crate) fn failed(&mut self, now: Instant) -> Instant {
        self.taken = 0;
        let backoff = self
            .retry
            .map_or(FIRST_BACKOFF, |(_, last)| (last * 2).min(MAX_BACKOFF));
        let at = now + backoff;
        self.retry = Some((at, backoff));
        at
    }

    /// When something is next due: a retry, a flush of what is pending, or
    /// else `idle_until` (the next chore).
    pub(crate) fn next_due(&self, idle_until: Instant) -> Instant {
        if let Some((at, _)) = self.retry {
            return at.min(idle_until);
        }
        match self.oldest_change {
            Some(oldest) => (oldest + self.flush_interval).min(idle_until),
            None => idle_until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_full_batch_or_the_flush_interval_makes_a_commit_due() {
        let t0 = Instant::now();
        let mut b = Batching::new(3, 100 * MS);
        assert!(!b.commit_due(t0, false, false));
        b.took(t0);
        b.took(t0);
        assert!(b.wants_more());
        assert!(!b.commit_due(t0 + 99 * MS, true, false));
        assert!(b.commit_due(t0 + 100 * MS, true, false));
        b.took(t0);
        assert!(!b.wants_more());
        assert!(b.commit_due(t0, true, false));
        assert!(b.commit_due(t0, true, true));
        b.committed();
        assert!(!b.commit_due(t0 + 200 * MS, true, false));
    }

    #[test]
    fn while_commits_fail_everything_queued_is_taken_in() {
        let t0 = Instant::now();
        let mut b = Batching::new(2, 100 * MS);
        b.took(t0);
        b.took(t0);
        assert!(!b.wants_more());
        b.failed(t0);
        // The queue must not fill while the database is out: take on.
        for _ in 0..10_000 {
            assert!(b.wants_more());
            b.took(t0);
        }
        assert!(b.is_retrying());
        b.committed();
        assert!(!b.is_retrying());
        assert!(b.wants_more());
    }

    #[test]
    fn retries_back_off_and_a_flush_does_not_wait_for_them() {
        let t0 = Instant::now();
        let mut b = Batching::new(10, 100 * MS);
        b.took(t0);
        let first = b.failed(t0);
        assert_eq!(first, t0 + FIRST_BACKOFF);
        assert!(!b.commit_due(t0, true, false));
        assert!(b.commit_due(t0, true, true));
        assert!(b.commit_due(first, true, false));
        let second = b.failed(first);
        assert_eq!(second - first, 2 * FIRST_BACKOFF);
        let mut at = second;
        for _ in 0..20 {
            at = b.failed(at);
        }
        assert_eq!(b.next_due(at + Duration::from_secs(60)), at);
        assert!(b.failed(at) - at <= MAX_BACKOFF);
    }

    #[test]
    fn next_due_is_the_earliest_of_flush_retry_and_chore() {
        let t0 = Instant::now();
        let mut b = Batching::new(10, 100 * MS);
        let chore = t0 + Duration::from_secs(10);
        assert_eq!(b.next_due(chore), chore);
        b.took(t0);
        assert_eq!(b.next_due(chore), t0 + 100 * MS);
        assert_eq!(b.next_due(t0 + MS), t0 + MS);
    }
}
