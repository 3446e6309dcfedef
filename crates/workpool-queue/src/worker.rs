//! [`Worker`]: claims jobs from a queue, runs them on a [`workpool::Pool`], keeps their leases
//! and records their outcomes.
//!
//! Four threads besides the pool's:
//!
//! - the **claimer** (the caller of [`Worker::run`]) claims as many due jobs as the pool has
//!   free workers plus a small, bounded local buffer (see [`WorkerBuilder::prefetch`]), hands
//!   them to the pool, and waits for room, a wake-up or the poll interval;
//! - the **recorder** writes finished attempts in batches: whatever finished while the last
//!   batch was being written goes in the next one (group commit);
//! - the **renewer** renews the leases of every job this worker holds, in one statement every
//!   third of the lease, and hears of cancels and of leases lost;
//! - with PostgreSQL, the **listener** waits on `LISTEN` and wakes the claimer when jobs are
//!   enqueued.

use std::collections::HashMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use fallible_iterator::FallibleIterator;
use serde_json::Value;
use workpool::{Job, JobContext, Pool};

use crate::error::{Error, Result};
use crate::job::{ClaimedJob, Completion, JobId, Outcome};
use crate::queue::{Queue, WorkerId};

/// Default lease: 30 s.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// Default poll interval: 1 s (the longest an idle worker waits before looking again).
pub const DEFAULT_POLL: Duration = Duration::from_secs(1);
/// Default grace for running jobs at shutdown: 30 s.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);
/// The first wait of an idle SQLite worker; it doubles up to the poll interval.
const MIN_POLL: Duration = Duration::from_millis(5);
/// How long a worker waits for the jobs it ended (after the grace, or a kill) to return.
const END_WAIT: Duration = Duration::from_secs(10);
/// The most completions written in one transaction.
const RECORD_BATCH: usize = 1000;
/// Default [`WorkerBuilder::prefetch`]: the most claimed jobs a worker holds beyond its
/// pool's free workers.
pub const DEFAULT_PREFETCH: usize = 1000;
/// The local buffer covers what the pool finishes in this long, at its recent rate: enough
/// to keep the pool busy while the next claim is on its way, so that a pool of slow jobs
/// holds (next to) nothing it does not run.
const PREFETCH_HORIZON: Duration = Duration::from_millis(25);
/// The shortest span over which the claimer measures the rate at which jobs finish.
const RATE_SPAN: Duration = Duration::from_millis(10);

const CLAIMED: u8 = 0;
const STARTED: u8 = 1;
const RELEASED: u8 = 2;

type HandlerFn =
    dyn Fn(&ClaimedJob, &Context<'_>) -> std::result::Result<(), String> + Send + Sync + 'static;
type ErrorFn = dyn Fn(&Error) + Send + Sync + 'static;

/// What a handler sees of its run besides the job: cancellation, and where to put output.
pub struct Context<'a> {
    pool: &'a JobContext,
    entry: &'a Entry,
}

impl Context<'_> {
    /// `true` once the run should stop: its job was cancelled, its lease was lost, or the
    /// worker is ending it at shutdown.
    pub fn is_cancelled(&self) -> bool {
        self.entry.cancel.load(Ordering::Relaxed) || self.pool.is_cancelled()
    }

    /// The flag behind [`is_cancelled`](Self::is_cancelled) (without the pool's own), for
    /// code that watches an `AtomicBool`.
    pub fn cancel_flag(&self) -> &AtomicBool {
        &self.entry.cancel
    }

    /// Waits for `duration`, or less if the run is cancelled first. Returns `true` if it
    /// waited the whole time.
    pub fn sleep(&self, duration: Duration) -> bool {
        let until = deadline(duration);
        loop {
            if self.is_cancelled() {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            // The pool's sleep wakes on the pool's cancel; the queue's flag is looked at
            // every 10 ms.
            self.pool
                .sleep((until - now).min(Duration::from_millis(10)));
        }
    }

    /// The pool's context of this run.
    pub fn pool_context(&self) -> &JobContext {
        self.pool
    }

    /// Records `output` in the job's record with its outcome (the last call wins).
    pub fn set_output(&self, output: Value) {
        *self
            .entry
            .output
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(output);
    }
}

/// A job this worker holds.
struct Entry {
    id: JobId,
    attempt: u32,
    state: AtomicU8,
    cancel: AtomicBool,
    cancel_requested: AtomicBool,
    lease_lost: AtomicBool,
    abandoned: AtomicBool,
    /// Set when its pool closure has returned (its record is sent).
    returned: AtomicBool,
    output: Mutex<Option<Value>>,
}

