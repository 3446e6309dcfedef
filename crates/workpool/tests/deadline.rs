//! Deadlines and cancellation: handles resolve on time, contexts are cancelled so that
//! cooperative jobs stop, and a job that ignores its deadline does not eat the pool's
//! capacity.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::{blocker, eventually, manual_pool, Gate};
use workpool::{Job, JobContext, ManualClock, Pool};

const SEC: Duration = Duration::from_secs(1);

#[test]
fn a_job_whose_deadline_passes_in_the_queue_never_starts() {
    let (pool, clock) = manual_pool(1);
    let gate = Gate::new();
    let _open = gate.open_on_drop();
    let (hold, started) = blocker(&gate);
    pool.execute(hold).unwrap();
    started.recv().unwrap();

    let ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    let task = pool
        .spawn(
            Job::new(move |_: &JobContext| {
                flag.store(true, SeqCst);
                Ok::<_, ()>(())
            })
            .timeout(5 * SEC),
        )
        .unwrap();
    clock.advance(5 * SEC);
    // The handle resolves at the deadline even though no worker is free.
    eventually("the handle resolved at the deadline", || task.is_finished());
    let err = task.wait().unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(err.to_string(), "job timed out");
    gate.open();
    pool.wait_idle();
    assert!(!ran.load(SeqCst));
    assert_eq!(pool.stats().timed_out, 1);
}

#[test]
fn a_cooperative_job_stops_when_its_deadline_passes() {
    let (pool, clock) = manual_pool(1);
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&saw_cancel);
    let (started_tx, started) = std::sync::mpsc::channel();
    let task = pool
        .spawn(
            Job::new(move |ctx: &JobContext| {
                started_tx.send(()).unwrap();
                assert!(ctx.deadline().is_some());
                // A long sleep that the deadline cuts short.
                let slept_fully = ctx.sleep(Duration::from_secs(3600));
                flag.store(!slept_fully && ctx.is_cancelled(), SeqCst);
                Ok::<_, ()>(())
            })
            .timeout(2 * SEC),
        )
        .unwrap();
    started.recv().unwrap();
    clock.advance(2 * SEC);
    assert!(task.wait().unwrap_err().is_timeout());
    pool.wait_idle();
    assert!(saw_cancel.load(SeqCst));
    let s = pool.stats();
    assert_eq!((s.timed_out, s.completed), (1, 0));
}

#[test]
fn a_job_that_ignores_its_deadline_gets_a_replacement_worker() {
    let (pool, clock) = manual_pool(1);
    let gate = Gate::new();
    let _open = gate.open_on_drop();
    let (started_tx, started) = std::sync::mpsc::channel();
    let g = Arc::clone(&gate);
    let stubborn = pool
        .spawn(
            Job::new(move |_: &JobContext| {
                started_tx.send(()).unwrap();
                g.wait(); // never looks at its context
                Ok::<_, ()>("too late")
            })
            .timeout(SEC),
        )
        .unwrap();
    started.recv().unwrap();
    clock.advance(SEC);
    assert!(stubborn.wait().unwrap_err().is_timeout());
    eventually("the overrun is noticed", || pool.stats().overdue == 1);

    // The only worker is still stuck, yet new work runs: a replacement took its place.
    assert_eq!(pool.submit(|| 42).unwrap().wait().unwrap(), 42);
    let s = pool.stats();
    assert_eq!((s.workers, s.replacements), (2, 1));

    gate.open();
    eventually(
        "the overrunning job returned and the extra worker retired",
        || {
            let s = pool.stats();
            s.overdue == 0 && s.workers == 1
        },
    );
    assert_eq!(pool.stats().timed_out, 1);
}

#[test]
fn replacements_are_capped() {
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .workers(1)
        .max_replacements(0)
        .clock(clock.clone())
        .build()
        .unwrap();
    let gate = Gate::new();
    let _open = gate.open_on_drop();
    let (started_tx, started) = std::sync::mpsc::channel();
    let g = Arc::clone(&gate);
    let stubborn = pool
        .spawn(
            Job::new(move |_: &JobContext| {
                started_tx.send(()).unwrap();
                g.wait();
                Ok::<_, ()>(())
            })
            .timeout(SEC),
        )
        .unwrap();
    started.recv().unwrap();
    clock.advance(SEC);
    assert!(stubborn.wait().unwrap_err().is_timeout());
    let next = pool.submit(|| 1).unwrap();
    eventually("the overrun is noticed", || pool.stats().overdue == 1);
    assert_eq!(pool.stats().workers, 1);
    assert!(!next.is_finished());
    gate.open();
    assert_eq!(next.wait().unwrap(), 1);
}

#[test]
fn an_absolute_deadline_works_like_a_timeout() {
    let (pool, clock) = manual_pool(1);
    let at = clock.now() + 3 * SEC;
    let (started_tx, started) = std::sync::mpsc::channel();
    let task = pool
        .spawn(
            Job::new(move |ctx: &JobContext| {
                started_tx.send(()).unwrap();
                Ok::<_, ()>(ctx.sleep(Duration::from_secs(3600)))
            })
            .deadline(at),
        )
        .unwrap();
    started.recv().unwrap();
    clock.advance(3 * SEC);
    assert!(task.wait().unwrap_err().is_timeout());
}

#[test]
fn cancelling_a_running_job_cancels_its_context() {
    let (pool, _clock) = manual_pool(1);
    let (started_tx, started) = std::sync::mpsc::channel();
    let polls = Arc::new(AtomicUsize::new(0));
    let p = Arc::clone(&polls);
    let task = pool
        .spawn(Job::new(move |ctx: &JobContext| {
            started_tx.send(()).unwrap();
            while !ctx.is_cancelled() {
                p.fetch_add(1, SeqCst);
                std::thread::yield_now();
            }
            Ok::<_, ()>(())
        }))
        .unwrap();
    started.recv().unwrap();
    assert!(task.cancel());
    assert!(task.wait().unwrap_err().is_cancelled());
    // The job noticed and returned, freeing its worker.
    pool.wait_idle();
    assert_eq!(pool.stats().cancelled, 1);
}

#[test]
fn cancel_interrupts_a_context_sleep() {
    let (pool, _clock) = manual_pool(1);
    let (started_tx, started) = std::sync::mpsc::channel();
    let result = Arc::new(AtomicBool::new(true));
    let r = Arc::clone(&result);
    let task = pool
        .spawn(Job::new(move |ctx: &JobContext| {
            started_tx.send(()).unwrap();
            r.store(ctx.sleep(Duration::from_secs(3600)), SeqCst);
            Ok::<_, ()>(())
        }))
        .unwrap();
    started.recv().unwrap();
    task.cancel();
    pool.wait_idle();
    assert!(
        !result.load(SeqCst),
        "sleep should report that it was cut short"
    );
}

#[test]
fn context_reports_ids_and_attempts() {
    let pool = Pool::new(1);
    let task = pool
        .spawn(Job::new(|ctx: &JobContext| {
            Ok::<_, ()>((ctx.job_id(), ctx.attempt(), ctx.worker_id(), ctx.deadline()))
        }))
        .unwrap();
    let id = task.id();
    let (job_id, attempt, worker, deadline) = task.wait().unwrap();
    assert_eq!((job_id, attempt, worker, deadline), (id, 1, 0, None));
}
