//! Taking and running jobs: what a worker takes next (`next_job`, past the rate limits and
//! the pause), running a scheduled job (`run_one`) or fast-lane jobs without the pool lock
//! (`drain_fast`, `run_fast`), and the same for a worker that helps while it waits
//! (`help_one`, `run_claimed`; see `help.rs`).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::lifecycle::Phase;
use crate::metrics::{Batch, Latencies, WorkerCounts};
use crate::queue::{Entry, FastEntry, Work};
use crate::shared::{Inner, Shared};
use crate::sync::{linger_until, spin_until, Mutex, MutexGuard};
use crate::task::{RunEnv, Runnable, Step};
use crate::unwind;
use crate::worker_set::Slot;

/// When a fast-lane job queued at `enqueued` starts, given when the worker's last job ended
/// (`None` for its first job since it took the lock-free path). Back to back, one job's end
/// is the next one's start: one clock read per job. A job queued after the last one ended
/// found the worker waiting for it, so its start is read afresh: the wait is neither its run
/// time nor its queue wait.
fn job_start(ended: Option<u64>, enqueued: u64, now: impl FnOnce() -> u64) -> u64 {
    match ended {
        Some(ended) if enqueued <= ended => ended,
        _ => now(),
    }
}

/// What a worker found when it looked for work.
pub(crate) enum Next {
    Run(Entry),
    /// A job from the fast lane, taken under the lock because the lanes are in use.
    Fast(FastEntry),
    /// Jobs are ready but the pool's rate limit has no token until then.
    Throttled(Instant),
    Nothing,
}

/// What a worker keeps for itself. A worker that helps while it waits (`help.rs`) runs
/// the jobs it helps with under a `Local` of their own, which shares the worker's id,
/// slot, histograms and counts.
pub(crate) struct Local {
    id: u64,
    pub(super) worker_id: usize,
    slot: Slot,
    pub(super) latencies: Arc<Mutex<Latencies>>,
    /// Fast-lane jobs counted and timed but not yet published.
    pub(super) batch: Batch,
    /// Fast-lane jobs taken together and not run yet (see `take_size`).
    taken: VecDeque<FastEntry>,
    /// When the last group of fast-lane jobs was taken, in ticks, and how many it held.
    last_take: Option<(u64, usize)>,
}

impl Local {
    pub(crate) fn new(
        id: u64,
        slot: Slot,
        latencies: Arc<Mutex<Latencies>>,
        counts: Arc<WorkerCounts>,
    ) -> Self {
        Self {
            id,
            worker_id: usize::try_from(id).unwrap_or(usize::MAX),
            slot,
            latencies,
            batch: Batch::new(counts),
            taken: VecDeque::with_capacity(MAX_TAKE),
            last_take: None,
        }
    }

    /// The worker's id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Another `Local` for the same worker, for the jobs it runs while it helps.
    pub(crate) fn sibling(&self) -> Self {
        Self::new(
            self.id,
            Arc::clone(&self.slot),
            Arc::clone(&self.latencies),
            self.batch.counts(),
        )
    }
}

/// Runs one queued job of `shared` on the calling worker, which waits for something inside
/// a job of its own: `true` if it ran one (or found one cancelled), `false` if there was
/// none it may take now.
pub(crate) fn help_one(shared: &Arc<Shared>, local: &mut Local) -> bool {
    if shared.fast.plain_only.load(Ordering::Acquire) {
        // Counted before the pop, as in `run_fast_jobs` (fast/PROTOCOL.md, P4).
        shared.fast.running.fetch_add(1, Ordering::SeqCst);
        let taken = match shared.fast.stopped.load(Ordering::Acquire) || shared.fast.is_paused() {
            true => None,
            false => shared.fast.lanes.pop(),
        };
        let ran = taken.is_some();
        if let Some(entry) = taken {
            after_fast_take(shared);
            let started = shared.latency_metrics.then(|| shared.ticks.now());
            run_fast(shared, entry, local, started);
        }
        local.batch.publish(&local.latencies);
        shared.end_running();
        // While every job is plain, the scheduler holds none.
        if ran || shared.fast.plain_only.load(Ordering::Acquire) {
            return ran;
        }
    }
    let mut inner = shared.inner.lock();
    if inner.life.phase == Phase::Stopped {
        return false;
    }
    let now = shared.clock.now();
    match next_job(shared, &mut inner, now) {
        Next::Run(entry) => {
            drop(run_one(shared, inner, local, entry));
            true
        }
        Next::Fast(entry) => {
            run_fast_taken(shared, inner, local, entry);
            true
        }
        Next::Throttled(_) | Next::Nothing => false,
    }
}

