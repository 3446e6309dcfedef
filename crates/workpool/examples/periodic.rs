//! Periodic jobs: fixed rate (the default) against fixed delay, each run taking 20 ms.
//!
//! A fixed-rate job starts on a grid, every 50 ms from its first run. A fixed-delay job
//! starts 50 ms after its previous run *ended*, so it drifts by the run time each period.
//! One series is cancelled through its handle; the shutdown ends the other, whose handle
//! then resolves as cancelled.
//!
//! Run with `cargo run -p workpool --example periodic`.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::{Duration, Instant};

use workpool::{Job, JobContext, Pool, Task};

const MS: Duration = Duration::from_millis(1);

type Runs = Arc<Mutex<Vec<Duration>>>;

/// Queues a job every 50 ms whose runs take 20 ms and record their start (from `t0`).
fn periodic(pool: &Pool, t0: Instant, runs: &Runs, fixed_delay: bool) -> Task<()> {
    let runs = Arc::clone(runs);
    let mut job = Job::new(move |_: &JobContext| {
        runs.lock().unwrap().push(t0.elapsed());
        sleep(20 * MS); // the run's work
        Ok::<_, Infallible>(())
    })
    .every(50 * MS);
    if fixed_delay {
        job = job.fixed_delay();
    }
    pool.spawn(job).expect("the pool is open")
}

fn show(name: &str, runs: &Runs) {
    let runs = runs.lock().unwrap();
    let starts: Vec<String> = runs
        .iter()
        .map(|d| format!("{:.0}", d.as_secs_f64() * 1e3))
        .collect();
    let gaps: Vec<String> = runs
        .windows(2)
        .map(|w| format!("{:.0}", (w[1] - w[0]).as_secs_f64() * 1e3))
        .collect();
    println!("{name}: {} runs", runs.len());
    println!("  started at (ms): {}", starts.join(", "));
    println!("  gaps (ms):       {}", gaps.join(", "));
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::new(2);
    let t0 = Instant::now();
    let (rate_runs, delay_runs): (Runs, Runs) = Default::default();
    let fixed_rate = periodic(&pool, t0, &rate_runs, false);
    let fixed_delay = periodic(&pool, t0, &delay_runs, true);

    // Let both run for a while, then stop the fixed-delay series through its handle.
    sleep(300 * MS);
    println!(
        "+{}ms: fixed_delay.cancel() -> {}",
        t0.elapsed().as_millis(),
        fixed_delay.cancel()
    );
    println!("  its handle: {}", fixed_delay.wait().unwrap_err());
    let stopped_after = delay_runs.lock().unwrap().len();

    // The fixed-rate series keeps going until the pool shuts down.
    sleep(200 * MS);
    println!("+{}ms: shutdown()", t0.elapsed().as_millis());
    let report = pool.shutdown();
    println!("  fixed_rate's handle: {}", fixed_rate.wait().unwrap_err());
    println!("  {report:?}\n");

    show("every(50ms), fixed rate", &rate_runs);
    show("every(50ms).fixed_delay()", &delay_runs);
    let now = delay_runs.lock().unwrap().len();
    println!(
        "\nfixed-delay runs after its cancel: {}",
        now - stopped_after
    );
    Ok(())
}
