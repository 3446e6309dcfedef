//! Nothing is lost, nothing runs twice: several producers push thousands of jobs through a
//! small queue, with panics and cancels among them, while the pool is shut down in each of
//! its three modes. Every job must end up accounted for exactly once.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{eventually, Audit, Ledger, Payload};
use workpool::{Pool, ShutdownReport};

const PRODUCERS: usize = 4;
const PER_PRODUCER: usize = 1_500;
const JOBS: usize = PRODUCERS * PER_PRODUCER;

fn produce(pool: Pool, ledger: Arc<Ledger>, producer: usize) -> Audit {
    let mut audit = Audit::default();
    for j in 0..PER_PRODUCER {
        let id = producer * PER_PRODUCER + j;
        let payload = Payload::new(id, &ledger);
        let job = move || {
            payload.ran();
            if id.is_multiple_of(13) {
                panic!("job {id} fails on purpose");
            }
        };
        let submitted = if j % 3 == 0 {
            pool.try_submit(job).map_err(|e| drop(e.into_inner()))
        } else {
            pool.submit(job).map_err(|e| drop(e.into_inner()))
        };
        if let Some(task) = audit.record(id, submitted).filter(|_| j % 7 == 0) {
            task.cancel();
        }
    }
    audit
}

fn start_producers(pool: &Pool, ledger: &Arc<Ledger>) -> Vec<thread::JoinHandle<Audit>> {
    (0..PRODUCERS)
        .map(|p| {
            let (pool, ledger) = (pool.clone(), Arc::clone(ledger));
            thread::spawn(move || produce(pool, ledger, p))
        })
        .collect()
}

fn join_producers(producers: Vec<thread::JoinHandle<Audit>>) -> Audit {
    let mut audit = Audit::default();
    for p in producers {
        audit.merge(p.join().unwrap());
    }
    audit
}

fn run(shutdown: impl FnOnce(&Pool) -> ShutdownReport) {
    common::quiet_panics();
    let ledger = Ledger::new(JOBS);
    let pool = Pool::builder()
        .min_workers(1)
        .max_workers(3)
        .keep_alive(Duration::from_millis(1))
        .queue_capacity(8)
        .build()
        .unwrap();
    let producers = start_producers(&pool, &ledger);
    // Shut down mid-stream, so that submissions race the close.
    eventually("half the jobs were submitted", || {
        pool.stats().submitted as usize >= JOBS / 2
    });
    let first = shutdown(&pool);
    let audit = join_producers(producers);
    // A timed-out shutdown leaves jobs finishing in the background; a graceful one after it
    // waits for them, so the counts are final.
    let settled = pool.shutdown();
    assert!(settled.submitted == first.submitted);
    let tally = audit.verify(JOBS, &ledger, &settled);
    assert!(tally.completed > 0, "{tally:?}");
}

#[test]
fn accepted_jobs_run_exactly_once_under_graceful_shutdown() {
    run(|pool| {
        let report = pool.shutdown();
        assert_eq!(report.never_started, 0);
        report
    });
}

#[test]
fn accepted_jobs_run_exactly_once_under_shutdown_now() {
    run(|pool| pool.shutdown_now());
}

#[test]
fn accepted_jobs_run_exactly_once_under_shutdown_timeout() {
    run(|pool| pool.shutdown_timeout(Duration::from_micros(200)));
}

#[test]
fn accepted_jobs_run_exactly_once_when_producers_finish_first() {
    common::quiet_panics();
    let ledger = Ledger::new(JOBS);
    let pool = Pool::builder()
        .workers(2)
        .queue_capacity(8)
        .build()
        .unwrap();
    let producers = start_producers(&pool, &ledger);
    let audit = join_producers(producers);
    let report = pool.shutdown();
    assert_eq!(report.never_started, 0);
    audit.verify(JOBS, &ledger, &report);
}

/// Jobs that queue jobs to their own pool and wait on them (the waiting worker runs them
/// itself if no other worker took them), racing each shutdown mode: every job still runs at
/// most once, every closure is dropped exactly once, and the report balances.
fn nested_run(shutdown: impl FnOnce(&Pool) -> ShutdownReport) {
    const OUTER: usize = 600;
    const INNER: usize = 2;
    let ledger = Ledger::new(OUTER * (1 + INNER));
    let pool = Pool::builder()
        .min_workers(1)
        .max_workers(3)
        .keep_alive(Duration::from_millis(1))
        .queue_capacity(8)
        .build()
        .unwrap();
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let (pool, ledger) = (pool.clone(), Arc::clone(&ledger));
            thread::spawn(move || {
                for i in (p..OUTER).step_by(2) {
                    let payload = Payload::new(i, &ledger);
                    let (inner_pool, inner_ledger) = (pool.clone(), Arc::clone(&ledger));
                    let outer = move || {
                        payload.ran();
                        let tasks: Vec<_> = (0..INNER)
                            .filter_map(|k| {
                                let inner = Payload::new(OUTER + i * INNER + k, &inner_ledger);
                                inner_pool
                                    .try_submit(move || inner.ran())
                                    .map_err(|e| drop(e.into_inner()))
                                    .ok()
                            })
                            .collect();
                        for task in tasks {
                            let _ = task.wait();
                        }
                    };
                    if let Err(e) = pool.submit(outer) {
                        drop(e.into_inner());
                    }
                }
            })
        })
        .collect();
    eventually("a third of the outer jobs were submitted", || {
        pool.stats().submitted as usize >= OUTER / 3
    });
    let first = shutdown(&pool);
    for p in producers {
        p.join().unwrap();
    }
    let settled = pool.shutdown();
    assert_eq!(first.submitted, settled.submitted);
    for id in 0..OUTER * (1 + INNER) {
        let (runs, drops) = (ledger.runs(id), ledger.drops(id));
        assert!(runs <= 1, "job {id} ran {runs} times");
        // An inner job's closure exists only if its outer job ran.
        let made = id < OUTER || ledger.runs((id - OUTER) / INNER) == 1;
        assert_eq!(
            drops,
            u32::from(made),
            "job {id}'s closure dropped {drops} times"
        );
    }
    common::assert_settled(&settled);
}

#[test]
fn nested_waits_run_every_job_at_most_once_under_graceful_shutdown() {
    nested_run(|pool| pool.shutdown());
}

#[test]
fn nested_waits_run_every_job_at_most_once_under_shutdown_now() {
    nested_run(|pool| pool.shutdown_now());
}

#[test]
fn nested_waits_run_every_job_at_most_once_under_shutdown_timeout() {
    nested_run(|pool| pool.shutdown_timeout(Duration::from_micros(200)));
}
