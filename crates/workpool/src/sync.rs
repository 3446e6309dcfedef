//! The one place that picks synchronization primitives and threads.
//!
//! Normal builds use `parking_lot` and `std::thread`. Builds with
//! `RUSTFLAGS="--cfg workpool_shuttle"` use shuttle's primitives instead, so the same pool
//! code runs under shuttle's randomized scheduler. Nothing else in the crate names a
//! concrete lock, condition variable, atomic, fence, once-cell or thread type: clippy's
//! `disallowed-types` and `disallowed-methods` (in this crate's `clippy.toml`) refuse them
//! everywhere but here, so the models see every access the pool's protocols make.
//!
//! The API is parking_lot's shape: `lock()` never fails (a panicking job never runs while a
//! pool lock is held, so poisoning carries no information here) and `Condvar::wait` takes
//! the guard by `&mut`.

#[cfg(not(workpool_shuttle))]
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod imp {
    // Newtypes rather than re-exports: clippy sees through a re-export, and the rule is that
    // only this module names the concrete types.
    pub(crate) use parking_lot::MutexGuard;

    use std::ops::{Deref, DerefMut};
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    /// A lock whose `lock` never fails: a panicking job never runs while a pool lock is held,
    /// so poisoning would carry no information.
    #[derive(Default, Debug)]
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(parking_lot::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }

        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.0.get_mut()
        }
    }

    /// Declares an atomic newtype that dereferences to the std atomic it wraps.
    macro_rules! atomic {
        ($(#[$doc:meta])* $name:ident, $value:ty) => {
            $(#[$doc])*
            #[derive(Default, Debug)]
            #[repr(transparent)]
            pub(crate) struct $name(std::sync::atomic::$name);

            impl $name {
                pub(crate) const fn new(value: $value) -> Self {
                    Self(std::sync::atomic::$name::new(value))
                }
            }

            impl Deref for $name {
                type Target = std::sync::atomic::$name;
                fn deref(&self) -> &Self::Target {
                    &self.0
                }
            }

            impl DerefMut for $name {
                fn deref_mut(&mut self) -> &mut Self::Target {
                    &mut self.0
                }
            }
        };
    }

    atomic!(
        /// `std`'s `AtomicBool`, named here only.
        AtomicBool,
        bool
    );
    atomic!(
        /// `std`'s `AtomicU64`, named here only.
        AtomicU64,
        u64
    );
    atomic!(
        /// `std`'s `AtomicUsize`, named here only.
        AtomicUsize,
        usize
    );

    /// A memory fence.
    // The loom models' build takes the fast path's fence from `loom` below.
    #[cfg_attr(workpool_loom, allow(dead_code))]
    pub(crate) fn fence(order: Ordering) {
        std::sync::atomic::fence(order);
    }

    /// A cell written once.
    #[derive(Debug)]
    pub(crate) struct OnceLock<T>(std::sync::OnceLock<T>);

    impl<T> OnceLock<T> {
        pub(crate) const fn new() -> Self {
            Self(std::sync::OnceLock::new())
        }
    }

    impl<T> Deref for OnceLock<T> {
        type Target = std::sync::OnceLock<T>;
        fn deref(&self) -> &Self::Target {
            &self.0
        }
    }

    /// Threads: the pool starts its own only through [`spawn`](thread::spawn).
    #[allow(unused_imports)]
    // used by `help.rs` and `worker_state.rs`, which the models leave out
    pub(crate) use std::thread_local;

    pub(crate) mod thread {
        pub(crate) use std::thread::{current, JoinHandle, ThreadId};

        /// Starts a thread named `name`, with `stack_size` bytes of stack if given.
        pub(crate) fn spawn(
            name: String,
            stack_size: Option<usize>,
            f: impl FnOnce() + Send + 'static,
        ) -> std::io::Result<JoinHandle<()>> {
            let mut builder = std::thread::Builder::new().name(name);
            if let Some(size) = stack_size {
                builder = builder.stack_size(size);
            }
            builder.spawn(f)
        }

        /// Gives up the rest of this thread's time slice.
        pub(crate) fn yield_now() {
            std::thread::yield_now();
        }
    }

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
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod imp {
    pub(crate) use shuttle::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize};

    /// Threads, as in the normal build.
    pub(crate) use shuttle::thread_local;

    pub(crate) mod thread {
        pub(crate) use shuttle::thread::{current, yield_now, JoinHandle, ThreadId};

        /// Starts a thread named `name`, with `stack_size` bytes of stack if given.
        pub(crate) fn spawn(
            name: String,
            stack_size: Option<usize>,
            f: impl FnOnce() + Send + 'static,
        ) -> std::io::Result<JoinHandle<()>> {
            let mut builder = shuttle::thread::Builder::new().name(name);
            if let Some(size) = stack_size {
                builder = builder.stack_size(size);
            }
            builder.spawn(f)
        }
    }

    /// A cell written once, as `std`'s; shuttle has none, so this one makes each look a
    /// scheduling point (the flag) around std's cell, whose initializers here never block.
    #[derive(Debug)]
    pub(crate) struct OnceLock<T> {
        set: AtomicBool,
        cell: std::sync::OnceLock<T>,
    }

    impl<T> OnceLock<T> {
        pub(crate) fn new() -> Self {
            Self {
                set: AtomicBool::new(false),
                cell: std::sync::OnceLock::new(),
            }
        }

        pub(crate) fn get(&self) -> Option<&T> {
            self.set.load(std::sync::atomic::Ordering::SeqCst);
            self.cell.get()
        }

        pub(crate) fn get_or_init(&self, f: impl FnOnce() -> T) -> &T {
            self.set.load(std::sync::atomic::Ordering::SeqCst);
            let value = self.cell.get_or_init(f);
            self.set.store(true, std::sync::atomic::Ordering::SeqCst);
            value
        }
    }

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

/// The cell of the crate's unsafe slots (the ring's places, a `map` chunk's results):
/// loom's `UnsafeCell` in the loom build, which checks every access against the model's
/// memory order, and otherwise `std`'s behind the same interface (`with`, `with_mut`).
#[cfg(workpool_loom)]
pub(crate) use ::loom::cell::UnsafeCell;
#[cfg(not(workpool_loom))]
pub(crate) use cell::UnsafeCell;

#[cfg(not(workpool_loom))]
mod cell {
    /// `std`'s `UnsafeCell` with loom's interface.
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        /// Calls `f` with a pointer for reading the value.
        #[inline]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Calls `f` with a pointer for writing the value.
        #[inline]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

/// What the loom models see (built with `RUSTFLAGS="--cfg workpool_loom"`, run by
/// `scripts/test.sh`): the `usize` atomics of the fast path (the ring's, and the park/wake
/// counters, [`Waiters`](crate::fast::Waiters)), and the fence of the park/wake handshake.
/// The rest of the crate keeps the normal build's primitives there; only the loom models run
/// in that build.
///
/// Loom honours the single total order of `SeqCst` operations only partly
/// (tokio-rs/loom#180): a `SeqCst` load does not return a store that a later `SeqCst` store
/// overwrote, but only if that older store is `SeqCst` too, and loom records an atomic's
/// initial value as a release store. So a `SeqCst` load could return the initial value after
/// a `SeqCst` update that C++20 orders before it, and loom would report a lost wake-up the
/// code cannot have. [`AtomicUsize::new`] therefore stores the initial value again,
/// `SeqCst`, which changes nothing for the code (in C++20 a `SeqCst` load never returns a
/// store overwritten before it in that order, `SeqCst` or not); fast/PROTOCOL.md ("Checking
/// P1 and P3 with loom") argues why the models are then exact for the handshake.
#[cfg(workpool_loom)]
pub(crate) mod loom {
    use std::ops::Deref;
    use std::sync::atomic::Ordering;

    pub(crate) use loom::sync::atomic::fence;

    /// Loom's `AtomicUsize`, whose initial value loom counts as a `SeqCst` store.
    #[derive(Debug)]
    pub(crate) struct AtomicUsize(loom::sync::atomic::AtomicUsize);

    impl AtomicUsize {
        pub(crate) fn new(value: usize) -> Self {
            let atomic = loom::sync::atomic::AtomicUsize::new(value);
            atomic.store(value, Ordering::SeqCst);
            Self(atomic)
        }
    }

    impl Default for AtomicUsize {
        fn default() -> Self {
            Self::new(0)
        }
    }

    impl Deref for AtomicUsize {
        type Target = loom::sync::atomic::AtomicUsize;
        fn deref(&self) -> &Self::Target {
            &self.0
        }
    }
}

/// A lock around a value the pool hands to the user and never touches again (a job's error
/// value inside a `TaskError`, which must be `Sync` without asking that of the error type).
/// No protocol of the pool goes through it, so the models need not see it.
#[allow(clippy::disallowed_types)]
pub(crate) type ValueLock<T> = std::sync::Mutex<T>;

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
