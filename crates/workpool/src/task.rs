//! `Task<T>`: the typed handle to a submitted job, and the cell that holds the job and its
//! result in one allocation.
//!
//! A submitted job lives in a single `Arc<Cell>`. The queue holds it as `Arc<dyn Runnable>`,
//! the caller's [`Task`] as `Arc<dyn Completion<T>>`. The cell's stage moves one way:
//!
//! ```text
//! Pending(body) --worker--> Running --worker--> Finished(result) --wait--> Taken
//!      |                     |   |
//!      |                     |   +--retry, next periodic run--> Pending(body), in the delay queue
//!      +---------------------+--cancel, deadline, shutdown--> Finished(Err(..))
//! ```
//!
//! Whoever moves the stage out of `Pending` owns the job from then on, so a job runs at most
//! once per attempt and resolves exactly once.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::context::CancelFlag;
use crate::error::{TaskError, TaskErrorKind};
use crate::help;
use crate::metrics::{Counters, Outcome};
use crate::shared::Shared;
use crate::sync::{spin_until, AtomicBool, AtomicU64, Condvar, Mutex, MutexGuard};
use crate::unwind;

/// What a body sees of the run it is part of.
pub(crate) struct RunEnv<'a> {
    pub(crate) job_id: u64,
    pub(crate) worker_id: usize,
    pub(crate) clock: &'a Clock,
    pub(crate) signal: Option<&'a Arc<CancelFlag>>,
}

/// What a run of a body asks for next.
///
/// A body's run ends in `Step<Result<T, TaskError>>` (done with its result); the cell's run,
/// which the queue sees, in `Step<()>` (done, and counted).
pub(crate) enum Step<D> {
    /// The job is over.
    Done(D),
    /// Run again at this instant: a retry after a failure.
    Retry(Instant),
    /// Run again at this instant: the next run of a periodic job.
    Repeat(Instant),
}

/// The work inside a cell: one call per run.
pub(crate) trait Body<T>: Send + 'static {
    /// Runs the job once. Panics are caught by the caller and given to `panicked`.
    fn call(&mut self, env: &RunEnv<'_>) -> Step<Result<T, TaskError>>;

    /// `false` if a worker that waits for the job must not run it in its own stead, even
    /// when it is plain (see `help.rs`).
    fn claimable(&self) -> bool {
        true
    }

    /// The run panicked with `error`.
    fn panicked(&mut self, error: TaskError, _env: &RunEnv<'_>) -> Step<Result<T, TaskError>> {
        Step::Done(Err(error))
    }

    /// The error the job ends with when the pool gives up on it before its next run.
    fn abandoned(&mut self) -> TaskError {
        TaskError::new(TaskErrorKind::NotRun)
    }

    /// `true` for a job that re-arms itself after each run.
    fn is_periodic(&self) -> bool {
        false
    }

    /// How many times it has run in its current series of attempts.
    fn attempts(&self) -> u32 {
        0
    }
}

/// A plain closure, run once.
pub(crate) struct Once<F>(Option<F>);

impl<F> Once<F> {
    pub(crate) fn new(f: F) -> Self {
        Self(Some(f))
    }

    pub(crate) fn into_inner(self) -> F {
        self.0.expect("a rejected job was never run")
    }
}

impl<F, T> Body<T> for Once<F>
where
    F: FnOnce() -> T + Send + 'static,
{
    fn call(&mut self, _env: &RunEnv<'_>) -> Step<Result<T, TaskError>> {
        let f = self.0.take().expect("a cell runs its body at most once");
        Step::Done(Ok(f()))
    }
}

