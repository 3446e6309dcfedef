//! The worker loop: take a job (past the rate limits), run it with no lock held, record it,
//! re-arm it if it asks to run again, and park (or retire after keep-alive) when there is
//! nothing to take. While every job is plain, workers drain the fast lane without the pool
//! lock (`drain_fast`) and take the lock only to look for other work or to park.
//!
//! Taking and running a job is in `run.rs`; this file is the loop around it: start, park,
//! retire, and the bookkeeping of a worker on its way out.

mod run;

use run::{drain_fast, next_job, run_fast_taken, run_one, Next};
pub(crate) use run::{help_one, run_claimed, Local};

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::clock::later;
use crate::lifecycle::Phase;
use crate::metrics::Latencies;
use crate::shared::{Inner, Shared};
use crate::sync::{spin_until, thread, Mutex, MutexGuard};
use crate::worker_hooks::HookScope;
use crate::worker_set::{Slot, WorkerThread};

/// A worker's bookkeeping on its way out. The loop hands it the lock when it exits; if the
/// worker unwinds instead, `Drop` takes the lock and does the same, so that a dead worker
/// never stays counted and makes every shutdown wait for it.
struct WorkerExit<'a> {
    shared: &'a Shared,
    id: u64,
    done: bool,
    latencies: Option<Arc<Mutex<Latencies>>>,
    /// Counted in the worker set's `leaving` (see [`WorkerExit::leave`]).
    leaving: bool,
}

impl WorkerExit<'_> {
    /// Removes the worker from the pool's books. A worker that exits because of a shutdown
    /// leaves its handle for the shutdown to join; a retiring one detaches.
    fn finish(&mut self, mut inner: MutexGuard<'_, Inner>, by_shutdown: bool) {
        self.done = true;
        let shared = self.shared;
        inner.workers.alive -= 1;
        if self.leaving {
            inner.workers.leaving -= 1;
        }
        let me = inner.workers.threads.remove(&self.id);
        if me.as_ref().is_some_and(|m| m.overdue) {
            inner.workers.overdue -= 1;
        }
        if by_shutdown {
            if let Some(handle) = me.and_then(|m| m.handle) {
                inner.workers.exited.push(handle);
            }
        }
        drop(inner);
        if let Some(latencies) = &self.latencies {
            shared.metrics.retire(latencies);
        }
        shared.event_cv.notify_all();
        shared.timer_cv.notify_all();
        // A worker leaving a drain may have run its last job: the parked ones must look
        // again, or a graceful shutdown waits on a worker that waits for nothing.
        shared.work_cv.notify_all();
    }
}

impl WorkerExit<'_> {
    /// The worker has decided, under the lock, to retire. Its stop hook runs before it
    /// leaves the books, with the lock released; meanwhile the others must not count it as
    /// staying, or a resize from 3 workers to 1 would retire all 3.
    fn leave(&mut self, inner: &mut MutexGuard<'_, Inner>) {
        inner.workers.leaving += 1;
        self.leaving = true;
    }
}

impl Drop for WorkerExit<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let inner = self.shared.inner.lock();
        // An unwinding worker is joined by a shutdown if one has begun.
        let by_shutdown = inner.life.phase != Phase::Open;
        self.finish(inner, by_shutdown);
    }
}

/// How often a parked worker looks at a draining pool on its own.
const DRAIN_LOOK: std::time::Duration = std::time::Duration::from_millis(10);

/// Starts one worker. Called with the pool lock held, so the new thread's bookkeeping is
/// in place before it can look at the queue.
pub(crate) fn spawn(shared: &Arc<Shared>, inner: &mut MutexGuard<'_, Inner>) -> io::Result<()> {
    let id = inner.workers.next_id;
    inner.workers.next_id += 1;
    let name = format!("{}-{id}", shared.threads.name);
    let shared = Arc::clone(shared);
    let slot = Slot::default();
    let worker_slot = Arc::clone(&slot);
    let handle = thread::spawn(name, shared.threads.stack_size, move || {
        worker_main(shared, id, worker_slot)
    })?;
    inner.workers.alive += 1;
    inner.workers.threads.insert(
        id,
        WorkerThread {
            handle: Some(handle),
            thread: None,
            current: Vec::new(),
            slot,
            overdue: false,
        },
    );
    Ok(())
}

