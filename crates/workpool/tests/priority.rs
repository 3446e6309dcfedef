//! Priorities: higher first, FIFO within a level, and bounded starvation through aging.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::convert::Infallible;
use std::sync::mpsc;
use std::time::Duration;

use common::held_pool;
use workpool::{Job, JobContext, Pool, Priority, AGING_EVERY};

/// A job at `priority` that reports `label` when it runs.
fn tagged(
    priority: Priority,
    label: &'static str,
    tx: &mpsc::Sender<&'static str>,
) -> Job<impl FnMut(&JobContext) -> Result<(), Infallible> + Send + 'static, (), Infallible> {
    let tx = tx.clone();
    Job::new(move |_: &JobContext| {
        tx.send(label).unwrap();
        Ok(())
    })
    .priority(priority)
}

#[test]
fn higher_priority_runs_first_and_fifo_within_a_level() {
    let (pool, gate) = held_pool(256);
    let (tx, rx) = mpsc::channel();
    for (p, label) in [
        (Priority::LOW, "low"),
        (Priority::NORMAL, "normal-1"),
        (Priority::HIGH, "high"),
        (Priority::new(200), "200"),
        (Priority::NORMAL, "normal-2"),
    ] {
        drop(pool.spawn(tagged(p, label, &tx)).unwrap());
    }
    gate.open();
    pool.wait_idle();
    drop(tx);
    let order: Vec<_> = rx.iter().collect();
    assert_eq!(order, ["high", "200", "normal-1", "normal-2", "low"]);
}

#[test]
fn plain_submissions_run_at_normal_priority() {
    let (pool, gate) = held_pool(256);
    let (tx, rx) = mpsc::channel();
    drop(pool.spawn(tagged(Priority::LOW, "low", &tx)).unwrap());
    let plain = tx.clone();
    pool.execute(move || plain.send("plain").unwrap()).unwrap();
    drop(pool.spawn(tagged(Priority::HIGH, "high", &tx)).unwrap());
    gate.open();
    pool.wait_idle();
    drop(tx);
    assert_eq!(rx.iter().collect::<Vec<_>>(), ["high", "plain", "low"]);
}

/// Queues a handle-less job at `priority` that reports `label` when it runs.
fn execute_tagged(
    pool: &Pool,
    priority: Priority,
    label: &'static str,
    tx: &mpsc::Sender<&'static str>,
) {
    let tx = tx.clone();
    pool.execute_with_priority(priority, move || tx.send(label).unwrap())
        .unwrap();
}

/// Opens the gate, waits for every job, and returns the labels in the order they ran.
fn run_order(
    pool: &Pool,
    gate: &common::Gate,
    rx: mpsc::Receiver<&'static str>,
) -> Vec<&'static str> {
    gate.open();
    pool.wait_idle();
    rx.try_iter().collect()
}

#[test]
fn execute_with_priority_is_ordered_with_spawned_jobs() {
    let (pool, gate) = held_pool(256);
    let _open = gate.open_on_drop();
    let (tx, rx) = mpsc::channel();
    execute_tagged(&pool, Priority::LOW, "low", &tx);
    drop(
        pool.spawn(tagged(Priority::HIGH, "high-spawned", &tx))
            .unwrap(),
    );
    execute_tagged(&pool, Priority::HIGH, "high", &tx);
    execute_tagged(&pool, Priority::NORMAL, "normal", &tx);
    assert_eq!(
        run_order(&pool, &gate, rx),
        ["high-spawned", "high", "normal", "low"]
    );
}

#[test]
fn normal_jobs_queued_before_the_first_prioritized_one_keep_their_place() {
    // The first two wait in the pool's NORMAL-only queue; the HIGH job moves the pool to its
    // priority lanes, and the jobs queued before it must still run in order among the rest.
    let (pool, gate) = held_pool(256);
    let _open = gate.open_on_drop();
    let (tx, rx) = mpsc::channel();
    execute_tagged(&pool, Priority::NORMAL, "normal-1", &tx);
    execute_tagged(&pool, Priority::NORMAL, "normal-2", &tx);
    execute_tagged(&pool, Priority::LOW, "low", &tx);
    execute_tagged(&pool, Priority::HIGH, "high", &tx);
    execute_tagged(&pool, Priority::NORMAL, "normal-3", &tx);
    let s = pool.stats();
    assert_eq!(
        s.queued_by_priority,
        [
            (Priority::HIGH, 1),
            (Priority::NORMAL, 3),
            (Priority::LOW, 1)
        ]
    );
    assert_eq!(
        run_order(&pool, &gate, rx),
        ["high", "normal-1", "normal-2", "normal-3", "low"]
    );
}

