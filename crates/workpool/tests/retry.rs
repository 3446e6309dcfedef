//! Retries: failed runs wait in the delay queue for their backoff, then run again; the final
//! error says how many runs there were and carries the last error.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{eventually, manual_pool};
use workpool::{Job, JobContext, ManualClock, Pool, Retry, Task, TaskErrorKind};

const MS: Duration = Duration::from_millis(1);

/// Drives a job through its retries: each time it is waiting in the delay queue, moves the
/// clock by exactly the next expected delay. Returns the clock offsets of each attempt.
fn drive<T>(
    pool: &Pool,
    clock: &ManualClock,
    task: &Task<T>,
    attempts: &AttemptLog,
    delays: &[Duration],
) {
    for (i, delay) in delays.iter().enumerate() {
        eventually("the job ran and now waits for its retry", || {
            attempts.lock().unwrap().len() == i + 1 && pool.stats().delayed == 1
        });
        clock.advance(*delay);
    }
    eventually("the job ended", || task.is_finished());
}

/// Each attempt's number and start offset.
type AttemptLog = Arc<Mutex<Vec<(u32, Duration)>>>;

fn recording(
    t0: Instant,
    fail_until: u32,
) -> (
    AttemptLog,
    impl FnMut(&JobContext) -> Result<u32, String> + Send + 'static,
) {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&attempts);
    let body = move |ctx: &JobContext| {
        log.lock().unwrap().push((ctx.attempt(), ctx.now() - t0));
        if ctx.attempt() < fail_until {
            Err(format!("attempt {} failed", ctx.attempt()))
        } else {
            Ok(ctx.attempt())
        }
    };
    (attempts, body)
}

#[test]
fn a_failing_job_is_retried_after_each_backoff_until_it_succeeds() {
    let (pool, clock) = manual_pool(2);
    let (attempts, body) = recording(clock.now(), 4);
    let policy = Retry::exponential(5, 100 * MS);
    let task = pool.spawn(Job::new(body).retry(policy)).unwrap();
    drive(
        &pool,
        &clock,
        &task,
        &attempts,
        &[100 * MS, 200 * MS, 400 * MS],
    );
    assert_eq!(task.wait().unwrap(), 4);
    // Each retry started exactly when its backoff ended: never early.
    let log = attempts.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            (1, Duration::ZERO),
            (2, 100 * MS),
            (3, 300 * MS),
            (4, 700 * MS)
        ]
    );
    let s = pool.stats();
    assert_eq!((s.retried, s.completed, s.failed), (3, 1, 0));
}

#[test]
fn the_final_error_carries_the_attempts_and_the_last_error() {
    let (pool, clock) = manual_pool(1);
    let (attempts, body) = recording(clock.now(), u32::MAX);
    let task = pool
        .spawn(Job::new(body).retry(Retry::constant(3, 50 * MS)))
        .unwrap();
    drive(&pool, &clock, &task, &attempts, &[50 * MS, 50 * MS]);
    let err = task.wait().unwrap_err();
    assert_eq!(err.kind(), TaskErrorKind::Failed);
    assert_eq!(err.attempts(), 3);
    assert_eq!(err.error_message(), Some("\"attempt 3 failed\""));
    assert_eq!(
        err.to_string(),
        "job failed after 3 attempts: \"attempt 3 failed\""
    );
    assert!(format!("{err:?}").contains("attempt 3 failed"));
    assert_eq!(
        err.into_error::<String>().as_deref(),
        Some("attempt 3 failed")
    );
    assert_eq!(pool.stats().failed, 1);
}

#[test]
fn retry_if_stops_on_errors_it_rejects() {
    let (pool, _clock) = manual_pool(1);
    let task = pool
        .spawn(
            Job::new(|_: &JobContext| Err::<(), _>("fatal: bad request"))
                .retry(Retry::constant(5, MS).retry_if(|e: &&str| !e.starts_with("fatal"))),
        )
        .unwrap();
    let err = task.wait().unwrap_err();
    assert_eq!(err.attempts(), 1);
    assert_eq!(err.to_string(), "job failed: \"fatal: bad request\"");
    assert_eq!(pool.stats().retried, 0);
}

#[test]
fn panics_are_retried_only_when_asked() {
    common::quiet_panics();
    let (pool, clock) = manual_pool(1);
    let plain = pool
        .spawn(
            Job::new(|_: &JobContext| -> Result<(), ()> { panic!("flaky on purpose") })
                .retry(Retry::constant(3, MS)),
        )
        .unwrap();
    let err = plain.wait().unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.attempts(), 1);

    let attempts = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&attempts);
    let t0 = clock.now();
    let task = pool
        .spawn(
            Job::new(move |ctx: &JobContext| {
                log.lock().unwrap().push((ctx.attempt(), ctx.now() - t0));
                if ctx.attempt() == 1 {
                    panic!("first run fails on purpose");
                }
                Ok::<_, ()>(ctx.attempt())
            })
            .retry(Retry::constant(3, 10 * MS).retry_panics(true)),
        )
        .unwrap();
    drive(&pool, &clock, &task, &attempts, &[10 * MS]);
    assert_eq!(task.wait().unwrap(), 2);
}

#[test]
fn jittered_backoff_stays_within_its_band() {
    let (pool, clock) = manual_pool(1);
    let (attempts, body) = recording(clock.now(), 2);
    let task = pool
        .spawn(Job::new(body).retry(Retry::exponential(2, 100 * MS).jitter(0.5)))
        .unwrap();
    eventually("first attempt failed", || pool.stats().delayed == 1);
    // Not yet due at the band's low edge minus a little...
    clock.advance(49 * MS);
    assert_eq!(attempts.lock().unwrap().len(), 1);
    // ...and certainly due at its high edge.
    clock.advance(101 * MS);
    eventually("the retry ran", || task.is_finished());
    let second = attempts.lock().unwrap()[1].1;
    assert!(second >= 50 * MS && second <= 150 * MS, "{second:?}");
}

#[test]
fn a_job_cancelled_while_it_waits_for_a_retry_counts_its_run_and_frees_its_place() {
    let (pool, _clock) = manual_pool(1);
    let task = pool
        .spawn(
            Job::new(|_: &JobContext| Err::<(), _>("fails"))
                .retry(Retry::constant(3, Duration::from_secs(3600))),
        )
        .unwrap();
    eventually("the first run failed", || pool.stats().retried == 1);
    assert!(task.cancel());
    let err = task.wait().unwrap_err();
    assert_eq!(err.kind(), TaskErrorKind::Cancelled);
    assert_eq!(err.attempts(), 1, "it ran once before the cancel");
    let stats = pool.stats();
    assert_eq!(stats.delayed, 0, "{stats:?}");
    assert_eq!(stats.cancelled, 1, "{stats:?}");
}

#[test]
fn a_panicking_retry_predicate_ends_the_job_with_its_own_error() {
    common::quiet_panics();
    let (pool, _clock) = manual_pool(1);
    let task = pool
        .spawn(
            Job::new(|_: &JobContext| Err::<(), _>("the job's error")).retry(
                Retry::constant(3, Duration::ZERO)
                    .retry_if(|_: &&str| panic!("predicate panics on purpose"))
                    .retry_panics(true),
            ),
        )
        .unwrap();
    let err = task.wait().unwrap_err();
    assert_eq!(err.kind(), TaskErrorKind::Failed, "{err}");
    assert_eq!(err.attempts(), 1);
    assert_eq!(pool.stats().panicked, 0);
    // The worker survived it.
    assert_eq!(pool.submit(|| 1).unwrap().wait().unwrap(), 1);
}
