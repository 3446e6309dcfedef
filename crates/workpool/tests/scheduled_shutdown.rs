//! Shutdown meets the delay queue: delayed jobs and jobs waiting for a retry are run or
//! reported, never silently lost.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{eventually, manual_pool};
use workpool::{Job, JobContext, Retry, TaskErrorKind};

const SEC: Duration = Duration::from_secs(1);

fn counting(
    runs: &Arc<AtomicU32>,
) -> impl FnMut(&JobContext) -> Result<(), &'static str> + Send + 'static {
    let runs = Arc::clone(runs);
    move |_| {
        runs.fetch_add(1, SeqCst);
        Ok(())
    }
}

#[test]
fn a_delayed_job_never_runs_before_it_is_due() {
    let (pool, clock) = manual_pool(1);
    let t0 = clock.now();
    let task = pool
        .spawn(Job::new(move |ctx: &JobContext| Ok::<_, ()>(ctx.now() - t0)).delay(5 * SEC))
        .unwrap();
    assert_eq!(pool.stats().delayed, 1);
    clock.advance(5 * SEC - Duration::from_millis(1));
    assert!(!task.is_finished());
    clock.advance(Duration::from_millis(1));
    // It ran on the pool's clock no earlier than its due instant.
    assert!(task.wait().unwrap() >= 5 * SEC);
}

#[test]
fn a_job_scheduled_at_an_instant_waits_for_it() {
    let (pool, clock) = manual_pool(1);
    let at = clock.now() + 3 * SEC;
    let task = pool
        .spawn(Job::new(move |ctx: &JobContext| Ok::<_, ()>(ctx.now() >= at)).at(at))
        .unwrap();
    clock.advance(3 * SEC);
    assert!(task.wait().unwrap());
}

#[test]
fn graceful_shutdown_runs_a_delayed_job_when_it_is_due() {
    let (pool, clock) = manual_pool(1);
    let runs = Arc::new(AtomicU32::new(0));
    let task = pool
        .spawn(Job::new(counting(&runs)).delay(10 * SEC))
        .unwrap();
    let stopper = {
        let pool = pool.clone();
        thread::spawn(move || pool.shutdown())
    };
    eventually("shutdown began", || pool.is_closed());
    while !stopper.is_finished() {
        clock.advance(SEC);
        thread::yield_now();
    }
    let report = stopper.join().unwrap();
    task.wait().unwrap();
    assert_eq!(runs.load(SeqCst), 1);
    assert_eq!((report.completed, report.never_started), (1, 0));
}

#[test]
fn shutdown_now_reports_a_delayed_job_as_never_started() {
    let (pool, _clock) = manual_pool(1);
    let runs = Arc::new(AtomicU32::new(0));
    let task = pool
        .spawn(Job::new(counting(&runs)).delay(10 * SEC))
        .unwrap();
    let report = pool.shutdown_now();
    assert!(task.wait().unwrap_err().is_not_run());
    assert_eq!(runs.load(SeqCst), 0);
    assert_eq!((report.never_started, report.submitted), (1, 1));
}

#[test]
fn shutdown_now_ends_a_job_waiting_for_a_retry_with_its_last_error() {
    let (pool, _clock) = manual_pool(1);
    let task = pool
        .spawn(
            Job::new(|_: &JobContext| Err::<(), _>("down"))
                .retry(Retry::constant(5, Duration::from_secs(60))),
        )
        .unwrap();
    eventually("the first run failed and waits for its retry", || {
        pool.stats().delayed == 1 && pool.stats().retried == 1
    });
    let report = pool.shutdown_now();
    let err = task.wait().unwrap_err();
    assert_eq!(err.kind(), TaskErrorKind::Failed);
    assert_eq!(err.attempts(), 1);
    assert_eq!(err.error_message(), Some("\"down\""));
    assert_eq!((report.failed, report.never_started), (1, 0));
}

#[test]
fn shutdown_timeout_hands_back_delayed_jobs_at_its_deadline() {
    let (pool, clock) = manual_pool(1);
    let runs = Arc::new(AtomicU32::new(0));
    let task = pool
        .spawn(Job::new(counting(&runs)).delay(3600 * SEC))
        .unwrap();
    let stopper = {
        let pool = pool.clone();
        thread::spawn(move || pool.shutdown_timeout(5 * SEC))
    };
    eventually("shutdown began", || pool.is_closed());
    while !stopper.is_finished() {
        clock.advance(SEC);
        thread::yield_now();
    }
    let report = stopper.join().unwrap();
    assert!(report.timeout_hit);
    assert!(task.wait().unwrap_err().is_not_run());
    assert_eq!(report.never_started, 1);
}

#[test]
fn cancelled_delayed_jobs_give_back_their_places_at_once() {
    let clock = workpool::ManualClock::new();
    let pool = workpool::Pool::builder()
        .workers(1)
        .queue_capacity(4)
        .clock(clock.clone())
        .build()
        .unwrap();
    let hour = std::time::Duration::from_secs(3600);
    let delayed: Vec<_> = (0..4)
        .map(|i| {
            pool.spawn(
                workpool::Job::new(move |_: &workpool::JobContext| Ok::<_, ()>(i)).delay(hour),
            )
            .unwrap()
        })
        .collect();
    assert!(pool.try_submit(|| ()).unwrap_err().is_full());
    for task in &delayed {
        assert!(task.cancel());
    }
    let stats = pool.stats();
    assert_eq!(stats.delayed, 0, "{stats:?}");
    assert_eq!(stats.cancelled, 4, "{stats:?}");
    assert_eq!(pool.try_submit(|| 5).unwrap().wait().unwrap(), 5);
    for task in delayed {
        assert!(task.wait().unwrap_err().is_cancelled());
    }
}
