//! The timer thread: moves delayed jobs to the ready queue when they come due, and enforces
//! deadlines. It starts with the first delayed job or deadline, so a pool that uses neither
//! never has one.

use std::io;
use std::sync::{Arc, Weak};
use std::time::Instant;

use crate::lifecycle::{self, Phase};
use crate::shared::{Inner, Shared};
use crate::sync::{thread, MutexGuard};
use crate::task::Runnable;
use crate::unwind;

/// The timer thread's state, guarded by the pool lock.
#[derive(Default)]
pub(crate) struct TimerState {
    /// The timer thread, started with the first delayed job or deadline.
    pub(crate) handle: Option<thread::JoinHandle<()>>,
    pub(crate) running: bool,
    /// The timer thread's id once it runs, so a shutdown started on it does not wait for it.
    pub(crate) thread: Option<thread::ThreadId>,
    /// When the timer next wakes on its own, so earlier work can wake it sooner.
    pub(crate) next: Option<Instant>,
}

impl TimerState {
    /// `true` if the calling thread is the timer.
    pub(crate) fn is_this_thread(&self) -> bool {
        self.thread == Some(thread::current().id())
    }
}

/// The timer's bookkeeping on its way out. The loop hands it the lock when it exits; if the
/// timer unwinds instead, `Drop` takes the lock and does the same, so that a dead timer never
/// stays marked running and makes every shutdown wait for it.
struct TimerExit<'a> {
    shared: &'a Shared,
    done: bool,
}

impl TimerExit<'_> {
    fn finish(&mut self, mut inner: MutexGuard<'_, Inner>) {
        self.done = true;
        inner.timer.running = false;
        inner.timer.next = None;
        inner.timer.thread = None;
        drop(inner);
        self.shared.event_cv.notify_all();
        // The drain may be over: parked workers look again.
        self.shared.work_cv.notify_all();
    }
}

impl Drop for TimerExit<'_> {
    fn drop(&mut self) {
        if !self.done {
            let inner = self.shared.inner.lock();
            self.finish(inner);
        }
    }
}

pub(crate) fn spawn(shared: &Arc<Shared>, inner: &mut MutexGuard<'_, Inner>) -> io::Result<()> {
    let shared = Arc::clone(shared);
    let handle = thread::spawn(format!("{}-timer", shared.threads.name), None, move || {
        timer_main(shared)
    })?;
    inner.timer.handle = Some(handle);
    inner.timer.running = true;
    Ok(())
}

fn timer_main(shared: Arc<Shared>) {
    let shared = &shared;
    // Declared before the lock guard, so that an unwinding timer releases the lock
    // before its exit takes it again.
    let mut exit = TimerExit {
        shared,
        done: false,
    };
    let mut inner = shared.inner.lock();
    inner.timer.thread = Some(thread::current().id());
    loop {
        if inner.life.phase == Phase::Stopped {
            break;
        }
        let now = shared.clock.now();
        while let Some(mut entry) = inner.sched.delayed.pop_due(now) {
            entry.enqueued = now;
            inner.sched.ready.push(entry);
            shared.wake_or_start_worker(&mut inner);
        }
        let expired = inner.sched.expired(now);
        if !expired.is_empty() {
            inner = expire(shared, inner, expired);
            continue;
        }
        if inner.life.phase == Phase::Draining {
            inner = lifecycle::end_series(shared, inner);
            if inner.sched.ready.is_empty()
                && inner.sched.delayed.is_empty()
                && shared
                    .fast
                    .running
                    .load(std::sync::atomic::Ordering::SeqCst)
                    == 0
            {
                // Nothing left can come due: the drain is over.
                break;
            }
        }
        let next = inner.sched.next_wake();
        inner.timer.next = next;
        match next {
            Some(at) => shared.clock.wait_until(&shared.timer_cv, &mut inner, at),
            None => shared.timer_cv.wait(&mut inner),
        }
    }
    // Under the same hold of the lock that decided to stop, so that no job can be filed
    // for a timer that has stopped looking.
    exit.finish(inner);
}

/// Resolves each job as timed out (with the lock released: waking its waiters may run
/// their code). A job still running keeps its worker, so the pool may start a
/// replacement beside it, up to `max_replacements`.
fn expire<'a>(
    shared: &'a Arc<Shared>,
    inner: MutexGuard<'a, Inner>,
    jobs: Vec<Arc<dyn Runnable>>,
) -> MutexGuard<'a, Inner> {
    drop(inner);
    // Only weak references to the running ones are kept: the jobs themselves are let go
    // of with the lock released, since this may be the last reference to a job whose
    // result nobody will take, and its destructor is user code. A weak reference keeps
    // the address from being reused, so it still identifies the worker's job.
    let running: Vec<Weak<dyn Runnable>> = jobs
        .iter()
        .filter(|job| job.expire())
        .map(Arc::downgrade)
        .collect();
    unwind::drop_quietly(jobs);
    let mut inner = shared.inner.lock();
    for target in running {
        let worker = inner
            .workers
            .threads
            .values_mut()
            .find(|w| w.current.iter().any(|c| Weak::ptr_eq(c, &target)));
        if let Some(worker) = worker {
            if !worker.overdue {
                worker.overdue = true;
                inner.workers.overdue += 1;
                if inner.life.phase == Phase::Open && !inner.sched.ready.is_empty() {
                    // Jobs are waiting right now: start the replacement at once.
                    shared.wake_or_start_worker(&mut inner);
                }
            }
        }
    }
    inner
}
