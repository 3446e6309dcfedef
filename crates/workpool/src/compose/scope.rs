//! Scoped jobs and fork-join: jobs that borrow from the caller's stack, and the guarantee
//! that makes it sound, that [`Pool::scope`] returns (or unwinds) only once every job it
//! spawned has been run or dropped.
//!
//! A scoped closure is boxed with a handle of its scope (one allocation per spawn) and its
//! lifetime erased (the one `unsafe` of this module). What a borrow needs is that no
//! closure outlives the scope, so every path that consumes a job counts it off:
//!
//! - a worker runs it. Spawned on a worker of the scope's pool, it goes to that worker's
//!   deque (`steal.rs`), which the worker takes back from, newest first, while it waits,
//!   and other workers steal from (a deque hands each job out once, to be run); spawned
//!   elsewhere, it is an `execute` job;
//! - a queue that drops it unrun (a shutdown hands it back), or a worker that leaves its loop
//!   with it still in its deque, returns it to the scope, whose owner runs it on its own
//!   thread: a scope's jobs all run, whatever happens to the pool;
//! - a submission the pool refuses runs it at once on the spawning thread.
//!
//! Whoever holds the job runs it and then counts it off; the owner waits (helping, see
//! `help.rs`) until the count is zero, and catches every panic on the way, so nothing
//! unwinds out of the scope early.

// The lifetime erasure in `Scope::spawn` is this module's only unsafe code; the module docs
// above are its argument.
#![allow(unsafe_code)]

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::help::{self, Wakeup};
use crate::pool::Pool;
use crate::steal::Boxed;
use crate::sync::{AtomicUsize, Mutex};
use crate::unwind;

/// A job of a scope, with its lifetime erased (in `Scope::spawn`, once).
type Erased = Box<dyn ScopeJob>;

/// A job of a scope, which knows its scope.
trait ScopeJob: Send {
    /// Runs the closure; it catches its own panics.
    fn run(self: Box<Self>);
    fn scope(&self) -> &Arc<ScopeState>;
}

/// A scope's job as a worker's deque holds it (`steal.rs`).
pub(crate) struct ScopedRef(Erased);

impl ScopedRef {
    pub(crate) fn run(self) {
        self.0.run();
    }

    /// Gives the job, unrun, to its scope's owner (a worker leaving its loop with it in its
    /// deque).
    pub(crate) fn hand_back(self) {
        give_back(self.0);
    }

    /// Where the job lives.
    pub(crate) fn addr(&self) -> *const () {
        std::ptr::from_ref(&*self.0).cast()
    }
}

/// Puts a job that was not run on its scope's `returned`, for the scope's owner to run.
fn give_back(job: Erased) {
    let state = Arc::clone(job.scope());
    state.returned.lock().push(job);
    state.wakeup.wake();
}

/// What a scope's owner and its jobs share.
struct ScopeState {
    /// Jobs not yet consumed (run, or run by the owner after being handed back).
    pending: AtomicUsize,
    /// Jobs a queue dropped unrun, for the owner to run.
    returned: Mutex<Vec<Erased>>,
    /// The first panic of a job; the scope resumes it once every job has ended.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    wakeup: Wakeup,
}

impl ScopeState {
    /// Runs a job's closure, keeps its panic if it is the first, and counts it off.
    fn run(&self, f: impl FnOnce()) {
        if let Err(payload) = unwind::catch(f) {
            let mut first = self.panic.lock();
            match first.is_none() {
                true => *first = Some(payload),
                false => {
                    drop(first);
                    unwind::forget_payload(payload);
                }
            }
        }
        self.count_off();
    }

    fn count_off(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.wakeup.wake();
        }
    }

    /// The owner's look while it waits: runs handed-back jobs; `Some` once every job was
    /// consumed.
    fn settle(&self) -> Option<()> {
        loop {
            let returned = self.returned.lock().pop();
            let Some(job) = returned else { break };
            job.run();
        }
        (self.pending.load(Ordering::Acquire) == 0).then_some(())
    }
}

/// A scoped closure and its scope: one allocation per spawn.
struct ScopedJob<F> {
    f: F,
    state: Arc<ScopeState>,
}

impl<F: FnOnce() + Send> ScopeJob for ScopedJob<F> {
    fn run(self: Box<Self>) {
        let ScopedJob { f, state } = *self;
        state.run(f);
    }

    fn scope(&self) -> &Arc<ScopeState> {
        &self.state
    }
}

