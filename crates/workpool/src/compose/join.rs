//! Fork-join: [`Pool::join`] runs two closures, potentially in parallel, and returns both
//! results.
//!
//! On a worker of the pool, `b` goes to the worker's own deque (`steal.rs`) and `a` runs
//! at once; then the worker takes `b` back from the top of its deque and runs it too,
//! unless an idle worker stole it meanwhile, in which case it waits for the thief, helping
//! (`help.rs`). So a recursive `join` costs one allocation and a deque push and pop per
//! level, and nests no deeper than it recurses. Off a worker, `join` is a [`Pool::scope`]
//! with one job.
//!
//! Like a scope's, `b`'s lifetime is erased to sit in the deque (the `unsafe` below): `join`
//! returns, or unwinds, only after `b` has been run and dropped.

// The lifetime erasure below is the only unsafe code outside `queue/raw/` and
// `compose/scope.rs`; the module docs above are its argument.
#![allow(unsafe_code)]

use std::any::Any;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::help::{self, PoolKey, Wakeup};
use crate::pool::Pool;
use crate::steal::LocalJob;
use crate::sync::{AtomicBool, Mutex};
use crate::unwind;

type Outcome<R> = Result<R, Box<dyn Any + Send>>;

/// `b` of a join, on its way through the deque, and where its result comes back.
struct JoinJob<B, R> {
    b: Mutex<Option<B>>,
    result: Mutex<Option<Outcome<R>>>,
    /// Set once `result` holds what `b` did.
    done: AtomicBool,
    /// Wakes the owner, if it waits for a thief.
    wakeup: Wakeup,
}

impl<B: FnOnce() -> R + Send, R: Send> JoinJob<B, R> {
    /// Runs `b` if no one has yet; `true` if this call did.
    fn run_here(&self) -> bool {
        let b = self.b.lock().take();
        let Some(b) = b else { return false };
        let outcome = unwind::catch(b);
        *self.result.lock() = Some(outcome);
        self.done.store(true, Ordering::Release);
        true
    }

    fn take_result(&self) -> Outcome<R> {
        self.result
            .lock()
            .take()
            .expect("a join's second closure has run once it is done")
    }
}

impl<B: FnOnce() -> R + Send, R: Send> LocalJob for JoinJob<B, R> {
    fn run(self: Arc<Self>) {
        if self.run_here() {
            self.wakeup.wake();
        }
    }
}

impl Pool {
    /// Runs `a` and `b`, potentially in parallel, and returns both results. Both may borrow
    /// from the caller's stack.
    ///
    /// On a worker of this pool (a `join` inside a job), `b` goes to the worker's own deque
    /// and `a` runs at once; the worker then runs `b` too, unless an idle worker stole it.
    /// Off a worker, `b` is queued like a [`scope`](Pool::scope)'s job and `a` runs on the
    /// calling thread. Safe anywhere, even inside a job of a one-worker pool: a worker that
    /// waits for `b` runs it, or other jobs, itself.
    ///
    /// # Panics
    ///
    /// If either panics, `join` panics with that payload (`a`'s if both do) once both have
    /// ended.
    ///
    /// # Examples
    ///
    /// ```
    /// fn sum(pool: &workpool::Pool, v: &[u64]) -> u64 {
    ///     if v.len() <= 1024 {
    ///         return v.iter().sum();
    ///     }
    ///     let (left, right) = v.split_at(v.len() / 2);
    ///     let (a, b) = pool.join(|| sum(pool, left), || sum(pool, right));
    ///     a + b
    /// }
    /// let pool = workpool::Pool::new(2);
    /// let v: Vec<u64> = (1..=100_000).collect();
    /// assert_eq!(sum(&pool, &v), 5_000_050_000);
    /// ```
    pub fn join<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        let key = PoolKey::of(self.shared());
        if !help::is_worker_of(key) {
            return self.join_off_worker(a, b);
        }
        let job = Arc::new(JoinJob {
            b: Mutex::new(Some(b)),
            result: Mutex::new(None),
            done: AtomicBool::new(false),
            wakeup: Wakeup::default(),
        });
        let local: Arc<dyn LocalJob + '_> = job.clone();
        // SAFETY: the deque's reference may outlive `b`'s borrows only if `join` returns or
        // unwinds while `b` has not run. Below, `join` returns only after `b` ran (here, or
        // on a thief that set `done`), catching `a`'s panic first; a job in a deque is only
        // ever taken to be run (`steal.rs`), and a worker never leaves its loop with a job
        // in its deque, since its owner frame waits for it. Once run, the job holds no
        // borrow: `b` was taken out, and its result is taken below.
        let local: Arc<dyn LocalJob> = unsafe { std::mem::transmute(local) };
        let pushed = help::push_local(key, local);
        let ra = unwind::catch(a);
        let ran_here = match pushed {
            Ok(()) => help::take_back(Arc::as_ptr(&job).cast()) && job.run_here(),
            Err(_) => job.run_here(),
        };
        if !ran_here {
            help::block_on(&job.wakeup, || {
                job.done.load(Ordering::Acquire).then_some(())
            });
        }
        let rb = job.take_result();
        match (ra, rb) {
            (Ok(ra), Ok(rb)) => (ra, rb),
            (Err(payload), rb) => {
                unwind::drop_quietly(rb);
                std::panic::resume_unwind(payload)
            }
            (Ok(ra), Err(payload)) => {
                unwind::drop_quietly(ra);
                std::panic::resume_unwind(payload)
            }
        }
    }

    /// `join` from a thread that is not a worker of this pool.
    fn join_off_worker<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        let mut rb = None;
        let ra = self.scope(|s| {
            s.spawn(|| rb = Some(b()));
            a()
        });
        let rb = rb.expect("a scope returns normally only after its jobs ran");
        (ra, rb)
    }
}