/// The queue's view of a job.
///
/// Each job is counted exactly once, by whoever finishes with it: the worker that ran it or
/// skipped it, or the shutdown that gave up on it. The count lands before the job's waiters
/// wake, so a caller that sees its task end also sees it counted.
pub(crate) trait Runnable: Send + Sync {
    /// Runs the job if it is still pending, resolves its handle or asks to run again.
    fn run(&self, env: &RunEnv<'_>, counters: &Counters) -> Step<()>;
    /// Resolves a job that will not run again because the pool is stopping.
    fn abandon(&self, counters: &Counters);
    /// Resolves a running job's handle as cancelled and signals its context.
    fn cancel_running(&self);
    /// The deadline passed: resolves the handle as timed out and signals the context.
    /// Returns `true` if the job was running.
    fn expire(&self) -> bool;
    /// `false` once the handle has resolved (the queue entry is then a tombstone).
    fn is_live(&self) -> bool;
    /// `true` for a job that re-arms itself.
    fn is_periodic(&self) -> bool;
    /// Records the job's id; the fast lane keeps it here instead of in every queue entry.
    fn set_id(&self, id: u64);
    /// The id given to [`set_id`](Runnable::set_id).
    fn id(&self) -> u64;
}

/// The handle's view of a job.
pub(crate) trait Completion<T>: Send + Sync {
    fn wait_until(&self, clock: Option<(&Clock, Instant)>) -> Option<Result<T, TaskError>>;
    /// Takes the result if the job has ended within `timeout` of real time (`None`: waits
    /// as long as it takes).
    fn take_within(&self, timeout: Option<Duration>) -> Option<Result<T, TaskError>>;
    fn poll_result(&self, waker: &Waker) -> Poll<Result<T, TaskError>>;
    fn is_finished(&self) -> bool;
    fn cancel(&self) -> bool;
    /// The job, for a waiting worker of its pool to run here, if it may and has not
    /// started. Running it goes through the one move out of `Pending`, so a job claimed
    /// and also taken from the queue still runs once.
    fn claim(self: Arc<Self>) -> Option<Arc<dyn Runnable>>;
}

enum Stage<B, T> {
    Pending(B),
    Running,
    Finished(Result<T, TaskError>),
    Taken,
}

struct State<B, T> {
    stage: Stage<B, T>,
    waker: Option<Waker>,
    /// How the handle was resolved from outside (cancel, deadline) and not yet counted.
    uncounted: Option<Outcome>,
    periodic: bool,
}

/// One submitted job: its body, its result slot and what wakes its waiters.
pub(crate) struct Cell<B, T> {
    signal: Option<Arc<CancelFlag>>,
    id: AtomicU64,
    /// Set once the stage is `Finished`, so a waiter can spin on it without the lock.
    settled: AtomicBool,
    /// A waiting worker of the job's pool may run it before its turn (see `help.rs`).
    claimable: bool,
    state: Mutex<State<B, T>>,
    done: Condvar,
}

impl<B: Body<T>, T: Send + 'static> Cell<B, T> {
    pub(crate) fn new(body: B, signal: Option<Arc<CancelFlag>>) -> Self {
        let periodic = body.is_periodic();
        Self {
            signal,
            id: AtomicU64::new(0),
            settled: AtomicBool::new(false),
            claimable: false,
            state: Mutex::new(State {
                stage: Stage::Pending(body),
                waker: None,
                uncounted: None,
                periodic,
            }),
            done: Condvar::new(),
        }
    }

    /// Lets a waiting worker of the job's pool run it before its turn: for a job that waits
    /// for nothing but a worker (no delay, deadline, rate limit or reruns).
    pub(crate) fn claimable(mut self, yes: bool) -> Self {
        self.claimable = yes;
        self
    }

    /// Takes the body back out of a cell nobody else has seen (a rejected submission).
    pub(crate) fn into_body(mut self) -> B {
        match mem::replace(&mut self.state.get_mut().stage, Stage::Taken) {
            Stage::Pending(body) => body,
            _ => unreachable!("a rejected job was never queued, so it is still pending"),
        }
    }

    /// Sets the final result, wakes waiters, and drops what the stage held outside the lock.
    fn settle(&self, mut state: MutexGuard<'_, State<B, T>>, result: Result<T, TaskError>) {
        let old = mem::replace(&mut state.stage, Stage::Finished(result));
        self.settled.store(true, Ordering::Release);
        let waker = state.waker.take();
        drop(state);
        self.done.notify_all();
        if let Some(waker) = waker {
            // A waker is user code: one that panics must not take down the thread that
            // resolved the task (a worker, the timer, a shutdown).
            if let Err(payload) = unwind::catch(move || waker.wake()) {
                unwind::forget_payload(payload);
            }
        }
        // A pending job's closure is dropped here; a panicking destructor must not take a
        // worker, a timer or a shutdown down with it.
        unwind::drop_quietly(old);
    }

