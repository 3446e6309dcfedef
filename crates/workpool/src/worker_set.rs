//! The worker set: the pool's threads, its sizing bounds and keep-alive, and the counts that
//! decide whether a queued job wakes a parked worker, starts a new one, or neither. Guarded
//! by the pool lock; the worker loop itself is in `worker/`.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::sync::{thread, Mutex};
use crate::task::Runnable;

/// Thread settings for new workers, fixed at build.
#[derive(Debug)]
pub(crate) struct ThreadConfig {
    pub(crate) name: String,
    pub(crate) stack_size: Option<usize>,
}

/// A worker's fast-lane jobs with handles, for a shutdown to cancel: the one it runs, and
/// under it those it ran while it helped (see `help.rs`), innermost last.
pub(crate) type Slot = Arc<Mutex<Vec<Arc<dyn Runnable>>>>;

/// A worker thread's bookkeeping.
pub(crate) struct WorkerThread {
    pub(crate) handle: Option<thread::JoinHandle<()>>,
    pub(crate) thread: Option<thread::ThreadId>,
    /// The scheduled jobs it is running (one, or more while it helps: innermost last), so a
    /// shutdown can cancel them and the timer can find a job's worker when its deadline
    /// passes.
    pub(crate) current: Vec<Weak<dyn Runnable>>,
    /// The fast-lane job with a handle it is running, so a shutdown can cancel it. Set by
    /// the worker without the pool lock.
    pub(crate) slot: Slot,
    /// Its job is past its deadline; a replacement may run beside it.
    pub(crate) overdue: bool,
}

/// The pool's workers and the bounds they live within.
pub(crate) struct WorkerSet {
    pub(crate) min: usize,
    pub(crate) max: usize,
    pub(crate) keep_alive: Duration,
    /// Workers alive (counted from the moment they are spawned).
    pub(crate) alive: usize,
    /// Workers among `alive` that decided to retire and are on their way out (running
    /// their stop hook).
    pub(crate) leaving: usize,
    /// Workers waiting on `work_cv`.
    pub(crate) idle: usize,
    /// Workers spinning before they park: they will see a new job without a wake-up.
    pub(crate) spinning: usize,
    /// Notifications sent to idle workers and not yet consumed, so a burst of submissions
    /// does not count one sleeper twice.
    pub(crate) wakeups: usize,
    /// Running jobs past their deadline.
    pub(crate) overdue: usize,
    /// Workers blocked in a submission to this pool's full queue.
    pub(crate) own_waiters: usize,
    pub(crate) max_replacements: usize,
    pub(crate) threads: HashMap<u64, WorkerThread>,
    /// Handles of workers that exited during a shutdown, for the shutdown to join.
    pub(crate) exited: Vec<thread::JoinHandle<()>>,
    pub(crate) next_id: u64,
}

impl WorkerSet {
    pub(crate) fn new(
        min: usize,
        max: usize,
        keep_alive: Duration,
        max_replacements: usize,
    ) -> Self {
        Self {
            min,
            max,
            keep_alive,
            alive: 0,
            leaving: 0,
            idle: 0,
            spinning: 0,
            wakeups: 0,
            overdue: 0,
            own_waiters: 0,
            max_replacements,
            threads: HashMap::new(),
            exited: Vec::new(),
            next_id: 0,
        }
    }

    /// The worker cap: `max`, plus one replacement per job overrunning its deadline, up to
    /// `max_replacements`.
    pub(crate) fn effective_max(&self) -> usize {
        self.max + self.overdue.min(self.max_replacements)
    }

    /// Workers alive and not on their way out: what retirement decisions count.
    pub(crate) fn staying(&self) -> usize {
        self.alive - self.leaving
    }

    /// `true` if the calling thread is one of these workers.
    pub(crate) fn includes_this_thread(&self) -> bool {
        let me = thread::current().id();
        self.threads.values().any(|w| w.thread == Some(me))
    }
}
