//! No user code can hang a shutdown, kill a worker or poison the pool: results and captures
//! whose destructors panic or call back into the pool, wakers that panic, the last handle
//! dropped on the pool's own timer thread, and durations too large for an `Instant`.
//!
//! Each scenario runs under `finishes`, so a regression fails the test instead of hanging it.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::Duration;

use common::{blocker, eventually, hold, quiet_panics, Gate};
use workpool::{Job, JobContext, ManualClock, Pool, Retry};

/// Runs `scenario` on its own thread and fails if it has not returned after 60 s of real
/// time: a safety net against hangs, never the thing measured.
#[track_caller]
fn finishes<R: Send + 'static>(what: &str, scenario: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(scenario());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(r) => r,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hung: {what}"),
        // The scenario panicked: its own message was printed by the hook.
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("failed: {what}"),
    }
}

/// A value whose destructor panics, on purpose.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("destructor panics on purpose");
    }
}

fn fixed(workers: usize) -> Pool {
    Pool::builder().workers(workers).build().unwrap()
}

fn elastic() -> Pool {
    Pool::builder()
        .min_workers(1)
        .max_workers(2)
        .build()
        .unwrap()
}

/// A job whose result's destructor panics, its `Task` dropped before the job ends; then the
/// pool must still run jobs, count its workers right and shut down.
fn a_result_that_panics_on_drop_after_its_task_is_gone(pool: Pool) {
    quiet_panics();
    let gate = Gate::new();
    let (job, started) = blocker(&gate);
    let task = pool
        .submit(move || {
            job();
            PanicOnDrop
        })
        .unwrap();
    started.recv().unwrap();
    drop(task);
    gate.open();
    for i in 0..10 {
        assert_eq!(pool.submit(move || i).unwrap().wait().unwrap(), i);
    }
    let workers = pool.stats().workers;
    assert!(workers >= 1, "{workers} workers");
    let report = pool.shutdown();
    assert_eq!(report.completed, 11, "{report:?}");
    assert_eq!(report.workers_joined, workers, "{report:?}");
}

#[test]
fn a_result_that_panics_on_drop_does_not_kill_a_fixed_pools_worker() {
    finishes("fixed pool", || {
        a_result_that_panics_on_drop_after_its_task_is_gone(fixed(1))
    });
}

#[test]
fn a_result_that_panics_on_drop_does_not_poison_the_scheduler() {
    finishes("elastic pool", || {
        a_result_that_panics_on_drop_after_its_task_is_gone(elastic())
    });
}

/// A value that calls back into its pool when dropped.
struct CallsBack(Pool, Arc<AtomicU32>);

impl Drop for CallsBack {
    fn drop(&mut self) {
        let _ = self.0.stats();
        let _ = format!("{:?}", self.0);
        let _ = self.0.execute(|| ());
        self.1.fetch_add(1, SeqCst);
    }
}

#[test]
fn destructors_that_call_into_the_pool_run_without_its_lock() {
    finishes("destructors calling back", || {
        let pool = elastic();
        let dropped = Arc::new(AtomicU32::new(0));
        // A result nobody takes, dropped by the worker that ran the job.
        let gate = Gate::new();
        let (job, started) = blocker(&gate);
        let result = CallsBack(pool.clone(), Arc::clone(&dropped));
        let task = pool
            .submit(move || {
                job();
                result
            })
            .unwrap();
        started.recv().unwrap();
        drop(task);
        gate.open();
        eventually("the result was dropped", || dropped.load(SeqCst) == 1);
        // A job with options whose capture calls back, dropped after its run.
        let capture = CallsBack(pool.clone(), Arc::clone(&dropped));
        let task = pool
            .spawn(Job::new(move |_: &JobContext| {
                let _held = &capture;
                Ok::<_, ()>(())
            }))
            .unwrap();
        task.wait().unwrap();
        eventually("the capture was dropped", || dropped.load(SeqCst) == 2);
        pool.wait_idle();
        let report = pool.shutdown();
        assert_eq!(report.failed, 0, "{report:?}");
    });
}

#[test]
fn the_last_handle_dropped_on_the_timer_thread_still_drains_the_pool() {
    finishes("last handle on the timer", || {
        let clock = ManualClock::new();
        let pool = Pool::builder()
            .workers(1)
            .clock(clock.clone())
            .build()
            .unwrap();
        let gate = hold(&pool);
        // Queued behind the held worker: when its deadline passes, the timer resolves it
        // and drops its closure, which holds what becomes the last handle.
        let last = pool.clone();
        let timed = pool
            .spawn(
                Job::new(move |_: &JobContext| {
                    let _pool = &last;
                    Ok::<_, ()>(())
                })
                .timeout(Duration::from_secs(1)),
            )
            .unwrap();
        let delayed = pool
            .spawn(Job::new(|_: &JobContext| Ok::<_, ()>(7)).delay(Duration::from_secs(5)))
            .unwrap();
        drop(pool);
        clock.advance(Duration::from_secs(1));
        assert!(timed.wait().unwrap_err().is_timeout());
        // The graceful shutdown began on the timer thread; the timer must go on, so the
        // delayed job still runs when it comes due.
        gate.open();
        clock.advance(Duration::from_secs(5));
        assert_eq!(delayed.wait().unwrap(), 7);
    });
}