    /// Resolves the handle from outside the run (cancel, deadline) if the job has not ended.
    /// The job is counted later, by whoever finishes with it. Returns what it was doing.
    fn resolve_from_outside(&self, kind: TaskErrorKind, running_too: bool) -> Option<bool> {
        let mut state = self.state.lock();
        let (attempts, running) = match &state.stage {
            // Zero, or the runs of a job waiting for its retry.
            Stage::Pending(body) => (body.attempts(), false),
            Stage::Running if running_too => (1, true),
            _ => return None,
        };
        let error = TaskError::new(kind).with_attempts(attempts);
        state.uncounted = Some(Outcome::of::<T>(&Err(TaskError::new(kind))));
        self.settle(state, Err(error));
        if let Some(signal) = &self.signal {
            signal.cancel();
        }
        Some(running)
    }

    /// Counts a job resolved from outside, once.
    fn count_uncounted(state: &mut State<B, T>, counters: &Counters) {
        if let Some(outcome) = state.uncounted.take() {
            counters.count(outcome);
        }
    }

    fn take_finished(state: &mut State<B, T>) -> Option<Result<T, TaskError>> {
        match mem::replace(&mut state.stage, Stage::Taken) {
            Stage::Finished(result) => Some(result),
            Stage::Taken => panic!("the result of this task was already taken"),
            other => {
                state.stage = other;
                None
            }
        }
    }
}

impl<B, T> Drop for Cell<B, T> {
    fn drop(&mut self) {
        // The stage holds user values: a closure that never ran, or a result nobody took
        // (its `Task` was dropped). Whoever lets go of the cell last (a worker, the timer, a
        // shutdown) runs their destructors, and must survive one that panics.
        let state = self.state.get_mut();
        let stage = mem::replace(&mut state.stage, Stage::Taken);
        let waker = state.waker.take();
        unwind::drop_quietly((stage, waker));
    }
}

impl<B: Body<T>, T: Send + 'static> Runnable for Cell<B, T> {
    fn run(&self, env: &RunEnv<'_>, counters: &Counters) -> Step<()> {
        let env = &RunEnv {
            signal: self.signal.as_ref(),
            ..*env
        };
        let mut body = {
            let mut state = self.state.lock();
            match mem::replace(&mut state.stage, Stage::Running) {
                Stage::Pending(body) => body,
                other => {
                    // Resolved (cancelled, timed out) before a worker reached it.
                    state.stage = other;
                    Self::count_uncounted(&mut state, counters);
                    return Step::Done(());
                }
            }
        };
        let step = match unwind::catch(|| body.call(env)) {
            Ok(step) => step,
            Err(payload) => {
                let error = TaskError::panicked(&*payload);
                unwind::forget_payload(payload);
                body.panicked(error, env)
            }
        };
        // A finished job's closure is dropped before the handle resolves, so a waiter that
        // sees the result also sees the closure's captures released.
        let body = match step {
            Step::Done(_) => {
                unwind::drop_quietly(body);
                None
            }
            _ => Some(body),
        };
        let mut state = self.state.lock();
        if !matches!(state.stage, Stage::Running) {
            // Cancelled or timed out while it ran: the handle has its answer already.
            Self::count_uncounted(&mut state, counters);
            drop(state);
            unwind::drop_quietly((body, step));
            return Step::Done(());
        }
        match (step, body) {
            (Step::Done(result), _) => {
                counters.count(Outcome::of(&result));
                self.settle(state, result);
                Step::Done(())
            }
            (Step::Retry(at), Some(body)) => {
                state.stage = Stage::Pending(body);
                counters.note_retry();
                Step::Retry(at)
            }
            (Step::Repeat(at), Some(body)) => {
                state.stage = Stage::Pending(body);
                Step::Repeat(at)
            }
            (_, None) => unreachable!("only a finished run gives up its body"),
        }
    }

    fn abandon(&self, counters: &Counters) {
        let mut state = self.state.lock();
        match &mut state.stage {
            Stage::Pending(body) => {
                let error = body.abandoned();
                counters.count(Outcome::of::<T>(&Err(TaskError::new(error.kind()))));
                self.settle(state, Err(error));
                if let Some(signal) = &self.signal {
                    signal.cancel();
                }
            }
            _ => Self::count_uncounted(&mut state, counters),
        }
    }

    fn cancel_running(&self) {
        self.resolve_from_outside(TaskErrorKind::Cancelled, true);
    }

    fn expire(&self) -> bool {
        self.resolve_from_outside(TaskErrorKind::TimedOut, true) == Some(true)
    }

    fn is_live(&self) -> bool {
        matches!(self.state.lock().stage, Stage::Pending(_) | Stage::Running)
    }

    fn is_periodic(&self) -> bool {
        self.state.lock().periodic
    }

    fn set_id(&self, id: u64) {
        self.id.store(id, Ordering::Relaxed);
    }

    fn id(&self) -> u64 {
        self.id.load(Ordering::Relaxed)
    }
}

