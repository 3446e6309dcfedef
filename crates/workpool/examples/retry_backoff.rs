//! Retries with exponential backoff, a cap and jitter; a job that never succeeds; and a
//! `retry_if` predicate that gives up at once on a fatal error.
//!
//! Between attempts a job waits in the pool's delay queue, so no worker sleeps for it.
//!
//! Run with `cargo run -p workpool --example retry_backoff`.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use workpool::{Job, JobContext, Pool, Retry};

const MS: Duration = Duration::from_millis(1);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::new(2);
    let t0 = Instant::now();

    // 1. A flaky call that fails its first three attempts. The policy allows 5 runs,
    //    waiting 20, 40, 80, 160 ms (each ± 20 % jitter, capped at 200 ms) between them.
    println!("flaky job, Retry::exponential(5, 20ms).max_delay(200ms).jitter(0.2):");
    let mut previous: Option<Instant> = None;
    let flaky = Job::new(move |ctx: &JobContext| {
        let now = Instant::now();
        let gap = previous.map_or("first run".to_owned(), |p| {
            format!(
                "{:.1}ms after the previous attempt",
                (now - p).as_secs_f64() * 1e3
            )
        });
        previous = Some(now);
        let at = t0.elapsed().as_secs_f64() * 1e3;
        println!("  attempt {} at +{at:.1}ms: {gap}", ctx.attempt());
        if ctx.attempt() <= 3 {
            Err(format!("connection reset (attempt {})", ctx.attempt()))
        } else {
            Ok("200 OK")
        }
    })
    .retry(
        Retry::exponential(5, 20 * MS)
            .max_delay(200 * MS)
            .jitter(0.2),
    );
    let result = pool.spawn(flaky)?.wait()?;
    println!("  -> {result}\n");

    // 2. A call that always fails: after its last attempt the handle resolves to a
    //    TaskError whose Display carries the attempt count and the last error.
    let doomed = Job::new(|ctx: &JobContext| {
        Err::<(), _>(format!(
            "503 Service Unavailable (attempt {})",
            ctx.attempt()
        ))
    })
    .retry(Retry::exponential(3, 10 * MS));
    let err = pool.spawn(doomed)?.wait().unwrap_err();
    println!("always failing job, Retry::exponential(3, 10ms):");
    println!("  Display:          {err}");
    println!("  attempts():       {}", err.attempts());
    println!("  error_message():  {:?}", err.error_message());
    println!("  into_error():     {:?}\n", err.into_error::<String>());

    // 3. retry_if: transient errors are retried, fatal ones end the job at once.
    let policy = Retry::exponential(5, 10 * MS).retry_if(|e: &String| !e.starts_with("fatal"));
    let fatal = Job::new(|ctx: &JobContext| {
        println!("  attempt {}", ctx.attempt());
        Err::<(), _>("fatal: invalid API key".to_owned())
    })
    .retry(policy.clone());
    println!("fatal error with retry_if(|e| !e.starts_with(\"fatal\")):");
    let err = pool.spawn(fatal)?.wait().unwrap_err();
    println!("  -> {err} (attempts: {})", err.attempts());

    let transient = Job::new(|ctx: &JobContext| {
        println!("  attempt {}", ctx.attempt());
        Err::<(), _>("timeout".to_owned())
    })
    .retry(policy);
    println!("transient error with the same policy:");
    let err = pool.spawn(transient)?.wait().unwrap_err();
    println!("  -> {err} (attempts: {})\n", err.attempts());

    let stats = pool.stats();
    println!(
        "stats: completed {}, failed {}, retried {} (runs that failed and were scheduled again)",
        stats.completed, stats.failed, stats.retried
    );
    pool.shutdown();
    Ok(())
}
