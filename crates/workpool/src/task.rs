//! `Task<T>`: the typed handle to a submitted job, and the cell that holds the job and its
//! result in one allocation.
//!
//! A submitted job lives in a single `Arc<Cell>`. The queue holds it as `Arc<dyn Runnable>`,
//! the caller's [`Task`] as `Arc<dyn Completion<T>>`. The cell's stage moves one way:
//!
//! ```text
//! Pending(body) --worker--> Running --worker--> Finished(result) --wait--> Taken
//!      |                       |
//!      +--cancel / shutdown----+--> Finished(Err(cancelled or not run))
//! ```
//!
//! Whoever moves the stage out of `Pending` owns the job from then on, so a job runs at most
//! once and resolves exactly once.

use std::fmt;
use std::future::Future;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::error::{TaskError, TaskErrorKind};
use crate::metrics::Counters;
use crate::sync::{Condvar, Mutex};

/// How a job ended, for the pool's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    Failed,
    Panicked,
    Cancelled,
    NotRun,
}

/// The work inside a cell: one call per attempt.
pub(crate) trait Body<T>: Send + 'static {
    /// Runs the job once. Panics are caught by the caller.
    fn call(&mut self) -> Result<T, TaskError>;
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
    fn call(&mut self) -> Result<T, TaskError> {
        let f = self.0.take().expect("a cell runs its body at most once");
        Ok(f())
    }
}

/// The queue's view of a job.
///
/// Both methods count the outcome in `counters` before waking the job's waiters, so a caller
/// that sees its task end also sees it counted.
pub(crate) trait Runnable: Send + Sync {
    /// Runs the job if it is still pending and resolves its handle.
    fn run(&self, counters: &Counters) -> Outcome;
    /// Resolves a job that will never start because the pool is stopping.
    fn abandon(&self, counters: &Counters) -> Outcome;
    /// Resolves a running job's handle as cancelled; the worker discards its result.
    fn cancel_running(&self);
}

/// The handle's view of a job.
pub(crate) trait Completion<T>: Send + Sync {
    fn wait_until(&self, clock: Option<(&Clock, Instant)>) -> Option<Result<T, TaskError>>;
    fn poll_result(&self, waker: &Waker) -> Poll<Result<T, TaskError>>;
    fn is_finished(&self) -> bool;
    fn cancel(&self) -> bool;
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
}

/// One submitted job: its body, its result slot and what wakes its waiters.
pub(crate) struct Cell<B, T> {
    state: Mutex<State<B, T>>,
    done: Condvar,
}

impl<B: Body<T>, T: Send + 'static> Cell<B, T> {
    pub(crate) fn new(body: B) -> Self {
        Self {
            state: Mutex::new(State {
                stage: Stage::Pending(body),
                waker: None,
            }),
            done: Condvar::new(),
        }
    }

    /// Takes the body back out of a cell nobody else has seen (a rejected submission).
    pub(crate) fn into_body(self) -> B {
        match self.state.into_inner().stage {
            Stage::Pending(body) => body,
            _ => unreachable!("a rejected job was never queued, so it is still pending"),
        }
    }

    /// Stores a final result unless the handle already resolved (cancelled while running),
    /// and counts how the job ended. Returns that outcome.
    fn finish(
        &self,
        result: Result<T, TaskError>,
        outcome: Outcome,
        counters: &Counters,
    ) -> Outcome {
        let mut state = self.state.lock();
        if !matches!(state.stage, Stage::Running) {
            drop(state);
            counters.count(Outcome::Cancelled);
            drop(result);
            return Outcome::Cancelled;
        }
        counters.count(outcome);
        let old = mem::replace(&mut state.stage, Stage::Finished(result));
        let waker = state.waker.take();
        drop(state);
        self.done.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
        drop(old);
        outcome
    }

    /// Moves the job to a final error if it has not ended yet. A pending job's body is
    /// dropped (outside the lock); a running job goes on, and its result is discarded when
    /// it returns. Returns `false` if the job had ended already or, with `running` false,
    /// had started.
    fn resolve(&self, kind: TaskErrorKind, running: bool, counters: Option<&Counters>) -> bool {
        let mut state = self.state.lock();
        let attempts = match state.stage {
            Stage::Pending(_) => 0,
            Stage::Running if running => 1,
            _ => return false,
        };
        if let Some(counters) = counters {
            counters.count(Outcome::NotRun);
        }
        let error = TaskError::new(kind).with_attempts(attempts);
        let old = mem::replace(&mut state.stage, Stage::Finished(Err(error)));
        let waker = state.waker.take();
        drop(state);
        self.done.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
        drop(old);
        true
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

impl<B: Body<T>, T: Send + 'static> Runnable for Cell<B, T> {
    fn run(&self, counters: &Counters) -> Outcome {
        let mut body = {
            let mut state = self.state.lock();
            match mem::replace(&mut state.stage, Stage::Running) {
                Stage::Pending(body) => body,
                other => {
                    // Cancelled before a worker reached it.
                    state.stage = other;
                    drop(state);
                    counters.count(Outcome::Cancelled);
                    return Outcome::Cancelled;
                }
            }
        };
        let (result, outcome) = match panic::catch_unwind(AssertUnwindSafe(|| body.call())) {
            Ok(Ok(value)) => (Ok(value), Outcome::Completed),
            Ok(Err(err)) => (Err(err), Outcome::Failed),
            Err(payload) => (Err(TaskError::panicked(&*payload)), Outcome::Panicked),
        };
        // A panicking destructor in the job's captures must not take the worker down.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(body)));
        self.finish(result, outcome, counters)
    }

    fn abandon(&self, counters: &Counters) -> Outcome {
        if self.resolve(TaskErrorKind::NotRun, false, Some(counters)) {
            Outcome::NotRun
        } else {
            // Cancelled through its handle while queued.
            counters.count(Outcome::Cancelled);
            Outcome::Cancelled
        }
    }

    fn cancel_running(&self) {
        // Counted by the worker when the job returns.
        self.resolve(TaskErrorKind::Cancelled, true, None);
    }
}

impl<B: Body<T>, T: Send + 'static> Completion<T> for Cell<B, T> {
    fn wait_until(&self, deadline: Option<(&Clock, Instant)>) -> Option<Result<T, TaskError>> {
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
        // Counted when a worker or a shutdown reaches the job.
        self.resolve(TaskErrorKind::Cancelled, true, None)
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
}

impl<T> Task<T> {
    pub(crate) fn new(cell: Arc<dyn Completion<T>>, clock: Clock, id: u64) -> Self {
        Self { cell, clock, id }
    }

    /// The job's id, unique within its pool, in submission order.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Blocks until the job ends and returns its value, or a [`TaskError`] that says how it
    /// ended otherwise.
    ///
    /// # Errors
    ///
    /// The job panicked, was cancelled, or never ran because the pool shut down.
    pub fn wait(self) -> Result<T, TaskError> {
        self.cell
            .wait_until(None)
            .expect("an untimed wait returns only with a result")
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
        let deadline = self.clock.now() + timeout;
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
