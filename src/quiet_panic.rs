//! Panics the library catches and reports itself (at the C ABI, and in a counter started
//! through it) must not also be printed by the panic hook: stderr belongs to the host. One hook
//! is installed, once, around the one before it; it stays silent only on a thread that is
//! inside [`catch`], so every other panic (the Rust API's, the host's own threads') still
//! reaches the previous hook.

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// How many [`catch`] calls are running on this thread (they nest: a batch inside a call).
    static INSIDE: Cell<u32> = const { Cell::new(0) };
}

/// Runs `body`; a panic in it is caught without being printed, and its message is the error.
pub(crate) fn catch<R>(body: impl FnOnce() -> R) -> Result<R, String> {
    install_hook();
    let _inside = Inside::enter();
    catch_unwind(AssertUnwindSafe(body)).map_err(|payload| message(payload.as_ref()).to_string())
}

/// The message of a panic: its payload when that is text.
pub(crate) fn message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic")
}

fn install_hook() {
    static INSTALL: Once = Once::new();
    // set_hook panics on a thread that is unwinding (a C call from a destructor during a
    // host's panic): that call goes without the hook rather than abort the process.
    if std::thread::panicking() {
        return;
    }
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Once the thread's slot is gone (thread teardown) nothing is inside a catch.
            if INSIDE.try_with(Cell::get).unwrap_or(0) == 0 {
                previous(info);
            }
        }));
    });
}

/// Marks the thread as inside [`catch`] until dropped, unwinding included.
struct Inside;

impl Inside {
    fn enter() -> Inside {
        let _ = INSIDE.try_with(|n| n.set(n.get() + 1));
        Inside
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        let _ = INSIDE.try_with(|n| n.set(n.get().saturating_sub(1)));
    }
}