fn worker_main(shared: Arc<Shared>, id: u64, slot: Slot) {
    let shared = &shared;
    // Declared before the lock guard, so that on any way out, unwinding included, the
    // lock is released first and the bookkeeping below runs after it.
    let mut exit = WorkerExit {
        shared,
        id,
        done: false,
        latencies: None,
        leaving: false,
    };
    let (latencies, counts) = shared.metrics.register();
    let mut local = Local::new(id, slot, latencies, counts);
    exit.latencies = Some(Arc::clone(&local.latencies));
    // Declared after `exit`, so this thread stops helping before its books are closed.
    let _home = crate::help::Home::enter(shared, &local);
    let mut hooks = HookScope::new(shared, local.worker_id);
    let mut inner = shared.inner.lock();
    if let Some(me) = inner.workers.threads.get_mut(&id) {
        me.thread = Some(thread::current().id());
    }
    inner = hooks.start(inner);
    // When this worker last became idle; keep-alive counts from here, not from each
    // (possibly spurious) wake-up.
    let mut idle_since: Option<Instant> = None;
    let mut spun = false;
    let by_shutdown = loop {
        if inner.life.phase == Phase::Stopped {
            break true;
        }
        if inner.workers.staying() > inner.workers.effective_max() {
            exit.leave(&mut inner);
            break false;
        }
        if shared.fast.takes_jobs() && !shared.fast.lanes.is_empty() {
            // The common case: plain jobs, taken and run without the pool lock.
            drop(inner);
            spun = drain_fast(shared, &mut local);
            idle_since = None;
            inner = shared.inner.lock();
            continue;
        }
        let now = shared.clock.now();
        let throttled_until = match next_job(shared, &mut inner, now) {
            Next::Run(entry) => {
                idle_since = None;
                spun = false;
                inner = run_one(shared, inner, &local, entry);
                continue;
            }
            Next::Fast(entry) => {
                idle_since = None;
                spun = false;
                run_fast_taken(shared, inner, &mut local, entry);
                inner = shared.inner.lock();
                continue;
            }
            Next::Throttled(at) => Some(at),
            Next::Nothing => None,
        };
        // Nothing the pool may start now: a job another worker's scope or join spawned, if
        // there is one. Neither the rate limit nor a pause holds it back: it is part of a job
        // that started, not a queued job (P8). (A throttled or paused worker that did not
        // steal it would not park either, since a deque holds a job, and would go round with
        // the lock held.)
        if let Some(job) = shared.steals.steal() {
            idle_since = None;
            spun = false;
            drop(inner);
            crate::help::run_local(shared, job);
            inner = shared.inner.lock();
            continue;
        }
        if inner.life.phase == Phase::Draining
            && inner.life.sealed
            && inner.sched.ready.is_empty()
            && inner.sched.delayed.is_empty()
            && shared.fast.lanes.is_empty()
        {
            break true;
        }
        let since = *idle_since.get_or_insert(now);
        let retire_at = later(since, inner.workers.keep_alive);
        let above_min = inner.workers.staying() > inner.workers.min;
        if above_min && now >= retire_at && throttled_until.is_none() {
            exit.leave(&mut inner);
            break false;
        }
        if !spun && throttled_until.is_none() && inner.life.phase == Phase::Open {
            // Once per idle spell: spin, then look at everything again (the phase may
            // have changed while the lock was released), and park only after that.
            spun = true;
            let seen = shared.fast.readied.load(Ordering::Acquire);
            inner.workers.spinning += 1;
            drop(inner);
            spin_for_work(shared, seen);
            inner = shared.inner.lock();
            inner.workers.spinning -= 1;
            continue;
        }
        let wake_at = match (throttled_until, above_min) {
            // A throttled worker does not retire (jobs are ready), so a retire time
            // already past must not make its wait return at once: it would spin with
            // the lock held until the token came.
            (Some(at), true) if retire_at > now => Some(at.min(retire_at)),
            (Some(at), _) => Some(at),
            (None, true) => Some(retire_at),
            (None, false) => None,
        };
        // While draining, look again now and then as well: the drain's end is announced
        // to parked workers, and this bounds the cost of any announcement missed.
        let wake_at = match inner.life.phase {
            Phase::Open => wake_at,
            _ => Some(wake_at.map_or(later(now, DRAIN_LOOK), |at| at.min(later(now, DRAIN_LOOK)))),
        };
        inner.workers.idle += 1;
        // fast/PROTOCOL.md, P1: pairs with the producer's push and look in `wake_for_fast`:
        // a producer either sees this worker asleep and wakes it, or its push is visible to
        // the look made here. P7: the look at the deques comes after `may_park`'s fence,
        // which pairs with the fence of a worker that pushed to its deque. P8: a paused
        // pool's worker parks whatever the lanes hold, but not over a job in a deque, which
        // belongs to a job that started.
        let lanes_empty = shared.fast.may_park();
        if (lanes_empty || shared.fast.is_paused()) && !shared.steals.any() {
            match wake_at {
                Some(at) => shared.clock.wait_until(&shared.work_cv, &mut inner, at),
                None => shared.work_cv.wait(&mut inner),
            }
        }
        shared.fast.sleepers.leave();
        inner.workers.idle -= 1;
        inner.workers.wakeups = inner.workers.wakeups.saturating_sub(1);
        spun = false;
    };

    // Under the same hold of the lock that decided to exit: a worker that has left the
    // loop must not be counted as one that could still take a job.
    exit.finish(hooks.stop(inner), by_shutdown);
}

/// Spins until a job is readied after `seen` or enters the fast lane, or the spin
/// budget runs out.
fn spin_for_work(shared: &Shared, seen: usize) {
    spin_until(|| {
        shared.fast.readied.load(Ordering::Acquire) != seen
            || shared.fast.lanes.has_ready()
            || shared.steals.any()
    });
}
