//! Counters, latency histograms and the [`Stats`] snapshot.
//!
//! Counters are relaxed atomics. Latencies go into HDR histograms that each worker owns
//! behind its own lock (never contended but by `stats()`), so recording costs a few
//! nanoseconds and no shared cache line is written per job.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;

use crate::error::{TaskError, TaskErrorKind};
use crate::priority::Priority;
use crate::sync::{AtomicU64, Mutex};

/// How a job ended, for the pool's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    Failed,
    Panicked,
    Cancelled,
    TimedOut,
    NotRun,
}

impl Outcome {
    pub(crate) fn of<T>(result: &Result<T, TaskError>) -> Self {
        match result {
            Ok(_) => Outcome::Completed,
            Err(e) => match e.kind() {
                TaskErrorKind::Failed => Outcome::Failed,
                TaskErrorKind::Panicked => Outcome::Panicked,
                TaskErrorKind::TimedOut => Outcome::TimedOut,
                TaskErrorKind::Cancelled => Outcome::Cancelled,
                TaskErrorKind::NotRun => Outcome::NotRun,
            },
        }
    }
}

/// Largest latency a histogram tracks exactly: one hour. Longer ones are recorded as one hour.
const MAX_TRACKED_NANOS: u64 = 3_600 * 1_000_000_000;

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) completed: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    pub(crate) never_started: AtomicU64,
    pub(crate) rejected_full: AtomicU64,
    pub(crate) rejected_closed: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) replacements: AtomicU64,
    pub(crate) hook_panics: AtomicU64,
}

/// The counters read at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CounterSnapshot {
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) panicked: u64,
    pub(crate) cancelled: u64,
    pub(crate) timed_out: u64,
    pub(crate) never_started: u64,
    pub(crate) rejected_full: u64,
    pub(crate) rejected_closed: u64,
    pub(crate) retried: u64,
    pub(crate) rate_limited: u64,
    pub(crate) replacements: u64,
    pub(crate) hook_panics: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> CounterSnapshot {
        // `panicked` before `failed`, acquiring what `add` released: a look that sees a panic
        // counted also sees it among the failures, so `panicked <= failed` in every snapshot.
        let panicked = self.panicked.load(Acquire);
        CounterSnapshot {
            completed: self.completed.load(Relaxed),
            failed: self.failed.load(Relaxed),
            panicked,
            cancelled: self.cancelled.load(Relaxed),
            timed_out: self.timed_out.load(Relaxed),
            never_started: self.never_started.load(Relaxed),
            rejected_full: self.rejected_full.load(Relaxed),
            rejected_closed: self.rejected_closed.load(Relaxed),
            retried: self.retried.load(Relaxed),
            rate_limited: self.rate_limited.load(Relaxed),
            replacements: self.replacements.load(Relaxed),
            hook_panics: self.hook_panics.load(Relaxed),
        }
    }

    pub(crate) fn note_retry(&self) {
        self.retried.fetch_add(1, Relaxed);
    }

    pub(crate) fn note_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Relaxed);
    }

    pub(crate) fn note_replacement(&self) {
        self.replacements.fetch_add(1, Relaxed);
    }

    pub(crate) fn note_hook_panic(&self) {
        self.hook_panics.fetch_add(1, Relaxed);
    }

    pub(crate) fn count(&self, outcome: Outcome) {
        self.add(outcome, 1);
    }

    /// Counts `n` jobs that ended with `outcome`.
    pub(crate) fn add(&self, outcome: Outcome, n: u64) {
        match outcome {
            Outcome::Completed => self.completed.fetch_add(n, Relaxed),
            Outcome::Failed => self.failed.fetch_add(n, Relaxed),
            Outcome::Panicked => {
                // `failed` first: see `snapshot`.
                self.failed.fetch_add(n, Relaxed);
                self.panicked.fetch_add(n, Release)
            }
            Outcome::Cancelled => self.cancelled.fetch_add(n, Relaxed),
            Outcome::TimedOut => self.timed_out.fetch_add(n, Relaxed),
            Outcome::NotRun => self.never_started.fetch_add(n, Relaxed),
        };
    }
}

/// How many fast-lane jobs a worker times before it publishes the samples.
const BATCH: usize = 32;

/// The handle-less jobs one worker ran: counted by that worker alone, read by anyone.
///
/// Counting each job in the shared counters cost a contended write per job. Each worker
/// counts in its own cache line instead, with a plain load and store (it is the only
/// writer), and [`Metrics::snapshot`] adds every live worker's counts to the shared ones.
/// So `stats()` and a shutdown's report see every job a worker finished, even while that
/// worker is still running another one.
#[derive(Default)]
pub(crate) struct WorkerCounts {
    completed: CachePadded<AtomicU64>,
    panicked: AtomicU64,
}

