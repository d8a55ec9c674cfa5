//! Remembers the message of the panic unwinding on this thread, so a run or
//! step that fails by panic can say why.

use std::cell::RefCell;
use std::panic::{self, PanicHookInfo};
use std::sync::Once;

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Wraps the current panic hook once per process; the previous hook still
/// runs afterwards, so the application's own panic output is unchanged.
pub(crate) fn install_hook() {
    static INSTALL: Once = Once::new();
    if std::thread::panicking() {
        // `set_hook` itself panics when called while panicking.
        return;
    }
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            remember(info);
            previous(info);
        }));
    });
}

fn remember(info: &PanicHookInfo<'_>) {
    let payload = info.payload();
    let text = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload");
    let message = match info.location() {
        Some(at) => format!(
            "panicked at {}:{}:{}: {text}",
            at.file(),
            at.line(),
            at.column()
        ),
        None => format!("panicked: {text}"),
    };
    let _ = LAST_PANIC.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = Some(message);
        }
    });
}

/// The message of the latest panic on this thread, if the hook saw it.
pub(crate) fn last_message() -> Option<String> {
    LAST_PANIC
        .try_with(|last| last.try_borrow().ok().and_then(|m| m.clone()))
        .ok()
        .flatten()
}