/// Runs `entry`, a fast-lane job that `next_job` handed out under the pool lock: counted as
/// running before the lock is released, so that no look under the lock sees the pool idle.
pub(super) fn run_fast_taken(
    shared: &Shared,
    inner: MutexGuard<'_, Inner>,
    local: &mut Local,
    entry: FastEntry,
) {
    shared.fast.running.fetch_add(1, Ordering::SeqCst);
    drop(inner);
    let started = shared.latency_metrics.then(|| shared.ticks.now());
    run_fast(shared, entry, local, started);
    local.batch.publish(&local.latencies);
    shared.end_running();
}

/// After a job was taken from the fast lanes, before it runs.
fn after_fast_take(shared: &Shared) {
    // fast/PROTOCOL.md, P8: a pause that began before this take holds the job.
    crate::pause::hold(shared);
    if shared.should_wake_producer() {
        // A producer waiting for room waits under the lock: holding it for the
        // notification means the producer is already waiting.
        let _inner = shared.inner.lock();
        shared.space_cv.notify_one();
    }
}

/// Runs `job`, a job with a handle that a worker of its pool waits for, on that worker, as
/// if it had taken it from the fast lanes: if a worker took it first, its run does nothing,
/// and the queue's entry for it becomes a tombstone.
pub(crate) fn run_claimed(shared: &Arc<Shared>, local: &mut Local, job: Arc<dyn Runnable>) {
    shared.fast.running.fetch_add(1, Ordering::SeqCst);
    let started = shared.latency_metrics.then(|| shared.ticks.now());
    let entry = FastEntry {
        work: Work::Handled(job),
        enqueued: started.unwrap_or(0),
    };
    run_fast(shared, entry, local, started);
    local.batch.publish(&local.latencies);
    shared.end_running();
}

/// The most fast-lane jobs a worker takes at once (see `take_size`).
const MAX_TAKE: usize = 8;
/// Jobs that take less than this on average are taken [`MAX_TAKE`] at a time.
const SHORT_JOB_NANOS: u64 = 5_000;

/// Takes the next job the rate limits allow. A job over its key's limit moves to the
/// delay queue until its key has a token, so it never blocks jobs behind it.
pub(crate) fn next_job(
    shared: &Arc<Shared>,
    inner: &mut MutexGuard<'_, Inner>,
    now: Instant,
) -> Next {
    let mut fast_top = shared.fast.lanes.top();
    if shared.fast.is_paused() || (inner.sched.ready.is_empty() && fast_top.is_none()) {
        return Next::Nothing;
    }
    if let Some(Err(at)) = inner.rates.pool.as_ref().map(|b| b.check(now)) {
        if inner.rates.throttled_until != Some(at) {
            inner.rates.throttled_until = Some(at);
            shared.metrics.counters.note_rate_limited();
        }
        return Next::Throttled(at);
    }
    loop {
        let entry = match inner.sched.ready.choose(fast_top) {
            Err(()) => return Next::Nothing,
            Ok(Some(entry)) => entry,
            Ok(None) => match shared.fast.lanes.pop() {
                Some(entry) => {
                    if shared.should_wake_producer() {
                        shared.space_cv.notify_one();
                    }
                    // Fast-lane jobs carry no key, and a pool with a rate limit has none.
                    return Next::Fast(entry);
                }
                None => {
                    fast_top = None;
                    continue;
                }
            },
        };
        let limited = entry.rate_key.is_some() || inner.rates.pool.is_some();
        if limited && !entry.job.is_live() {
            // A cancelled job spends no token: the worker only counts it.
            return Next::Run(entry);
        }
        if let Some(key) = &entry.rate_key {
            if let Some(bucket) = inner.rates.key_bucket(&shared.rates, key, now) {
                if let Err(at) = bucket.check(now) {
                    shared.metrics.counters.note_rate_limited();
                    let at = bucket.reserve(at);
                    inner.sched.delayed.push(at, entry);
                    shared.wake_timer(inner, at);
                    continue;
                }
                bucket.take(now);
            }
        }
        if let Some(bucket) = &mut inner.rates.pool {
            bucket.take(now);
        }
        return Next::Run(entry);
    }
}