impl WorkerCounts {
    fn bump(counter: &AtomicU64) {
        // One writer: no read-modify-write needed.
        counter.store(counter.load(Relaxed) + 1, Relaxed);
    }
}

/// What a worker timed of the handle-less jobs it ran and has not published yet, and where
/// it counts them.
///
/// Locking the worker's histograms for each job cost a locked write per job. A worker
/// publishes its samples every [`BATCH`] jobs instead, and whenever it stops taking jobs,
/// before it stops counting itself as running: so the latencies in `stats()` lag a busy
/// worker by at most a batch, and after `wait_idle` they are exact. Counts are never
/// batched (see [`WorkerCounts`]).
pub(crate) struct Batch {
    counts: Arc<WorkerCounts>,
    /// Queue wait and run time, in nanoseconds, per timed job.
    samples: Vec<(u64, u64)>,
}

impl Batch {
    pub(crate) fn new(counts: Arc<WorkerCounts>) -> Self {
        Self {
            counts,
            samples: Vec::with_capacity(BATCH),
        }
    }

    /// Where this batch counts: shared by the `Local`s of one worker thread, which never
    /// count at the same time.
    pub(crate) fn counts(&self) -> Arc<WorkerCounts> {
        Arc::clone(&self.counts)
    }

    /// Counts a job that completed (`false`) or panicked (`true`).
    pub(crate) fn count(&mut self, panicked: bool) {
        match panicked {
            false => WorkerCounts::bump(&self.counts.completed),
            true => WorkerCounts::bump(&self.counts.panicked),
        }
    }

    pub(crate) fn sample(&mut self, queue_wait_nanos: u64, run_nanos: u64) {
        self.samples.push((queue_wait_nanos, run_nanos));
    }

    /// `true` once a batch's worth of samples waits to be published.
    pub(crate) fn is_full(&self) -> bool {
        self.samples.len() >= BATCH
    }

    /// Adds the samples to the worker's histograms, and starts over.
    pub(crate) fn publish(&mut self, latencies: &Mutex<Latencies>) {
        if !self.samples.is_empty() {
            let mut latencies = latencies.lock();
            for (queue_wait, run_time) in self.samples.drain(..) {
                latencies.record_nanos(queue_wait, run_time);
            }
        }
    }
}

/// Queue-wait and run-time histograms, one pair per worker.
pub(crate) struct Latencies {
    queue_wait: Histogram<u64>,
    run_time: Histogram<u64>,
}

impl Latencies {
    fn new() -> Self {
        let hist = || {
            Histogram::new_with_bounds(1, MAX_TRACKED_NANOS, 2)
                .expect("constant histogram bounds are valid")
        };
        Self {
            queue_wait: hist(),
            run_time: hist(),
        }
    }

    pub(crate) fn record(&mut self, queue_wait: Duration, run_time: Duration) {
        self.record_nanos(nanos(queue_wait), nanos(run_time));
    }

    fn record_nanos(&mut self, queue_wait: u64, run_time: u64) {
        // The histograms start at 1 ns.
        self.queue_wait.saturating_record(queue_wait.max(1));
        self.run_time.saturating_record(run_time.max(1));
    }

    fn merge(&mut self, other: &Latencies) {
        // Both histograms share bounds, so adding cannot fail.
        let _ = self.queue_wait.add(&other.queue_wait);
        let _ = self.run_time.add(&other.run_time);
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

/// The pool's metrics: counters plus the registry of per-worker counts and histograms.
pub(crate) struct Metrics {
    pub(crate) counters: Counters,
    live: Mutex<Vec<WorkerMetrics>>,
    retired: Mutex<Latencies>,
}

/// One live worker's share of the metrics.
struct WorkerMetrics {
    latencies: Arc<Mutex<Latencies>>,
    counts: Arc<WorkerCounts>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Self {
            counters: Counters::default(),
            live: Mutex::new(Vec::new()),
            retired: Mutex::new(Latencies::new()),
        }
    }

    /// Gives a new worker its histograms and counts.
    pub(crate) fn register(&self) -> (Arc<Mutex<Latencies>>, Arc<WorkerCounts>) {
        let latencies = Arc::new(Mutex::new(Latencies::new()));
        let counts = Arc::new(WorkerCounts::default());
        self.live.lock().push(WorkerMetrics {
            latencies: Arc::clone(&latencies),
            counts: Arc::clone(&counts),
        });
        (latencies, counts)
    }

    /// Folds an exiting worker's histograms and counts into the shared totals. Under the
    /// registry's lock, so that a snapshot sees the counts in exactly one place.
    pub(crate) fn retire(&self, latencies: &Arc<Mutex<Latencies>>) {
        let mut live = self.live.lock();
        if let Some(i) = live
            .iter()
            .position(|w| Arc::ptr_eq(&w.latencies, latencies))
        {
            let gone = live.swap_remove(i);
            let completed = gone.counts.completed.load(Relaxed);
            let panicked = gone.counts.panicked.load(Relaxed);
            self.counters.add(Outcome::Completed, completed);
            self.counters.add(Outcome::Panicked, panicked);
        }
        self.retired.lock().merge(&latencies.lock());
    }

    /// The counters, with every live worker's own counts added in.
    pub(crate) fn snapshot(&self) -> CounterSnapshot {
        let live = self.live.lock();
        let mut c = self.counters.snapshot();
        for w in live.iter() {
            let completed = w.counts.completed.load(Relaxed);
            let panicked = w.counts.panicked.load(Relaxed);
            c.completed += completed;
            c.panicked += panicked;
            c.failed += panicked;
        }
        c
    }

    /// Merges every histogram into percentiles.
    pub(crate) fn latencies(&self) -> (Latency, Latency) {
        let live = self.live.lock();
        let mut total = Latencies::new();
        total.merge(&self.retired.lock());
        for w in live.iter() {
            total.merge(&w.latencies.lock());
        }
        (
            Latency::from_histogram(&total.queue_wait),
            Latency::from_histogram(&total.run_time),
        )
    }
}

/// Percentiles of a latency distribution, from an HDR histogram with two significant digits
/// (values are exact to within 1%).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Latency {
    /// How many samples were recorded.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest sample (capped at one hour).
    pub max: Duration,
}