impl<B: Body<T>, T: Send + 'static> Completion<T> for Cell<B, T> {
    fn wait_until(&self, deadline: Option<(&Clock, Instant)>) -> Option<Result<T, TaskError>> {
        // A short job ends within a few microseconds: watching for it first saves the waiter
        // a park and the worker a wake-up. The lock below decides either way. A timed wait
        // does not spin, so that a zero timeout is a plain poll.
        if deadline.is_none() {
            spin_until(|| self.settled.load(Ordering::Acquire));
        }
        let mut state = self.state.lock();
        loop {
            if let Some(result) = Self::take_finished(&mut state) {
                return Some(result);
            }
            match deadline {
                None => self.done.wait(&mut state),
                Some((clock, at)) => {
                    if clock.now() >= at {
                        return None;
                    }
                    clock.wait_until(&self.done, &mut state, at);
                }
            }
        }
    }

    fn take_within(&self, timeout: Option<Duration>) -> Option<Result<T, TaskError>> {
        let Some(timeout) = timeout else {
            return self.wait_until(None);
        };
        let mut state = self.state.lock();
        if let Some(result) = Self::take_finished(&mut state) {
            return Some(result);
        }
        if timeout.is_zero() {
            return None;
        }
        self.done.wait_for(&mut state, timeout);
        Self::take_finished(&mut state)
    }

    fn poll_result(&self, waker: &Waker) -> Poll<Result<T, TaskError>> {
        let mut state = self.state.lock();
        if let Some(result) = Self::take_finished(&mut state) {
            return Poll::Ready(result);
        }
        match &mut state.waker {
            Some(old) if old.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
        Poll::Pending
    }

    fn is_finished(&self) -> bool {
        matches!(self.state.lock().stage, Stage::Finished(_) | Stage::Taken)
    }

    fn cancel(&self) -> bool {
        self.resolve_from_outside(TaskErrorKind::Cancelled, true)
            .is_some()
    }

    fn claim(self: Arc<Self>) -> Option<Arc<dyn Runnable>> {
        let pending = self.claimable && matches!(self.state.lock().stage, Stage::Pending(_));
        pending.then_some(self as Arc<dyn Runnable>)
    }
}

/// A handle to a submitted job's result.
///
/// [`wait`](Task::wait) blocks until the job ends; `Task` is also a [`Future`], so async code
/// can `.await` pool work without depending on a runtime. Dropping a `Task` does not cancel
/// its job: the job still runs and its result is dropped.
///
/// # Examples
///
/// ```
/// let pool = workpool::Pool::new(2);
/// let task = pool.submit(|| 6 * 7)?;
/// assert_eq!(task.wait()?, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a Task does not cancel the job; call wait() to get its result"]
pub struct Task<T> {
    cell: Arc<dyn Completion<T>>,
    clock: Clock,
    id: u64,
    /// Which pool runs the job (see [`help::PoolKey`]).
    pool: help::PoolKey,
}

impl<T> Task<T> {
    pub(crate) fn new(cell: Arc<dyn Completion<T>>, pool: &Arc<Shared>, id: u64) -> Self {
        Self {
            cell,
            clock: pool.clock.clone(),
            id,
            pool: help::PoolKey::of(pool),
        }
    }

    /// The job's id, unique within its pool, in submission order.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Blocks until the job ends and returns its value, or a [`TaskError`] that says how it
    /// ended otherwise.
    ///
    /// On a worker of the job's pool (a wait inside a job), the wait helps: the worker runs
    /// the job itself if no worker has taken it yet (a plain job: no delay, deadline, rate
    /// limit or retries), and otherwise runs the pool's other queued jobs while it waits. So
    /// waiting on your own pool never deadlocks, even on one worker; see the README's
    /// "Waiting inside the pool never deadlocks" for the cycles that remain the caller's.
    ///
    /// # Errors
    ///
    /// The job panicked, was cancelled, or never ran because the pool shut down.
    pub fn wait(self) -> Result<T, TaskError> {
        // A worker of the job's pool that waits for a job nobody took yet runs it itself:
        // recursion through the pool then nests no deeper than the recursion.
        if let Some(job) = help::may_claim(self.pool)
            .then(|| self.cell.clone().claim())
            .flatten()
        {
            help::run_here(self.pool, job);
        }
        help::wait_helping(|timeout| self.cell.take_within(timeout))
    }