/// What the claimer waits for.
enum Event {
    /// A job returned: the pool has room.
    Room,
    /// Jobs were enqueued (PostgreSQL `NOTIFY`).
    Wake,
    /// Stop claiming and drain.
    Stop,
    /// End running jobs and leave.
    Kill,
}

/// What the recorder is sent.
enum Record {
    Done(Completion),
    Close,
}

/// Counts of what a worker recorded, from [`Worker::run`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Attempts claimed.
    pub claimed: u64,
    /// Jobs recorded `completed`.
    pub completed: u64,
    /// Failed attempts recorded for a retry.
    pub retried: u64,
    /// Jobs recorded `failed`.
    pub failed: u64,
    /// Jobs recorded `cancelled`.
    pub cancelled: u64,
    /// Jobs handed back at shutdown.
    pub released: u64,
    /// Completions refused because the attempt had lost its lease.
    pub refused: u64,
}

/// Stops a running [`Worker`] from another thread (or a signal handler thread).
#[derive(Clone)]
pub struct ShutdownHandle {
    events: Sender<Event>,
}

impl ShutdownHandle {
    /// Graceful: stop claiming, hand back claimed jobs that have not started, let running
    /// jobs finish within the grace, then end and hand back the rest.
    pub fn stop(&self) {
        let _ = self.events.send(Event::Stop);
    }

    /// At once: end running jobs (their contexts are cancelled) and hand every job back.
    pub fn kill(&self) {
        let _ = self.events.send(Event::Kill);
    }
}

/// Configures a [`Worker`]; from [`Worker::builder`].
pub struct WorkerBuilder {
    queue: Queue,
    name: String,
    concurrency: usize,
    prefetch: usize,
    lease: Duration,
    poll: Duration,
    grace: Duration,
    backoff: (Duration, Duration),
    exit_when_empty: bool,
    handlers: HashMap<String, Arc<HandlerFn>>,
    on_error: Arc<ErrorFn>,
}

impl WorkerBuilder {
    /// The queue to work on. Default: `default`.
    pub fn queue(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// How many jobs run at once: the pool's size, and the most jobs claimed. Default: the
    /// number of cores.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The most claimed jobs a worker holds beyond what its pool runs: a local buffer that
    /// keeps the pool fed while the next claim is on its way, and lets one statement claim
    /// many jobs. The worker sizes the buffer to what its pool finishes in about 25 ms at its
    /// recent rate, up to this bound: a pool of jobs that take a second holds nothing beyond
    /// its free workers, a pool of no-op jobs up to `n` more. Buffered jobs are claimed (under
    /// a lease, renewed with the running ones); at shutdown they are handed back at once,
    /// their attempt not counted. 0 claims only as many jobs as the pool has free workers.
    /// Default 1000.
    pub fn prefetch(mut self, n: usize) -> Self {
        self.prefetch = n;
        self
    }

    /// The lease of a claim: a job whose worker has not renewed it for this long is claimed
    /// again by any worker. Renewed every third of it. Default 30 s; at least 300 ms, at most 30 days.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.clamp(Duration::from_millis(300), Duration::from_secs(30 * 86_400));
        self
    }

