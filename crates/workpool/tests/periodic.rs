//! Periodic jobs: fixed rate (the default) and fixed delay, never overlapping themselves,
//! stopped by cancelling the handle or by shutdown. Time is a manual clock.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{eventually, manual_pool};
use workpool::{Job, JobContext, ManualClock, Pool};

const MS: Duration = Duration::from_millis(1);

type Runs = Arc<Mutex<Vec<Duration>>>;

/// A periodic body that records when each run starts and, if `work` is set, moves the clock
/// forward by that much, as a run that takes time would.
fn periodic_body(
    t0: Instant,
    clock: &ManualClock,
    work: Duration,
) -> (
    Runs,
    impl FnMut(&JobContext) -> Result<(), ()> + Send + 'static,
) {
    let runs: Runs = Arc::default();
    let (log, clock) = (Arc::clone(&runs), clock.clone());
    let body = move |ctx: &JobContext| {
        log.lock().unwrap().push(ctx.now() - t0);
        clock.advance(work);
        Ok(())
    };
    (runs, body)
}

fn count(runs: &Runs) -> usize {
    runs.lock().unwrap().len()
}

/// Lets the series run `n` times: each time the job waits for its next run, moves the clock
/// by `step`.
fn step_through(pool: &Pool, clock: &ManualClock, runs: &Runs, n: usize, step: Duration) {
    for done in 1..n {
        eventually("the run ended and the next one is scheduled", || {
            count(runs) == done && pool.stats().delayed == 1 && pool.stats().busy == 0
        });
        clock.advance(step);
    }
    eventually("the last run happened", || count(runs) == n);
}

#[test]
fn fixed_rate_runs_on_a_grid() {
    let (pool, clock) = manual_pool(2);
    let (runs, body) = periodic_body(clock.now(), &clock, 10 * MS);
    let task = pool.spawn(Job::new(body).every(100 * MS)).unwrap();
    // Each run takes 10 ms, so 90 ms after it ends the next slot is due.
    step_through(&pool, &clock, &runs, 4, 90 * MS);
    assert_eq!(*runs.lock().unwrap(), [0, 100, 200, 300].map(|ms| ms * MS));
    assert!(task.cancel());
}

#[test]
fn fixed_rate_skips_the_slots_an_overrun_missed() {
    let (pool, clock) = manual_pool(2);
    let (runs, body) = periodic_body(clock.now(), &clock, 250 * MS);
    let task = pool.spawn(Job::new(body).every(100 * MS)).unwrap();
    // The first run ends at 250 ms: slots 100 and 200 are skipped, the next is 300.
    step_through(&pool, &clock, &runs, 2, 50 * MS);
    assert_eq!(*runs.lock().unwrap(), [0, 300].map(|ms| ms * MS));
    task.cancel();
}

#[test]
fn fixed_delay_waits_the_interval_after_each_run_ends() {
    let (pool, clock) = manual_pool(2);
    let (runs, body) = periodic_body(clock.now(), &clock, 30 * MS);
    let task = pool
        .spawn(Job::new(body).every(100 * MS).fixed_delay())
        .unwrap();
    step_through(&pool, &clock, &runs, 3, 100 * MS);
    assert_eq!(*runs.lock().unwrap(), [0, 130, 260].map(|ms| ms * MS));
    task.cancel();
}

#[test]
fn cancelling_the_handle_stops_the_series() {
    let (pool, clock) = manual_pool(2);
    let (runs, body) = periodic_body(clock.now(), &clock, Duration::ZERO);
    let task = pool.spawn(Job::new(body).every(100 * MS)).unwrap();
    step_through(&pool, &clock, &runs, 2, 100 * MS);
    assert!(task.cancel());
    clock.advance(Duration::from_secs(10));
    // The cancelled entry is skipped when it comes due, and counted once.
    eventually("the cancelled series was skipped and counted", || {
        let s = pool.stats();
        s.delayed == 0 && s.queued == 0 && s.cancelled == 1
    });
    assert_eq!(count(&runs), 2);
    assert!(task.wait().unwrap_err().is_cancelled());
    pool.wait_idle();
    assert_eq!(pool.stats().cancelled, 1);
}

#[test]
fn shutdown_ends_a_series_and_reports_it() {
    let (pool, clock) = manual_pool(2);
    let (runs, body) = periodic_body(clock.now(), &clock, Duration::ZERO);
    let task = pool
        .spawn(Job::new(body).every(Duration::from_secs(3600)))
        .unwrap();
    eventually("the first run happened", || count(&runs) == 1);
    eventually("the series waits for its next run", || {
        pool.stats().delayed == 1
    });
    // A graceful shutdown does not wait an hour for the next run: the series ends.
    let report = pool.shutdown();
    let err = task.wait().unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(err.attempts(), 0);
    assert_eq!((report.cancelled, report.submitted), (1, 1));
}

#[test]
fn a_failing_run_ends_the_series_with_its_error() {
    let (pool, clock) = manual_pool(2);
    let t0 = clock.now();
    let runs: Runs = Arc::default();
    let log = Arc::clone(&runs);
    let task = pool
        .spawn(
            Job::new(move |ctx: &JobContext| {
                log.lock().unwrap().push(ctx.now() - t0);
                if log.lock().unwrap().len() == 3 {
                    return Err("third run failed");
                }
                Ok(())
            })
            .every(100 * MS),
        )
        .unwrap();
    step_through(&pool, &clock, &runs, 3, 100 * MS);
    let err = task.wait().unwrap_err();
    assert_eq!(err.error_message(), Some("\"third run failed\""));
    assert_eq!(pool.stats().failed, 1);
}
