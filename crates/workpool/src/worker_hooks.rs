//! Worker hooks: user code that runs on each worker thread as it starts
//! ([`Builder::on_worker_start`]) and as it exits ([`Builder::on_worker_stop`]), and the
//! [`HookScope`] through which the worker loop runs them and sets up the worker's state
//! (`worker_state.rs`).
//!
//! Hooks run with the pool lock released, on a thread the pool still counts as its own, so a
//! hook may call back into the pool: `stats()`, `submit`, even `shutdown` (which, from one of
//! the pool's own threads, stops intake and returns at once). A hook that panics is caught
//! and counted in [`Stats::hook_panics`](crate::Stats::hook_panics); the worker goes on.

use std::fmt;
use std::sync::Arc;

use crate::pool::Builder;
use crate::shared::{Inner, Shared};
use crate::sync::MutexGuard;
use crate::unwind;
use crate::worker_state::{self, StateFactory};

/// A start or stop hook.
pub(crate) type Hook = Arc<dyn Fn(usize) + Send + Sync>;

/// What the builder collected: the hooks and the state's constructor, each optional.
#[derive(Clone, Default)]
pub(crate) struct WorkerHooks {
    pub(crate) start: Option<Hook>,
    pub(crate) stop: Option<Hook>,
    pub(crate) state: Option<StateFactory>,
}

impl WorkerHooks {
    /// `true` if a worker has nothing of the user's to run as it starts or exits.
    fn is_empty(&self) -> bool {
        self.start.is_none() && self.stop.is_none() && self.state.is_none()
    }
}

impl fmt::Debug for WorkerHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerHooks")
            .field("on_worker_start", &self.start.is_some())
            .field("on_worker_stop", &self.stop.is_some())
            .field(
                "worker_state",
                &self.state.as_ref().map(StateFactory::type_name),
            )
            .finish()
    }
}

impl Drop for WorkerHooks {
    fn drop(&mut self) {
        // The closures' captures are user values: the last pool handle or worker to let go of
        // them must survive a destructor that panics.
        unwind::drop_quietly((self.start.take(), self.stop.take(), self.state.take()));
    }
}

impl Builder {
    /// Runs `f` on each worker thread as it starts, before it takes its first job, with the
    /// worker's id (the same as [`JobContext::worker_id`](crate::JobContext::worker_id):
    /// unique over the pool's life, never reused). Default: none. A second call replaces the
    /// first.
    ///
    /// Every worker runs it exactly once: the first ones at [`build`](Builder::build), later
    /// ones as the pool grows, replaces an overrunning job's worker, or is resized. The hook
    /// runs with no pool lock held and may call into the pool. A hook that panics is caught
    /// and counted in [`Stats::hook_panics`](crate::Stats::hook_panics), and the worker runs
    /// jobs as if it had returned. Jobs queued meanwhile wait for a worker whose hook is done.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let seen = Arc::clone(&started);
    /// let pool = workpool::Pool::builder()
    ///     .workers(2)
    ///     .on_worker_start(move |_id| {
    ///         seen.fetch_add(1, Ordering::SeqCst);
    ///     })
    ///     .build()?;
    /// pool.shutdown();
    /// assert_eq!(started.load(Ordering::SeqCst), 2);
    /// # Ok::<(), workpool::BuildError>(())
    /// ```
    pub fn on_worker_start<F>(mut self, f: F) -> Self
    where
        F: Fn(usize) + Send + Sync + 'static,
    {
        self.hooks.start = Some(Arc::new(f));
        self
    }

    /// Runs `f` on each worker thread as it exits, with the worker's id: when it retires
    /// after [`keep_alive`](Builder::keep_alive), when a [`resize`](crate::Pool::resize)
    /// lowers the maximum, or at shutdown. Default: none. A second call replaces the first.
    ///
    /// It runs exactly once per worker, after the worker's last job and after its
    /// [state](Builder::worker_state) is dropped, with no pool lock held, while the worker is
    /// still counted among the pool's threads: a shutdown that waits for its workers waits for
    /// their stop hooks ([`Pool::shutdown_timeout`](crate::Pool::shutdown_timeout) bounds the
    /// wait). A hook that panics is caught and counted in
    /// [`Stats::hook_panics`](crate::Stats::hook_panics); the worker exits all the same.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::sync::Mutex;
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let tx = Mutex::new(tx);
    /// let pool = workpool::Pool::builder()
    ///     .workers(1)
    ///     .on_worker_stop(move |id| tx.lock().unwrap().send(id).unwrap())
    ///     .build()?;
    /// pool.shutdown();
    /// assert_eq!(rx.recv()?, 0); // the first worker's id
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_worker_stop<F>(mut self, f: F) -> Self
    where
        F: Fn(usize) + Send + Sync + 'static,
    {
        self.hooks.stop = Some(Arc::new(f));
        self
    }
}

/// A worker's side of the hooks: opened as the worker starts, closed as it exits. Closing
/// drops the worker's state, then runs the stop hook; an unwinding worker (a bug of ours)
/// closes it on the way out too.
///
/// Declared before the worker takes the pool lock, so that on any way out the lock is
/// released before user code runs.
pub(crate) struct HookScope<'a> {
    shared: &'a Arc<Shared>,
    worker_id: usize,
    /// Opened and not closed yet: the stop hook is still to run.
    open: bool,
}

impl<'a> HookScope<'a> {
    pub(crate) fn new(shared: &'a Arc<Shared>, worker_id: usize) -> Self {
        Self {
            shared,
            worker_id,
            open: false,
        }
    }

    /// Makes the worker's state reachable and runs the start hook, with the lock released
    /// (once the worker is registered as one of the pool's threads). Takes and returns the
    /// lock; a pool with no hooks and no state keeps it throughout.
    pub(crate) fn start(&mut self, inner: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        let hooks = &self.shared.hooks;
        if hooks.is_empty() {
            return inner;
        }
        drop(inner);
        self.open = true;
        if let Some(state) = &hooks.state {
            worker_state::install(self.shared, state);
        }
        if let Some(start) = &hooks.start {
            self.run(start);
        }
        self.shared.inner.lock()
    }

    /// Drops the worker's state and runs the stop hook, with the lock released, once the
    /// worker has decided to exit. Takes and returns the lock, for the exit's bookkeeping.
    pub(crate) fn stop(&mut self, inner: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        if !self.open {
            return inner;
        }
        drop(inner);
        // Meanwhile a job queued finds room to start a worker: a retiring worker counts as
        // leaving from its decision on (`WorkerSet::staying`).
        self.close();
        self.shared.inner.lock()
    }

    fn close(&mut self) {
        self.open = false;
        worker_state::uninstall();
        if let Some(stop) = &self.shared.hooks.stop {
            self.run(stop);
        }
    }

    /// Runs a hook, counting a panic instead of passing it on.
    fn run(&self, hook: &Hook) {
        if let Err(payload) = unwind::catch(|| hook(self.worker_id)) {
            unwind::forget_payload(payload);
            self.shared.metrics.counters.note_hook_panic();
        }
    }
}

impl Drop for HookScope<'_> {
    fn drop(&mut self) {
        if self.open {
            self.close();
        }
    }
}
