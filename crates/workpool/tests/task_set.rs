//! `TaskSet`: results in completion order, however each job ends; `wait_all` in spawn order
//! and stopping at the first error, which cancels the jobs not started; dropping a set
//! cancels its jobs not started.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use common::{blocker, eventually, quiet_panics, Gate};
use workpool::{Pool, ShutdownReport, TaskErrorKind, TaskSet};

#[test]
fn join_next_returns_results_in_completion_order() {
    let pool = Pool::new(2);
    let gate = Gate::new();
    let _open = gate.open_on_drop();
    let mut set = TaskSet::new(&pool);
    let (started_tx, started) = mpsc::channel();
    let held = Arc::clone(&gate);
    let slow = set
        .spawn(move || {
            started_tx.send(()).unwrap();
            held.wait();
            "slow"
        })
        .unwrap();
    started.recv().unwrap();
    let fast = set.spawn(|| "fast").unwrap();
    assert_eq!(set.len(), 2);
    let (id, result) = set.join_next_with_id().unwrap();
    assert_eq!((id, result.unwrap()), (fast, "fast"));
    gate.open();
    let (id, result) = set.join_next_with_id().unwrap();
    assert_eq!((id, result.unwrap()), (slow, "slow"));
    assert!(set.is_empty());
    assert!(set.join_next().is_none());
}

#[test]
fn every_way_a_job_ends_joins_in_the_order_it_ended() {
    quiet_panics();
    let pool = Pool::new(1);
    let mut set = TaskSet::new(&pool);
    // One worker, held: the jobs below run one by one, in order, once it is free.
    let gate = common::hold(&pool);
    let _open = gate.open_on_drop();
    set.spawn(|| -> u32 { panic!("fails on purpose") }).unwrap();
    set.spawn(|| 7).unwrap();
    gate.open();
    assert!(set.join_next().unwrap().unwrap_err().is_panic());
    assert_eq!(set.join_next().unwrap().unwrap(), 7);

    // A cancelled job and one the shutdown never ran.
    let gate = common::hold(&pool);
    let _open_too = gate.open_on_drop();
    set.spawn(|| 1).unwrap();
    set.spawn(|| 2).unwrap();
    set.cancel_all();
    let errors: Vec<_> = (0..2)
        .map(|_| set.join_next().unwrap().unwrap_err())
        .collect();
    assert!(errors.iter().all(|e| e.is_cancelled()));
    set.spawn(|| 3).unwrap();
    let closer = {
        let pool = pool.clone();
        thread::spawn(move || pool.shutdown_now())
    };
    let error = set.join_next().unwrap().unwrap_err();
    assert_eq!(error.kind(), TaskErrorKind::NotRun);
    gate.open();
    assert_balanced(&closer.join().unwrap());
}

#[test]
fn wait_all_returns_values_in_spawn_order() {
    let pool = Pool::new(3);
    let mut set = TaskSet::new(&pool);
    for i in 0..50u64 {
        set.spawn(move || i * i).unwrap();
    }
    let values = set.wait_all().unwrap();
    assert_eq!(values, (0..50).map(|i| i * i).collect::<Vec<_>>());
}

#[test]
fn wait_all_stops_at_the_first_error_and_jobs_not_started_never_run() {
    quiet_panics();
    let pool = Pool::new(1);
    let mut set = TaskSet::new(&pool);
    let gate = Gate::new();
    let _open = gate.open_on_drop();
    let runs = Arc::new(AtomicUsize::new(0));
    // The only worker: the first job fails; the second then holds the worker, so that the
    // ten behind it are still queued when the failure is seen.
    set.spawn(|| panic!("the first job fails on purpose"))
        .unwrap();
    let (second, second_started) = blocker(&gate);
    set.spawn(second).unwrap();
    for _ in 0..10 {
        let runs = Arc::clone(&runs);
        set.spawn(move || {
            runs.fetch_add(1, SeqCst);
        })
        .unwrap();
    }
    let error = set.wait_all().unwrap_err();
    assert!(error.is_panic(), "{error:?}");
    // The second job was running, or cancelled before it started (then its channel closes).
    let _ = second_started.recv();
    gate.open();
    let report = pool.shutdown();
    assert_eq!(
        runs.load(SeqCst),
        0,
        "a job not started when the error came ran"
    );
    assert_eq!(report.panicked, 1);
    assert_eq!(
        report.cancelled, 11,
        "the ten queued jobs and the running one"
    );
    assert_balanced(&report);
}

#[test]
fn dropping_a_set_cancels_its_jobs_not_started() {
    let pool = Pool::new(1);
    let gate = Gate::new();
    let _open = gate.open_on_drop();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut set = TaskSet::new(&pool);
    let (first, started) = blocker(&gate);
    set.spawn(first).unwrap();
    started.recv().unwrap();
    for _ in 0..10 {
        let runs = Arc::clone(&runs);
        set.spawn(move || {
            runs.fetch_add(1, SeqCst);
        })
        .unwrap();
    }
    assert_eq!(set.len(), 11);
    drop(set);
    gate.open();
    let report = pool.shutdown();
    assert_eq!(runs.load(SeqCst), 0, "a job of the dropped set ran");
    assert_eq!(report.cancelled, 11);
    assert_balanced(&report);
}

#[test]
fn jobs_that_ended_before_the_join_come_in_the_order_they_ended() {
    // One worker, held while the jobs are queued, runs them in queue order once free: so
    // they end in spawn order, all before the first join.
    let pool = Pool::new(1);
    let gate = common::hold(&pool);
    let _open = gate.open_on_drop();
    let mut set = TaskSet::new(&pool);
    let ids: Vec<u64> = (0..20u64).map(|i| set.spawn(move || i).unwrap()).collect();
    gate.open();
    eventually("every job ended", || pool.stats().completed == 21);
    let joined: Vec<u64> = std::iter::from_fn(|| set.join_next_with_id())
        .map(|(id, result)| {
            assert_eq!(ids[result.unwrap() as usize], id);
            id
        })
        .collect();
    assert_eq!(joined, ids);
}

#[test]
fn spawn_on_a_closed_pool_gives_the_job_back() {
    let pool = Pool::new(1);
    pool.shutdown();
    let mut set = TaskSet::new(&pool);
    let err = set.spawn(|| 5).unwrap_err();
    assert!(err.is_closed());
    assert_eq!((err.into_inner())(), 5);
    assert!(set.is_empty());
    assert_eq!(set.wait_all().unwrap(), Vec::<i32>::new());
}

/// The formula of `tests/accounting.rs`, once a shutdown has waited for every worker.
fn assert_balanced(report: &ShutdownReport) {
    let ended = report.completed
        + report.failed
        + report.cancelled
        + report.timed_out
        + report.never_started;
    assert_eq!(report.submitted, ended, "{report:?}");
    assert_eq!((report.still_running, report.still_queued), (0, 0));
}
