//! Flushing history when the process exits through `std::process::exit`,
//! which runs C `atexit` handlers but no Rust destructors.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::message::Msg;

/// How long the exit handler waits for each writer to commit.
const EXIT_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The queues of the writers to flush at exit.
static WRITERS: Mutex<Vec<Sender<Msg>>> = Mutex::new(Vec::new());

unsafe extern "C" {
    // The C library's; every platform Rust's std supports has it.
    fn atexit(callback: extern "C" fn()) -> std::ffi::c_int;
}

/// Adds `queue` to the writers flushed at exit, registering the handler
/// once per process. Returns whether the handler is in place.
pub(crate) fn flush_at_exit(queue: Sender<Msg>) -> bool {
    static REGISTER: Once = Once::new();
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    REGISTER.call_once(|| {
        // SAFETY: `flush_writers` is a plain `extern "C" fn()` that does not
        // unwind: it only locks, clones and sends, none of which panics.
        let status = unsafe { atexit(flush_writers) };
        REGISTERED.store(status == 0, Ordering::Relaxed);
    });
    match WRITERS.lock() {
        Ok(mut writers) => writers.push(queue),
        Err(poisoned) => poisoned.into_inner().push(queue),
    }
    REGISTERED.load(Ordering::Relaxed)
}

/// Asks every registered writer to commit and waits for each, bounded. A
/// writer already stopped (its guard dropped) refuses the request at once.
extern "C" fn flush_writers() {
    let writers = match WRITERS.lock() {
        Ok(writers) => writers.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    for queue in writers {
        let (answer, reply) = crossbeam_channel::bounded(1);
        if queue
            .send_timeout(Msg::Flush(answer), EXIT_FLUSH_TIMEOUT)
            .is_ok()
        {
            let _ = reply.recv_timeout(EXIT_FLUSH_TIMEOUT);
        }
    }
}
