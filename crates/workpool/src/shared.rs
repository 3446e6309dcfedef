//! The state every pool handle and worker shares: the queue, the worker bookkeeping, and the
//! placement, sizing and shutdown logic that acts on them.
//!
//! Data flows one way: submit → placement (here) → queue → worker (`worker/`) → outcome.
//! One mutex guards the scheduler (priority lanes, delay queue, deadlines, worker counts);
//! no lock is held while a job runs. Plain jobs on a fixed-size pool with no rate limit skip
//! it: they go through the fast lanes (`queue/fast.rs`), which producers push to and workers
//! pop from without the pool lock, with atomics for their length, the running count and the
//! waiter counts that tell either side when to take the lock to wake the other.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::{Clock, Ticks};
use crate::context::OnCancel;
use crate::fast::FastPath;
use crate::lifecycle::{Lifecycle, Phase};
use crate::metrics::Metrics;
use crate::metrics::Outcome;
use crate::policy::rate::{RateConfig, RateLimit, RateState};
use crate::priority::Priority;
use crate::queue::{Entry, FastEntry, Full, Work};
use crate::scheduler::Scheduler;
use crate::steal::Steals;
use crate::sync::{AtomicUsize, Condvar, Mutex, MutexGuard};
use crate::task::Runnable;
use crate::timer::TimerState;
use crate::unwind;
use crate::worker_hooks::WorkerHooks;
use crate::worker_set::{ThreadConfig, WorkerSet};

/// What placement needs to know about a job besides the job itself.
pub(crate) struct Placement {
    pub(crate) priority: Priority,
    pub(crate) rate_key: Option<Arc<str>>,
    /// Not before this instant (a delayed or scheduled job).
    pub(crate) due: Option<Instant>,
    pub(crate) deadline: Option<Instant>,
    /// The job may ask to run again (a retry policy, or periodic).
    pub(crate) reruns: bool,
}

impl Placement {
    /// `true` for a job the fast lanes can carry, at any priority: no key, no delay, no
    /// deadline, runs once.
    pub(crate) fn is_plain(&self) -> bool {
        self.rate_key.is_none() && self.due.is_none() && self.deadline.is_none() && !self.reruns
    }

    /// A plain job: normal priority, no key, no delay, no deadline, runs once.
    pub(crate) const PLAIN: Placement = Placement {
        priority: Priority::NORMAL,
        rate_key: None,
        due: None,
        deadline: None,
        reruns: false,
    };
}

/// How a submission waits for room.
#[derive(Clone, Copy)]
pub(crate) enum RoomWait {
    Try,
    Block,
    Until(Instant),
}

/// Why a submission was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    Full,
    Closed,
    /// A blocking submission from a worker into its own full queue, with every worker that
    /// could make room waiting the same way.
    WouldDeadlock,
}

impl Reject {
    /// The error a blocking submission returns with the job.
    pub(crate) fn blocking<J>(why: Option<Reject>, job: J) -> crate::SubmitError<J> {
        match why {
            Some(Reject::WouldDeadlock) => crate::SubmitError::WouldDeadlock(job),
            _ => crate::SubmitError::Closed(job),
        }
    }
}

/// What the pool lock guards, by concern.
pub(crate) struct Inner {
    pub(crate) sched: Scheduler,
    pub(crate) workers: WorkerSet,
    pub(crate) life: Lifecycle,
    pub(crate) rates: RateState,
    pub(crate) timer: TimerState,
}

pub(crate) struct Shared {
    pub(crate) inner: Mutex<Inner>,
    /// Workers wait here for jobs.
    pub(crate) work_cv: Condvar,
    /// The timer waits here for the next due job or deadline.
    pub(crate) timer_cv: Condvar,
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
    pub(crate) rates: RateConfig,
    /// The fast path: lanes, intake gate, and the flags and counters producers and workers
    /// share without the lock (see `fast/`).
    pub(crate) fast: FastPath,
    /// Timestamps for the latency histograms of fast-lane jobs.
    pub(crate) ticks: Ticks,
    /// Whether workers time jobs for the latency histograms.
    pub(crate) latency_metrics: bool,
    /// The pool has a pool-wide rate limit: no job may start without its token.
    pub(crate) rate_limited: bool,
    /// The workers' deques of jobs spawned by scopes and joins (see `steal.rs`).
    pub(crate) steals: Steals,
    /// What each worker runs as it starts and exits, and the state it lends to jobs.
    pub(crate) hooks: WorkerHooks,
    /// The cores this process could run on when the pool was built.
    pub(crate) cores: usize,
}

