//! [`Pool`], the cheap cloneable handle, and its [`Builder`].

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{later, Clock};
use crate::context::{CancelFlag, JobContext, OnCancel};
use crate::error::{BuildError, SubmitError, SubmitTimeoutError, TrySubmitError};
use crate::job::{Job, JobBody};
use crate::lifecycle::{self, Mode, ShutdownReport};
use crate::metrics::Stats;
use crate::policy::rate::RateConfig;
use crate::policy::rate::RateLimit;
use crate::priority::Priority;
use crate::queue::{LightJob, Work};
use crate::shared::{Config, Placement, Reject, RoomWait, Shared};
use crate::task::{Body, Cell, Once, Runnable, Task};
use crate::worker_hooks::WorkerHooks;
use crate::worker_set::ThreadConfig;

/// The default queue capacity: 1024 jobs.
///
/// Large enough that a producer rarely blocks on a burst, small enough that a runaway
/// producer feels backpressure after about a millisecond of tiny jobs and that the queue's
/// memory stays bounded (a queued job costs a few tens of bytes plus its closure).
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// The default keep-alive for idle workers above the minimum: 10 seconds.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// A pool of worker threads with a bounded queue.
///
/// `Pool` is a handle: cloning it is cheap and every clone drives the same pool, so a job
/// can capture a clone and submit more work. Jobs are `FnOnce() -> T` closures; each
/// submission returns a typed [`Task<T>`].
///
/// # Admission
///
/// The queue holds at most [`Builder::queue_capacity`] jobs (default
/// [`DEFAULT_QUEUE_CAPACITY`]). [`submit`](Pool::submit) blocks while it is full (and resumes
/// once an eighth of it has drained, so that a producer refills it in bursts),
/// [`try_submit`](Pool::try_submit) hands the job back as `Full(job)`, and
/// [`submit_timeout`](Pool::submit_timeout) gives up after a duration. Once a shutdown has
/// begun, every submission hands the job back as closed. A job is never dropped without its
/// owner being told.
///
/// # Panics in jobs
///
/// A panicking job never kills a worker or the pool: its [`Task`] resolves to a
/// [`TaskError`](crate::TaskError) carrying the panic message, and [`Stats::panicked`] counts it.
///
/// # Priorities
///
/// Jobs spawned with [`Job::priority`](crate::Job::priority), or queued with
/// [`execute_with_priority`](Pool::execute_with_priority), wait in one FIFO lane per level;
/// higher levels run first. Starvation is bounded by aging: one dispatch in
/// [`AGING_EVERY`](crate::AGING_EVERY) (8) takes the oldest queued job whatever its
/// priority, so a job that is the oldest queued starts within 8 dispatches, and a job with
/// `n` jobs queued ahead of it in placement order within `8 × (n + 1)`.
///
/// Order is decided when a worker takes jobs. A worker whose recent jobs ran under 5 µs
/// each takes up to 8 at once, in the order above, to save a lock (or, without priorities,
/// a contended update of the queue's head) per job; a higher-priority job that arrives
/// meanwhile waits for those few short jobs (well under 40 µs). After longer jobs, and for
/// the first take, a worker takes one job at a time.
///
/// # Deadlines
///
/// Threads cannot be pre-empted. At a job's deadline its handle resolves as timed out and
/// its [`JobContext`](crate::JobContext) is cancelled, so a cooperative job stops; a job
/// that ignores its context keeps its thread, and the pool starts a replacement worker
/// beside it, up to [`Builder::max_replacements`].
///
/// # Shutdown
///
/// - [`shutdown`](Pool::shutdown) stops intake, runs every accepted job and joins every worker.
/// - [`shutdown_timeout`](Pool::shutdown_timeout) does the same until the timeout, then hands
///   back what has not started (its handles resolve as not run) and cancels what is running.
/// - [`shutdown_now`](Pool::shutdown_now) stops intake, hands back every job that has not
///   started, cancels the running ones and joins the workers once their jobs return.
/// - Dropping the last handle does the graceful thing, like `shutdown`.
///
/// Jobs in the delay queue (delayed, scheduled, waiting for a retry) are run when due by a
/// graceful shutdown, and reported by the others; periodic series end with intake.
///
/// A shutdown ends a [pause](Pool::pause): `shutdown` and `shutdown_timeout` resume the pool so
/// that their drain runs every accepted job; `shutdown_now` hands back every job not started.
///
/// Threads cannot be pre-empted: a running job is cancelled by resolving its handle at once,
/// cancelling its context, and dropping its result when it returns. `shutdown_now` waits for running jobs to return;
/// `shutdown_timeout` is the bounded one.
///
/// # Stateful workers and pausing
///
/// [`Builder::on_worker_start`] and [`Builder::on_worker_stop`] run code on each worker thread
/// as it starts and exits; [`Builder::worker_state`] gives each worker a value of its own that
/// [`submit_with_state`](Pool::submit_with_state) jobs borrow without a lock.
/// [`pause`](Pool::pause) lets running jobs finish and starts no other until
/// [`resume`](Pool::resume), while admission goes on up to the queue's capacity.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use workpool::Pool;
///
/// let pool = Pool::builder()
///     .min_workers(1)
///     .max_workers(4)
///     .keep_alive(Duration::from_secs(10))
///     .queue_capacity(256)
///     .thread_name("resize")
///     .build()?;
///
/// let task = pool.submit(|| 6 * 7)?;
/// assert_eq!(task.wait()?, 42);
///
/// let report = pool.shutdown();
/// assert_eq!(report.completed, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pool {
    shared: Arc<Shared>,
}