    /// The longest an idle worker waits before it looks for due jobs again. Default 1 s; at
    /// least 5 ms, at most a day.
    pub fn poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll.clamp(MIN_POLL, Duration::from_secs(86_400));
        self
    }

    /// At shutdown, how long running jobs may take to finish before they are ended and
    /// handed back. Default 30 s.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The delay before a failed job's retry: `first` after the first failure, doubling up to
    /// `cap`, with 20% jitter. Default 1 s to 10 min.
    pub fn backoff(mut self, first: Duration, cap: Duration) -> Self {
        self.backoff = (first, cap.max(first));
        self
    }

    /// Return from [`Worker::run`] once the queue has no job waiting or running. Default off.
    pub fn exit_when_empty(mut self, on: bool) -> Self {
        self.exit_when_empty = on;
        self
    }

    /// Runs jobs of `kind` with `handler`; an `Err` (or a panic) fails the attempt with its
    /// text. The worker claims only the kinds it has handlers for.
    pub fn handle<F, E>(mut self, kind: impl Into<String>, handler: F) -> Self
    where
        F: Fn(&ClaimedJob, &Context<'_>) -> std::result::Result<(), E> + Send + Sync + 'static,
        E: std::fmt::Display,
    {
        let handler: Arc<HandlerFn> = Arc::new(move |job: &ClaimedJob, ctx: &Context<'_>| {
            handler(job, ctx).map_err(|e| e.to_string())
        });
        self.handlers.insert(kind.into(), handler);
        self
    }

    /// Called with every database error the worker survives (it retries with backoff).
    /// Default: a line on standard error.
    pub fn on_error(mut self, f: impl Fn(&Error) + Send + Sync + 'static) -> Self {
        self.on_error = Arc::new(f);
        self
    }

    /// Builds the pool and the worker's connections.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] if the extra connections cannot be made, or
    /// [`Error::InvalidJob`] if the pool cannot start (the message says why).
    pub fn build(self) -> Result<Worker> {
        let pool = Pool::builder()
            .workers(self.concurrency)
            .queue_capacity(self.concurrency + self.prefetch)
            .thread_name("workpool-queue")
            .build()
            .map_err(|e| Error::InvalidJob(format!("cannot start the pool: {e}")))?;
        let recorder = self.queue.connect_again()?;
        let renewer = self.queue.connect_again()?;
        self.queue.relax_durability()?;
        renewer.relax_durability()?;
        let (events, inbox) = mpsc::channel();
        Ok(Worker {
            config: self,
            pool,
            recorder,
            renewer,
            events,
            inbox,
        })
    }
}

/// Runs the jobs of one queue on a pool: claim, run, renew, record.
///
/// Execution is **at least once**: a job whose worker dies, hangs or loses the database
/// runs again on another worker once its lease expires. Recording is **exactly once**: a
/// completion carries its attempt number and is refused once that attempt lost its lease.
///
/// ```no_run
/// use serde_json::json;
/// use workpool_queue::{NewJob, Queue, Worker};
///
/// let queue = Queue::open("sqlite:jobs.db")?;
/// queue.enqueue(NewJob::new("greet", json!({"name": "Ada"})))?;
/// Worker::builder(queue)
///     .concurrency(4)
///     .handle("greet", |job, _ctx| {
///         let name: String = job.args::<serde_json::Value>()?["name"].to_string();
///         println!("hello, {name}");
///         Ok::<(), serde_json::Error>(())
///     })
///     .build()?
///     .run_until_signal()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Shutdown
///
/// [`ShutdownHandle::stop`] (or the first SIGINT/SIGTERM under
/// [`run_until_signal`](Worker::run_until_signal)) stops claiming, hands back claimed jobs
/// that have not started (their attempt not counted), waits for running jobs up to the grace,
/// then cancels them and hands them back, and deregisters. [`ShutdownHandle::kill`] (a second
/// signal) skips the wait.
pub struct Worker {
    config: WorkerBuilder,
    pool: Pool,
    recorder: Queue,
    renewer: Queue,
    events: Sender<Event>,
    inbox: Receiver<Event>,
}

impl Worker {
    /// A builder for a worker on `queue`.
    pub fn builder(queue: Queue) -> WorkerBuilder {
        WorkerBuilder {
            queue,
            name: crate::DEFAULT_QUEUE.to_owned(),
            concurrency: std::thread::available_parallelism().map_or(1, |n| n.get()),
            prefetch: DEFAULT_PREFETCH,
            lease: DEFAULT_LEASE,
            poll: DEFAULT_POLL,
            grace: DEFAULT_GRACE,
            backoff: (Duration::from_secs(1), Duration::from_secs(600)),
            exit_when_empty: false,
            handlers: HashMap::new(),
            on_error: Arc::new(|err: &Error| eprintln!("workpool: warning: {err}")),
        }
    }

