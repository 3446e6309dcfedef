//! The state every pool handle and worker shares: the queue, the worker bookkeeping, and the
//! admission, sizing and shutdown logic that acts on them.
//!
//! Data flows one way: submit → admission (here) → queue → worker (`worker.rs`) → outcome.
//! One mutex guards the queue and the worker counts; no lock is held while a job runs.

use std::collections::{HashMap, VecDeque};
use std::mem;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::metrics::{Metrics, Stats};
use crate::pool::ShutdownReport;
use crate::sync::{thread, AtomicU64, AtomicUsize, Condvar, Mutex, MutexGuard};
use crate::task::Runnable;

/// A job waiting in the queue.
pub(crate) struct Entry {
    pub(crate) job: Arc<dyn Runnable>,
    pub(crate) enqueued: Instant,
}

/// Where the pool is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Accepting jobs.
    Open,
    /// Intake stopped; workers drain the queue, then exit.
    Draining,
    /// Intake stopped, queue handed back; workers exit after their current job.
    Stopped,
}

/// How a submission waits for room.
#[derive(Clone, Copy)]
pub(crate) enum Admit {
    Try,
    Block,
    Until(Instant),
}

/// Why a submission was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    Full,
    Closed,
}

/// How to shut down.
#[derive(Clone, Copy)]
pub(crate) enum Mode {
    Graceful,
    Timeout(Duration),
    Now,
}

/// A worker thread's bookkeeping.
pub(crate) struct WorkerThread {
    pub(crate) handle: Option<thread::JoinHandle<()>>,
    pub(crate) thread: Option<thread::ThreadId>,
    /// The job it is running, so a shutdown can cancel it.
    pub(crate) current: Option<Arc<dyn Runnable>>,
}

pub(crate) struct Inner {
    pub(crate) queue: VecDeque<Entry>,
    pub(crate) phase: Phase,
    pub(crate) min: usize,
    pub(crate) max: usize,
    pub(crate) keep_alive: Duration,
    /// Workers alive (counted from the moment they are spawned).
    pub(crate) workers: usize,
    /// Workers waiting on `work_cv`.
    pub(crate) idle: usize,
    /// Notifications sent to idle workers and not yet consumed, so a burst of submissions
    /// does not count one sleeper twice.
    pub(crate) wakeups: usize,
    /// Jobs being run.
    pub(crate) running: usize,
    pub(crate) threads: HashMap<u64, WorkerThread>,
    /// Handles of workers that exited during a shutdown, for the shutdown to join.
    pub(crate) exited: Vec<thread::JoinHandle<()>>,
    pub(crate) next_worker_id: u64,
}

/// Thread settings for new workers.
pub(crate) struct ThreadConfig {
    pub(crate) name: String,
    pub(crate) stack_size: Option<usize>,
}