impl Pool {
    /// Creates a pool of exactly `workers` threads with the default queue.
    ///
    /// # Panics
    ///
    /// If `workers` is 0, or if a worker thread cannot be started. Use
    /// [`Pool::builder`] to handle those as errors.
    #[track_caller]
    pub fn new(workers: usize) -> Pool {
        match Builder::new().workers(workers).build() {
            Ok(pool) => pool,
            Err(err) => panic!("Pool::new({workers}): {err}"),
        }
    }

    /// Starts configuring a pool; see [`Builder`] for every setting and its default.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Queues a job whose result nobody waits for, blocking while the queue is full.
    ///
    /// A panic in the job is caught and counted in [`Stats::panicked`]. With no handle to
    /// resolve, the job is only its closure while it waits (on a fixed-size pool, until the
    /// first scheduled job): kept in the queue's own slot when it captures at most 16 bytes,
    /// boxed otherwise. A shutdown that cancels running jobs lets a running `execute` job
    /// finish and counts it by how it ended.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Closed`] with the job, if the pool has shut down;
    /// [`SubmitError::WouldDeadlock`] if the caller is one of the pool's own workers, the
    /// queue is full, and every other worker is waiting to submit too.
    pub fn execute<F>(&self, job: F) -> Result<(), SubmitError<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.execute_with_priority(Priority::NORMAL, job)
    }

    /// Like [`execute`](Pool::execute), at `priority`: a job whose result nobody waits for,
    /// ordered among queued jobs as the [priority rules](Pool#priorities) say.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Closed`] with the job, if the pool has shut down;
    /// [`SubmitError::WouldDeadlock`] if the caller is one of the pool's own workers, the
    /// queue is full, and every other worker is waiting to submit too.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use workpool::{Pool, Priority};
    ///
    /// let pool = Pool::new(1);
    /// let (tx, rx) = mpsc::channel();
    /// pool.execute_with_priority(Priority::HIGH, move || tx.send("urgent").unwrap())?;
    /// assert_eq!(rx.recv()?, "urgent");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn execute_with_priority<F>(&self, priority: Priority, job: F) -> Result<(), SubmitError<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        // Nobody waits for the result: the closure alone is the job.
        let light = Work::Light(LightJob::new(job));
        let (work, why) = match self.shared.push_fast(light, priority, RoomWait::Block) {
            Ok(_) => return Ok(()),
            Err(refused) => refused,
        };
        let job = work
            .into_light()
            .take::<F>()
            .expect("a refused job has not run");
        if why.is_some() {
            return Err(Reject::blocking(why, job));
        }
        let placement = Placement {
            priority,
            ..Placement::PLAIN
        };
        self.enqueue::<_, ()>(Once::new(job), None, placement, RoomWait::Block)
            .map(drop)
            .map_err(|(once, why)| Reject::blocking(Some(why), once.into_inner()))
    }

    /// Queues a job and returns a handle to its result, blocking while the queue is full.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Closed`] with the job, if the pool has shut down;
    /// [`SubmitError::WouldDeadlock`] if the caller is one of the pool's own workers, the
    /// queue is full, and every other worker is waiting to submit too.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = workpool::Pool::new(2);
    /// let squares: Vec<_> = (0..10u64).map(|i| pool.submit(move || i * i).unwrap()).collect();
    /// let sum: u64 = squares.into_iter().map(|t| t.wait().unwrap()).sum();
    /// assert_eq!(sum, 285);
    /// ```
    pub fn submit<F, T>(&self, job: F) -> Result<Task<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.enqueue(Once::new(job), None, Placement::PLAIN, RoomWait::Block)
            .map_err(|(once, why)| Reject::blocking(Some(why), once.into_inner()))
    }

    /// Queues a job if there is room now; never blocks.
    ///
    /// # Errors
    ///
    /// [`TrySubmitError::Full`] if the queue is at capacity, [`TrySubmitError::Closed`] if
    /// the pool has shut down; both hand the job back.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = workpool::Pool::new(1);
    /// match pool.try_submit(|| 1) {
    ///     Ok(task) => assert_eq!(task.wait().unwrap(), 1),
    ///     Err(e) => {
    ///         assert!(e.is_full());
    ///         let _job = e.into_inner(); // nothing is lost
    ///     }
    /// }
    /// ```
    pub fn try_submit<F, T>(&self, job: F) -> Result<Task<T>, TrySubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.enqueue(Once::new(job), None, Placement::PLAIN, RoomWait::Try)
            .map_err(|(once, why)| match why {
                Reject::Full | Reject::WouldDeadlock => TrySubmitError::Full(once.into_inner()),
                Reject::Closed => TrySubmitError::Closed(once.into_inner()),
            })
    }

    /// Queues a job, waiting at most `timeout` (on the pool's clock) for room.
    ///
    /// # Errors
    ///
    /// [`SubmitTimeoutError::Timeout`] if the queue stayed full, [`SubmitTimeoutError::Closed`]
    /// if the pool has shut down; both hand the job back.
    pub fn submit_timeout<F, T>(
        &self,
        job: F,
        timeout: Duration,
    ) -> Result<Task<T>, SubmitTimeoutError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let deadline = self.shared.clock.after(timeout);
        self.enqueue(
            Once::new(job),
            None,
            Placement::PLAIN,
            RoomWait::Until(deadline),
        )
        .map_err(|(once, why)| match why {
            Reject::Full | Reject::WouldDeadlock => SubmitTimeoutError::Timeout(once.into_inner()),
            Reject::Closed => SubmitTimeoutError::Closed(once.into_inner()),
        })
    }

    /// Queues a [`Job`] with its options (priority, deadline, retry, delay, schedule, rate
    /// key), blocking while the queue is full.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Closed`] with the job, if the pool has shut down;
    /// [`SubmitError::WouldDeadlock`] if the caller is one of the pool's own workers, the
    /// queue is full, and every other worker is waiting to submit too.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use workpool::{Job, JobContext, Pool, Priority};
    ///
    /// let pool = Pool::new(2);
    /// let task = pool.spawn(
    ///     Job::new(|ctx: &JobContext| Ok::<_, String>(ctx.attempt()))
    ///         .priority(Priority::HIGH)
    ///         .timeout(Duration::from_secs(30)),
    /// )?;
    /// assert_eq!(task.wait()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    // The error hands the whole job back by value, as every submission error does: boxing it
    // would cost an allocation on a path that exists so that nothing is lost.
    #[allow(clippy::result_large_err)]
    pub fn spawn<F, T, E>(&self, job: Job<F, T, E>) -> Result<Task<T>, SubmitError<Job<F, T, E>>>
    where
        F: FnMut(&JobContext) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: fmt::Debug + Send + 'static,
    {
        self.spawn_with(job, RoomWait::Block)
            .map_err(|(job, why)| Reject::blocking(Some(why), job))
    }

    /// Queues a [`Job`] if there is room now; never blocks.
    ///
    /// # Errors
    ///
    /// [`TrySubmitError::Full`] or [`TrySubmitError::Closed`], with the job.
    #[allow(clippy::result_large_err)]
    pub fn try_spawn<F, T, E>(
        &self,
        job: Job<F, T, E>,
    ) -> Result<Task<T>, TrySubmitError<Job<F, T, E>>>
    where
        F: FnMut(&JobContext) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: fmt::Debug + Send + 'static,
    {
        self.spawn_with(job, RoomWait::Try)
            .map_err(|(job, why)| match why {
                Reject::Full | Reject::WouldDeadlock => TrySubmitError::Full(job),
                Reject::Closed => TrySubmitError::Closed(job),
            })
    }

    #[allow(clippy::result_large_err, clippy::type_complexity)]
    fn spawn_with<F, T, E>(
        &self,
        job: Job<F, T, E>,
        wait: RoomWait,
    ) -> Result<Task<T>, (Job<F, T, E>, Reject)>
    where
        F: FnMut(&JobContext) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: fmt::Debug + Send + 'static,
    {
        let now = self.shared.clock.now();
        let opts = &job.opts;
        let deadline = match (opts.deadline, opts.timeout.map(|d| later(now, d))) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let due = match (opts.at, opts.delay.map(|d| later(now, d))) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let placement = Placement {
            priority: opts.priority,
            rate_key: opts.rate_key.clone(),
            due,
            deadline,
            reruns: job.retry.is_some() || opts.every.is_some(),
        };
        let body = JobBody::new(job, deadline, due.unwrap_or(now));
        let signal = match placement.due.is_some() || placement.reruns {
            true => {
                let shared: std::sync::Weak<dyn OnCancel> = Arc::downgrade(&self.shared) as _;
                CancelFlag::watched_by(shared)
            }
            false => CancelFlag::default(),
        };
        self.enqueue(body, Some(Arc::new(signal)), placement, wait)
            .map_err(|(body, why)| (body.into_job(), why))
    }

    /// Wraps `body` in a cell, queues it, and returns its handle, or the body back.
    pub(crate) fn enqueue<B, T>(
        &self,
        body: B,
        signal: Option<Arc<CancelFlag>>,
        placement: Placement,
        wait: RoomWait,
    ) -> Result<Task<T>, (B, Reject)>
    where
        B: Body<T>,
        T: Send + 'static,
    {
        // A plain job may run on a worker of this pool that waits for it (see `help.rs`):
        // nothing but its turn in the queue holds it back.
        let claimable = placement.is_plain() && !self.shared.rate_limited && body.claimable();
        let cell = Arc::new(Cell::new(body, signal).claimable(claimable));
        let runnable: Arc<dyn Runnable> = cell.clone();
        match self.shared.push(runnable, placement, wait) {
            Ok(id) => Ok(Task::new(cell, &self.shared, id)),
            Err((runnable, why)) => {
                drop(runnable);
                let cell = Arc::into_inner(cell).expect("a rejected job's cell has no other owner");
                Err((cell.into_body(), why))
            }
        }
    }

    /// A snapshot of workers, queue, counters and latency percentiles. Cheap enough to call
    /// often; see [`Stats`] for what each field counts.
    pub fn stats(&self) -> Stats {
        crate::stats::stats(&self.shared)
    }

    /// Changes the worker bounds at run time, without losing or repeating a job.
    ///
    /// Workers above the new maximum retire as soon as their current job ends; workers are
    /// started up to the new minimum (and to cover queued jobs, up to the new maximum).
    ///
    /// # Panics
    ///
    /// If `max` is 0 or `min > max`.
    #[track_caller]
    pub fn resize(&self, min: usize, max: usize) {
        assert!(max > 0, "Pool::resize: max must be at least 1");
        assert!(
            min <= max,
            "Pool::resize: min ({min}) is greater than max ({max})"
        );
        self.shared.resize(min, max);
    }

    /// Changes how long an idle worker above the minimum waits for work before it retires.
    pub fn set_keep_alive(&self, keep_alive: Duration) {
        self.shared.set_keep_alive(keep_alive);
    }

    /// Blocks until no job is queued or running.
    ///
    /// Jobs in the delay queue (delayed, waiting for a retry or a rate-limit token, between
    /// periodic runs) do not count: a periodic job would otherwise keep the pool busy for
    /// ever. Every caller waiting when the pool goes idle returns, even if another one makes
    /// it busy again first; new submissions can make the pool busy again as soon as this
    /// returns.
    ///
    /// # Panics
    ///
    /// If called from one of this pool's own threads (a job, or a destructor the pool runs),
    /// which would wait for itself.
    pub fn wait_idle(&self) {
        self.shared.wait_idle(None);
    }

    /// Like [`wait_idle`](Pool::wait_idle), but gives up after `timeout` (on the pool's
    /// clock). Returns `true` if the pool went idle, `false` if the time ran out first.
    ///
    /// # Panics
    ///
    /// If called from one of this pool's own threads.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = workpool::Pool::new(2);
    /// pool.execute(|| ())?;
    /// assert!(pool.wait_idle_timeout(Duration::from_secs(10)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_idle_timeout(&self, timeout: Duration) -> bool {
        self.shared
            .wait_idle(Some(self.shared.clock.after(timeout)))
    }

    /// `true` once a shutdown has begun; every submission is then handed back.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Stops intake, runs every accepted job, and joins every worker.
    ///
    /// Called from one of the pool's own jobs, it stops intake and returns at once (a job
    /// cannot wait for itself); the workers finish the queue in the background.
    ///
    /// # Shutdown
    ///
    /// Every later submission on any handle is handed back as closed. Calling it again
    /// returns an up-to-date report and joins nothing new.
    pub fn shutdown(&self) -> ShutdownReport {
        lifecycle::shutdown(&self.shared, Mode::Graceful)
    }

    /// Like [`shutdown`](Pool::shutdown), but gives up waiting after `timeout` (on the pool's
    /// clock): jobs still queued are handed back (their handles resolve as not run) and
    /// running jobs are cancelled; their workers finish in the background.
    /// [`ShutdownReport::timeout_hit`] says whether that happened.
    pub fn shutdown_timeout(&self, timeout: Duration) -> ShutdownReport {
        lifecycle::shutdown(&self.shared, Mode::Timeout(timeout))
    }

    /// Stops intake, hands back every job that has not started (their handles resolve as
    /// not run), cancels the running ones, and joins the workers once their current jobs
    /// return.
    pub fn shutdown_now(&self) -> ShutdownReport {
        lifecycle::shutdown(&self.shared, Mode::Now)
    }
}

