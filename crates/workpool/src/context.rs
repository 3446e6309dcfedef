//! [`JobContext`]: what a running job knows about itself, and the flag that tells it to stop.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::sync::{AtomicBool, Condvar, Mutex};

/// The cancellation flag a job's context reads, with what wakes its sleeps.
#[derive(Default)]
pub(crate) struct CancelFlag {
    cancelled: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
    /// The pool whose delay queue holds the job while it waits (delayed, or between runs),
    /// told on cancel so that the job gives its place back at once instead of when due.
    pool: Mutex<Option<Weak<dyn OnCancel>>>,
}

/// What a pool does when one of its jobs is cancelled while it may wait in its delay queue.
pub(crate) trait OnCancel: Send + Sync {
    /// Frees the places of cancelled jobs waiting in the delay queue.
    fn job_cancelled(&self);
}

impl CancelFlag {
    /// A flag for a job that may wait in `pool`'s delay queue.
    pub(crate) fn watched_by(pool: Weak<dyn OnCancel>) -> Self {
        Self {
            pool: Mutex::new(Some(pool)),
            ..Self::default()
        }
    }

    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        {
            let _guard = self.lock.lock();
            self.cv.notify_all();
        }
        let pool = self.pool.lock().take();
        if let Some(pool) = pool.and_then(|p| p.upgrade()) {
            pool.job_cancelled();
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

/// What a running job knows about itself, and how it learns it should stop.
///
/// A job is cancelled when its [`Task`](crate::Task) is cancelled, when its deadline passes,
/// or when a shutdown cancels running jobs. Threads cannot be pre-empted, so a job that
/// should stop promptly polls [`is_cancelled`](JobContext::is_cancelled) or waits with
/// [`sleep`](JobContext::sleep), which returns early on cancel.
pub struct JobContext {
    job_id: u64,
    worker_id: usize,
    attempt: u32,
    deadline: Option<Instant>,
    signal: Arc<CancelFlag>,
    clock: Clock,
}

impl JobContext {
    /// The context of run `attempt` of job `job_id` on worker `worker_id`.
    pub(crate) fn new(
        (job_id, worker_id): (u64, usize),
        attempt: u32,
        deadline: Option<Instant>,
        signal: Arc<CancelFlag>,
        clock: Clock,
    ) -> Self {
        Self {
            job_id,
            worker_id,
            attempt,
            deadline,
            signal,
            clock,
        }
    }

    /// `true` once the job has been cancelled or its deadline has passed.
    pub fn is_cancelled(&self) -> bool {
        self.signal.is_cancelled() || self.deadline.is_some_and(|at| self.clock.now() >= at)
    }

    /// Waits for `duration` on the pool's clock, or less if the job is cancelled first.
    /// Returns `true` if it waited the whole time, `false` if cancelled.
    pub fn sleep(&self, duration: Duration) -> bool {
        let until = self.clock.after(duration);
        let mut guard = self.signal.lock.lock();
        loop {
            if self.is_cancelled() {
                return false;
            }
            if self.clock.now() >= until {
                return true;
            }
            let wake = self.deadline.map_or(until, |d| d.min(until));
            self.clock.wait_until(&self.signal.cv, &mut guard, wake);
        }
    }

    /// The job's deadline, if it has one.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Which run this is: 1 for the first, 2 for the first retry, and so on.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The job's id, the same as [`Task::id`](crate::Task::id).
    pub fn job_id(&self) -> u64 {
        self.job_id
    }

    /// The id of the worker running this attempt.
    pub fn worker_id(&self) -> usize {
        self.worker_id
    }

    /// The current instant on the pool's clock.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }
}

impl fmt::Debug for JobContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobContext")
            .field("job_id", &self.job_id)
            .field("worker_id", &self.worker_id)
            .field("attempt", &self.attempt)
            .field("deadline", &self.deadline)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
