//! Shutdown: graceful, time-boxed and immediate; each loses nothing and reports everything.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{blocker, eventually, manual_pool, Gate, Ledger, Payload};
use workpool::Pool;

#[test]
fn shutdown_runs_every_accepted_job() {
    let pool = Pool::builder()
        .workers(2)
        .queue_capacity(4)
        .build()
        .unwrap();
    let ledger = Ledger::new(100);
    for i in 0..100 {
        let p = Payload::new(i, &ledger);
        pool.execute(move || p.ran()).unwrap();
    }
    let report = pool.shutdown();
    assert_eq!(report.completed, 100);
    assert_eq!(report.never_started, 0);
    assert_eq!(report.workers_joined, 2);
    assert!(!report.timeout_hit);
    assert!((0..100).all(|i| ledger.runs(i) == 1 && ledger.drops(i) == 1));
    assert_eq!(pool.stats().workers, 0);
}

#[test]
fn shutdown_is_idempotent() {
    let pool = Pool::new(2);
    pool.submit(|| ()).unwrap().wait().unwrap();
    let first = pool.shutdown();
    let second = pool.shutdown();
    assert_eq!(first.workers_joined, 2);
    assert_eq!(second.workers_joined, 0);
    assert_eq!(second.completed, 1);
}

#[test]
fn shutdown_now_hands_back_what_never_started() {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(16)
        .build()
        .unwrap();
    let gate = Gate::new();
    let (job, started) = blocker(&gate);
    let running = pool.submit(job).unwrap();
    started.recv().unwrap();
    let ledger = Ledger::new(10);
    let queued: Vec<_> = (0..10)
        .map(|i| {
            let p = Payload::new(i, &ledger);
            pool.submit(move || p.ran()).unwrap()
        })
        .collect();

    // shutdown_now waits for the running job to return: give it its own thread.
    let stopper = {
        let pool = pool.clone();
        thread::spawn(move || pool.shutdown_now())
    };
    for task in queued {
        let err = task.wait().unwrap_err();
        assert!(err.is_not_run(), "{err:?}");
        assert_eq!(err.to_string(), "job never ran: the pool shut down");
    }
    // The running job's handle resolves as cancelled before the job itself returns.
    assert!(running.wait().unwrap_err().is_cancelled());
    gate.open();
    let report = stopper.join().unwrap();
    assert_eq!(report.never_started, 10);
    assert_eq!(report.cancelled, 1);
    assert_eq!(report.workers_joined, 1);
    assert!((0..10).all(|i| ledger.runs(i) == 0 && ledger.drops(i) == 1));
}

#[test]
fn shutdown_timeout_cancels_what_is_left_at_the_deadline() {
    let (pool, clock) = manual_pool(1);
    let gate = Gate::new();
    let (job, started) = blocker(&gate);
    let running = pool.submit(job).unwrap();
    started.recv().unwrap();
    let waiting = pool.submit(|| ()).unwrap();

    let stopper = {
        let pool = pool.clone();
        thread::spawn(move || pool.shutdown_timeout(Duration::from_secs(5)))
    };
    eventually("shutdown began", || pool.is_closed());
    while !stopper.is_finished() {
        clock.advance(Duration::from_secs(1));
        thread::yield_now();
    }
    let report = stopper.join().unwrap();
    assert!(report.timeout_hit);
    assert_eq!(report.never_started, 1);
    assert_eq!(report.still_running, 1);
    assert_eq!(report.workers_joined, 0);
    assert!(waiting.wait().unwrap_err().is_not_run());
    assert!(running.wait().unwrap_err().is_cancelled());

    // Let the held job return; a second shutdown then joins nothing but settles the counts.
    gate.open();
    let settled = pool.shutdown();
    assert_eq!(settled.cancelled, 1);
    assert_eq!(settled.still_running, 0);
}

#[test]
fn shutdown_timeout_that_is_not_hit_is_a_graceful_shutdown() {
    let pool = Pool::builder()
        .workers(2)
        .queue_capacity(8)
        .build()
        .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..50 {
        let done = Arc::clone(&done);
        pool.execute(move || {
            done.fetch_add(1, SeqCst);
        })
        .unwrap();
    }
    let report = pool.shutdown_timeout(Duration::from_secs(3600));
    assert!(!report.timeout_hit);
    assert_eq!(report.completed, 50);
    assert_eq!(done.load(SeqCst), 50);
    assert_eq!(report.workers_joined, 2);
}

#[test]
fn dropping_the_last_handle_drains_the_queue() {
    let done = Arc::new(AtomicUsize::new(0));
    {
        let pool = Pool::builder()
            .workers(2)
            .queue_capacity(4)
            .build()
            .unwrap();
        let other = pool.clone();
        for _ in 0..40 {
            let done = Arc::clone(&done);
            other
                .execute(move || {
                    done.fetch_add(1, SeqCst);
                })
                .unwrap();
        }
        drop(other);
        // `pool` is the last handle; dropping it must run all 40 jobs before returning.
    }
    assert_eq!(done.load(SeqCst), 40);
}

#[test]
fn a_job_may_shut_down_its_own_pool() {
    let pool = Pool::new(2);
    let handle = pool.clone();
    let task = pool
        .submit(move || {
            let report = handle.shutdown();
            (report.workers_joined, handle.is_closed())
        })
        .unwrap();
    assert_eq!(task.wait().unwrap(), (0, true));
    let report = pool.shutdown();
    assert_eq!(report.completed, 1);
}

#[test]
fn the_last_handle_may_be_dropped_inside_a_job() {
    let gate = Gate::new();
    let (tx, done) = std::sync::mpsc::channel();
    {
        let pool = Pool::new(1);
        let last = pool.clone();
        let g = Arc::clone(&gate);
        pool.execute(move || {
            g.wait();
            drop(last); // the last handle: a shutdown that must not wait for this job
            tx.send("job ended").unwrap();
        })
        .unwrap();
        // Dropping this handle is not the last drop, so it returns at once.
    }
    gate.open();
    assert_eq!(done.recv().unwrap(), "job ended");
}

#[test]
#[should_panic(expected = "would wait for itself")]
fn wait_idle_inside_a_job_panics_instead_of_deadlocking() {
    let pool = Pool::new(1);
    let handle = pool.clone();
    let result = pool.submit(move || handle.wait_idle()).unwrap().wait();
    if let Err(e) = result {
        panic!("{}", e.panic_message().unwrap_or_default());
    }
}