impl Pool {
    /// The state behind the handle, for the composition API, the modules that add methods
    /// to `Pool`, and the crate's own tests.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The current upper bound on workers, which sizes the composition API's windows.
    pub(crate) fn max_workers(&self) -> usize {
        self.shared.inner.lock().workers.max
    }
}

impl Clone for Pool {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Pool {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            lifecycle::shutdown(&self.shared, Mode::Graceful);
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = self.stats();
        f.debug_struct("Pool")
            .field("workers", &stats.workers)
            .field("queued", &stats.queued)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Configures and builds a [`Pool`]. Every setting has a default.
///
/// # Examples
///
/// ```
/// let pool = workpool::Pool::builder().workers(4).queue_capacity(64).build()?;
/// assert_eq!(pool.stats().max_workers, 4);
/// # Ok::<(), workpool::BuildError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a Builder does nothing until build() is called"]
pub struct Builder {
    min: Option<usize>,
    max: Option<usize>,
    keep_alive: Duration,
    capacity: usize,
    thread_name: String,
    stack_size: Option<usize>,
    clock: Clock,
    rate: Option<RateLimit>,
    per_key: Option<RateLimit>,
    keys: Vec<(String, RateLimit)>,
    max_replacements: Option<usize>,
    latency_metrics: bool,
    /// Worker start and stop hooks and the worker state (`worker_hooks.rs`, `worker_state.rs`).
    pub(crate) hooks: WorkerHooks,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// A builder with every default: workers = available cores (fixed), queue of
    /// [`DEFAULT_QUEUE_CAPACITY`], keep-alive [`DEFAULT_KEEP_ALIVE`], threads named
    /// `workpool-N`, the platform's default stack size, the system clock, no worker hooks
    /// and no worker state.
    pub fn new() -> Self {
        Self {
            min: None,
            max: None,
            keep_alive: DEFAULT_KEEP_ALIVE,
            capacity: DEFAULT_QUEUE_CAPACITY,
            thread_name: "workpool".to_owned(),
            stack_size: None,
            clock: Clock::system(),
            rate: None,
            per_key: None,
            keys: Vec::new(),
            max_replacements: None,
            latency_metrics: true,
            hooks: WorkerHooks::default(),
        }
    }

