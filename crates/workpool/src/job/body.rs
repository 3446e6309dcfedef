//! A [`Job`] inside the pool: the body that runs it as its options say (retries with their
//! back-off, periodic runs on their grid, the deadline), one call per run.

use std::fmt;
use std::time::Instant;

use super::{Every, Job};
use crate::clock::later;
use crate::context::JobContext;
use crate::error::TaskError;
use crate::task::{Body, RunEnv, Step};
use crate::unwind;

/// A [`Job`] inside the pool: its closure plus what it remembers between runs.
pub(crate) struct JobBody<F, T, E> {
    job: Job<F, T, E>,
    deadline: Option<Instant>,
    /// Runs since the last success (what the retry policy counts).
    attempts: u32,
    last_error: Option<String>,
    /// When the current periodic run was due (for fixed-rate re-arming).
    due: Instant,
}

impl<F, T, E> JobBody<F, T, E> {
    pub(crate) fn new(job: Job<F, T, E>, deadline: Option<Instant>, due: Instant) -> Self {
        Self {
            job,
            deadline,
            attempts: 0,
            last_error: None,
            due,
        }
    }

    pub(crate) fn into_job(self) -> Job<F, T, E> {
        self.job
    }

    fn next_period(&mut self, every: Every, now: Instant) -> Instant {
        if every.fixed_delay || every.interval.is_zero() {
            self.due = later(now, every.interval);
        } else {
            self.due = later(self.due, every.interval);
            if self.due < now {
                // Skip the slots an overrun missed instead of running them back to back: the
                // next run is the first slot on the grid at or after now.
                let behind = (now - self.due)
                    .as_nanos()
                    .div_ceil(every.interval.as_nanos());
                let skip = u32::try_from(behind).unwrap_or(u32::MAX);
                self.due = later(self.due, every.interval.saturating_mul(skip));
            }
        }
        self.due
    }

    fn seed(env: &RunEnv<'_>, attempt: u32) -> u64 {
        env.job_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(attempt)
    }
}

impl<F, T, E> Body<T> for JobBody<F, T, E>
where
    F: FnMut(&JobContext) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: fmt::Debug + Send + 'static,
{
    fn call(&mut self, env: &RunEnv<'_>) -> Step<Result<T, TaskError>> {
        self.attempts += 1;
        let ctx = JobContext::new(
            (env.job_id, env.worker_id),
            self.attempts,
            self.deadline,
            env.signal.cloned().unwrap_or_default(),
            env.clock.clone(),
        );
        let result = (self.job.f)(&ctx);
        let now = env.clock.now();
        if self.deadline.is_some_and(|at| now >= at) {
            // The job returned at or after its deadline, possibly before the timer got to
            // it: the deadline decides, whatever the job returned.
            drop(result);
            let error = TaskError::new(crate::TaskErrorKind::TimedOut);
            return Step::Done(Err(error.with_attempts(self.attempts)));
        }
        match result {
            Ok(value) => match self.job.opts.every {
                Some(every) => {
                    self.attempts = 0;
                    self.last_error = None;
                    drop(value);
                    Step::Repeat(self.next_period(every, now))
                }
                None => Step::Done(Ok(value)),
            },
            Err(error) => {
                let run = self.attempts;
                if let Some(policy) = &self.job.retry {
                    // The predicate is user code too: one that panics is not the job's own
                    // panic. It retries nothing, and the job ends with the error it judged.
                    let retries = match unwind::catch(|| policy.retries_error(run, &error)) {
                        Ok(retries) => retries,
                        Err(payload) => {
                            unwind::forget_payload(payload);
                            false
                        }
                    };
                    if retries {
                        self.last_error = Some(format!("{error:?}"));
                        return Step::Retry(later(
                            now,
                            policy.delay_after(run, Self::seed(env, run)),
                        ));
                    }
                }
                Step::Done(Err(TaskError::failed(error, run)))
            }
        }
    }

    fn panicked(&mut self, error: TaskError, env: &RunEnv<'_>) -> Step<Result<T, TaskError>> {
        let run = self.attempts;
        if let Some(policy) = &self.job.retry {
            if policy.retries_panic(run) {
                self.last_error = error.panic_message().map(str::to_owned);
                return Step::Retry(
                    env.clock
                        .after(policy.delay_after(run, Self::seed(env, run))),
                );
            }
        }
        Step::Done(Err(error.with_attempts(run)))
    }

    fn abandoned(&mut self) -> TaskError {
        if self.job.opts.every.is_some() {
            // A periodic series stopped by the shutdown.
            TaskError::new(crate::TaskErrorKind::Cancelled).with_attempts(self.attempts)
        } else if let Some(last) = self.last_error.take() {
            // Waiting for a retry: it ran, and its last error stands.
            TaskError::failed_with_message(last, self.attempts)
        } else {
            TaskError::new(crate::TaskErrorKind::NotRun)
        }
    }

    fn is_periodic(&self) -> bool {
        self.job.opts.every.is_some()
    }

    fn attempts(&self) -> u32 {
        self.attempts
    }
}