#[test]
fn plain_and_scheduled_jobs_share_one_priority_order() {
    // Jobs with a deadline go through the scheduler; the plain ones queued before them wait
    // in the fast lanes. Workers weigh both by priority.
    let (pool, gate) = held_pool(256);
    let _open = gate.open_on_drop();
    let (tx, rx) = mpsc::channel();
    execute_tagged(&pool, Priority::LOW, "low", &tx);
    execute_tagged(&pool, Priority::HIGH, "high", &tx);
    let scheduled = tagged(Priority::NORMAL, "scheduled", &tx).timeout(Duration::from_secs(600));
    drop(pool.spawn(scheduled).unwrap());
    execute_tagged(&pool, Priority::new(200), "200", &tx);
    assert_eq!(
        run_order(&pool, &gate, rx),
        ["high", "200", "scheduled", "low"]
    );
}

#[test]
fn a_low_priority_job_starts_within_the_aging_bound_under_a_flood() {
    let (pool, gate) = held_pool(256);
    let (tx, rx) = mpsc::channel();
    drop(pool.spawn(tagged(Priority::LOW, "low", &tx)).unwrap());
    // A flood: every high job that runs queues another, so the high lane never empties.
    fn flood(pool: Pool, tx: mpsc::Sender<&'static str>, left: usize) {
        let (p, t) = (pool.clone(), tx.clone());
        let job = Job::new(move |_: &JobContext| {
            t.send("high").unwrap();
            if left > 0 {
                flood(p.clone(), t.clone(), left - 1);
            }
            Ok::<_, Infallible>(())
        })
        .priority(Priority::HIGH);
        drop(pool.spawn(job).unwrap());
    }
    for _ in 0..4 {
        flood(pool.clone(), tx.clone(), 50);
    }
    gate.open();
    let position = rx.iter().position(|label| label == "low").unwrap() + 1;
    // The held job was one dispatch; the low job is the oldest queued from then on.
    assert!(
        position as u64 <= AGING_EVERY,
        "the low job ran as number {position}, bound {AGING_EVERY}"
    );
    pool.wait_idle();
}

#[test]
fn stats_count_queued_jobs_per_priority() {
    let (pool, gate) = held_pool(256);
    let (tx, _rx) = mpsc::channel();
    for p in [Priority::HIGH, Priority::LOW, Priority::HIGH] {
        drop(pool.spawn(tagged(p, "x", &tx)).unwrap());
    }
    let s = pool.stats();
    assert_eq!(s.queued, 3);
    assert_eq!(
        s.queued_by_priority,
        [(Priority::HIGH, 2), (Priority::LOW, 1)]
    );
    gate.open();
    pool.wait_idle();
    assert!(pool.stats().queued_by_priority.is_empty());
}

#[test]
fn priority_levels_order_and_name_themselves() {
    assert!(Priority::LOW < Priority::NORMAL && Priority::NORMAL < Priority::HIGH);
    assert_eq!(Priority::default(), Priority::NORMAL);
    assert_eq!(Priority::new(7).level(), 7);
    assert_eq!(format!("{:?}", Priority::HIGH), "HIGH");
    assert_eq!(format!("{:?}", Priority::new(9)), "Priority(9)");
}

#[test]
fn prioritized_jobs_taken_together_run_or_are_reported_when_the_pool_stops() {
    // Workers running short prioritized jobs take several under one lock. A shutdown that
    // comes while some are taken but not run must still account for each: run once, or
    // reported never started, and every closure dropped once.
    const JOBS: usize = 20_000;
    let ledger = common::Ledger::new(JOBS);
    let pool = std::sync::Arc::new(
        Pool::builder()
            .workers(2)
            .queue_capacity(64)
            .build()
            .unwrap(),
    );
    let producer = {
        let (pool, ledger) = (std::sync::Arc::clone(&pool), std::sync::Arc::clone(&ledger));
        std::thread::spawn(move || {
            let levels = [Priority::LOW, Priority::NORMAL, Priority::HIGH];
            let mut accepted = 0u64;
            for id in 0..JOBS {
                let payload = common::Payload::new(id, &ledger);
                let job = move || payload.ran();
                if pool.execute_with_priority(levels[id % 3], job).is_ok() {
                    accepted += 1;
                }
            }
            accepted
        })
    };
    let ran = || (0..JOBS).filter(|&id| ledger.runs(id) > 0).count();
    common::eventually("a few thousand jobs ran", || ran() >= 2_000);
    pool.shutdown_now();
    let accepted = producer.join().unwrap();
    let report = pool.shutdown();
    assert_eq!(report.submitted, accepted);
    assert_eq!(report.completed + report.never_started, accepted);
    assert_eq!(report.completed, u64::try_from(ran()).unwrap());
    assert!((0..JOBS).all(|id| ledger.runs(id) <= 1 && ledger.drops(id) == 1));
}