    /// A fixed pool of `n` workers: `min_workers(n).max_workers(n)`.
    pub fn workers(mut self, n: usize) -> Self {
        self.min = Some(n);
        self.max = Some(n);
        self
    }

    /// Workers kept even when idle, started at build. Default: the maximum.
    pub fn min_workers(mut self, n: usize) -> Self {
        self.min = Some(n);
        self
    }

    /// The most workers at once; more start only when a job waits and none is idle.
    /// Default: the number of available cores.
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max = Some(n);
        self
    }

    /// How long an idle worker above the minimum waits for a job before it retires.
    /// Default: [`DEFAULT_KEEP_ALIVE`] (10 s).
    pub fn keep_alive(mut self, keep_alive: Duration) -> Self {
        self.keep_alive = keep_alive;
        self
    }

    /// The most jobs that can wait in the queue. Default: [`DEFAULT_QUEUE_CAPACITY`] (1024).
    ///
    /// Up to 65,536, the queue for plain jobs is a ring allocated when the pool is built,
    /// 48 bytes a place (48 KiB by default, 3 MiB at most), so that queueing a job allocates
    /// nothing. The first job queued at a priority other than NORMAL adds a second ring for
    /// prioritized jobs, 64 bytes a place (64 KiB by default). A larger queue grows and
    /// shrinks with what it holds instead.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// The prefix of worker thread names; workers are named `{prefix}-{n}`.
    /// Default: `workpool`.
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name = prefix.into();
        self
    }

