//! Stats: counters and latency percentiles that add up.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{eventually, manual_pool, Gate};
use workpool::Pool;

/// Two workers behind a queue of 16, so producers block and workers take jobs in many runs.
fn two_workers_short_queue() -> Pool {
    Pool::builder()
        .workers(2)
        .queue_capacity(16)
        .build()
        .unwrap()
}

#[test]
fn counters_balance_after_a_mixed_run() {
    common::quiet_panics();
    let pool = two_workers_short_queue();
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            pool.submit(move || {
                if i % 10 == 0 {
                    panic!("tenth job fails on purpose");
                }
            })
            .unwrap()
        })
        .collect();
    drop(tasks);
    pool.wait_idle();
    let s = pool.stats();
    assert_eq!(s.submitted, 300);
    assert_eq!(s.completed, 270);
    assert_eq!(s.failed, 30);
    assert_eq!(s.panicked, 30);
    assert_eq!(s.queued, 0);
    assert_eq!(s.busy, 0);
    assert_eq!(s.queue_wait.count, 300);
    assert_eq!(s.run_time.count, 300);
    for l in [s.queue_wait, s.run_time] {
        assert!(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max, "{l:?}");
    }
}

#[test]
fn execute_jobs_are_counted_and_timed_exactly_once_the_pool_is_idle() {
    // Workers publish what they count of handle-less jobs in batches: whatever the batch
    // boundaries, every job is in the counters and histograms once the pool is idle.
    common::quiet_panics();
    let pool = two_workers_short_queue();
    for i in 0..301 {
        pool.execute(move || assert!(i % 10 != 0, "tenth job fails on purpose"))
            .unwrap();
    }
    pool.wait_idle();
    let s = pool.stats();
    assert_eq!((s.submitted, s.completed), (301, 270));
    assert_eq!((s.failed, s.panicked), (31, 31));
    assert_eq!((s.queue_wait.count, s.run_time.count), (301, 301));
}

#[test]
fn run_time_and_queue_wait_are_measured_on_the_pool_clock() {
    let (pool, clock) = manual_pool(1);
    let gate = Gate::new();
    let first = pool
        .submit({
            let (gate, clock) = (Arc::clone(&gate), clock.clone());
            move || {
                gate.wait();
                clock.advance(Duration::from_millis(7));
            }
        })
        .unwrap();
    // Queued behind the first job, so it waits exactly the 7 ms that job takes.
    let second = pool.submit(|| ()).unwrap();
    gate.open();
    first.wait().unwrap();
    second.wait().unwrap();
    pool.wait_idle();

    let s = pool.stats();
    let within_1pct = |got: Duration, want: Duration| {
        let (g, w) = (got.as_nanos() as f64, want.as_nanos() as f64);
        (g - w).abs() <= w * 0.01
    };
    assert!(
        within_1pct(s.run_time.max, Duration::from_millis(7)),
        "{:?}",
        s.run_time
    );
    assert!(
        within_1pct(s.queue_wait.max, Duration::from_millis(7)),
        "{:?}",
        s.queue_wait
    );
    assert_eq!(s.run_time.count, 2);
}

#[test]
fn workers_are_reported_busy_and_idle() {
    let pool = Pool::new(2);
    let gate = common::hold(&pool);
    eventually("one worker busy and one idle", || {
        let s = pool.stats();
        s.workers == 2 && s.busy == 1 && s.idle == 1
    });
    gate.open();
    pool.wait_idle();
    assert_eq!(pool.stats().busy, 0);
}

#[test]
fn stats_debug_output_names_every_counter() {
    let pool = Pool::new(1);
    let text = format!("{:?}", pool.stats());
    for field in [
        "workers",
        "queued",
        "submitted",
        "completed",
        "failed",
        "panicked",
        "cancelled",
        "rejected_full",
        "rejected_closed",
        "queue_wait",
        "run_time",
        "p99",
    ] {
        assert!(text.contains(field), "{field} missing from {text}");
    }
}

#[test]
fn a_pool_without_latency_metrics_still_counts_every_job() {
    let pool = Pool::builder()
        .workers(2)
        .latency_metrics(false)
        .build()
        .unwrap();
    for _ in 0..50 {
        pool.execute(|| ()).unwrap();
    }
    let tasks: Vec<_> = (0..50u64)
        .map(|i| pool.submit(move || i).unwrap())
        .collect();
    // A job with a priority goes through the scheduler's path.
    let high = pool
        .spawn(
            workpool::Job::new(|_: &workpool::JobContext| Ok::<_, ()>(7))
                .priority(workpool::Priority::HIGH),
        )
        .unwrap();
    assert_eq!(
        tasks.into_iter().map(|t| t.wait().unwrap()).sum::<u64>(),
        1225
    );
    assert_eq!(high.wait().unwrap(), 7);
    pool.wait_idle();
    let s = pool.stats();
    assert_eq!((s.submitted, s.completed), (101, 101));
    assert_eq!((s.queue_wait.count, s.run_time.count), (0, 0));
}

/// A snapshot taken while jobs panic never shows more panics than failures (`failed`
/// includes `panicked`): the fuzz model once caught `panicked` counted before `failed`.
#[test]
fn a_snapshot_never_counts_a_panic_before_its_failure() {
    common::quiet_panics();
    // Jobs with options take the scheduler's path, which counts outcomes in the shared
    // counters; an elastic pool (min 0) keeps them off the fast lanes too.
    let pool = Pool::builder()
        .min_workers(0)
        .max_workers(2)
        .build()
        .unwrap();
    let producer = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            for _ in 0..100_000 {
                let job = workpool::Job::new(|_: &workpool::JobContext| -> Result<(), ()> {
                    panic!("on purpose")
                })
                .priority(workpool::Priority::HIGH);
                drop(pool.spawn(job).unwrap());
            }
        })
    };
    while !producer.is_finished() {
        let s = pool.stats();
        assert!(
            s.panicked <= s.failed,
            "{} panics but {} failures",
            s.panicked,
            s.failed
        );
    }
    producer.join().unwrap();
    pool.wait_idle();
    let s = pool.stats();
    assert_eq!((s.panicked, s.failed), (100_000, 100_000));
}
