//! The stats assembly: a [`Stats`] from the pool's state and its metrics.

use std::sync::atomic::Ordering;

use crate::metrics::Stats;
use crate::priority::Priority;
use crate::shared::{Inner, Shared};

/// The pool's [`Stats`]: the scheduler's and worker set's counts under the pool lock, then
/// the counters and histograms, each worker's own included.
pub(crate) fn stats(shared: &Shared) -> Stats {
    let (workers, paused, idle, running, queued, by_priority, delayed, overdue, min, max) = {
        let inner = shared.inner.lock();
        (
            inner.workers.alive,
            // Written only under the lock: exact here.
            shared.fast.is_paused(),
            inner.workers.idle,
            shared.fast.running.load(Ordering::SeqCst),
            shared.ready_len(&inner),
            by_priority(shared, &inner),
            inner.sched.delayed.len(),
            inner.workers.overdue,
            inner.workers.min,
            inner.workers.max,
        )
    };
    let c = shared.metrics.snapshot();
    let (queue_wait, run_time) = shared.metrics.latencies();
    Stats {
        workers,
        paused,
        busy: running,
        idle,
        min_workers: min,
        max_workers: max,
        waiting_for_idle: shared.fast.idle_waiters.count(),
        queued,
        queued_by_priority: by_priority,
        delayed,
        overdue,
        submitted: shared.fast.accepted(),
        completed: c.completed,
        failed: c.failed,
        panicked: c.panicked,
        cancelled: c.cancelled,
        timed_out: c.timed_out,
        retried: c.retried,
        rate_limited: c.rate_limited,
        replacements: c.replacements,
        never_started: c.never_started,
        hook_panics: c.hook_panics,
        rejected_full: c.rejected_full,
        rejected_closed: c.rejected_closed,
        queue_wait,
        run_time,
    }
}

/// Ready jobs per priority, in the fast lanes and the scheduler's together.
fn by_priority(shared: &Shared, inner: &Inner) -> Vec<(Priority, usize)> {
    let mut levels = inner.sched.ready.by_priority();
    for (priority, n) in shared.fast.lanes.by_priority() {
        match levels.iter_mut().find(|(p, _)| *p == priority) {
            Some((_, m)) => *m += n,
            None => levels.push((priority, n)),
        }
    }
    levels.sort_by_key(|&(p, _)| std::cmp::Reverse(p));
    levels
}
