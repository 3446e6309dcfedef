//! Admission: the bounded queue, backpressure, and jobs handed back when they are not taken.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{eventually, held_pool};
use workpool::{ManualClock, Pool, SubmitTimeoutError, TrySubmitError};

#[test]
fn full_queue_returns_job() {
    let (pool, gate) = held_pool(2);
    let a = pool.try_submit(|| "a").unwrap();
    let b = pool.try_submit(|| "b").unwrap();
    let err = pool.try_submit(|| "c").unwrap_err();
    assert!(err.is_full());
    assert!(!err.is_closed());
    assert_eq!(format!("{err:?}"), "Full(..)");
    assert_eq!(err.to_string(), "cannot submit: the queue is full");
    // The very closure comes back, and still works.
    let job = err.into_inner();
    assert_eq!(job(), "c");
    assert_eq!(pool.stats().rejected_full, 1);
    assert_eq!(pool.stats().queued, 2);

    gate.open();
    assert_eq!(a.wait().unwrap(), "a");
    assert_eq!(b.wait().unwrap(), "b");
}

#[test]
fn submit_waits_for_room_instead_of_failing() {
    let (pool, gate) = held_pool(1);
    let done = Arc::new(AtomicUsize::new(0));
    pool.execute({
        let done = Arc::clone(&done);
        move || {
            done.fetch_add(1, SeqCst);
        }
    })
    .unwrap();
    // The queue is full; this producer must block, not fail, until the worker frees room.
    let producer = {
        let pool = pool.clone();
        let done = Arc::clone(&done);
        thread::spawn(move || {
            (0..50)
                .map(|_| {
                    let done = Arc::clone(&done);
                    pool.submit(move || done.fetch_add(1, SeqCst)).unwrap()
                })
                .collect::<Vec<_>>()
        })
    };
    gate.open();
    for task in producer.join().unwrap() {
        task.wait().unwrap();
    }
    pool.wait_idle();
    assert_eq!(done.load(SeqCst), 51);
    let stats = pool.stats();
    assert_eq!(stats.rejected_full, 0);
    assert_eq!(stats.submitted, 52);
}

#[test]
fn submit_timeout_gives_job_back_when_the_queue_stays_full() {
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(1)
        .clock(clock.clone())
        .build()
        .unwrap();
    let gate = common::hold(&pool);
    pool.execute(|| {}).unwrap();

    let submitter = {
        let pool = pool.clone();
        thread::spawn(move || pool.submit_timeout(|| 7, Duration::from_secs(5)))
    };
    // Time moves only when the test moves it; keep moving it until the submitter gives up.
    while !submitter.is_finished() {
        clock.advance(Duration::from_millis(500));
        thread::yield_now();
    }
    let err = submitter.join().unwrap().unwrap_err();
    assert!(matches!(err, SubmitTimeoutError::Timeout(_)));
    assert!(err.is_timeout());
    assert_eq!(err.into_inner()(), 7);
    assert!(clock.elapsed() >= Duration::from_secs(5));
    assert_eq!(pool.stats().rejected_full, 1);
    gate.open();
}

#[test]
fn submit_timeout_succeeds_when_room_frees_up() {
    let (pool, gate) = held_pool(1);
    pool.execute(|| {}).unwrap();
    let submitter = {
        let pool = pool.clone();
        thread::spawn(move || pool.submit_timeout(|| 9, Duration::from_secs(3600)))
    };
    gate.open();
    let task = submitter.join().unwrap().unwrap();
    assert_eq!(task.wait().unwrap(), 9);
}

#[test]
fn closed_pool_returns_every_job() {
    let pool = Pool::new(2);
    pool.shutdown();
    assert!(pool.is_closed());

    let err = pool.submit(|| 1).unwrap_err();
    assert!(err.is_closed());
    assert_eq!(err.to_string(), "cannot submit: the pool is shut down");
    assert_eq!(err.into_inner()(), 1);

    let err = pool.execute(|| ()).unwrap_err();
    assert!(err.is_closed() && !err.is_full());

    let err = pool.try_submit(|| 2).unwrap_err();
    assert!(matches!(err, TrySubmitError::Closed(_)));
    assert_eq!(format!("{err:?}"), "Closed(..)");
    assert_eq!(err.into_inner()(), 2);

    let err = pool
        .submit_timeout(|| 3, Duration::from_secs(1))
        .unwrap_err();
    assert!(err.is_closed());
    assert_eq!(err.into_inner()(), 3);

    assert_eq!(pool.stats().rejected_closed, 4);
    assert_eq!(pool.stats().submitted, 0);
}

#[test]
fn blocked_submitter_is_handed_its_job_back_by_shutdown() {
    let (pool, gate) = held_pool(1);
    pool.execute(|| {}).unwrap();
    let submitter = {
        let pool = pool.clone();
        thread::spawn(move || pool.submit(|| "late"))
    };
    // Shutdown waits for the worker, which waits at the gate: run it on another thread.
    let shutdown = {
        let pool = pool.clone();
        thread::spawn(move || pool.shutdown())
    };
    eventually("shutdown began", || pool.is_closed());
    let err = submitter.join().unwrap().unwrap_err();
    assert_eq!(err.into_inner()(), "late");
    gate.open();
    let report = shutdown.join().unwrap();
    assert_eq!(report.completed, 2);
    assert_eq!(report.never_started, 0);
}

#[test]
fn a_job_can_submit_more_work_through_a_captured_handle() {
    let pool = Pool::new(2);
    let inner_pool = pool.clone();
    let outer = pool
        .submit(move || inner_pool.submit(|| 21 * 2).unwrap())
        .unwrap();
    let inner = outer.wait().unwrap();
    assert_eq!(inner.wait().unwrap(), 42);
}

#[test]
fn a_worker_submitting_into_its_own_full_queue_gets_the_job_back() {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(1)
        .build()
        .unwrap();
    let inner = pool.clone();
    let outcome = pool
        .submit(move || {
            // The queue's one place is taken; the only worker that could empty it is this one.
            let queued = inner.submit(|| "queued").unwrap();
            let refused = inner.submit(|| "refused").unwrap_err();
            (
                queued,
                refused.is_full(),
                refused.to_string(),
                refused.into_inner()(),
            )
        })
        .unwrap();
    let (queued, full, message, job) = outcome.wait().unwrap();
    assert!(full);
    assert!(message.contains("every worker"), "{message}");
    assert_eq!(job, "refused", "the job came back");
    assert_eq!(queued.wait().unwrap(), "queued");
}