    /// A handle that stops this worker.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            events: self.events.clone(),
        }
    }

    /// Runs until the first SIGINT or SIGTERM (then drains, as [`ShutdownHandle::stop`]); a
    /// second one ends running jobs at once.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run), or if the signal handlers cannot be installed.
    pub fn run_until_signal(self) -> Result<WorkerReport> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
            .map_err(|e| Error::InvalidJob(format!("cannot handle signals: {e}")))?;
        let signal_handle = signals.handle();
        let handle = self.shutdown_handle();
        let watcher = thread::spawn(move || {
            let mut seen = 0;
            for _ in signals.forever() {
                seen += 1;
                if seen == 1 {
                    handle.stop();
                } else {
                    handle.kill();
                }
            }
        });
        let report = self.run();
        signal_handle.close();
        let _ = watcher.join();
        report
    }

    /// Claims and runs jobs until stopped through a [`ShutdownHandle`] (or, with
    /// [`exit_when_empty`](WorkerBuilder::exit_when_empty), until the queue is empty).
    ///
    /// # Errors
    ///
    /// A database error while registering the worker. Later errors are passed to
    /// [`on_error`](WorkerBuilder::on_error) and retried.
    pub fn run(self) -> Result<WorkerReport> {
        let Worker {
            config,
            pool,
            recorder,
            renewer,
            events,
            inbox,
        } = self;
        let queue = &config.queue;
        let worker = queue.register_worker(&config.name, config.lease)?;
        let shared = Arc::new(Shared {
            held: Mutex::new(HashMap::new()),
            busy: AtomicUsize::new(0),
            finished: AtomicU64::new(0),
            wake_at: AtomicUsize::new(0),
            room_sent: AtomicBool::new(false),
            events: events.clone(),
            closing: AtomicBool::new(false),
        });
        let kinds: Vec<String> = config.handlers.keys().cloned().collect();
        let (records, record_inbox) = mpsc::channel();
        let report = Arc::new(Mutex::new(WorkerReport::default()));

        let recorder_thread = {
            let (shared, report, on_error) = (
                Arc::clone(&shared),
                Arc::clone(&report),
                Arc::clone(&config.on_error),
            );
            thread::Builder::new()
                .name("workpool-record".to_owned())
                .spawn(move || record_loop(&recorder, &record_inbox, &shared, &report, &*on_error))
                .map_err(|e| Error::InvalidJob(format!("cannot start a thread: {e}")))?
        };
        let (stop_renewer, renewer_stop) = mpsc::channel::<()>();
        let renewer_thread = {
            let (shared, on_error) = (Arc::clone(&shared), Arc::clone(&config.on_error));
            let lease = config.lease;
            thread::Builder::new()
                .name("workpool-renew".to_owned())
                .spawn(move || {
                    renew_loop(&renewer, worker, lease, &renewer_stop, &shared, &*on_error)
                })
                .map_err(|e| Error::InvalidJob(format!("cannot start a thread: {e}")))?
        };
        let listener = Arc::new(AtomicBool::new(false));
        let listener_thread = match queue.backend() {
            crate::Backend::Postgres => {
                let (url, name, stop) = (
                    queue.db_url().clone(),
                    config.name.clone(),
                    Arc::clone(&listener),
                );
                let events = events.clone();
                Some(
                    thread::Builder::new()
                        .name("workpool-listen".to_owned())
                        .spawn(move || listen_loop(&url, &name, &events, &stop))
                        .map_err(|e| Error::InvalidJob(format!("cannot start a thread: {e}")))?,
                )
            }
            crate::Backend::Sqlite => None,
        };

        let mut claimer = Claimer {
            config: &config,
            pool: &pool,
            shared: &shared,
            records: &records,
            worker,
            kinds,
            report: &report,
            rate: 0.0,
            rate_since: Instant::now(),
            rate_count: 0,
        };
        let ending = claimer.claim_loop(&inbox);
        claimer.drain(&inbox, ending);

        let _ = records.send(Record::Close);
        let _ = recorder_thread.join();
        drop(stop_renewer);
        let _ = renewer_thread.join();
        // The listener sees the flag within its 250 ms wait for a notification and then
        // closes its connection; it is not joined, so that a worker that is done returns
        // at once instead of up to 250 ms later.
        listener.store(true, Ordering::Relaxed);
        drop(listener_thread);
        if let Err(err) = queue.deregister_worker(worker) {
            (config.on_error)(&err);
        }
        if shared.busy.load(Ordering::SeqCst) == 0 {
            pool.shutdown();
        } else {
            // A handler that ignores its cancel still holds a pool thread; joining it would
            // hang the caller. Its job is handed back already.
            std::mem::forget(pool);
        }
        let report = *report.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(report)
    }
}

struct Shared {
    held: Mutex<HashMap<JobId, Arc<Entry>>>,
    /// Jobs handed to the pool whose closure has not returned: running or buffered.
    busy: AtomicUsize,
    /// Jobs whose closure has returned, ever: the claimer's measure of the pool's rate.
    finished: AtomicU64,
    /// A returning job wakes the claimer (with [`Event::Room`]) when it leaves this many
    /// or fewer busy, or none: the claimer sets it to where its next claim is worth making,
    /// so that it is not woken by every job.
    wake_at: AtomicUsize,
    /// Set when a [`Event::Room`] is on its way and the claimer has not looked yet, so that
    /// at most one is.
    room_sent: AtomicBool,
    events: Sender<Event>,
    /// Set when shutdown ends running jobs: their attempts are handed back, not recorded.
    closing: AtomicBool,
}

