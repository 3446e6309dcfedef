//! Priorities and aging on a one-worker pool.
//!
//! First the worker is held busy while jobs of four priorities queue up behind it; once it
//! is free they run highest first. Then one LOW job is queued behind a flood of HIGH jobs:
//! aging still starts it within `workpool::AGING_EVERY` dispatches.
//!
//! Run with `cargo run -p workpool --example priority_scheduler`.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::convert::Infallible;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use workpool::{Job, JobContext, Pool, Priority, Task, AGING_EVERY};

type Log = Arc<Mutex<Vec<String>>>;

/// Queues a job at `priority` that appends `label` to `log` when it runs.
fn record(pool: &Pool, log: &Log, label: String, priority: Priority) -> Task<()> {
    let log = Arc::clone(log);
    let job = Job::new(move |_: &JobContext| {
        log.lock().unwrap().push(label.clone());
        Ok::<_, Infallible>(())
    });
    pool.spawn(job.priority(priority))
        .expect("the pool is open")
}

/// Occupies the pool's only worker until the returned sender is dropped or sent to.
fn hold_worker(pool: &Pool) -> (mpsc::Sender<()>, Task<()>) {
    let (release, gate) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel();
    let blocker = pool
        .submit(move || {
            started_tx.send(()).unwrap();
            let _ = gate.recv_timeout(Duration::from_secs(5));
        })
        .expect("the pool is open");
    // Wait until the worker has really taken the blocker, so everything below queues.
    started.recv().unwrap();
    (release, blocker)
}

fn main() {
    let t0 = Instant::now();
    let pool = Pool::new(1);
    let log: Log = Arc::default();

    // Part 1: strict priority order among queued jobs.
    let (release, blocker) = hold_worker(&pool);
    let mut tasks = Vec::new();
    for (label, priority) in [
        ("LOW", Priority::LOW),
        ("NORMAL", Priority::NORMAL),
        ("Priority(200)", Priority::new(200)),
        ("HIGH", Priority::HIGH),
        ("NORMAL #2", Priority::NORMAL),
    ] {
        println!("queued {label:<14} (level {:>3})", priority.level());
        tasks.push(record(&pool, &log, label.to_owned(), priority));
    }
    // Nothing has run yet: the queue, per level, highest first.
    println!("queued_by_priority: {:?}", pool.stats().queued_by_priority);
    release.send(()).unwrap();
    blocker.wait().unwrap();
    tasks.into_iter().for_each(|t| t.wait().unwrap());
    println!("ran in order: {:?}", log.lock().unwrap());
    log.lock().unwrap().clear();
    println!("{:?}", pool.shutdown());

    // Part 2: aging, on a fresh pool (the dispatch count that aging follows is per pool).
    // The LOW job is queued first, then 30 HIGH jobs pile up behind it.
    let pool = Pool::new(1);
    let (release, blocker) = hold_worker(&pool);
    let mut tasks = vec![record(&pool, &log, "LOW".to_owned(), Priority::LOW)];
    for i in 0..30 {
        tasks.push(record(&pool, &log, format!("HIGH {i}"), Priority::HIGH));
    }
    println!(
        "\nqueued_by_priority: {:?}",
        pool.stats().queued_by_priority
    );
    release.send(()).unwrap();
    blocker.wait().unwrap();
    tasks.into_iter().for_each(|t| t.wait().unwrap());

    let order = log.lock().unwrap();
    let position = order.iter().position(|l| l == "LOW").unwrap() + 1;
    println!("first ten to run: {:?}", &order[..10]);
    println!(
        "the LOW job ran {position} of {} (AGING_EVERY = {AGING_EVERY}): {}",
        order.len(),
        if position as u64 <= AGING_EVERY {
            "within the aging bound"
        } else {
            "LATER THAN THE AGING BOUND"
        }
    );
    println!("{:?}", pool.shutdown());
    println!("done in {:?}", t0.elapsed());
}