/// Everything `Shared::new` needs from the builder.
pub(crate) struct Config {
    pub(crate) capacity: usize,
    pub(crate) min: usize,
    pub(crate) max: usize,
    pub(crate) keep_alive: Duration,
    pub(crate) max_replacements: usize,
    pub(crate) threads: ThreadConfig,
    pub(crate) clock: Clock,
    pub(crate) rate: Option<RateLimit>,
    pub(crate) latency_metrics: bool,
    pub(crate) hooks: WorkerHooks,
    pub(crate) rates: RateConfig,
    pub(crate) cores: usize,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Self {
        let ticks = Ticks::new(&config.clock);
        let rate_limited = config.rate.is_some();
        Self {
            inner: Mutex::new(Inner {
                sched: Scheduler::default(),
                workers: WorkerSet::new(
                    config.min,
                    config.max,
                    config.keep_alive,
                    config.max_replacements,
                ),
                life: Lifecycle::new(),
                rates: RateState::new(config.rate),
                timer: TimerState::default(),
            }),
            work_cv: Condvar::new(),
            timer_cv: Condvar::new(),
            space_cv: Condvar::new(),
            event_cv: Condvar::new(),
            capacity: config.capacity,
            threads: config.threads,
            clock: config.clock,
            metrics: Metrics::new(),
            handles: AtomicUsize::new(1),
            rates: config.rates,
            fast: FastPath::new(
                config.capacity,
                config.rate.is_none() && config.min == config.max,
            ),
            ticks,
            latency_metrics: config.latency_metrics,
            rate_limited,
            steals: Steals::default(),
            hooks: config.hooks,
            cores: config.cores,
        }
    }

    /// Accepts a job, waiting for room as `wait` says, and makes sure it will run: a worker
    /// for a ready job, the timer for a delayed one. Returns the job's id; on rejection the
    /// job comes back unrun.
    ///
    /// Room means fewer than `capacity` jobs ready or delayed. Jobs already accepted (retries,
    /// periodic runs, delayed jobs coming due) re-enter without asking for room.
    pub(crate) fn push(
        self: &Arc<Self>,
        job: Arc<dyn Runnable>,
        placement: Placement,
        wait: RoomWait,
    ) -> Result<u64, (Arc<dyn Runnable>, Reject)> {
        let plain = placement.is_plain();
        if !plain {
            self.fast.plain_only.store(false, Ordering::SeqCst);
        }
        let job = match plain {
            true => match self.push_fast(Work::Handled(job), placement.priority, wait) {
                Ok(seq) => return Ok(seq.expect("a job with a handle draws its id first")),
                Err((work, why)) => match (work.into_handled(), why) {
                    (job, Some(why)) => return Err((job, why)),
                    (job, None) => job,
                },
            },
            false => job,
        };
        let mut inner = match self.wait_for_room(self.inner.lock(), wait) {
            Ok(inner) => inner,
            Err(why) => return Err((job, why)),
        };
        let seq = self.fast.next_seq.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.now();
        if let Some(at) = placement.deadline {
            inner.sched.add_deadline(at, seq, Arc::downgrade(&job));
            self.wake_timer(&mut inner, at);
        }
        let entry = Entry {
            job,
            enqueued: now,
            seq,
            priority: placement.priority,
            rate_key: placement.rate_key,
        };
        match placement.due {
            Some(due) if due > now => {
                inner.sched.delayed.push(due, entry);
                self.wake_timer(&mut inner, due);
            }
            _ => {
                inner.sched.ready.push(entry);
                self.wake_or_start_worker(&mut inner);
            }
        }
        Ok(seq)
    }