impl Shared {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Arc<Entry>>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A job's closure has returned: count it, and wake the claimer if that made the room
    /// it waits for (or left the pool idle).
    fn returned(&self) {
        self.finished.fetch_add(1, Ordering::Relaxed);
        let left = self.busy.fetch_sub(1, Ordering::SeqCst) - 1;
        if (left == 0 || left <= self.wake_at.load(Ordering::SeqCst))
            && !self.room_sent.swap(true, Ordering::SeqCst)
        {
            let _ = self.events.send(Event::Room);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    Drain,
    Kill,
}

struct Claimer<'a> {
    config: &'a WorkerBuilder,
    pool: &'a Pool,
    shared: &'a Arc<Shared>,
    records: &'a Sender<Record>,
    worker: WorkerId,
    kinds: Vec<String>,
    report: &'a Arc<Mutex<WorkerReport>>,
    /// Jobs per second the pool finished lately, measured since `rate_since`, when
    /// `rate_count` jobs had finished.
    rate: f64,
    rate_since: Instant,
    rate_count: u64,
}

impl Claimer<'_> {
    /// How many claimed jobs to hold beyond the pool's workers: what the pool finishes in
    /// [`PREFETCH_HORIZON`] at its recent rate, at most the configured prefetch.
    fn buffer_target(&mut self) -> usize {
        let now = Instant::now();
        let span = now.duration_since(self.rate_since);
        if span >= RATE_SPAN {
            let finished = self.shared.finished.load(Ordering::Relaxed);
            let rate = (finished - self.rate_count) as f64 / span.as_secs_f64();
            // Up at once (a starved pool needs a bigger buffer now), down by halves.
            self.rate = if rate > self.rate {
                rate
            } else {
                (self.rate + rate) / 2.0
            };
            self.rate_since = now;
            self.rate_count = finished;
        }
        let target = (self.rate * PREFETCH_HORIZON.as_secs_f64()).ceil();
        if target >= self.config.prefetch as f64 {
            self.config.prefetch
        } else {
            target as usize
        }
    }

