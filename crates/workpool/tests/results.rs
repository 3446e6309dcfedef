//! Results: typed handles, waiting, cancelling, and awaiting pool work as a future.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{block_on, manual_pool, Gate, Ledger, Payload};
use workpool::{Pool, TaskErrorKind};

#[test]
fn wait_returns_the_jobs_typed_value() {
    let pool = Pool::new(2);
    let s = pool.submit(|| String::from("hello")).unwrap();
    let v = pool.submit(|| vec![1u8, 2, 3]).unwrap();
    let r = pool.submit(|| "x".parse::<u32>()).unwrap();
    assert_eq!(s.wait().unwrap(), "hello");
    assert_eq!(v.wait().unwrap(), [1, 2, 3]);
    // A job's own Result is its value: the pool does not interpret it.
    assert!(r.wait().unwrap().is_err());
}

#[test]
fn job_ids_are_unique_and_in_submission_order() {
    let pool = Pool::new(2);
    let tasks: Vec<_> = (0..100).map(|i| pool.submit(move || i).unwrap()).collect();
    let ids: Vec<u64> = tasks.iter().map(|t| t.id()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids: {ids:?}");
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.wait().unwrap(), i);
    }
}

#[test]
fn wait_timeout_hands_back_an_unfinished_task() {
    let (pool, _clock) = manual_pool(1);
    let gate = Gate::new();
    let task = pool
        .submit({
            let gate = Arc::clone(&gate);
            move || {
                gate.wait();
                5
            }
        })
        .unwrap();
    // Zero time to wait on a job held at the gate: the handle comes back, still usable.
    let task = task.wait_timeout(Duration::ZERO).unwrap_err();
    assert!(!task.is_finished());
    gate.open();
    let result = task.wait_timeout(Duration::from_secs(3600)).unwrap();
    assert_eq!(result.unwrap(), 5);
}

#[test]
fn is_finished_turns_true_when_the_job_ends() {
    let pool = Pool::new(1);
    let gate = Gate::new();
    let task = pool
        .submit({
            let gate = Arc::clone(&gate);
            move || gate.wait()
        })
        .unwrap();
    assert!(!task.is_finished());
    gate.open();
    pool.wait_idle();
    assert!(task.is_finished());
    task.wait().unwrap();
}

#[test]
fn cancel_before_start_means_the_job_never_runs() {
    let pool = Pool::new(1);
    let gate = common::hold(&pool);

    let ledger = Ledger::new(1);
    let payload = Payload::new(0, &ledger);
    let task = pool.submit(move || payload.ran()).unwrap();
    assert!(task.cancel());
    // The closure is dropped at once, not when a worker reaches it.
    assert_eq!(ledger.drops(0), 1);
    assert!(task.is_finished());
    gate.open();
    pool.wait_idle();

    let err = task.wait().unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(err.kind(), TaskErrorKind::Cancelled);
    assert_eq!(err.attempts(), 0);
    assert_eq!(err.to_string(), "job was cancelled");
    assert_eq!(ledger.runs(0), 0);
    let stats = pool.stats();
    assert_eq!((stats.cancelled, stats.completed), (1, 1));
}

#[test]
fn cancel_while_running_resolves_the_handle_and_drops_the_result() {
    let pool = Pool::new(1);
    let gate = Gate::new();
    let (started_tx, started) = std::sync::mpsc::channel();
    let task = pool
        .submit({
            let gate = Arc::clone(&gate);
            move || {
                started_tx.send(()).unwrap();
                gate.wait();
                "finished anyway"
            }
        })
        .unwrap();
    started.recv().unwrap();
    assert!(task.cancel());
    assert!(task.is_finished());
    gate.open();
    assert!(task.wait().unwrap_err().is_cancelled());
    pool.wait_idle();
    let stats = pool.stats();
    assert_eq!((stats.cancelled, stats.completed), (1, 0));
}

#[test]
fn cancel_after_the_end_changes_nothing() {
    let pool = Pool::new(1);
    let task = pool.submit(|| 3).unwrap();
    pool.wait_idle();
    assert!(!task.cancel());
    assert_eq!(task.wait().unwrap(), 3);
    assert_eq!(pool.stats().cancelled, 0);
}

#[test]
fn dropping_a_task_does_not_cancel_its_job() {
    let pool = Pool::new(1);
    let ledger = Ledger::new(1);
    let payload = Payload::new(0, &ledger);
    drop(pool.submit(move || payload.ran()).unwrap());
    pool.wait_idle();
    assert_eq!(ledger.runs(0), 1);
    assert_eq!(ledger.drops(0), 1);
}

#[test]
fn tasks_can_be_awaited() {
    let pool = Pool::new(2);
    let gate = Gate::new();
    let slow = pool
        .submit({
            let gate = Arc::clone(&gate);
            move || {
                gate.wait();
                40
            }
        })
        .unwrap();
    let fast = pool.submit(|| 2).unwrap();
    let opener = {
        let gate = Arc::clone(&gate);
        std::thread::spawn(move || gate.open())
    };
    // The slow job is at the gate when first polled, so this exercises the waker.
    let sum = block_on(async { slow.await.unwrap() + fast.await.unwrap() });
    assert_eq!(sum, 42);
    opener.join().unwrap();
}

#[test]
fn task_errors_display_lower_case_without_a_period() {
    common::quiet_panics();
    let pool = Pool::new(1);
    let err = pool
        .submit(|| panic!("boom on purpose"))
        .unwrap()
        .wait()
        .unwrap_err();
    let text = err.to_string();
    assert_eq!(text, "job panicked: boom on purpose");
    assert!(!text.ends_with('.'));
    assert!(format!("{err:?}").contains("Panicked"));
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    assert_eq!(boxed.to_string(), text);
}
