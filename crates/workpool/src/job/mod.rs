//! Jobs with options: the [`Job`] builder. What runs a job as its options say (retries,
//! periodic runs, deadlines) is apart, in `body.rs`.

mod body;

pub(crate) use body::JobBody;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::context::JobContext;
use crate::policy::retry::Retry;
use crate::priority::Priority;

/// How a periodic job is re-armed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Every {
    pub(crate) interval: Duration,
    pub(crate) fixed_delay: bool,
}

/// The options of a [`Job`], as the pool reads them.
#[derive(Debug, Clone, Default)]
pub(crate) struct JobOptions {
    pub(crate) priority: Priority,
    pub(crate) timeout: Option<Duration>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) delay: Option<Duration>,
    pub(crate) at: Option<Instant>,
    pub(crate) every: Option<Every>,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) rate_key: Option<Arc<str>>,
}

/// A job with options, for [`Pool::spawn`](crate::Pool::spawn).
///
/// The body is an `FnMut(&JobContext) -> Result<T, E>` so that it can run again (retries,
/// periodic runs). `E` is any `Debug + Send + 'static` type. Every option is off by default:
/// priority [`Priority::NORMAL`], no deadline, no retry, no delay, runs once, no name, no
/// rate-limit key.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use workpool::{Job, JobContext, Pool, Priority, Retry};
///
/// let pool = Pool::new(2);
/// let task = pool.spawn(
///     Job::new(|ctx: &JobContext| {
///         if ctx.attempt() < 3 { Err("flaky") } else { Ok(ctx.attempt()) }
///     })
///     .priority(Priority::HIGH)
///     .timeout(Duration::from_secs(5))
///     .retry(Retry::constant(5, Duration::from_millis(1))),
/// )?;
/// assert_eq!(task.wait()?, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Job<F, T, E> {
    pub(crate) f: F,
    pub(crate) opts: JobOptions,
    pub(crate) retry: Option<Retry<E>>,
    _output: PhantomData<fn() -> T>,
}

impl<F, T, E> Job<F, T, E>
where
    F: FnMut(&JobContext) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: fmt::Debug + Send + 'static,
{
    /// A job that runs `f`.
    pub fn new(f: F) -> Self {
        Self {
            f,
            opts: JobOptions::default(),
            retry: None,
            _output: PhantomData,
        }
    }

    /// Its priority. Default: [`Priority::NORMAL`].
    pub fn priority(mut self, priority: Priority) -> Self {
        self.opts.priority = priority;
        self
    }

    /// A deadline `timeout` after the job is accepted, covering its time in the queue, every
    /// retry and every periodic run. Default: none.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.timeout = Some(timeout);
        self
    }

    /// An absolute deadline on the pool's clock. Default: none. With `timeout` too, the
    /// earlier one counts.
    pub fn deadline(mut self, at: Instant) -> Self {
        self.opts.deadline = Some(at);
        self
    }

    /// Runs again after `Err` (or a panic, if the policy says so) as `policy` says.
    /// Default: no retry.
    pub fn retry(mut self, policy: Retry<E>) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Waits `delay` in the delay queue before the first run. Default: none.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.opts.delay = Some(delay);
        self
    }

    /// Waits in the delay queue until `at` (on the pool's clock). Default: none.
    pub fn at(mut self, at: Instant) -> Self {
        self.opts.at = Some(at);
        self
    }

    /// Runs every `interval` until cancelled or the pool shuts down, never overlapping
    /// itself. The default is fixed rate: runs are due at `start + n × interval`; a run that
    /// overruns skips the slots it missed, and the next run starts at the next slot on the
    /// grid. See [`fixed_delay`](Job::fixed_delay) for the other kind.
    ///
    /// The handle resolves only when the series stops: cancelled, timed out, failed (after
    /// its retries), or not run on shutdown. Each run's value is dropped.
    pub fn every(mut self, interval: Duration) -> Self {
        self.opts.every = Some(Every {
            interval,
            fixed_delay: false,
        });
        self
    }

    /// With [`every`](Job::every): the next run is due `interval` after the previous one
    /// ends, instead of on a fixed grid.
    pub fn fixed_delay(mut self) -> Self {
        if let Some(every) = &mut self.opts.every {
            every.fixed_delay = true;
        }
        self
    }

    /// A name, shown by the job's `Debug` output. Default: none.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.opts.name = Some(name.into().into());
        self
    }

    /// The key of the per-key rate limit this job counts against (for example a host name);
    /// see [`Builder::rate_limit_per_key`](crate::Builder::rate_limit_per_key). Default: none.
    pub fn rate_key(mut self, key: impl Into<String>) -> Self {
        self.opts.rate_key = Some(key.into().into());
        self
    }

    /// The job's closure, back out of the builder.
    pub fn into_inner(self) -> F {
        self.f
    }
}

impl<F, T, E> fmt::Debug for Job<F, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("name", &self.opts.name)
            .field("priority", &self.opts.priority)
            .field("timeout", &self.opts.timeout)
            .field("delay", &self.opts.delay)
            .field("every", &self.opts.every)
            .finish_non_exhaustive()
    }
}