    fn claim_loop(&mut self, inbox: &Receiver<Event>) -> Ending {
        let config = self.config;
        let sqlite = config.queue.backend() == crate::Backend::Sqlite;
        // Without notifications (SQLite), or to see the end of the queue soon after it comes
        // (--exit-when-empty), an idle worker polls with backoff.
        let backoff = sqlite || config.exit_when_empty;
        // With --exit-when-empty a worker that finds nothing may be waiting only for other
        // workers' last jobs to be recorded: it looks at least every 100 ms, so that it
        // does not end up to a poll interval after them.
        let idle_cap = if config.exit_when_empty {
            config.poll.min(Duration::from_millis(100))
        } else {
            config.poll
        };
        let mut idle = MIN_POLL;
        let mut failures = 0u32;
        // The last claim found fewer due jobs than it asked for: room in the pool is no
        // reason to claim again; a notification, the poll, or the pool going idle is.
        let mut starved = false;
        let mut claim_now = true;
        // After a failed claim, no claim before this (room in the pool is no reason to
        // hammer a database that just failed).
        let mut retry_at = Instant::now();
        loop {
            // Any Room sent from here on will wake the wait below.
            self.shared.room_sent.store(false, Ordering::SeqCst);
            let target = self.buffer_target();
            let cap = config.concurrency + target;
            // A claim is made when it can take at least half the buffer (or, without one,
            // any free worker): many jobs per statement, and never a worker left idle while
            // a full buffer waits.
            let threshold = target.div_ceil(2).max(1);
            let busy = self.shared.busy.load(Ordering::SeqCst);
            let room = cap.saturating_sub(busy);
            let mut wait = config.poll;
            let backing_off = retry_at.saturating_duration_since(Instant::now());
            if !backing_off.is_zero() {
                wait = backing_off;
            } else if room >= threshold && (claim_now || !starved || busy == 0) {
                match config.queue.claim(
                    &config.name,
                    self.worker,
                    Some(&self.kinds),
                    room,
                    config.lease,
                ) {
                    Ok(jobs) => {
                        failures = 0;
                        let got = jobs.len();
                        self.report
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .claimed += got as u64;
                        for job in jobs {
                            self.start(job);
                        }
                        starved = got < room;
                        if got > 0 {
                            idle = MIN_POLL;
                        }
                        if !starved {
                            wait = Duration::ZERO;
                        } else if got > 0 {
                            wait = if backoff { idle } else { config.poll };
                        } else {
                            if config.exit_when_empty
                                && self.shared.busy.load(Ordering::SeqCst) == 0
                                && matches!(config.queue.has_unfinished(&config.name), Ok(false))
                            {
                                return Ending::Drain;
                            }
                            if backoff {
                                wait = idle;
                                idle = (idle * 2).min(idle_cap);
                            }
                        }
                    }
                    Err(err) => {
                        (config.on_error)(&err);
                        failures = failures.saturating_add(1);
                        wait = backoff_wait(failures, config.poll);
                        retry_at = deadline(wait);
                    }
                }
            } else if starved && backoff {
                wait = idle;
            }
            claim_now = false;
            // Be woken by a returning job when the room is worth a claim (when starved: only
            // when the pool goes idle), then look again in case it came already.
            let wake_at = if starved {
                0
            } else {
                cap.saturating_sub(threshold)
            };
            self.shared.wake_at.store(wake_at, Ordering::SeqCst);
            if !wait.is_zero()
                && !starved
                && failures == 0
                && self.shared.busy.load(Ordering::SeqCst) <= wake_at
            {
                wait = Duration::ZERO;
            }
            // Take every event that is there; wait only when there was none.
            let mut woke = false;
            let timed_out = loop {
                let event = if woke || wait.is_zero() {
                    match inbox.try_recv() {
                        Ok(e) => e,
                        Err(_) => break false,
                    }
                } else {
                    match inbox.recv_timeout(wait) {
                        Ok(e) => e,
                        Err(RecvTimeoutError::Timeout) => break true,
                        Err(RecvTimeoutError::Disconnected) => return Ending::Drain,
                    }
                };
                woke = true;
                match event {
                    Event::Room => {}
                    Event::Wake => claim_now = true,
                    Event::Stop => return Ending::Drain,
                    Event::Kill => return Ending::Kill,
                }
            };
            if timed_out {
                claim_now = true;
            }
        }
    }