#[test]
fn exponential_retries_with_jitter_past_32_attempts_do_not_overflow() {
    finishes("40 jittered attempts", || {
        let clock = ManualClock::new();
        let pool = Pool::builder()
            .workers(1)
            .clock(clock.clone())
            .build()
            .unwrap();
        let runs = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&runs);
        let task = pool
            .spawn(
                Job::new(move |_: &JobContext| {
                    counted.fetch_add(1, SeqCst);
                    Err::<(), _>("always fails")
                })
                .retry(
                    Retry::exponential(40, Duration::from_millis(1))
                        .jitter(0.2)
                        .max_delay(Duration::from_millis(2))
                        .retry_panics(true),
                ),
            )
            .unwrap();
        while !task.is_finished() {
            clock.advance(Duration::from_millis(2));
            thread::yield_now();
        }
        let err = task.wait().unwrap_err();
        assert_eq!(err.attempts(), 40, "{err}");
        assert_eq!(runs.load(SeqCst), 40);
        pool.shutdown();
    });
}

#[test]
fn huge_durations_mean_never_and_never_panic() {
    finishes("Duration::MAX everywhere", || {
        let pool = Pool::builder()
            .min_workers(0)
            .max_workers(2)
            .keep_alive(Duration::MAX)
            .build()
            .unwrap();
        assert_eq!(pool.submit(|| 1).unwrap().wait().unwrap(), 1);
        pool.set_keep_alive(Duration::MAX);
        let task = pool.submit_timeout(|| 2, Duration::MAX).unwrap();
        let Ok(result) = task.wait_timeout(Duration::MAX) else {
            panic!("an untimed wait gave up")
        };
        assert_eq!(result.unwrap(), 2);
        let timed = pool
            .spawn(Job::new(|_: &JobContext| Ok::<_, ()>(3)).timeout(Duration::MAX))
            .unwrap();
        assert_eq!(timed.wait().unwrap(), 3);
        let never = pool
            .spawn(Job::new(|_: &JobContext| Ok::<_, ()>(4)).delay(Duration::MAX))
            .unwrap();
        assert_eq!(pool.stats().delayed, 1);
        // A fixed pool too: its workers go idle with the huge keep-alive in force.
        let fixed = Pool::builder()
            .workers(1)
            .keep_alive(Duration::MAX)
            .build()
            .unwrap();
        assert_eq!(fixed.submit(|| 5).unwrap().wait().unwrap(), 5);
        assert!(!fixed.shutdown_timeout(Duration::MAX).timeout_hit);
        // The job delayed "forever" is handed back by a shutdown that does not wait for it.
        let report = pool.shutdown_now();
        assert_eq!(report.never_started, 1, "{report:?}");
        assert!(never.wait().unwrap_err().is_not_run());
    });
}

#[test]
fn a_manual_clock_advanced_by_a_huge_duration_saturates() {
    let clock = ManualClock::new();
    clock.advance(Duration::MAX);
    let once = clock.elapsed();
    clock.advance(Duration::MAX);
    assert_eq!(clock.elapsed(), once, "time went back or wrapped");
}

/// A waker that panics when woken, on purpose.
struct PanickingWaker;

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("waker panics on purpose");
    }
}

/// Polls `task` once with a waker that panics, so whoever resolves it calls that waker.
fn poll_with_panicking_waker<T>(task: &mut workpool::Task<T>) {
    let waker = Waker::from(Arc::new(PanickingWaker));
    let mut cx = Context::from_waker(&waker);
    assert!(std::pin::Pin::new(task).poll(&mut cx).is_pending());
}

use std::future::Future;

#[test]
fn a_panicking_waker_kills_no_worker_timer_or_shutdown() {
    finishes("panicking wakers", || {
        quiet_panics();
        let clock = ManualClock::new();
        let pool = Pool::builder()
            .workers(1)
            .clock(clock.clone())
            .build()
            .unwrap();
        // Woken by the worker that finishes the job.
        let gate = hold(&pool);
        let mut by_worker = pool.submit(|| 1).unwrap();
        poll_with_panicking_waker(&mut by_worker);
        // Woken by the timer, at the deadline.
        let mut by_timer = pool
            .spawn(Job::new(|_: &JobContext| Ok::<_, ()>(2)).timeout(Duration::from_secs(1)))
            .unwrap();
        poll_with_panicking_waker(&mut by_timer);
        clock.advance(Duration::from_secs(1));
        eventually("the deadline passed", || by_timer.is_finished());
        gate.open();
        eventually("the job ended", || by_worker.is_finished());
        // The worker and the timer are alive: both still do their work.
        assert_eq!(pool.submit(|| 3).unwrap().wait().unwrap(), 3);
        let delayed = pool
            .spawn(Job::new(|_: &JobContext| Ok::<_, ()>(4)).delay(Duration::from_secs(1)))
            .unwrap();
        clock.advance(Duration::from_secs(1));
        assert_eq!(delayed.wait().unwrap(), 4);
        // Woken by a shutdown that hands the job back.
        let gate = hold(&pool);
        let mut by_shutdown = pool.submit(|| 5).unwrap();
        poll_with_panicking_waker(&mut by_shutdown);
        let other = pool.submit(|| 6).unwrap();
        let stopper = {
            let pool = pool.clone();
            thread::spawn(move || pool.shutdown_now())
        };
        eventually("the queued jobs were handed back", || {
            by_shutdown.is_finished() && other.is_finished()
        });
        gate.open();
        let report = stopper.join().unwrap();
        assert_eq!(report.never_started, 2, "{report:?}");
        assert!(by_shutdown.wait().unwrap_err().is_not_run());
        assert!(other.wait().unwrap_err().is_not_run());
        assert_eq!(by_worker.wait().unwrap(), 1);
    });
}

