//! Deadlines and cancellation on a one-worker pool.
//!
//! 1. A cooperative job (it waits with `ctx.sleep`) stops promptly when its timeout passes.
//! 2. A job that ignores its context overruns its timeout: its handle still resolves as
//!    timed out on time, and a replacement worker runs the queued jobs meanwhile.
//! 3. `Task::cancel` stops a running job that polls `ctx.is_cancelled()`.
//!
//! Run with `cargo run -p workpool --example deadlines`.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::convert::Infallible;
use std::sync::mpsc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use workpool::{Job, JobContext, Pool};

const MS: Duration = Duration::from_millis(1);

fn ms(d: Duration) -> String {
    format!("{:.0}ms", d.as_secs_f64() * 1e3)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::builder().workers(1).max_replacements(1).build()?;

    // 1. Cooperative: `ctx.sleep` returns false as soon as the deadline passes.
    let t0 = Instant::now();
    let (done_tx, done) = mpsc::channel();
    let job = Job::new(move |ctx: &JobContext| {
        let mut steps = 0;
        while ctx.sleep(10 * MS) {
            steps += 1; // one step of work every 10 ms, until told to stop
        }
        done_tx.send((steps, t0.elapsed())).unwrap();
        Ok::<_, Infallible>(steps)
    });
    // Normally "job timed out"; printed either way, since the job may return first.
    let result = pool.spawn(job.timeout(100 * MS))?.wait();
    let outcome = result.map_or_else(|e| e.to_string(), |steps| format!("Ok({steps})"));
    println!(
        "1. cooperative, timeout 100ms: resolved at +{}: {outcome}",
        ms(t0.elapsed())
    );
    let (steps, stopped) = done.recv()?;
    println!(
        "   the job itself returned at +{} after {steps} steps",
        ms(stopped)
    );

    // 2. Non-cooperative: a 400 ms blocking sleep with a 100 ms timeout, then three short
    //    jobs queued behind it on the pool's only worker.
    let t0 = Instant::now();
    let stubborn = Job::new(|_: &JobContext| {
        sleep(400 * MS); // never looks at its context
        Ok::<_, Infallible>(())
    });
    let stubborn = pool.spawn(stubborn.timeout(100 * MS))?;
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(pool.spawn(Job::new(move |ctx: &JobContext| {
            let started = t0.elapsed();
            sleep(50 * MS);
            Ok::<_, Infallible>((started, ctx.worker_id()))
        }))?);
    }
    let err = stubborn.wait().unwrap_err();
    println!(
        "\n2. stubborn, timeout 100ms: resolved at +{}: {err}",
        ms(t0.elapsed())
    );
    sleep(50 * MS);
    let s = pool.stats();
    println!(
        "   at +{}: workers {}, busy {}, overdue {}, replacements {}",
        ms(t0.elapsed()),
        s.workers,
        s.busy,
        s.overdue,
        s.replacements
    );
    for (i, task) in others.into_iter().enumerate() {
        let (started, worker) = task.wait()?;
        println!(
            "   queued job {i} ran at +{} on worker {worker}",
            ms(started)
        );
    }
    sleep((450 * MS).saturating_sub(t0.elapsed())); // until the stubborn job has returned
    let s = pool.stats();
    println!(
        "   at +{}: the stubborn job has returned; workers {}, overdue {}",
        ms(t0.elapsed()),
        s.workers,
        s.overdue
    );

    // 3. Task::cancel on a running job that polls `ctx.is_cancelled()` between chunks.
    let (started_tx, started) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    let task = pool.spawn(Job::new(move |ctx: &JobContext| {
        started_tx.send(()).unwrap();
        let mut chunks = 0;
        while !ctx.is_cancelled() {
            sleep(5 * MS); // a chunk of CPU work
            chunks += 1;
        }
        done_tx.send((chunks, Instant::now())).unwrap();
        Ok::<_, Infallible>(chunks)
    }))?;
    started.recv()?;
    sleep(50 * MS);
    let cancelled_at = Instant::now();
    println!("\n3. running job: cancel() -> {}", task.cancel());
    let (chunks, stopped) = done.recv()?;
    println!(
        "   the job noticed {} later, after {chunks} chunks; handle: {}",
        ms(stopped - cancelled_at),
        task.wait().unwrap_err()
    );

    println!("\n{:?}", pool.shutdown());
    Ok(())
}