/// A scoped job queued as an `execute` job, two words so that it fits the queue's inline
/// slot. Dropped unrun (a shutdown handed the queue back), it hands the job to the scope's
/// owner, who runs it instead.
struct Queued(Option<Erased>);

impl Queued {
    fn run(mut self) {
        if let Some(job) = self.0.take() {
            job.run();
        }
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        if let Some(job) = self.0.take() {
            give_back(job);
        }
    }
}

/// Spawns jobs that may borrow from the stack of [`Pool::scope`]'s caller.
///
/// `'scope` is the scope's own lifetime, `'env` that of what its jobs borrow, as in
/// [`std::thread::Scope`].
pub struct Scope<'scope, 'env: 'scope> {
    pool: Pool,
    state: Arc<ScopeState>,
    // Invariant in both, as `std::thread::Scope` is, so a borrow cannot be shortened to fit.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

impl<'scope> Scope<'scope, '_> {
    /// Queues `f` on the scope's pool. It may borrow anything that outlives the scope; the
    /// scope does not return until it has run.
    ///
    /// If the pool refuses the job (it has shut down, or the caller is one of its workers
    /// and the queue is full with every other worker waiting to submit), `f` runs at once
    /// on the calling thread. A job the pool drops unrun at a shutdown runs on the thread
    /// that called [`Pool::scope`], before the scope returns.
    pub fn spawn<F>(&'scope self, f: F)
    where
        F: FnOnce() + Send + 'scope,
    {
        let job: Box<dyn ScopeJob + 'scope> = Box::new(ScopedJob {
            f,
            state: Arc::clone(&self.state),
        });
        // SAFETY: the job only lives on past `'scope` if `Pool::scope` returns while it is
        // alive. `Pool::scope` returns (or resumes a panic) only after `pending`, counted up
        // here before the job is queued, is back to zero, and it is counted off only after
        // the closure has been run and dropped (see the module docs for every path).
        let job: Erased = unsafe { std::mem::transmute(job) };
        self.state.pending.fetch_add(1, Ordering::AcqRel);
        let key = help::PoolKey::of(self.pool.shared());
        let job = match help::home_of(key) {
            Some(home) => return home.push(Boxed::Scoped(ScopedRef(job))),
            None => job,
        };
        let queued = Queued(Some(job));
        if let Err(refused) = self.pool.execute(move || queued.run()) {
            let run = refused.into_inner();
            run();
        }
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("pending", &self.state.pending.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// Runs `f` with a [`Scope`] whose jobs may borrow from the caller's stack, like
    /// [`std::thread::scope`], on this pool's workers. Returns `f`'s value once every job
    /// spawned in the scope has ended.
    ///
    /// Jobs spawned on a worker of this pool (a scope opened inside a job) go to that
    /// worker's own deque, not the pool's queue: they take no place in it, and
    /// [`Pool::stats`] does not count them. Idle workers steal them; while it waits, the
    /// worker runs its unstarted ones itself, newest first, then other queued jobs of the
    /// pool: a scope inside a job never waits for a worker that is itself.
    ///
    /// # Panics
    ///
    /// If `f` panics, or a job of the scope panics, `scope` panics with that payload (`f`'s
    /// first, then the first job's) after every job has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = workpool::Pool::new(4);
    /// let mut pixels = vec![1u8; 16 * 1024];
    /// pool.scope(|s| {
    ///     for chunk in pixels.chunks_mut(4096) {
    ///         s.spawn(move || chunk.iter_mut().for_each(|p| *p *= 2));
    ///     }
    /// });
    /// assert!(pixels.iter().all(|&p| p == 2));
    /// ```
    pub fn scope<'env, F, R>(&self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        let scope = Scope {
            pool: self.clone(),
            state: Arc::new(ScopeState {
                pending: AtomicUsize::new(0),
                returned: Mutex::new(Vec::new()),
                panic: Mutex::new(None),
                wakeup: Wakeup::default(),
            }),
            scope: PhantomData,
            env: PhantomData,
        };
        let result = unwind::catch(|| f(&scope));
        let state = &scope.state;
        help::block_on(&state.wakeup, || state.settle());
        let job_panic = state.panic.lock().take();
        match (result, job_panic) {
            (Err(payload), job_panic) => {
                unwind::drop_quietly(job_panic);
                std::panic::resume_unwind(payload)
            }
            (Ok(_), Some(payload)) => std::panic::resume_unwind(payload),
            (Ok(r), None) => r,
        }
    }
}