#[test]
fn a_timed_out_shutdown_counts_jobs_that_finished_on_a_still_busy_worker() {
    finishes("report balance", || {
        let clock = ManualClock::new();
        let pool = Pool::builder()
            .workers(1)
            .clock(clock.clone())
            .build()
            .unwrap();
        let (done_tx, done) = mpsc::channel();
        for _ in 0..10 {
            let done_tx = done_tx.clone();
            pool.execute(move || done_tx.send(()).unwrap()).unwrap();
        }
        for _ in 0..10 {
            done.recv().unwrap();
        }
        // The same worker now runs a job that outlasts the shutdown.
        let gate = hold(&pool);
        let _open = gate.open_on_drop();
        for _ in 0..3 {
            pool.execute(|| ()).unwrap();
        }
        let stopper = {
            let pool = pool.clone();
            thread::spawn(move || pool.shutdown_timeout(Duration::from_secs(1)))
        };
        eventually("shutdown began", || pool.is_closed());
        while !stopper.is_finished() {
            clock.advance(Duration::from_secs(1));
            thread::yield_now();
        }
        let report = stopper.join().unwrap();
        assert!(report.timeout_hit);
        assert_eq!(report.submitted, 14, "{report:?}");
        assert_eq!(report.completed, 10, "{report:?}");
        assert_eq!(report.never_started, 3, "{report:?}");
        assert_eq!(report.still_running, 1, "{report:?}");
        assert_eq!(report.still_queued, 0, "{report:?}");
    });
}

#[test]
fn a_shutdown_from_inside_a_job_reports_what_it_left_queued() {
    finishes("report from a job", || {
        let pool = fixed(1);
        let gate = Gate::new();
        let (job, started) = blocker(&gate);
        let inner = pool.clone();
        let report = pool
            .submit(move || {
                job();
                inner.shutdown()
            })
            .unwrap();
        started.recv().unwrap();
        let queued: Vec<_> = (0..4).map(|i| pool.submit(move || i).unwrap()).collect();
        gate.open();
        let report = report.wait().unwrap();
        assert_eq!(report.submitted, 5, "{report:?}");
        // The job calling shutdown is still running; the four behind it are queued.
        assert_eq!(report.still_running, 1, "{report:?}");
        assert_eq!(report.still_queued, 4, "{report:?}");
        for (i, task) in queued.into_iter().enumerate() {
            assert_eq!(task.wait().unwrap(), i);
        }
    });
}

#[test]
fn captures_that_panic_on_drop_and_panicking_periodic_jobs_leave_the_pool_whole() {
    finishes("panicking captures and series", || {
        quiet_panics();
        for pool in [fixed(1), elastic()] {
            // FnOnce closures drop their captures as they return: the job panicked.
            let capture = PanicOnDrop;
            let submitted = pool
                .submit(move || {
                    let _capture = capture;
                    1
                })
                .unwrap();
            assert!(submitted.wait().unwrap_err().is_panic());
            let capture = PanicOnDrop;
            pool.execute(move || drop(capture)).unwrap();
            // A Job's closure may run again: it is dropped once the outcome is decided.
            let capture = PanicOnDrop;
            let spawned = pool
                .spawn(Job::new(move |_: &JobContext| {
                    let _held = &capture;
                    Ok::<_, ()>(2)
                }))
                .unwrap();
            assert_eq!(spawned.wait().unwrap(), 2);
            // A periodic job that panics ends its series with the panic.
            let series = pool
                .spawn(
                    Job::new(|_: &JobContext| -> Result<(), ()> {
                        panic!("periodic job panics on purpose")
                    })
                    .every(Duration::from_millis(1)),
                )
                .unwrap();
            assert!(series.wait().unwrap_err().is_panic());
            assert_eq!(pool.submit(|| 3).unwrap().wait().unwrap(), 3);
            pool.wait_idle();
            let report = pool.shutdown();
            assert_eq!(report.panicked, 3, "{report:?}");
            assert_eq!(report.completed, 2, "{report:?}");
            assert_eq!(report.still_running + report.still_queued, 0, "{report:?}");
        }
    });
}
