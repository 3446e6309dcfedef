//! Fork-join: [`Pool::join`] runs two closures, potentially in parallel, and returns both
//! results.
//!
//! On a worker of the pool, `b` stays in a [`JoinJob`] on the worker's stack, and a
//! [`StackJob`] pointing at it goes to the worker's own deque (`steal.rs`); `a` runs at
//! once. Then the worker takes `b` back from the top of its deque and calls it, unless an
//! idle worker stole it meanwhile, in which case it waits for the thief, helping
//! (`help.rs`). So a recursive `join` allocates nothing and takes no lock: a level costs a
//! deque push and pop. Off a worker, `join` is a [`Pool::scope`] with one job.
//!
//! The deque holds a pointer to the owner's stack frame (the `unsafe` below). The argument
//! is the one `rayon` makes for its stack jobs: a `StackJob` is run exactly once, by a
//! thief or by the owner's own helping, or taken back by the owner, because a deque hands
//! each item out once; and the owner's frame does not return or unwind until one of those
//! happened and, for a run, until the run has set `state` to `DONE`, after which the runner
//! touches nothing of the frame.

// The stack job below is the only unsafe code outside `queue/raw/`, `compose/scope.rs` and
// `compose/slots.rs`; the module docs above are its argument.
#![allow(unsafe_code)]

use std::any::Any;
use std::cell::UnsafeCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::help::{self, PoolKey, Wakeup};
use crate::pool::Pool;
use crate::steal::Boxed;
use crate::sync::AtomicUsize;
use crate::unwind;

type Outcome<R> = Result<R, Box<dyn Any + Send>>;

/// `JoinJob::state`: `b` has not been run by a thief.
const PENDING: usize = 0;
/// The owner waits for the thief and may park: the thief must wake it.
const SLEEPY: usize = 1;
/// A thief (or the owner's helping) ran `b`; `result` holds what it did.
const DONE: usize = 2;

/// `b` of a join, on its owner's stack.
struct JoinJob<'w, B, R> {
    /// Taken by whoever runs the job: the one thread the deque handed it to.
    b: UnsafeCell<Option<B>>,
    /// Written by a runner other than the owner before it sets `DONE`.
    result: UnsafeCell<Option<Outcome<R>>>,
    state: AtomicUsize,
    /// The owner's; it outlives the job, since the owner's home outlives its frames.
    wakeup: &'w Arc<Wakeup>,
}

impl<B: FnOnce() -> R + Send, R: Send> JoinJob<'_, B, R> {
    /// Runs `b` from the deque: on a thief, or on the owner helping itself.
    ///
    /// # Safety
    ///
    /// `job` points at a live `JoinJob<B, R>` whose `b` is still there, and the caller is
    /// the one thread the deque handed the job to (so nobody else touches `b` or
    /// `result`). The `JoinJob` stays alive until `state` is `DONE`.
    unsafe fn execute(job: *const ()) {
        // SAFETY: the caller's contract: `job` is a live `JoinJob<B, R>`.
        let job = unsafe { &*job.cast::<Self>() };
        // SAFETY: this thread alone reaches `b` and `result` until `DONE` is stored.
        let b = unsafe { (*job.b.get()).take() }.expect("a join's job runs once");
        let outcome = unwind::catch(b);
        // SAFETY: as above; the owner reads `result` only after it loads `DONE`.
        unsafe { *job.result.get() = Some(outcome) };
        // Cloned before the store: once `DONE` is seen, the owner's frame may be gone.
        let wakeup = Arc::clone(job.wakeup);
        if job.state.swap(DONE, Ordering::AcqRel) == SLEEPY {
            wakeup.wake();
        }
    }
}

/// A [`JoinJob`] as the deque holds it: a pointer to the owner's frame and the function
/// that runs what is there.
pub(crate) struct StackJob {
    job: *const (),
    execute: unsafe fn(*const ()),
}

// SAFETY: the job it points at is sent to one other thread to run: `B: Send` and `R: Send`
// (see `StackJob::new`), and its `state` is atomic.
unsafe impl Send for StackJob {}

impl StackJob {
    /// # Safety
    ///
    /// The `StackJob` is either run once ([`run`](StackJob::run)) or dropped by the owner
    /// that took it back, and `job` outlives the run (until its `state` is `DONE`).
    unsafe fn new<B: FnOnce() -> R + Send, R: Send>(job: &JoinJob<'_, B, R>) -> Self {
        Self {
            job: std::ptr::from_ref(job).cast(),
            execute: JoinJob::<B, R>::execute,
        }
    }

    /// Runs the job; it catches its own panics.
    pub(crate) fn run(self) {
        // SAFETY: `new`'s contract: the job is alive, and this is its one run, since a
        // deque hands each item out once and `run` consumes it.
        unsafe { (self.execute)(self.job) }
    }

    /// Where the job lives.
    pub(crate) fn addr(&self) -> *const () {
        self.job
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
        let Some(home) = help::home_of(PoolKey::of(self.shared())) else {
            return self.join_off_worker(a, b);
        };
        let job = JoinJob {
            b: UnsafeCell::new(Some(b)),
            result: UnsafeCell::new(None),
            state: AtomicUsize::new(PENDING),
            wakeup: home.wakeup(),
        };
        // SAFETY: the job lives in this frame, which returns or unwinds only below, after
        // it took the job back or saw `DONE` (`a`'s panic is caught first). A job in a
        // deque is only ever taken to be run (`steal.rs`; a leaving worker runs a stack job
        // it finds, see `Boxed::hand_back`), and this one is in this worker's own deque,
        // which it does not leave while this frame waits.
        let stack_job = unsafe { StackJob::new(&job) };
        let addr = stack_job.addr();
        home.push(Boxed::Stack(stack_job));
        let ra = unwind::catch(a);
        let rb = if home.take_back(addr) {
            // SAFETY: taken back: no other thread has the job, nor will.
            let b = unsafe { (*job.b.get()).take() }.expect("a join's job runs once");
            unwind::catch(b)
        } else {
            help::block_on(home.wakeup(), || {
                // Before the last look, so the thief either sees it and wakes this wait,
                // or stored `DONE` first (see `JoinJob::execute`).
                let _ = job.state.compare_exchange(
                    PENDING,
                    SLEEPY,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                (job.state.load(Ordering::Acquire) == DONE).then_some(())
            });
            // SAFETY: `DONE` was loaded with acquire: the runner's write is visible and it
            // touches the job no more.
            unsafe { (*job.result.get()).take() }.expect("a join's job is done")
        };
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
