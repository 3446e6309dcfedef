//! The one place the crate catches panics from user code.
//!
//! User code runs in more places than a job's body: the destructors of its captures and of
//! its result, a `Waker`, a retry predicate. Each of them may panic, and none of them may
//! take a worker, the timer or a shutdown down with it. Every such call goes through one of
//! these helpers, so a reader can find every guarded place by searching for `unwind::`.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

/// Runs `f`, catching a panic; the payload comes back as the error.
///
/// Unwind safety is asserted: callers hand over the values `f` touches and drop or reset
/// them whatever happens, so no broken invariant is observed after a panic.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Box<dyn Any + Send>> {
    panic::catch_unwind(AssertUnwindSafe(f))
}

/// Drops `value`, ignoring a panic in its destructor (and one in the panic payload's own
/// destructor).
pub(crate) fn drop_quietly<T>(value: T) {
    if let Err(payload) = catch(move || drop(value)) {
        forget_payload(payload);
    }
}

/// Disposes of a panic payload whose own destructor may panic again.
pub(crate) fn forget_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch(move || drop(payload)) {
        // A payload that panics twice is leaked rather than risk a third time.
        std::mem::forget(again);
    }
}