    /// The stack size of worker threads, in bytes. Default: the platform's (2 MiB on Linux).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// The clock for keep-alive and every timeout. Default: [`Clock::system`]. Pass a
    /// [`ManualClock`](crate::ManualClock) to drive time by hand in tests.
    pub fn clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Whether workers time each job for [`Stats::queue_wait`] and [`Stats::run_time`].
    /// Default: `true`.
    ///
    /// Timing costs two clock reads and a histogram update per job; for pools of very short
    /// jobs that do not need the percentiles, `false` saves that. The counters in [`Stats`]
    /// and [`ShutdownReport`] are kept either way.
    ///
    /// ```
    /// let pool = workpool::Pool::builder().workers(1).latency_metrics(false).build()?;
    /// pool.submit(|| ())?.wait()?;
    /// pool.wait_idle();
    /// let stats = pool.stats();
    /// assert_eq!((stats.completed, stats.run_time.count), (1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn latency_metrics(mut self, on: bool) -> Self {
        self.latency_metrics = on;
        self
    }

    /// A rate limit on every job's start, decided before a worker takes the job.
    /// Default: none.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate = Some(limit);
        self
    }

    /// A rate limit for each distinct [`Job::rate_key`](crate::Job::rate_key), one bucket per
    /// key (for example per host). A job over its key's limit waits in the delay queue and
    /// never holds up jobs of other keys. Default: none.
    pub fn rate_limit_per_key(mut self, limit: RateLimit) -> Self {
        self.per_key = Some(limit);
        self
    }

    /// A rate limit for one key, overriding [`rate_limit_per_key`](Builder::rate_limit_per_key)
    /// for it. Default: none.
    pub fn rate_limit_for(mut self, key: impl Into<String>, limit: RateLimit) -> Self {
        self.keys.push((key.into(), limit));
        self
    }

    /// The most replacement workers running at once beyond `max_workers`, started beside
    /// jobs that overrun their deadline (threads cannot be pre-empted, so an overrunning job
    /// keeps its thread). Default: `max_workers`, so a pool never runs more than twice its
    /// maximum.
    pub fn max_replacements(mut self, n: usize) -> Self {
        self.max_replacements = Some(n);
        self
    }

    /// Builds the pool and starts its minimum number of workers.
    ///
    /// # Errors
    ///
    /// An invalid configuration (`max_workers` 0, `min_workers > max_workers`,
    /// `queue_capacity` 0, a thread name with a NUL byte), or a worker thread that could not
    /// start.
    pub fn build(self) -> Result<Pool, BuildError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (min, max) = match (self.min, self.max) {
            (Some(min), Some(max)) => (min, max),
            (Some(min), None) => (min, min.max(cores)),
            (None, Some(max)) => (max, max),
            (None, None) => (cores, cores),
        };
        if max == 0 {
            return Err(BuildError::invalid("max_workers must be at least 1"));
        }
        if min > max {
            return Err(BuildError::invalid(format!(
                "min_workers ({min}) is greater than max_workers ({max})"
            )));
        }
        if self.capacity == 0 {
            return Err(BuildError::invalid("queue_capacity must be at least 1"));
        }
        if self.thread_name.contains('\0') {
            return Err(BuildError::invalid("thread_name contains a NUL byte"));
        }
        let shared = Arc::new(Shared::new(Config {
            capacity: self.capacity,
            min,
            max,
            keep_alive: self.keep_alive,
            max_replacements: self.max_replacements.unwrap_or(max),
            threads: ThreadConfig {
                name: self.thread_name,
                stack_size: self.stack_size,
            },
            clock: self.clock,
            // An unlimited limit never holds a job back: the pool runs without one.
            rate: self.rate.filter(|limit| !limit.is_unlimited()),
            latency_metrics: self.latency_metrics,
            hooks: self.hooks,
            rates: RateConfig {
                per_key: self.per_key,
                keys: self.keys.into_iter().collect(),
            },
            cores,
        }));
        let pool = Pool { shared };
        {
            let mut inner = pool.shared.inner.lock();
            for _ in 0..min {
                if let Err(err) = crate::worker::spawn(&pool.shared, &mut inner) {
                    drop(inner);
                    pool.shutdown_now();
                    return Err(BuildError::spawn(err));
                }
            }
        }
        Ok(pool)
    }
}
