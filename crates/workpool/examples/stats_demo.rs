//! Pushes a few thousand jobs of mixed length through a small pool with a small queue, with
//! a few panics among them, then prints the pool's stats and its shutdown report.
//!
//! Run with `cargo run --release -p workpool --example stats_demo`.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::Duration;

use workpool::Pool;

fn busy_work(seed: u64) -> u64 {
    // A few microseconds of arithmetic whose length varies with the seed.
    (0..(seed % 64) * 100).fold(seed, |acc, i| {
        black_box(acc.wrapping_mul(31).wrapping_add(i))
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The panics below are on purpose: print one line each instead of a backtrace.
    std::panic::set_hook(Box::new(|info| eprintln!("expected: {info}")));
    let pool = Pool::builder()
        .min_workers(1)
        .max_workers(4)
        .keep_alive(Duration::from_millis(200))
        .queue_capacity(64)
        .thread_name("demo")
        .build()?;

    let jobs = 5_000u64;
    let tasks: Vec<_> = (0..jobs)
        .map(|i| {
            pool.submit(move || {
                if i % 1_000 == 999 {
                    panic!("job {i} panicked on purpose");
                }
                busy_work(i)
            })
        })
        .collect::<Result<_, _>>()?;

    let (mut ok, mut panicked) = (0, 0);
    for task in tasks {
        match task.wait() {
            Ok(_) => ok += 1,
            Err(e) if e.is_panic() => panicked += 1,
            Err(e) => return Err(e.into()),
        }
    }
    println!("{jobs} jobs: {ok} returned a value, {panicked} panicked");

    let stats = pool.stats();
    println!(
        "workers: {} (min {}, max {}), queued: {}",
        stats.workers, stats.min_workers, stats.max_workers, stats.queued
    );
    println!(
        "submitted {} completed {} failed {} panicked {} cancelled {}",
        stats.submitted, stats.completed, stats.failed, stats.panicked, stats.cancelled
    );
    for (name, l) in [
        ("queue wait", stats.queue_wait),
        ("run time", stats.run_time),
    ] {
        println!(
            "{name:>10}: p50 {:?}  p90 {:?}  p99 {:?}  max {:?}  ({} samples)",
            l.p50, l.p90, l.p99, l.max, l.count
        );
    }
    let report = pool.shutdown();
    println!("{report:?}");
    Ok(())
}
