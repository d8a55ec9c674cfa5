//! Where the writer takes its messages from, in the order they must be
//! applied.
//!
//! Every message goes through the bounded main queue, except under
//! [`Backpressure::DropNewest`](crate::Backpressure::DropNewest): a close or
//! panic that finds the main queue full goes to a second, bounded queue
//! instead of being dropped, so no run stays open because of a full queue.
//! Such a message must still be applied after everything its span sent
//! before it, which may still wait in the main queue. It is taken off its
//! queue at once (so that queue never fills while the main one stays busy)
//! and held back until the main queue has given up every message that was
//! in it at that moment.

use std::collections::VecDeque;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

use crate::message::Msg;

pub(crate) struct Intake {
    main: Receiver<Msg>,
    overflow: Receiver<Msg>,
    /// The most overflowed messages held back at once; beyond it they wait
    /// in their own (bounded) queue.
    max_held: usize,
    /// Messages taken off the main queue so far.
    taken_from_main: u64,
    /// Overflowed messages, each with the count `taken_from_main` must
    /// reach before it is applied.
    held: VecDeque<(u64, Msg)>,
    /// Both queues are closed: every sender is gone.
    closed: bool,
}

impl Intake {
    pub(crate) fn new(main: Receiver<Msg>, overflow: Receiver<Msg>, max_held: usize) -> Self {
        Intake {
            main,
            overflow,
            max_held: max_held.max(1),
            taken_from_main: 0,
            held: VecDeque::new(),
            closed: false,
        }
    }

    /// Whether every sender is gone and nothing is left to take.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed && self.held.is_empty() && self.overflow.is_empty()
    }

    /// Moves overflowed messages aside, marking where in the main queue's
    /// order each belongs: after everything the main queue holds now.
    fn hold_overflow(&mut self) {
        while self.held.len() < self.max_held {
            let Ok(msg) = self.overflow.try_recv() else {
                return;
            };
            let mark = self.taken_from_main + self.main.len() as u64;
            self.held.push_back((mark, msg));
        }
    }

    /// The next message, without waiting.
    pub(crate) fn try_next(&mut self) -> Option<Msg> {
        self.hold_overflow();
        if self
            .held
            .front()
            .is_some_and(|(mark, _)| *mark <= self.taken_from_main)
        {
            return self.held.pop_front().map(|(_, msg)| msg);
        }
        match self.main.try_recv() {
            Ok(msg) => {
                self.taken_from_main += 1;
                Some(msg)
            }
            // An empty main queue has given up everything sent before the
            // held messages: they may all go.
            Err(TryRecvError::Empty) => self.held.pop_front().map(|(_, msg)| msg),
            Err(TryRecvError::Disconnected) => {
                self.closed = true;
                self.held.pop_front().map(|(_, msg)| msg)
            }
        }
    }

    /// The next message, waiting up to `timeout` for one. Overflowed
    /// messages only arrive while the main queue is full, so waiting on the
    /// main queue alone misses nothing.
    pub(crate) fn next_timeout(&mut self, timeout: Duration) -> Option<Msg> {
        if let Some(msg) = self.try_next() {
            return Some(msg);
        }
        match self.main.recv_timeout(timeout) {
            Ok(msg) => {
                self.taken_from_main += 1;
                Some(msg)
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                self.closed = true;
                None
            }
        }
    }

    /// Overflowed messages still held back or queued, without waiting for
    /// the main queue: what a stopping writer applies last.
    pub(crate) fn try_next_overflowed(&mut self) -> Option<Msg> {
        self.held
            .pop_front()
            .map(|(_, msg)| msg)
            .or_else(|| self.overflow.try_recv().ok())
    }

    /// Messages waiting in the main queue.
    pub(crate) fn queued(&self) -> usize {
        self.main.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::SpanKey;

    fn closed(span: u64) -> Msg {
        Msg::Closed {
            span: SpanKey(span),
            at: crate::capture::clock::TimeAnchor::new().source().now(),
        }
    }

    fn span_of(msg: &Msg) -> u64 {
        match msg {
            Msg::Closed { span, .. } => span.0,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_overflowed_close_waits_for_what_was_queued_before_it() {
        let (main_tx, main) = crossbeam_channel::bounded(4);
        let (overflow_tx, overflow) = crossbeam_channel::bounded(4);
        let mut intake = Intake::new(main, overflow, 4);
        for span in 1..=4 {
            main_tx.send(closed(span)).unwrap();
        }
        overflow_tx.send(closed(100)).unwrap();
        // Taken off its queue at once, applied after the four before it.
        assert_eq!(span_of(&intake.try_next().unwrap()), 1);
        assert!(overflow_tx.is_empty());
        main_tx.send(closed(5)).unwrap();
        let order: Vec<u64> = std::iter::from_fn(|| intake.try_next())
            .map(|m| span_of(&m))
            .collect();
        assert_eq!(order, [2, 3, 4, 100, 5]);
    }

    #[test]
    fn overflowed_messages_go_even_while_the_main_queue_never_empties() {
        let (main_tx, main) = crossbeam_channel::bounded(2);
        let (overflow_tx, overflow) = crossbeam_channel::bounded(1);
        let mut intake = Intake::new(main, overflow, 1);
        let mut next = 0;
        let mut seen = Vec::new();
        for round in 0..5u64 {
            // The main queue is full whenever a close overflows.
            while main_tx.try_send(closed(next)).is_ok() {
                next += 1;
            }
            overflow_tx.try_send(closed(100 + round)).expect("room");
            for _ in 0..3 {
                seen.push(span_of(&intake.try_next().unwrap()));
            }
        }
        let overflowed: Vec<u64> = seen.iter().copied().filter(|s| *s >= 100).collect();
        assert_eq!(overflowed, [100, 101, 102, 103, 104], "{seen:?}");
    }

    #[test]
    fn held_messages_are_bounded_and_the_rest_wait_in_their_queue() {
        let (main_tx, main) = crossbeam_channel::bounded(8);
        let (overflow_tx, overflow) = crossbeam_channel::bounded(8);
        let mut intake = Intake::new(main, overflow, 2);
        for span in 0..4 {
            main_tx.send(closed(span)).unwrap();
        }
        for span in 100..105 {
            overflow_tx.send(closed(span)).unwrap();
        }
        intake.try_next();
        assert_eq!(intake.held.len(), 2);
        assert_eq!(overflow_tx.len(), 3);
        drop((main_tx, overflow_tx));
        let rest: Vec<u64> = std::iter::from_fn(|| intake.try_next())
            .map(|m| span_of(&m))
            .collect();
        assert_eq!(rest, [1, 2, 3, 100, 101, 102, 103, 104]);
        assert!(intake.is_closed());
    }
}
