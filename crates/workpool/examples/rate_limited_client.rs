//! A rate-limited API client: a pool-wide limit of 20 calls a second with bursts of 5, and
//! a per-host limit of 5 calls a second on top.
//!
//! Each "API call" is a job that records when it started and sleeps a few milliseconds.
//! Calls over a limit wait in the pool's queues; no worker sleeps holding them.
//!
//! Run with `cargo run -p workpool --example rate_limited_client`.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::convert::Infallible;
use std::time::{Duration, Instant};

use workpool::{Job, JobContext, Pool, RateLimit, Task};

/// Queues a simulated API call that returns its start time, as an offset from `t0`.
fn call(pool: &Pool, t0: Instant, host: Option<&str>) -> Task<Duration> {
    let mut job = Job::new(move |_: &JobContext| {
        let started = t0.elapsed();
        std::thread::sleep(Duration::from_millis(5)); // the request itself
        Ok::<_, Infallible>(started)
    });
    if let Some(host) = host {
        job = job.rate_key(host); // counts against this host's own bucket
    }
    pool.spawn(job).expect("the pool is open")
}

/// Starts per second over the steady part of a series (after the first `burst` starts).
fn rate(starts: &[Duration], burst: usize) -> f64 {
    let steady = &starts[burst - 1..];
    let span = *steady.last().unwrap() - steady[0];
    (steady.len() - 1) as f64 / span.as_secs_f64()
}

fn ms(d: Duration) -> String {
    format!("{:.0}ms", d.as_secs_f64() * 1e3)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::builder()
        .workers(4)
        .rate_limit(RateLimit::per_second(20).burst(5))
        .rate_limit_per_key(RateLimit::per_second(5))
        .build()?;

    // Part 1: 15 calls with no host key, limited only pool-wide: a burst of 5 at once,
    // then one every 50 ms.
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..15).map(|_| call(&pool, t0, None)).collect();
    let starts = tasks
        .into_iter()
        .map(Task::wait)
        .collect::<Result<Vec<_>, _>>()?;
    for (i, s) in starts.iter().enumerate() {
        println!("call {i:>2} started at +{}", ms(*s));
    }
    println!(
        "pool-wide: measured {:.1} calls/s after the burst (limit 20/s); stats().rate_limited = {}",
        rate(&starts, 5),
        pool.stats().rate_limited
    );

    // Part 2: 5 calls to each of two hosts, queued interleaved. Each host gets 5/s
    // (one every 200 ms); a host over its limit never holds up the other.
    std::thread::sleep(Duration::from_millis(300)); // let the pool-wide bucket refill
    let t0 = Instant::now();
    let hosts = ["host-a", "host-b"];
    let tasks: Vec<_> = (0..10)
        .map(|i| (hosts[i % 2], call(&pool, t0, Some(hosts[i % 2]))))
        .collect();
    let mut per_host: [Vec<Duration>; 2] = Default::default();
    for (host, task) in tasks {
        let started = task.wait()?;
        println!("{host} call started at +{}", ms(started));
        per_host[usize::from(host == "host-b")].push(started);
    }
    for (host, starts) in hosts.iter().zip(&per_host) {
        println!(
            "{host}: measured {:.1} calls/s (limit 5/s)",
            rate(starts, 1)
        );
    }
    let stats = pool.stats();
    println!(
        "stats().rate_limited = {} (times a call was held back), completed = {}",
        stats.rate_limited, stats.completed
    );
    pool.shutdown();
    Ok(())
}
