//! Rate-limit accuracy: runs a rate-limited pool for 10 seconds of real time and reports the
//! measured start rate against the configured one (target: within 2%).
//!
//! ```text
//! cargo bench -p workpool-benches --bench rate_limit            # 10 s at 200/s, burst 10
//! WORKPOOL_RATE=50 WORKPOOL_RATE_SECS=5 cargo bench -p workpool-benches --bench rate_limit
//! ```
//!
//! The producer keeps the queue full, so the limit, not the producer, decides every start.
//! The measured rate counts starts after the initial burst, over the time from the first
//! post-burst start to the last, so the burst does not flatter the figure.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use workpool::{Job, JobContext, Pool, RateLimit};

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo test --benches` runs this binary without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rate = env_or("WORKPOOL_RATE", 200);
    let secs = env_or("WORKPOOL_RATE_SECS", 10);
    let burst = 10;
    let pool = Pool::builder()
        .workers(4)
        .queue_capacity(64)
        .rate_limit(RateLimit::per_second(rate).burst(burst))
        .build()
        .expect("a 4-worker pool builds");
    let starts = Arc::new(Mutex::new(Vec::with_capacity((rate * secs) as usize + 64)));
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(u64::from(secs));
    while Instant::now() < end {
        let starts = Arc::clone(&starts);
        let job = Job::new(move |_: &JobContext| {
            starts.lock().expect("no job panics").push(Instant::now());
            Ok::<_, ()>(())
        });
        if pool.spawn(job).is_err() {
            break;
        }
    }
    pool.shutdown_now();
    let starts = starts.lock().expect("no job panics");
    let after_burst: Vec<Instant> = starts
        .iter()
        .copied()
        .skip(burst as usize)
        .filter(|t| *t <= end)
        .collect();
    let (Some(first), Some(last)) = (after_burst.first(), after_burst.last()) else {
        println!("too few starts to measure");
        return;
    };
    let span = last.duration_since(*first).as_secs_f64();
    let measured = (after_burst.len() - 1) as f64 / span;
    let error = (measured - f64::from(rate)) / f64::from(rate) * 100.0;
    println!("configured rate   {rate}/s (burst {burst}), {secs} s run");
    println!(
        "starts measured   {} after the burst, over {span:.3} s",
        after_burst.len()
    );
    println!("measured rate     {measured:.2}/s");
    println!(
        "error             {error:+.2}% ({})",
        if error.abs() <= 2.0 {
            "within the 2% target"
        } else {
            "OUTSIDE the 2% target"
        }
    );
}