    /// Waits up to `timeout` (on the pool's clock). Returns `Ok` with the job's result if it
    /// ended in time, or `Err` with this handle back if it is still queued or running.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = workpool::Pool::new(1);
    /// let task = pool.submit(|| "done")?;
    /// match task.wait_timeout(Duration::from_secs(5)) {
    ///     Ok(result) => assert_eq!(result?, "done"),
    ///     Err(_still_running) => unreachable!("a trivial job ends well within 5 s"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_timeout(self, timeout: Duration) -> Result<Result<T, TaskError>, Task<T>> {
        let deadline = self.clock.after(timeout);
        match self.cell.wait_until(Some((&self.clock, deadline))) {
            Some(result) => Ok(result),
            None => Err(self),
        }
    }

    /// `true` once the job has ended (with a value or an error); [`wait`](Task::wait) will
    /// then return at once.
    pub fn is_finished(&self) -> bool {
        self.cell.is_finished()
    }

    /// Cancels the job. A job that has not started never runs. A job that is running cannot
    /// be pre-empted: it goes on, but its handle resolves as cancelled at once and its result
    /// is dropped.
    ///
    /// Returns `true` if this call resolved the handle as cancelled, `false` if the job had
    /// already ended.
    pub fn cancel(&self) -> bool {
        self.cell.cancel()
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.cell.poll_result(cx.waker())
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// A crate-internal shuttle model of the cell's stages: a worker's run races a cancel, a
/// deadline and a shutdown's cancel of running jobs. Whatever the schedule, the body runs at
/// most once, the handle resolves exactly once, exactly one outcome is counted, and the
/// handle's result agrees with the count. Letting a cancel resolve a cell that has already
/// finished (so that it replaces the result and counts a second outcome) fails it.
#[cfg(all(test, workpool_shuttle))]
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // tests may use std directly
mod shuttle_model {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

    #[test]
    fn a_cell_resolves_once_whatever_races_its_run() {
        shuttle::check_random(
            || {
                let runs = Arc::new(AtomicU32::new(0));
                let counted_runs = Arc::clone(&runs);
                let cell: Arc<Cell<_, u32>> = Arc::new(Cell::new(
                    Once::new(move || {
                        counted_runs.fetch_add(1, SeqCst);
                        7
                    }),
                    None,
                ));
                let counters = Arc::new(Counters::default());
                let worker = {
                    let (cell, counters) = (Arc::clone(&cell), Arc::clone(&counters));
                    shuttle::thread::spawn(move || {
                        let clock = Clock::system();
                        let env = RunEnv {
                            job_id: 0,
                            worker_id: 0,
                            clock: &clock,
                            signal: None,
                        };
                        let _ = Runnable::run(&*cell, &env, &counters);
                    })
                };
                let canceller = {
                    let cell = Arc::clone(&cell);
                    shuttle::thread::spawn(move || Completion::cancel(&*cell))
                };
                let deadline = {
                    let cell = Arc::clone(&cell);
                    shuttle::thread::spawn(move || cell.expire())
                };
                let shutdown = {
                    let cell = Arc::clone(&cell);
                    shuttle::thread::spawn(move || cell.cancel_running())
                };
                worker.join().unwrap();
                canceller.join().unwrap();
                deadline.join().unwrap();
                shutdown.join().unwrap();
                let result = Completion::wait_until(&*cell, None).expect("the cell resolved");
                let c = counters.snapshot();
                let counted = c.completed + c.failed + c.cancelled + c.timed_out + c.never_started;
                assert_eq!(counted, 1, "one outcome counted");
                let runs = runs.load(SeqCst);
                assert!(runs <= 1, "the body ran {runs} times");
                match result {
                    Ok(value) => {
                        assert_eq!((value, runs, c.completed), (7, 1, 1));
                    }
                    Err(e) => match e.kind() {
                        TaskErrorKind::Cancelled => assert_eq!(c.cancelled, 1),
                        TaskErrorKind::TimedOut => assert_eq!(c.timed_out, 1),
                        other => panic!("unexpected outcome {other:?}"),
                    },
                }
            },
            2000,
        );
    }
}