    /// Hands a claimed job to the pool.
    fn start(&mut self, job: ClaimedJob) {
        let entry = Arc::new(Entry {
            id: job.id,
            attempt: job.attempt,
            state: AtomicU8::new(CLAIMED),
            cancel: AtomicBool::new(false),
            cancel_requested: AtomicBool::new(false),
            lease_lost: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            returned: AtomicBool::new(false),
            output: Mutex::new(None),
        });
        self.shared.held().insert(job.id, Arc::clone(&entry));
        self.shared.busy.fetch_add(1, Ordering::SeqCst);
        let (id, attempt) = (job.id, job.attempt);
        let handler = self.config.handlers.get(&job.kind).cloned();
        let (shared, records) = (Arc::clone(self.shared), self.records.clone());
        let backoff = self.config.backoff;
        let priority = workpool::Priority::new(job.priority);
        let run = move |ctx: &JobContext| {
            if entry
                .state
                .compare_exchange(CLAIMED, STARTED, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                let outcome = run_job(&job, &entry, handler.as_deref(), ctx, &shared, backoff);
                let _ = records.send(Record::Done(Completion {
                    id: entry.id,
                    attempt: entry.attempt,
                    outcome,
                }));
            }
            entry.returned.store(true, Ordering::SeqCst);
            shared.returned();
            Ok::<(), std::convert::Infallible>(())
        };
        if self.pool.spawn(Job::new(run).priority(priority)).is_err() {
            // The pool is sized to the claims and shut down only after this loop, so this
            // cannot happen; if it did, the job is handed back rather than left claimed.
            if let Some(entry) = self.shared.held().get(&id) {
                entry.state.store(RELEASED, Ordering::SeqCst);
                entry.returned.store(true, Ordering::SeqCst);
            }
            let _ = self.records.send(Record::Done(Completion {
                id,
                attempt,
                outcome: Outcome::Release { started: false },
            }));
            self.shared.busy.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Stops: hands back unstarted jobs, waits for running ones (up to the grace unless
    /// killed), ends the rest and hands them back.
    fn drain(&mut self, inbox: &Receiver<Event>, ending: Ending) {
        let entries: Vec<Arc<Entry>> = self.shared.held().values().cloned().collect();
        for entry in &entries {
            if entry
                .state
                .compare_exchange(CLAIMED, RELEASED, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                let _ = self.records.send(Record::Done(Completion {
                    id: entry.id,
                    attempt: entry.attempt,
                    outcome: Outcome::Release { started: false },
                }));
            }
        }
        let mut kill = ending == Ending::Kill;
        if !kill {
            let until = deadline(self.config.grace);
            kill = !self.wait_idle(inbox, until, true);
        }
        if kill {
            self.shared.closing.store(true, Ordering::SeqCst);
            for entry in self.shared.held().values() {
                entry.abandoned.store(true, Ordering::SeqCst);
                entry.cancel.store(true, Ordering::SeqCst);
            }
            let _ = self.wait_idle(inbox, deadline(END_WAIT), false);
            // Whatever still runs ignores its cancel: hand it back anyway.
            for entry in self.shared.held().values() {
                if entry.state.load(Ordering::SeqCst) == STARTED
                    && !entry.returned.load(Ordering::SeqCst)
                {
                    let _ = self.records.send(Record::Done(Completion {
                        id: entry.id,
                        attempt: entry.attempt,
                        outcome: Outcome::Release { started: true },
                    }));
                }
            }
        }
    }

    /// Waits until no job runs, or `until`; a kill event ends the wait early when
    /// `killable`. Returns `true` if no job runs.
    fn wait_idle(&self, inbox: &Receiver<Event>, until: Instant, killable: bool) -> bool {
        loop {
            // The job that leaves the pool idle sends a Room event.
            self.shared.room_sent.store(false, Ordering::SeqCst);
            if self.shared.busy.load(Ordering::SeqCst) == 0 {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            match inbox.recv_timeout(until - now) {
                Ok(Event::Kill) if killable => return false,
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
    }
}

/// Runs one attempt and decides its outcome.
fn run_job(
    job: &ClaimedJob,
    entry: &Entry,
    handler: Option<&HandlerFn>,
    pool_ctx: &JobContext,
    shared: &Shared,
    backoff: (Duration, Duration),
) -> Outcome {
    let ctx = Context {
        pool: pool_ctx,
        entry,
    };
    let result = match handler {
        Some(handler) => match catch_unwind(AssertUnwindSafe(|| handler(job, &ctx))) {
            Ok(result) => result,
            Err(panic) => Err(format!("the handler panicked: {}", panic_message(&*panic))),
        },
        None => Err(format!("no handler for jobs of kind \"{}\"", job.kind)),
    };
    let output = entry
        .output
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let ended_by_shutdown =
        entry.abandoned.load(Ordering::SeqCst) || shared.closing.load(Ordering::SeqCst);
    match result {
        Err(_) if ended_by_shutdown => Outcome::Release { started: true },
        Ok(()) => Outcome::Completed { output },
        Err(error) if entry.cancel_requested.load(Ordering::SeqCst) => Outcome::Cancelled {
            error: format!("cancelled: {error}"),
            output,
        },
        Err(error) if job.attempt < job.max_attempts => Outcome::Retry {
            error,
            output,
            delay: retry_delay(job.attempt, backoff),
        },
        Err(error) => Outcome::Failed { error, output },
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic".to_owned()
    }
}

/// `d` from now; a wait too long for the clock ends in a year instead.
fn deadline(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 86_400)))
        .unwrap_or(now)
}

/// The wait before retry number `attempt`: exponential from `first`, capped, ±20% jitter.
pub(crate) fn retry_delay(attempt: u32, (first, cap): (Duration, Duration)) -> Duration {
    let doublings = attempt.saturating_sub(1).min(30);
    let base = first.saturating_mul(1 << doublings).min(cap);
    base.mul_f64(0.8 + 0.4 * fastrand::f64())
}

/// After `failures` failed tries in a row: 100 ms doubling, up to `cap` (at least 1 s).
fn backoff_wait(failures: u32, cap: Duration) -> Duration {
    let wait = Duration::from_millis(100).saturating_mul(1 << failures.min(10));
    wait.min(cap.max(Duration::from_secs(1)))
}

/// The recorder: writes completions in batches until told to close.
fn record_loop(
    queue: &Queue,
    inbox: &Receiver<Record>,
    shared: &Shared,
    report: &Mutex<WorkerReport>,
    on_error: &ErrorFn,
) {
    let mut closing = false;
    let mut failures = 0;
    let mut batch: Vec<Completion> = Vec::new();
    while !closing || !batch.is_empty() {
        if batch.is_empty() {
            match inbox.recv() {
                Ok(Record::Done(c)) => batch.push(c),
                Ok(Record::Close) | Err(_) => closing = true,
            }
        }
        while batch.len() < RECORD_BATCH {
            match inbox.try_recv() {
                Ok(Record::Done(c)) => batch.push(c),
                Ok(Record::Close) => closing = true,
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        match queue.complete(&batch) {
            Ok(accepted) => {
                failures = 0;
                let accepted: std::collections::HashSet<JobId> = accepted.into_iter().collect();
                let mut report = report.lock().unwrap_or_else(PoisonError::into_inner);
                let mut held = shared.held();
                for completion in batch.drain(..) {
                    held.remove(&completion.id);
                    if !accepted.contains(&completion.id) {
                        report.refused += 1;
                        continue;
                    }
                    match completion.outcome {
                        Outcome::Completed { .. } => report.completed += 1,
                        Outcome::Retry { .. } => report.retried += 1,
                        Outcome::Failed { .. } => report.failed += 1,
                        Outcome::Cancelled { .. } => report.cancelled += 1,
                        Outcome::Release { .. } => report.released += 1,
                    }
                }
            }
            Err(err) => {
                on_error(&err);
                failures += 1;
                if !err.is_connection() || failures > 20 {
                    // Not worth retrying (or the database is gone for good): the leases
                    // expire and other workers run these jobs again.
                    let mut held = shared.held();
                    for completion in batch.drain(..) {
                        held.remove(&completion.id);
                    }
                } else {
                    thread::sleep(backoff_wait(failures, Duration::from_secs(5)));
                }
            }
        }
    }
}

/// The renewer: renews every held lease every third of the lease until told to stop.
fn renew_loop(
    queue: &Queue,
    worker: WorkerId,
    lease: Duration,
    stop: &Receiver<()>,
    shared: &Shared,
    on_error: &ErrorFn,
) {
    let period = lease / 3;
    loop {
        match stop.recv_timeout(period) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let held: Vec<(JobId, u32)> = shared
            .held()
            .values()
            .filter(|e| e.state.load(Ordering::SeqCst) != RELEASED)
            .map(|e| (e.id, e.attempt))
            .collect();
        match queue.renew(worker, &held, lease) {
            Ok(renewal) => {
                let held = shared.held();
                for id in &renewal.lost {
                    if let Some(entry) = held.get(id) {
                        entry.lease_lost.store(true, Ordering::SeqCst);
                        entry.cancel.store(true, Ordering::SeqCst);
                    }
                }
                for id in &renewal.cancel_requested {
                    if let Some(entry) = held.get(id) {
                        entry.cancel_requested.store(true, Ordering::SeqCst);
                        entry.cancel.store(true, Ordering::SeqCst);
                    }
                }
            }
            Err(err) => on_error(&err),
        }
    }
}

/// The listener: wakes the claimer on `NOTIFY` for its queue until `stop`.
fn listen_loop(url: &crate::db::DbUrl, queue: &str, events: &Sender<Event>, stop: &AtomicBool) {
    let mut failures = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut client = match crate::db::pg_client(url) {
            Ok(Some(client)) => client,
            Ok(None) => return,
            Err(_) => {
                failures += 1;
                thread::sleep(backoff_wait(failures, Duration::from_secs(5)));
                continue;
            }
        };
        if client
            .batch_execute(&format!("LISTEN {}", crate::pg::CHANNEL))
            .is_err()
        {
            failures += 1;
            thread::sleep(backoff_wait(failures, Duration::from_secs(5)));
            continue;
        }
        failures = 0;
        // A wake-up after (re)connecting: notifications sent while not listening are lost.
        let _ = events.send(Event::Wake);
        'listen: while !stop.load(Ordering::Relaxed) {
            {
                let mut notifications = client.notifications();
                let mut iter = notifications.timeout_iter(Duration::from_millis(250));
                loop {
                    match iter.next() {
                        Ok(Some(n)) => {
                            if n.payload() == queue {
                                let _ = events.send(Event::Wake);
                            }
                        }
                        Ok(None) => break,
                        Err(_) => break 'listen,
                    }
                }
            }
            if client.is_closed() {
                break;
            }
        }
    }
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle").finish_non_exhaustive()
    }
}

impl fmt::Debug for WorkerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerBuilder")
            .field("name", &self.name)
            .field("concurrency", &self.concurrency)
            .field("prefetch", &self.prefetch)
            .field("lease", &self.lease)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
