//! Help while waiting: a worker that waits on work of its own pool runs the pool's queued
//! jobs meanwhile, so waiting on your own pool never deadlocks, whatever the pool's size.

#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // tests may use std directly

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use workpool::{Job, Pool};

/// A job that waits on a job it queued to its own one-worker pool: the worker runs the
/// inner job itself instead of waiting for a worker that is itself.
#[test]
fn a_nested_wait_on_a_one_worker_pool_finishes() {
    let pool = Pool::new(1);
    let inner_pool = pool.clone();
    let outer = pool
        .submit(move || {
            let inner = inner_pool.submit(|| 21).expect("the pool is open");
            inner.wait().expect("the inner job runs") * 2
        })
        .unwrap();
    assert_eq!(outer.wait().unwrap(), 42);
}

fn fib(pool: &Pool, n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let p = pool.clone();
    let left = pool.submit(move || fib(&p, n - 1)).unwrap();
    let right = fib(pool, n - 2);
    left.wait().unwrap() + right
}

/// Recursion through the pool, every level waiting on the level below, on one worker.
#[test]
fn recursive_waits_finish_on_a_one_worker_pool() {
    let pool = Pool::new(1);
    let p = pool.clone();
    let task = pool.submit(move || fib(&p, 12)).unwrap();
    assert_eq!(task.wait().unwrap(), 144);
    let report = pool.shutdown();
    assert_eq!(report.completed, report.submitted);
}

/// 64 jobs, each waiting on 8 jobs of its own, on two workers: every worker ends up
/// waiting, and the nested jobs still run, each once.
#[test]
fn sixty_four_jobs_each_waiting_on_eight_finish_on_two_workers() {
    let pool = Pool::new(2);
    let runs = Arc::new(AtomicUsize::new(0));
    let outers: Vec<_> = (0..64)
        .map(|i| {
            let p = pool.clone();
            let runs = Arc::clone(&runs);
            pool.submit(move || {
                let inner: Vec<_> = (0..8)
                    .map(|j| {
                        let runs = Arc::clone(&runs);
                        p.submit(move || {
                            runs.fetch_add(1, SeqCst);
                            i * 8 + j
                        })
                        .unwrap()
                    })
                    .collect();
                inner.into_iter().map(|t| t.wait().unwrap()).sum::<usize>()
            })
            .unwrap()
        })
        .collect();
    let total: usize = outers.into_iter().map(|t| t.wait().unwrap()).sum();
    assert_eq!(total, (0..512).sum::<usize>());
    assert_eq!(runs.load(SeqCst), 512);
    let report = pool.shutdown();
    assert_eq!(report.submitted, 64 + 512);
    assert_eq!(report.completed, 64 + 512);
}

/// The same through the scheduler's locked path (a job with a deadline takes the pool off
/// the lock-free lanes for good), on a pool that may not grow.
#[test]
fn a_nested_wait_through_the_scheduler_finishes_on_one_worker() {
    let pool = Pool::new(1);
    let p = pool.clone();
    let outer = pool
        .spawn(Job::new(move |_| {
            let inner = p
                .spawn(Job::new(|_| Ok::<_, std::io::Error>(7)).timeout(Duration::from_secs(3600)))
                .expect("the pool is open");
            Ok::<_, std::io::Error>(inner.wait().expect("the inner job runs") + 1)
        }))
        .unwrap();
    assert_eq!(outer.wait().unwrap(), 8);
    let report = pool.shutdown();
    assert_eq!(report.completed, 2);
}

/// A worker that waits on a job another worker runs does not run that job again: the job
/// it waits for runs once, and the waiter gets its value.
#[test]
fn a_waiter_never_runs_the_job_it_waits_for_twice() {
    let pool = Pool::new(2);
    let gate = common::Gate::new();
    let _open = gate.open_on_drop();
    let runs = Arc::new(AtomicUsize::new(0));
    let (started_tx, started) = std::sync::mpsc::channel();
    let slow = {
        let gate = Arc::clone(&gate);
        let runs = Arc::clone(&runs);
        pool.submit(move || {
            runs.fetch_add(1, SeqCst);
            started_tx.send(()).unwrap();
            gate.wait();
            5
        })
        .unwrap()
    };
    started.recv().unwrap();
    let (waiting_tx, waiting) = std::sync::mpsc::channel();
    let waiter = pool
        .submit(move || {
            waiting_tx.send(()).unwrap();
            slow.wait().unwrap()
        })
        .unwrap();
    waiting.recv().unwrap();
    gate.open();
    assert_eq!(waiter.wait().unwrap(), 5);
    assert_eq!(runs.load(SeqCst), 1);
}

/// A `map` and a task set inside a job of a one-worker pool: their waits run the chunks and
/// jobs they wait for on the waiting worker.
#[test]
fn map_and_task_sets_inside_a_job_of_a_one_worker_pool_finish() {
    let pool = Pool::new(1);
    let p = pool.clone();
    let task = pool
        .submit(move || {
            let doubled: Vec<u64> = p
                .map(0..1000u64, |x| x * 2)
                .collect::<Result<_, _>>()
                .expect("every item runs");
            let mut set = workpool::TaskSet::new(&p);
            for i in 0..10u64 {
                set.spawn(move || i).expect("the pool is open");
            }
            let sum: u64 = set.wait_all().expect("every job runs").into_iter().sum();
            (doubled.iter().sum::<u64>(), sum)
        })
        .unwrap();
    assert_eq!(task.wait().unwrap(), (999 * 1000, 45));
}

fn chain(pool: &Pool, depth: u32) -> u32 {
    if depth == 0 {
        return 0;
    }
    let p = pool.clone();
    let below = pool.submit(move || chain(&p, depth - 1)).unwrap();
    below.wait().unwrap() + 1
}

/// Waits nested deeper than the helping bound (128) on a one-worker pool: the worker still
/// runs each job it waits for itself, as a plain call would, so the chain finishes.
#[test]
fn a_chain_of_waits_deeper_than_the_helping_bound_finishes_on_one_worker() {
    let pool = Pool::builder()
        .workers(1)
        .stack_size(64 << 20)
        .build()
        .unwrap();
    let p = pool.clone();
    let task = pool.submit(move || chain(&p, 200)).unwrap();
    let result = task.wait_timeout(Duration::from_secs(60));
    assert_eq!(result.expect("the chain finished").unwrap(), 200);
}