    /// Queues a plain job in the fast lanes, waiting for room as `wait` says, wakes a
    /// parked worker if there is one, and returns the job's id if it has a handle (a
    /// handle-less job draws none). On refusal
    /// the job comes back with the reason, or with `None` if the fast lanes are out of use:
    /// the job then takes the scheduler's path.
    ///
    /// Every id is drawn inside the intake gate and settled there: the job is queued, or the
    /// id is counted as unadmitted. A job queued without an id is counted by the gate as its
    /// producer leaves. So once a shutdown has sealed the gate, the count of jobs accepted is
    /// final.
    pub(crate) fn push_fast(
        self: &Arc<Self>,
        work: Work,
        priority: Priority,
        wait: RoomWait,
    ) -> Result<Option<u64>, (Work, Option<Reject>)> {
        let mut entry = FastEntry { work, enqueued: 0 };
        loop {
            if !self.fast.plain_only.load(Ordering::Acquire) {
                return Err((entry.work, None));
            }
            if let Some(mut inside) = self.fast.intake.enter() {
                // Only a job with a handle draws an id: the lanes need none to keep order.
                let mut seq = None;
                if let Work::Handled(job) = &entry.work {
                    let id = self.fast.next_seq.fetch_add(1, Ordering::Relaxed);
                    // Published to the worker by the queue's own release and acquire.
                    job.set_id(id);
                    seq = Some(id);
                }
                if self.latency_metrics {
                    entry.enqueued = self.ticks.now();
                }
                let pushed = self.fast.lanes.push(entry, priority);
                match pushed {
                    Ok(()) => {
                        if seq.is_none() {
                            inside.admitted_without_id();
                        }
                        self.wake_for_fast();
                        return Ok(seq);
                    }
                    Err(Full(back)) => {
                        entry = back;
                        if seq.is_some() {
                            // The id goes unused; the next try draws a new one.
                            self.fast.unadmitted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            // Full, or intake has closed: wait for room, or learn why there will be none.
            if let Err(why) = self.wait_for_room(self.inner.lock(), wait) {
                return Err((entry.work, Some(why)));
            }
        }
    }

    /// After a fast-lane push: wakes a parked worker, if there is one (fast/PROTOCOL.md,
    /// P1: the push was a sequentially consistent update of the lane's tail, so no fence is
    /// needed here).
    fn wake_for_fast(self: &Arc<Self>) {
        if self.fast.sleepers.any() {
            let mut inner = self.inner.lock();
            self.wake_or_start_worker(&mut inner);
        }
    }

    /// Waits, as `wait` says, until the pool is closed or has room for one more job. Takes
    /// the lock and returns it when there is room.
    fn wait_for_room<'a>(
        &'a self,
        mut inner: MutexGuard<'a, Inner>,
        wait: RoomWait,
    ) -> Result<MutexGuard<'a, Inner>, Reject> {
        // fast/PROTOCOL.md, P3: counted before the first look at the queue.
        self.fast.space_waiters.enter();
        // Whether the caller is one of the pool's workers, counted in `own_waiters`.
        let mut own: Option<bool> = None;
        let verdict = loop {
            if inner.life.phase != Phase::Open {
                self.metrics
                    .counters
                    .rejected_closed
                    .fetch_add(1, Ordering::Relaxed);
                break Err(Reject::Closed);
            }
            if inner.sched.len() + self.fast.lanes.len() < self.capacity {
                break Ok(());
            }
            match wait {
                RoomWait::Block => {
                    // A worker waiting for room in its own queue waits for the other workers
                    // to make it; if they all wait the same way, none ever will.
                    let on_worker = *own.get_or_insert_with(|| self.on_worker_thread(&inner));
                    if on_worker {
                        if inner.workers.own_waiters + 1 >= inner.workers.alive {
                            break Err(Reject::WouldDeadlock);
                        }
                        inner.workers.own_waiters += 1;
                    }
                    self.space_cv.wait(&mut inner);
                    if on_worker {
                        inner.workers.own_waiters -= 1;
                    }
                }
                RoomWait::Until(deadline) if self.clock.now() < deadline => {
                    self.clock.wait_until(&self.space_cv, &mut inner, deadline);
                }
                RoomWait::Try | RoomWait::Until(_) => {
                    self.metrics
                        .counters
                        .rejected_full
                        .fetch_add(1, Ordering::Relaxed);
                    break Err(Reject::Full);
                }
            }
        };
        self.fast.space_waiters.leave();
        verdict.map(|()| inner)
    }

    /// After a fast-lane job is taken: `true` if producers wait for room and the lanes have
    /// drained to the low-water mark, so the caller wakes one (fast/PROTOCOL.md, P3).
    pub(crate) fn should_wake_producer(&self) -> bool {
        self.fast.should_wake_producer(self.low_water())
    }

    /// A worker is done running jobs for now. The last one out wakes `wait_idle` callers,
    /// taking the lock so that none is between its check and its wait (fast/PROTOCOL.md, P4).
    pub(crate) fn end_running(&self) {
        if self.fast.running.fetch_sub(1, Ordering::SeqCst) == 1 && self.fast.idle_waiters.any() {
            let mut inner = self.inner.lock();
            self.note_if_idle(&mut inner);
            self.event_cv.notify_all();
        }
    }

    /// Ends a fast-lane job that will not run: counts it and drops its closure, or resolves
    /// its handle as not run.
    pub(crate) fn abandon_fast(&self, work: Work) {
        match work {
            Work::Light(f) => {
                self.metrics.counters.count(Outcome::NotRun);
                // A panicking destructor must not take a worker or a shutdown down with it.
                unwind::drop_quietly(f);
            }
            Work::Handled(job) => job.abandon(&self.metrics.counters),
        }
    }

    /// The queue length at or below which workers wake producers blocked on a full queue.
    pub(crate) fn low_water(&self) -> usize {
        self.capacity - (self.capacity / 8).max(1)
    }

    /// Jobs ready to run, in the fast lane and the lanes together.
    pub(crate) fn ready_len(&self, inner: &Inner) -> usize {
        inner.sched.ready.len() + self.fast.lanes.len()
    }

    /// After a job is queued: wake an idle worker, or start one if none is idle and the pool
    /// is below its maximum.
    pub(crate) fn wake_or_start_worker(self: &Arc<Self>, inner: &mut MutexGuard<'_, Inner>) {
        self.fast.readied.fetch_add(1, Ordering::Release);
        // A paused pool takes no job: its workers would only go back to sleep. `resume`
        // wakes them, and starts workers for the backlog (`pause.rs`).
        if self.fast.is_paused() {
            return;
        }
        if self.ready_len(inner) <= inner.workers.spinning {
            // Enough workers are spinning to take every ready job: no wake-up needed. Each
            // re-checks the queue under the lock before it parks, so none is missed.
            return;
        }
        if inner.workers.idle > inner.workers.wakeups {
            inner.workers.wakeups += 1;
            self.work_cv.notify_one();
        } else if inner.workers.staying() < inner.workers.effective_max() {
            // A failure leaves the job queued for the workers that exist (or for the next
            // successful start); a shutdown reports it if none ever takes it. A worker on its
            // way out (running its stop hook) takes no job, so it is not counted.
            let replacing = inner.workers.staying() >= inner.workers.max;
            if crate::worker::spawn(self, inner).is_ok() && replacing {
                self.metrics.counters.note_replacement();
            }
        }
    }

    /// After a job was pushed to a worker's deque: wakes a parked worker to steal it, if
    /// one is parked (fast/PROTOCOL.md, P7).
    pub(crate) fn wake_thief(&self) {
        if self.fast.sleepers.any() {
            let mut inner = self.inner.lock();
            if inner.workers.idle > inner.workers.wakeups {
                inner.workers.wakeups += 1;
                self.work_cv.notify_one();
            }
        }
    }

    /// `true` if the calling thread is one of this pool's workers.
    pub(crate) fn on_worker_thread(&self, inner: &Inner) -> bool {
        inner.workers.includes_this_thread()
    }

    /// `true` if the calling thread is one of this pool's own: a worker or the timer. Such a
    /// thread cannot wait for the pool's threads to end, since it is one of them.
    pub(crate) fn on_own_thread(&self, inner: &Inner) -> bool {
        inner.timer.is_this_thread() || inner.workers.includes_this_thread()
    }

    /// Changes the worker bounds; see [`Pool::resize`](crate::Pool::resize).
    pub(crate) fn resize(self: &Arc<Self>, min: usize, max: usize) {
        // The fast lane is for fixed-size pools only: a resizable pool must see every
        // submission to grow on demand.
        self.fast.plain_only.store(false, Ordering::SeqCst);
        let mut inner = self.inner.lock();
        inner.workers.min = min;
        inner.workers.max = max;
        if inner.life.phase == Phase::Open {
            self.start_for_backlog(&mut inner, min);
        }
        // Workers above a lower max, or idle past a shorter bound, re-check and retire.
        self.work_cv.notify_all();
    }

    /// Starts workers, up to the maximum, for the ready jobs no idle worker will take, and
    /// at least up to `floor` workers in all. A failure to start one leaves the jobs queued
    /// for the workers that exist.
    pub(crate) fn start_for_backlog(
        self: &Arc<Self>,
        inner: &mut MutexGuard<'_, Inner>,
        floor: usize,
    ) {
        let backlog = self.ready_len(inner).saturating_sub(inner.workers.idle);
        let wanted = floor.max((inner.workers.alive + backlog).min(inner.workers.effective_max()));
        while inner.workers.alive < wanted {
            if crate::worker::spawn(self, inner).is_err() {
                break;
            }
        }
    }

    pub(crate) fn set_keep_alive(&self, keep_alive: Duration) {
        self.inner.lock().workers.keep_alive = keep_alive;
        self.work_cv.notify_all();
    }

    /// Blocks until nothing is queued or running, or until `deadline`; `true` if the pool
    /// went idle. Every caller waiting when the pool goes idle returns, even if one of them
    /// makes it busy again before the others wake: they compare `idle_epoch`, which moves
    /// each time the pool is seen idle with waiters present.
    pub(crate) fn wait_idle(&self, deadline: Option<Instant>) -> bool {
        let mut inner = self.inner.lock();
        assert!(
            !self.on_own_thread(&inner),
            "Pool::wait_idle called from one of the pool's own threads would wait for itself"
        );
        // fast/PROTOCOL.md, P4: counted before the first look. A worker counts itself running
        // before it pops a fast-lane job and counts the job taken after, so a look that sees
        // the lane empty also sees every job taken from it that is still running.
        self.fast.idle_waiters.enter();
        let epoch = inner.life.idle_epoch;
        let idle = loop {
            if self.note_if_idle(&mut inner) || inner.life.idle_epoch != epoch {
                break true;
            }
            if inner.workers.alive == 0 && inner.life.phase != Phase::Open {
                // Nobody is left to drain the queue; a shutdown will report it.
                break true;
            }
            match deadline {
                None => self.event_cv.wait(&mut inner),
                Some(at) if self.clock.now() >= at => break false,
                Some(at) => self.clock.wait_until(&self.event_cv, &mut inner, at),
            }
        };
        self.fast.idle_waiters.leave();
        idle
    }

    /// With the lock held: if nothing is queued or running, moves `idle_epoch` (when someone
    /// waits for it) and returns `true`. Every place that sees the pool go idle calls this
    /// before it wakes the waiters, so a waiter that wakes after the pool got busy again
    /// still knows it was idle.
    pub(crate) fn note_if_idle(&self, inner: &mut Inner) -> bool {
        let idle = self.ready_len(inner) == 0 && self.fast.running.load(Ordering::SeqCst) == 0;
        if idle && self.fast.idle_waiters.any() {
            inner.life.idle_epoch = inner.life.idle_epoch.wrapping_add(1);
        }
        idle
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.inner.lock().life.phase != Phase::Open
    }

    /// Makes sure the timer will wake by `at`: starts it, or wakes it if it sleeps longer.
    pub(crate) fn wake_timer(self: &Arc<Self>, inner: &mut MutexGuard<'_, Inner>, at: Instant) {
        if inner.timer.handle.is_none() {
            // A failure leaves delayed jobs waiting; a shutdown reports them.
            let _ = crate::timer::spawn(self, inner);
        } else if inner.timer.next.is_none_or(|next| at < next) {
            self.timer_cv.notify_one();
        }
    }
}

impl OnCancel for Shared {
    fn job_cancelled(&self) {
        crate::lifecycle::purge_delayed(self);
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // tests may use std directly
mod tests {
    use std::time::Duration;

    use crate::{Job, JobContext, Pool, RateLimit};

    #[test]
    fn finished_jobs_with_deadlines_do_not_pile_up_in_the_deadline_heap() {
        let pool = Pool::new(2);
        for i in 0..5_000u64 {
            let job =
                Job::new(move |_: &JobContext| Ok::<_, ()>(i)).timeout(Duration::from_secs(600));
            pool.spawn(job).unwrap().wait().unwrap();
        }
        let held = pool.shared().inner.lock().sched.deadlines_held();
        // Cleaned each time the heap doubles: at most about twice what is live (none here).
        assert!(held <= 128, "{held} deadlines held for 5,000 finished jobs");
    }

    #[test]
    fn idle_per_key_buckets_are_freed() {
        let pool = Pool::builder()
            .workers(1)
            .rate_limit_per_key(RateLimit::per(1_000_000, Duration::from_secs(1)))
            .build()
            .unwrap();
        for i in 0..5_000u64 {
            let job = Job::new(move |_: &JobContext| Ok::<_, ()>(i)).rate_key(format!("key-{i}"));
            pool.spawn(job).unwrap().wait().unwrap();
        }
        let buckets = pool.shared().inner.lock().rates.key_buckets();
        assert!(
            buckets <= 128,
            "{buckets} buckets kept for 5,000 distinct keys"
        );
    }
}