/// Runs one job with the lock released, then files what it asks for next. Takes and
/// returns the lock.
pub(crate) fn run_one<'a>(
    shared: &'a Arc<Shared>,
    mut inner: MutexGuard<'a, Inner>,
    local: &Local,
    entry: Entry,
) -> MutexGuard<'a, Inner> {
    let id = local.id;
    shared.fast.running.fetch_add(1, Ordering::SeqCst);
    if let Some(me) = inner.workers.threads.get_mut(&id) {
        // Weak, so that the worker's own reference is the last one it lets go of, and it
        // lets go of it with the lock released (see below).
        me.current.push(Arc::downgrade(&entry.job));
    }
    // Producers blocked on a full queue are woken only once an eighth of it is free:
    // waking one per pop would cost a context switch per job, each refilling one slot.
    let queued = shared.ready_len(&inner) + inner.sched.delayed.len();
    let room_for_producers = queued <= shared.low_water();
    drop(inner);
    if room_for_producers {
        shared.space_cv.notify_one();
    }

    let started = shared.latency_metrics.then(|| shared.clock.now());
    let env = RunEnv {
        job_id: entry.seq,
        worker_id: local.worker_id,
        clock: &shared.clock,
        signal: None,
    };
    let result = entry.job.run(&env, &shared.metrics.counters);
    if let Some(started) = started {
        let ended = shared.clock.now();
        local
            .latencies
            .lock()
            .record(started - entry.enqueued, ended - started);
    }
    // A job that is over is let go of before the lock is taken again: if its `Task` was
    // dropped, this is the last reference, and the result's destructor is user code that
    // may panic or call back into the pool.
    let (mut entry, again) = match result {
        Step::Done(()) => {
            unwind::drop_quietly(entry);
            (None, None)
        }
        Step::Retry(at) => (Some(entry), Some((at, false))),
        Step::Repeat(at) => (Some(entry), Some((at, true))),
    };

    let mut inner = shared.inner.lock();
    shared.fast.running.fetch_sub(1, Ordering::SeqCst);
    if let Some(me) = inner.workers.threads.get_mut(&id) {
        me.current.pop();
        // Which of a helping worker's jobs overran is not kept: the flag holds until the
        // outermost one ends.
        if me.overdue && me.current.is_empty() {
            me.overdue = false;
            inner.workers.overdue -= 1;
        }
    }
    if let (Some(job), Some((at, periodic))) = (entry.take(), again) {
        // A periodic series ends with the pool's intake; nothing runs again once the
        // queue was handed back.
        let ends = match periodic {
            true => inner.life.phase != Phase::Open,
            false => inner.life.phase == Phase::Stopped,
        };
        if ends {
            drop(inner);
            job.job.abandon(&shared.metrics.counters);
            unwind::drop_quietly(job);
            inner = shared.inner.lock();
        } else {
            let mut job = job;
            job.enqueued = at;
            inner.sched.delayed.push(at, job);
            shared.wake_timer(&mut inner, at);
        }
    }
    if shared.note_if_idle(&mut inner) {
        shared.event_cv.notify_all();
    }
    inner
}

/// Takes and runs fast-lane jobs without the pool lock until the lanes stay empty for a
/// spin, the pool needs its scheduler, or a shutdown hands the queue back. Returns `true`
/// if it spun in vain: the caller may park without spinning again.
pub(super) fn drain_fast(shared: &Shared, local: &mut Local) -> bool {
    let in_use = || shared.fast.takes_jobs();
    loop {
        run_fast_jobs(shared, local);
        // Waiting here for the next job, rather than under the pool lock, keeps workers
        // that outpace their producers off the lock the other workers and producers need.
        // Not counted as running meanwhile, so `wait_idle` does not wait for the spin.
        if !in_use() {
            return false;
        }
        if !spin_until(|| shared.fast.lanes.has_ready() || !in_use()) {
            return true;
        }
    }
}

/// Runs fast-lane jobs while there are any and the lanes are in use.
fn run_fast_jobs(shared: &Shared, local: &mut Local) {
    // Counted before the first pop: see `wait_idle`.
    shared.fast.running.fetch_add(1, Ordering::SeqCst);
    let mut ended = None;
    // Whether the worker watched the empty lanes since its last job (see below).
    let mut lingered = false;
    while shared.fast.takes_jobs() {
        let entry = match local.taken.pop_front() {
            Some(entry) => entry,
            None => {
                let taken = match take_size(shared, local, ended) {
                    1 => shared.fast.lanes.pop(),
                    size => {
                        shared.fast.lanes.pop_up_to(size, &mut local.taken);
                        local.taken.pop_front()
                    }
                };
                if let Some((_, n)) = &mut local.last_take {
                    *n = local.taken.len() + usize::from(taken.is_some());
                }
                let Some(entry) = taken else {
                    // Empty for now. A producer that keeps up pushes again within a few
                    // hundred nanoseconds: watching for that here keeps the worker on
                    // this path, where the job starts at once, instead of leaving it
                    // and coming back through the pool's lock. Once per job run, so
                    // the loop ends when no job comes.
                    if !lingered && linger_for_fast(shared) {
                        lingered = true;
                        continue;
                    }
                    break;
                };
                lingered = false;
                after_fast_take(shared);
                entry
            }
        };
        let started = shared
            .latency_metrics
            .then(|| job_start(ended, entry.enqueued, || shared.ticks.now()));
        ended = run_fast(shared, entry, local, started);
    }
    // Jobs already taken run like any taken job; after a shutdown `run_fast` reports
    // them as never started instead.
    while let Some(entry) = local.taken.pop_front() {
        let started = shared.latency_metrics.then(|| shared.ticks.now());
        run_fast(shared, entry, local, started);
    }
    // Before the worker stops counting as running: see `Batch`.
    local.batch.publish(&local.latencies);
    shared.end_running();
}