pub(crate) struct Shared {
    pub(crate) inner: Mutex<Inner>,
    /// Workers wait here for jobs.
    pub(crate) work_cv: Condvar,
    /// Producers wait here for room in the queue.
    pub(crate) space_cv: Condvar,
    /// `wait_idle` and shutdowns wait here for jobs to end and workers to exit.
    pub(crate) event_cv: Condvar,
    pub(crate) capacity: usize,
    pub(crate) threads: ThreadConfig,
    pub(crate) clock: Clock,
    pub(crate) metrics: Metrics,
    /// Live `Pool` handles; the last one to drop shuts the pool down.
    pub(crate) handles: AtomicUsize,
    pub(crate) next_job_id: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        capacity: usize,
        min: usize,
        max: usize,
        keep_alive: Duration,
        threads: ThreadConfig,
        clock: Clock,
    ) -> Self {
        Self {
            inner: Mutex::new(Inner {
                queue: VecDeque::with_capacity(capacity.min(4096)),
                phase: Phase::Open,
                min,
                max,
                keep_alive,
                workers: 0,
                idle: 0,
                wakeups: 0,
                running: 0,
                threads: HashMap::new(),
                exited: Vec::new(),
                next_worker_id: 0,
            }),
            work_cv: Condvar::new(),
            space_cv: Condvar::new(),
            event_cv: Condvar::new(),
            capacity,
            threads,
            clock,
            metrics: Metrics::new(),
            handles: AtomicUsize::new(1),
            next_job_id: AtomicU64::new(0),
        }
    }

    /// Puts a job in the queue, waiting for room as `admit` says, and makes sure a worker
    /// will take it. On rejection the job comes back unrun.
    pub(crate) fn push(
        self: &Arc<Self>,
        job: Arc<dyn Runnable>,
        admit: Admit,
    ) -> Result<(), (Arc<dyn Runnable>, Reject)> {
        let mut inner = self.inner.lock();
        loop {
            if inner.phase != Phase::Open {
                self.metrics
                    .counters
                    .rejected_closed
                    .fetch_add(1, Ordering::Relaxed);
                return Err((job, Reject::Closed));
            }
            if inner.queue.len() < self.capacity {
                break;
            }
            match admit {
                Admit::Try => return self.reject_full(job),
                Admit::Block => self.space_cv.wait(&mut inner),
                Admit::Until(deadline) => {
                    if self.clock.now() >= deadline {
                        return self.reject_full(job);
                    }
                    self.clock.wait_until(&self.space_cv, &mut inner, deadline);
                }
            }
        }
        let enqueued = self.clock.now();
        inner.queue.push_back(Entry { job, enqueued });
        self.metrics
            .counters
            .submitted
            .fetch_add(1, Ordering::Relaxed);
        self.dispatch(&mut inner);
        Ok(())
    }

    fn reject_full(&self, job: Arc<dyn Runnable>) -> Result<(), (Arc<dyn Runnable>, Reject)> {
        self.metrics
            .counters
            .rejected_full
            .fetch_add(1, Ordering::Relaxed);
        Err((job, Reject::Full))
    }

    /// After a job is queued: wake an idle worker, or start one if none is idle and the pool
    /// is below its maximum.
    fn dispatch(self: &Arc<Self>, inner: &mut MutexGuard<'_, Inner>) {
        if inner.idle > inner.wakeups {
            inner.wakeups += 1;
            self.work_cv.notify_one();
        } else if inner.workers < inner.max {
            // A failure leaves the job queued for the workers that exist (or for the next
            // successful start); a shutdown reports it if none ever takes it.
            let _ = self.spawn_worker(inner);
        }
    }

    /// `true` if the calling thread is one of this pool's workers.
    pub(crate) fn on_worker_thread(&self, inner: &Inner) -> bool {
        let me = thread::current().id();
        inner.threads.values().any(|w| w.thread == Some(me))
    }

    /// Changes the worker bounds; see [`Pool::resize`](crate::Pool::resize).
    pub(crate) fn resize(self: &Arc<Self>, min: usize, max: usize) {
        let mut inner = self.inner.lock();
        inner.min = min;
        inner.max = max;
        if inner.phase == Phase::Open {
            let backlog = inner.queue.len().saturating_sub(inner.idle);
            let wanted = min.max((inner.workers + backlog).min(max));
            while inner.workers < wanted {
                if self.spawn_worker(&mut inner).is_err() {
                    break;
                }
            }
        }
        // Workers above a lower max, or idle past a shorter bound, re-check and retire.
        self.work_cv.notify_all();
    }

    pub(crate) fn set_keep_alive(&self, keep_alive: Duration) {
        self.inner.lock().keep_alive = keep_alive;
        self.work_cv.notify_all();
    }

    /// Blocks until nothing is queued or running.
    pub(crate) fn wait_idle(&self) {
        let mut inner = self.inner.lock();
        assert!(
            !self.on_worker_thread(&inner),
            "Pool::wait_idle called from one of the pool's own jobs would wait for itself"
        );
        while !(inner.queue.is_empty() && inner.running == 0) {
            if inner.workers == 0 && inner.phase != Phase::Open {
                // Nobody is left to drain the queue; a shutdown will report it.
                break;
            }
            self.event_cv.wait(&mut inner);
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let (workers, idle, running, queued, min, max) = {
            let inner = self.inner.lock();
            (
                inner.workers,
                inner.idle,
                inner.running,
                inner.queue.len(),
                inner.min,
                inner.max,
            )
        };
        let c = self.metrics.counters.snapshot();
        let (queue_wait, run_time) = self.metrics.latencies();
        Stats {
            workers,
            busy: running,
            idle,
            min_workers: min,
            max_workers: max,
            queued,
            submitted: c.submitted,
            completed: c.completed,
            failed: c.failed,
            panicked: c.panicked,
            cancelled: c.cancelled,
            never_started: c.never_started,
            rejected_full: c.rejected_full,
            rejected_closed: c.rejected_closed,
            queue_wait,
            run_time,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.inner.lock().phase != Phase::Open
    }

    /// Stops intake and, per `mode`, drains or hands back the queue, then joins the workers.
    pub(crate) fn shutdown(self: &Arc<Self>, mode: Mode) -> ShutdownReport {
        let deadline = match mode {
            Mode::Timeout(d) => Some(self.clock.now() + d),
            _ => None,
        };
        let mut timeout_hit = false;

        let mut inner = self.inner.lock();
        let on_worker = self.on_worker_thread(&inner);
        if inner.phase == Phase::Open {
            inner.phase = Phase::Draining;
            self.work_cv.notify_all();
            self.space_cv.notify_all();
        }
        let mut stop_now = matches!(mode, Mode::Now);
        if inner.phase == Phase::Draining && !inner.queue.is_empty() && inner.workers == 0 {
            // The queue needs a worker to drain it; if none can start, it is handed back.
            stop_now |= self.spawn_worker(&mut inner).is_err();
        }
        if stop_now {
            inner = self.stop(inner);
        }
        // A job shutting down its own pool cannot wait for itself: it closes intake and
        // leaves the workers to finish in the background.
        if !on_worker {
            while inner.workers > 0 {
                match deadline {
                    Some(at) if self.clock.now() >= at => {
                        timeout_hit = true;
                        inner = self.stop(inner);
                        break;
                    }
                    Some(at) => self.clock.wait_until(&self.event_cv, &mut inner, at),
                    None => self.event_cv.wait(&mut inner),
                }
            }
        }
        let still_running = inner.running;
        let handles = mem::take(&mut inner.exited);
        drop(inner);

        let mut workers_joined = 0;
        for handle in handles {
            // A worker catches every job panic, so its thread cannot end in one.
            let _ = handle.join();
            workers_joined += 1;
        }
        let c = self.metrics.counters.snapshot();
        ShutdownReport {
            submitted: c.submitted,
            completed: c.completed,
            failed: c.failed,
            panicked: c.panicked,
            cancelled: c.cancelled,
            never_started: c.never_started,
            still_running,
            workers_joined,
            timeout_hit,
        }
    }

    /// Moves to `Stopped`: hands back the queue (its handles resolve as not run) and cancels
    /// the running jobs. Handles are resolved with the lock released, so that their waiters
    /// and the jobs' destructors never run under it; the lock is taken again to return.
    fn stop<'a>(&'a self, mut inner: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        if inner.phase == Phase::Stopped {
            return inner;
        }
        inner.phase = Phase::Stopped;
        let unstarted: Vec<Entry> = inner.queue.drain(..).collect();
        let running: Vec<Arc<dyn Runnable>> = inner
            .threads
            .values()
            .filter_map(|w| w.current.clone())
            .collect();
        self.work_cv.notify_all();
        self.space_cv.notify_all();
        drop(inner);

        for entry in unstarted {
            entry.job.abandon(&self.metrics.counters);
        }
        for job in running {
            job.cancel_running();
        }
        let inner = self.inner.lock();
        // The queue is empty now: wake `wait_idle` callers to re-check.
        self.event_cv.notify_all();
        inner
    }
}