impl Latency {
    fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let q = |q: f64| Duration::from_nanos(h.value_at_quantile(q));
        Self {
            count: h.len(),
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            max: Duration::from_nanos(h.max()),
        }
    }
}

/// A snapshot of a pool's state and history, from [`Pool::stats`](crate::Pool::stats).
///
/// Each field is read atomically, but not all at the same instant: under load the counts
/// can be a few jobs apart. Once a pool has shut down they balance:
/// `submitted == completed + failed + cancelled + timed_out + never_started`
/// (`failed` includes `panicked`). A job counts when the pool is done with it: a job
/// cancelled while queued counts when a worker skips it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Worker threads alive.
    pub workers: usize,
    /// `true` while the pool is paused ([`Pool::pause`](crate::Pool::pause)): workers take
    /// no new job, and submissions queue up to the queue's capacity.
    pub paused: bool,
    /// Workers running a job, and workers between fast-lane jobs that have not yet parked
    /// (they count themselves busy once per run of jobs taken without the pool lock).
    pub busy: usize,
    /// Workers waiting for a job.
    pub idle: usize,
    /// The current lower and upper bounds on workers.
    pub min_workers: usize,
    /// See `min_workers`.
    pub max_workers: usize,
    /// Callers blocked in [`Pool::wait_idle`](crate::Pool::wait_idle) or
    /// [`Pool::wait_idle_timeout`](crate::Pool::wait_idle_timeout).
    pub waiting_for_idle: usize,
    /// Jobs accepted and waiting for a worker (cancelled jobs count until a worker skips them).
    pub queued: usize,
    /// Queued jobs per priority level, highest first; levels with none queued are left out.
    pub queued_by_priority: Vec<(Priority, usize)>,
    /// Jobs waiting in the delay queue: delayed or scheduled, waiting for a retry or a rate
    /// limit, or between periodic runs.
    pub delayed: usize,
    /// Jobs accepted since the pool started.
    pub submitted: u64,
    /// Jobs that ran and returned a value.
    pub completed: u64,
    /// Jobs that ran and failed, panics included.
    pub failed: u64,
    /// Jobs that panicked (a subset of `failed`).
    pub panicked: u64,
    /// Jobs cancelled before or while running.
    pub cancelled: u64,
    /// Jobs whose deadline passed (queued or running).
    pub timed_out: u64,
    /// Runs that failed and were scheduled to run again.
    pub retried: u64,
    /// Times a rate limit held back a start: each wait of the pool-wide limit for its next
    /// token, and each refusal of a keyed job (a job refused again after waiting counts again).
    pub rate_limited: u64,
    /// Workers running past their job's deadline, for which a replacement may run.
    pub overdue: usize,
    /// Workers started beyond `max_workers`, beside jobs that overran their deadline, since
    /// the pool started.
    pub replacements: u64,
    /// Jobs a shutdown found still queued; they never ran.
    pub never_started: u64,
    /// Calls of [`Builder::on_worker_start`](crate::Builder::on_worker_start) and
    /// [`Builder::on_worker_stop`](crate::Builder::on_worker_stop) hooks that panicked. The
    /// panic is caught: the worker goes on after a start hook, and exits as it was going to
    /// after a stop hook.
    pub hook_panics: u64,
    /// Submissions turned away because the queue was full (`try_submit`, `submit_timeout`).
    pub rejected_full: u64,
    /// Submissions turned away because the pool was shut down.
    pub rejected_closed: u64,
    /// Time from acceptance to start.
    pub queue_wait: Latency,
    /// Time from start to end.
    pub run_time: Latency,
}