/// Watches the fast lanes for a few microseconds: `true` once they hold a job, or the
/// loop around them should stop.
fn linger_for_fast(shared: &Shared) -> bool {
    linger_until(|| shared.fast.lanes.has_ready() || !shared.fast.takes_jobs())
}

/// How many jobs to take at once. Each take from the priority lanes locks them, and each
/// take from the first queue moves its head's cache line to this worker's core: two
/// workers that take one tiny job at a time mostly wait for each other. So a worker whose
/// last jobs took under [`SHORT_JOB_NANOS`] each takes up to [`MAX_TAKE`]: a job that
/// another worker could have started, or one of higher priority that arrives meanwhile,
/// waits for those few short jobs, well under 40 µs. The first take, and any after longer
/// jobs, is a single job. `ended`, when the pool times jobs, is when the last one ended,
/// which serves as now without another read of the clock.
fn take_size(shared: &Shared, local: &mut Local, ended: Option<u64>) -> usize {
    let now = ended.unwrap_or_else(|| shared.ticks.now());
    let short = local.last_take.is_some_and(|(at, n)| {
        let per_job = shared.ticks.nanos_between(at, now) / u64::try_from(n.max(1)).unwrap_or(1);
        per_job < SHORT_JOB_NANOS
    });
    // The count is filled in once the take is made.
    local.last_take = Some((now, 0));
    if short {
        MAX_TAKE
    } else {
        1
    }
}

/// Runs one fast-lane job that started at `started` (in ticks), with no lock held;
/// returns when it ended. Both are `None` when the pool does not time jobs. The caller
/// counts the worker as running, and publishes its batch before it stops.
pub(crate) fn run_fast(
    shared: &Shared,
    entry: FastEntry,
    local: &mut Local,
    started: Option<u64>,
) -> Option<u64> {
    let counters = &shared.metrics.counters;
    match entry.work {
        Work::Light(f) => {
            if shared.fast.stopped.load(Ordering::SeqCst) {
                // Taken just as a shutdown handed back the queue: it goes back too.
                shared.abandon_fast(Work::Light(f));
                return started;
            }
            let mut f = f;
            let panicked = match unwind::catch(|| f.run()) {
                Ok(()) => false,
                Err(payload) => {
                    unwind::forget_payload(payload);
                    true
                }
            };
            local.batch.count(panicked);
        }
        Work::Handled(job) => {
            local.slot.lock().push(Arc::clone(&job));
            // fast/PROTOCOL.md, P6: pairs with `stop`, which sets the flag and then reads
            // the slots: either it sees this job in the slot and cancels it, or this sees
            // the flag.
            if shared.fast.stopped.load(Ordering::SeqCst) {
                job.abandon(counters);
            } else {
                let env = RunEnv {
                    job_id: job.id(),
                    worker_id: local.worker_id,
                    clock: &shared.clock,
                    signal: None,
                };
                // A plain job runs once: it never asks to run again.
                let _ = job.run(&env, counters);
            }
            local.slot.lock().pop();
        }
    }
    let ended = started.map(|started| {
        let ended = shared.ticks.now();
        let queued = shared.ticks.nanos_between(entry.enqueued, started);
        local
            .batch
            .sample(queued, shared.ticks.nanos_between(started, ended));
        ended
    });
    if local.batch.is_full() {
        local.batch.publish(&local.latencies);
    }
    ended
}

#[cfg(test)]
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // tests may use std directly
mod tests {
    use super::job_start;

    #[test]
    fn a_job_queued_before_the_last_one_ended_starts_at_that_end() {
        assert_eq!(
            job_start(Some(100), 40, || unreachable!("no clock read")),
            100
        );
        assert_eq!(
            job_start(Some(100), 100, || unreachable!("no clock read")),
            100
        );
    }

    #[test]
    fn a_job_queued_later_or_first_reads_the_clock() {
        assert_eq!(job_start(Some(100), 150, || 170), 170);
        assert_eq!(job_start(None, 150, || 170), 170);
    }
}
