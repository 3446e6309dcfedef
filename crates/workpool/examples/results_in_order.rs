//! The results channel of the worker-pool seeds, three ways: simulated page fetches of
//! different lengths, taken in input order (`Pool::map`), in the order they finish
//! (`Pool::map_unordered`), and as a set of jobs joined as they end, stopping at the first
//! error (`TaskSet`).
//!
//! Run with `cargo run -p workpool --example results_in_order`.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::thread::sleep;
use std::time::{Duration, Instant};

use workpool::{Pool, TaskSet};

/// How long each page takes to "fetch", in milliseconds.
const LATENCY: [u64; 8] = [40, 5, 25, 10, 1, 30, 15, 20];

/// Stands in for a network call: sleeps for the page's latency. Page 13 does not exist.
fn fetch(page: usize) -> Result<String, String> {
    sleep(Duration::from_millis(LATENCY[page % LATENCY.len()]));
    match page {
        13 => Err(format!("page {page}: 404")),
        _ => Ok(format!("page {page}")),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::new(4);
    let t0 = Instant::now();
    let at = || format!("{:>3} ms", t0.elapsed().as_millis());

    println!("map: input order; a result waits for the ones before it");
    for result in pool.map(0..8, fetch) {
        println!("  {}  {}", at(), result??);
    }

    println!("map_unordered: completion order; nothing waits for a slower page");
    let t0 = Instant::now();
    let at = || format!("{:>3} ms", t0.elapsed().as_millis());
    for result in pool.map_unordered(0..8, fetch) {
        println!("  {}  {}", at(), result??);
    }

    println!("TaskSet: spawn, join as they end; wait_all stops at the first error");
    let mut set = TaskSet::new(&pool);
    for page in 0..4 {
        set.spawn(move || fetch(page))?;
    }
    while let Some(result) = set.join_next() {
        println!("  joined {}", result??);
    }
    // A job that cannot go on panics; the panic is its error, and the pool goes on.
    std::panic::set_hook(Box::new(|info| {
        let message = info.payload().downcast_ref::<String>().cloned();
        eprintln!("  (a job panicked: {})", message.unwrap_or_default());
    }));
    let mut set = TaskSet::new(&pool);
    for page in 10..30 {
        set.spawn(move || match fetch(page) {
            Ok(body) => body,
            Err(error) => panic!("{error}"),
        })?;
    }
    match set.wait_all() {
        Ok(pages) => println!("  all {} pages", pages.len()),
        // Page 13's panic: the jobs that had not started when it came never run.
        Err(error) => println!("  stopped at the first error: {error}"),
    }

    let report = pool.shutdown();
    println!(
        "pool: {} jobs, {} completed, {} failed, {} cancelled (map chunks count as jobs)",
        report.submitted, report.completed, report.failed, report.cancelled
    );
    Ok(())
}
