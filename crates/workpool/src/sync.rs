//! The one place that picks synchronization primitives and threads.
//!
//! Normal builds use `parking_lot` and `std::thread`. Builds with
//! `RUSTFLAGS="--cfg workpool_shuttle"` use shuttle's primitives instead, so the same pool
//! code runs under shuttle's randomized scheduler. Nothing else in the crate names a
//! concrete lock, condition variable, atomic or thread type.
//!
//! The API is parking_lot's shape: `lock()` never fails (a panicking job never runs while a
//! pool lock is held, so poisoning carries no information here) and `Condvar::wait` takes
//! the guard by `&mut`.

#[cfg(not(workpool_shuttle))]
mod imp {
    pub(crate) use parking_lot::{Mutex, MutexGuard};
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
    pub(crate) use std::thread;

    use std::time::Duration;

    /// A condition variable; waits may wake spuriously.
    #[derive(Default, Debug)]
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(parking_lot::Condvar::new())
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            self.0.wait(guard);
        }

        pub(crate) fn wait_for<T>(&self, guard: &mut MutexGuard<'_, T>, timeout: Duration) {
            let _ = self.0.wait_for(guard, timeout);
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

#[cfg(workpool_shuttle)]
mod imp {
    pub(crate) use shuttle::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
    pub(crate) use shuttle::thread;

    use std::ops::{Deref, DerefMut};
    use std::time::Duration;

    /// A mutex whose `lock` never reports poisoning, like parking_lot's.
    #[derive(Default, Debug)]
    pub(crate) struct Mutex<T>(shuttle::sync::Mutex<T>);

    /// The guard of [`Mutex`]; it holds the inner guard in an `Option` so that a condition
    /// variable can take it by value and put it back.
    pub(crate) struct MutexGuard<'a, T>(Option<shuttle::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(shuttle::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap_or_else(|e| e.into_inner())))
        }

        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner().unwrap_or_else(|e| e.into_inner())
        }

        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.0.get_mut().unwrap_or_else(|e| e.into_inner())
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_ref().expect("guard is present outside a wait")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("guard is present outside a wait")
        }
    }

    /// A condition variable; waits may wake spuriously.
    #[derive(Default, Debug)]
    pub(crate) struct Condvar(shuttle::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(shuttle::sync::Condvar::new())
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.0.take().expect("guard is present outside a wait");
            guard.0 = Some(self.0.wait(inner).unwrap_or_else(|e| e.into_inner()));
        }

        // shuttle never takes the timeout branch, so this is an untimed wait that may be
        // woken spuriously; callers re-check their condition and the clock in a loop.
        pub(crate) fn wait_for<T>(&self, guard: &mut MutexGuard<'_, T>, timeout: Duration) {
            let inner = guard.0.take().expect("guard is present outside a wait");
            let (inner, _) = self
                .0
                .wait_timeout(inner, timeout)
                .unwrap_or_else(|e| e.into_inner());
            guard.0 = Some(inner);
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

pub(crate) use imp::*;

/// How many rounds [`spin_until`] watches before it gives up: the first few are busy-wait
/// pauses, the rest yield the core (to the thread that will make the condition true, on a
/// small machine).
#[cfg(not(workpool_shuttle))]
const SPIN_ROUNDS: u32 = 64;
// Spinning only saves a park and a wake-up; under shuttle a long spin would hide the
// parking paths from the models, so they spin once.
#[cfg(workpool_shuttle)]
const SPIN_ROUNDS: u32 = 1;
const BUSY_ROUNDS: u32 = 8;

/// How many looks [`linger_until`] takes, a pause apart: a few microseconds in all.
#[cfg(not(workpool_shuttle))]
const LINGER_LOOKS: u32 = 64;
#[cfg(workpool_shuttle)]
const LINGER_LOOKS: u32 = 1;

/// Watches `done` closely for a few microseconds, with no back-off: for a wait that is
/// usually over within a few hundred nanoseconds, where every look saved is latency saved.
/// Returns `true` as soon as `done` does, `false` when the time is up.
pub(crate) fn linger_until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..LINGER_LOOKS {
        if done() {
            return true;
        }
        std::hint::spin_loop();
    }
    done()
}

/// Spins until `done` returns `true` (then returns `true`) or the spin budget runs out
/// (then `false`; the caller parks). A condition met meanwhile costs no park, no wake-up
/// system call and no context switch.
pub(crate) fn spin_until(mut done: impl FnMut() -> bool) -> bool {
    for round in 0..SPIN_ROUNDS {
        if done() {
            return true;
        }
        if round < BUSY_ROUNDS {
            for _ in 0..(1 << round) {
                std::hint::spin_loop();
            }
        } else {
            thread::yield_now();
        }
    }
    done()
}
