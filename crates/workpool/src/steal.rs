//! Work stealing for the jobs a scope or a `join` spawns on a worker.
//!
//! Such a job goes to the spawning worker's own deque instead of the pool's queue: the
//! worker takes its newest job back first when it waits (its cache still holds what the
//! job touches, and recursion nests no deeper than it recurses), and idle workers steal the
//! oldest before they park. The deques are `crossbeam-deque`'s.
//!
//! Jobs in a deque are not the pool's queued jobs: they take no place in the bounded queue
//! and are not counted in [`Stats`](crate::Stats). Each belongs to a job that started: a
//! `join`'s half to the job inside that `join`, in its own deque; a scope's job to the scope,
//! whose owner waits for it. Idle workers steal them, and a worker that leaves its loop hands
//! what its deque still holds back to the scopes (`help.rs`), so none is ever lost.
//!
//! Parking (fast/PROTOCOL.md, P7): a worker counts itself a sleeper, fences, and parks only
//! if [`Steals::any`] finds every deque empty; a spawner fences after its push before it
//! looks for sleepers. So either the worker sees the job, or the spawner sees the sleeper
//! and wakes it. No counter is shared: two workers that push and pop their own deques in a
//! tight recursion touch no common cache line.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_deque::{Steal, Stealer};

use crate::compose::join::StackJob;
use crate::compose::scope::ScopedRef;
use crate::sync::{fence, AtomicBool, Mutex};

/// A deque's item: a scope's job, or a `join`'s second closure, which stays on its owner's
/// stack.
pub(crate) enum Boxed {
    Scoped(ScopedRef),
    Stack(StackJob),
}

impl Boxed {
    /// Runs the job; it catches its own panics.
    pub(crate) fn run(self) {
        match self {
            Boxed::Scoped(job) => job.run(),
            Boxed::Stack(job) => job.run(),
        }
    }

    /// Hands the job back unrun: a worker leaving its loop with jobs in its deque.
    pub(crate) fn hand_back(self) {
        match self {
            Boxed::Scoped(job) => job.hand_back(),
            // Never left in a deque (its owner is inside `join` until it is done); running it
            // is what its owner waits for, should it ever be.
            Boxed::Stack(job) => job.run(),
        }
    }

    /// Where the job lives: what its owner compares when it takes a job back.
    pub(crate) fn addr(&self) -> *const () {
        match self {
            Boxed::Scoped(job) => job.addr(),
            Boxed::Stack(job) => job.addr(),
        }
    }
}

/// Every live worker's stealer, with the worker's id.
type Stealers = Arc<Vec<(u64, Stealer<Boxed>)>>;

/// The pool's view of its workers' deques.
#[derive(Default)]
pub(crate) struct Steals {
    /// Every live worker's stealer, by worker id; replaced whole when a worker comes or
    /// goes, so a thief looks at a snapshot without holding the lock.
    stealers: Mutex<Stealers>,
    /// Set by the first push to any deque: until then, a pool that never runs a scope or a
    /// join on a worker pays nothing for stealing (no lock on the idle path).
    used: AtomicBool,
}

impl fmt::Debug for Steals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Steals")
            .field("workers", &self.stealers.lock().len())
            .finish()
    }
}

impl Steals {
    pub(crate) fn register(&self, id: u64, stealer: Stealer<Boxed>) {
        let mut stealers = self.stealers.lock();
        let mut next: Vec<_> = stealers.iter().cloned().collect();
        next.push((id, stealer));
        *stealers = Arc::new(next);
    }

    pub(crate) fn deregister(&self, id: u64) {
        let mut stealers = self.stealers.lock();
        let next: Vec<_> = stealers.iter().filter(|(w, _)| *w != id).cloned().collect();
        *stealers = Arc::new(next);
    }

    /// After a push to a deque (P7): orders the push before the spawner's look for
    /// sleepers.
    pub(crate) fn pushed(&self) {
        if !self.used.load(Ordering::Relaxed) {
            // Before the fence, so a worker whose fence comes later sees it (P7).
            self.used.store(true, Ordering::Relaxed);
        }
        fence(Ordering::SeqCst);
    }

    /// `true` if some deque holds a job (P7: the look a worker makes, after its fence,
    /// before it parks).
    pub(crate) fn any(&self) -> bool {
        if !self.used.load(Ordering::Relaxed) {
            return false;
        }
        // A look under the lock, not a snapshot: no reference count to write (idle workers
        // look here on every round of their spin).
        self.stealers
            .lock()
            .iter()
            .any(|(_, stealer)| !stealer.is_empty())
    }

    /// Steals the oldest job of some worker's deque, if any holds one.
    pub(crate) fn steal(&self) -> Option<Boxed> {
        if !self.used.load(Ordering::Relaxed) {
            return None;
        }
        let stealers = Arc::clone(&self.stealers.lock());
        for (_, stealer) in stealers.iter() {
            loop {
                match stealer.steal() {
                    Steal::Success(job) => {
                        return Some(job);
                    }
                    Steal::Retry => continue,
                    Steal::Empty => break,
                }
            }
        }
        None
    }
}
