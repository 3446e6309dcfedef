//! Dynamic sizing: workers start under load up to `max`, retire after keep-alive down to
//! `min`, and `resize` moves the bounds at run time. Time is driven by a manual clock.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use common::{eventually, Gate};
use workpool::{ManualClock, Pool};

fn elastic(min: usize, max: usize, clock: &ManualClock) -> Pool {
    Pool::builder()
        .min_workers(min)
        .max_workers(max)
        .keep_alive(Duration::from_secs(10))
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Submits `n` jobs that hold at `gate`, and waits until all of them are running at once.
fn occupy(pool: &Pool, gate: &Arc<Gate>, n: usize) {
    let (tx, started) = mpsc::channel();
    for _ in 0..n {
        let (gate, tx) = (Arc::clone(gate), tx.clone());
        pool.execute(move || {
            tx.send(()).unwrap();
            gate.wait();
        })
        .unwrap();
    }
    for _ in 0..n {
        started.recv().unwrap();
    }
}

#[test]
fn starts_workers_under_load_up_to_max() {
    let clock = ManualClock::new();
    let pool = elastic(1, 4, &clock);
    assert_eq!(pool.stats().workers, 1);
    let gate = Gate::new();
    // Four jobs running at the same time prove four workers exist.
    occupy(&pool, &gate, 4);
    assert_eq!(pool.stats().workers, 4);
    // A fifth job waits: the pool never grows past max.
    pool.execute(|| ()).unwrap();
    let s = pool.stats();
    assert_eq!((s.workers, s.queued, s.busy), (4, 1, 4));
    gate.open();
    pool.wait_idle();
}

#[test]
fn idle_workers_retire_after_keep_alive_down_to_min() {
    let clock = ManualClock::new();
    let pool = elastic(1, 4, &clock);
    let gate = Gate::new();
    occupy(&pool, &gate, 4);
    gate.open();
    pool.wait_idle();
    eventually("all four workers idle", || pool.stats().idle == 4);

    // Half the keep-alive: nobody may leave yet.
    clock.advance(Duration::from_secs(5));
    assert_eq!(pool.stats().workers, 4);
    // The rest of it: the three above min retire, min stays.
    clock.advance(Duration::from_secs(5));
    eventually("idle workers above min retired", || {
        pool.stats().workers == 1
    });
    clock.advance(Duration::from_secs(60));
    assert_eq!(pool.stats().workers, 1);
    // The pool still works and grows again under load.
    assert_eq!(pool.submit(|| 1).unwrap().wait().unwrap(), 1);
}

#[test]
fn a_pool_with_min_zero_starts_from_nothing_and_returns_to_nothing() {
    let clock = ManualClock::new();
    let pool = elastic(0, 2, &clock);
    assert_eq!(pool.stats().workers, 0);
    assert_eq!(pool.submit(|| 3).unwrap().wait().unwrap(), 3);
    assert_eq!(pool.stats().workers, 1);
    // Keep-alive counts from the moment the worker goes idle.
    eventually("the worker went idle", || pool.stats().idle == 1);
    clock.advance(Duration::from_secs(10));
    eventually("the last idle worker retired", || pool.stats().workers == 0);
    assert_eq!(pool.submit(|| 4).unwrap().wait().unwrap(), 4);
}

#[test]
fn resize_grows_and_shrinks_a_running_pool() {
    let clock = ManualClock::new();
    let pool = elastic(1, 1, &clock);
    pool.resize(3, 3);
    let s = pool.stats();
    assert_eq!((s.workers, s.min_workers, s.max_workers), (3, 3, 3));

    // Shrinking: busy workers finish their job first, then the extra ones leave.
    let gate = Gate::new();
    occupy(&pool, &gate, 3);
    pool.resize(1, 1);
    assert_eq!(pool.stats().workers, 3);
    gate.open();
    eventually("workers above the new max retired", || {
        pool.stats().workers == 1
    });
    pool.wait_idle();
    assert_eq!(pool.stats().completed, 3);
}

#[test]
fn resize_with_a_backlog_starts_workers_for_it() {
    let clock = ManualClock::new();
    let pool = elastic(1, 1, &clock);
    let gate = Gate::new();
    occupy(&pool, &gate, 1);
    let (tx, started) = mpsc::channel();
    for _ in 0..2 {
        let tx = tx.clone();
        pool.execute(move || tx.send(()).unwrap()).unwrap();
    }
    // Raising max lets queued jobs run beside the one held at the gate.
    pool.resize(1, 3);
    started.recv().unwrap();
    started.recv().unwrap();
    gate.open();
    pool.wait_idle();
}

#[test]
fn workers_carry_the_configured_thread_name() {
    let pool = Pool::builder()
        .workers(1)
        .thread_name("resize")
        .build()
        .unwrap();
    let name = pool
        .submit(|| std::thread::current().name().map(str::to_owned))
        .unwrap()
        .wait()
        .unwrap()
        .unwrap();
    assert!(name.starts_with("resize-"), "{name}");
}

#[test]
#[should_panic(expected = "min (3) is greater than max (2)")]
fn resize_with_min_above_max_panics() {
    Pool::new(1).resize(3, 2);
}

#[test]
#[should_panic(expected = "max must be at least 1")]
fn resize_to_zero_panics() {
    Pool::new(1).resize(0, 0);
}

#[test]
fn invalid_configurations_are_named_in_the_error() {
    let err = Pool::builder()
        .min_workers(4)
        .max_workers(2)
        .build()
        .unwrap_err();
    assert!(err.is_invalid_config());
    assert_eq!(
        err.to_string(),
        "invalid pool configuration: min_workers (4) is greater than max_workers (2)"
    );
    let err = Pool::builder().workers(0).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid pool configuration: max_workers must be at least 1"
    );
    let err = Pool::builder().queue_capacity(0).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid pool configuration: queue_capacity must be at least 1"
    );
    let err = Pool::builder().thread_name("a\0b").build().unwrap_err();
    assert!(err.to_string().contains("NUL"));
}

#[test]
#[should_panic(expected = "Pool::new(0)")]
fn pool_new_with_zero_workers_panics() {
    let _ = Pool::new(0);
}

#[test]
fn defaults_are_a_fixed_pool_of_one_worker_per_core() {
    let cores = std::thread::available_parallelism().unwrap().get();
    let s = Pool::builder().build().unwrap().stats();
    assert_eq!(
        (s.workers, s.min_workers, s.max_workers),
        (cores, cores, cores)
    );
}
