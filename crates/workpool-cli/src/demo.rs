//! `workpool demo`: the classic worker-pool demonstration. Jobs of random length arrive over
//! time; workers take them; every event is a line, and a status line of queue depth and
//! worker states comes every ~250 ms. Flags show off priorities, rate limits, retries of
//! injected failures and dynamic sizing; `--speed` runs it all faster.

use std::io::{self, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use workpool::{Job, JobContext, Pool, Priority, RateLimit, Retry, Stats};

use crate::config::{DemoConfig, Sizing};
use crate::error::CliError;
use crate::exit::Exit;
use crate::input::priority_name;
use crate::units::fmt_duration;

/// Time between two status lines, before `--speed`.
const STATUS_EVERY: Duration = Duration::from_millis(250);
/// Status lines never come faster than this, however high the speed.
const STATUS_FLOOR: Duration = Duration::from_millis(1);
/// First retry delay (before `--speed`); later ones double.
const RETRY_BASE: Duration = Duration::from_millis(100);
/// How long an idle worker above `--min` stays (before `--speed`).
const KEEP_ALIVE: Duration = Duration::from_secs(1);

/// One planned job.
#[derive(Debug, Clone, Copy)]
struct Planned {
    n: u32,
    length: Duration,
    priority: Priority,
    seed: u64,
}

/// Runs the demonstration.
///
/// # Errors
///
/// [`CliError::Pool`] if the pool cannot start.
pub fn demo(cfg: &DemoConfig) -> Result<Exit, CliError> {
    let plan = plan(cfg);
    let t0 = Instant::now();
    say(
        t0,
        &format!(
            "demo: {} jobs of {}-{}ms arriving every {}ms, {}; seed {}{}",
            cfg.jobs,
            cfg.min.as_millis(),
            cfg.max.as_millis(),
            cfg.arrival.as_millis(),
            match cfg.sizing {
                Sizing::Fixed(n) => format!("{n} workers"),
                Sizing::Dynamic { min, max } => format!("{min}-{max} workers"),
            },
            cfg.seed,
            if cfg.speed == 1.0 {
                String::new()
            } else {
                format!(", {}x speed", cfg.speed)
            },
        ),
    );

    let mut builder = cfg
        .sizing
        .apply(Pool::builder())
        .thread_name("demo")
        .keep_alive(cfg.scaled(KEEP_ALIVE));
    if let Some(rate) = cfg.rate {
        let period = cfg.scaled(rate.period).max(Duration::from_micros(1));
        builder = builder.rate_limit(RateLimit::per(rate.count, period));
    }
    let pool = builder.build()?;

    let (stop_status, stopped) = mpsc::channel::<()>();
    let status = {
        let pool = pool.clone();
        let every = cfg.scaled(STATUS_EVERY).max(STATUS_FLOOR);
        thread::spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                say(t0, &status_line(&pool.stats()));
            }
        })
    };

    let mut tasks = Vec::with_capacity(plan.len());
    for job in &plan {
        let due = t0 + cfg.scaled(cfg.arrival) * (job.n - 1);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        say(
            t0,
            &format!(
                "job {} arrived ({}, {})",
                job.n,
                priority_name(job.priority.level()),
                fmt_duration(job.length)
            ),
        );
        match pool.spawn(demo_job(*job, cfg, t0)) {
            Ok(task) => tasks.push((job.n, task)),
            Err(_) => say(
                t0,
                &format!("job {} was refused: the pool is shut down", job.n),
            ),
        }
    }
    let mut failed = 0;
    for (n, task) in tasks {
        if let Err(err) = task.wait() {
            failed += 1;
            say(
                t0,
                &format!("job {n} gave up after {} attempts: {err}", err.attempts()),
            );
        }
    }
    let _ = stop_status.send(());
    let _ = status.join();
    let stats = pool.stats();
    let report = pool.shutdown();
    say(t0, &status_line(&stats));
    println!(
        "done in {}: {} jobs, {} completed, {failed} failed, {} retries, {} rate-limited waits",
        fmt_duration(t0.elapsed()),
        report.submitted,
        report.completed,
        stats.retried,
        stats.rate_limited,
    );
    let latency = |name: &str, l: workpool::Latency| {
        println!(
            "{name}: p50 {}, p90 {}, p99 {}, max {}",
            fmt_duration(l.p50),
            fmt_duration(l.p90),
            fmt_duration(l.p99),
            fmt_duration(l.max)
        );
    };
    latency("queue wait", stats.queue_wait);
    latency("run time", stats.run_time);
    println!(
        "workers: {} at the end (min {}, max {}), {} joined at shutdown",
        stats.workers, stats.min_workers, stats.max_workers, report.workers_joined
    );
    Ok(Exit::Success)
}

/// Every random choice, made up front from the seed.
fn plan(cfg: &DemoConfig) -> Vec<Planned> {
    let mut rng = fastrand::Rng::with_seed(cfg.seed);
    let (min, max) = (cfg.min.as_millis() as u64, cfg.max.as_millis() as u64);
    (1..=cfg.jobs)
        .map(|n| Planned {
            n,
            length: Duration::from_millis(rng.u64(min..=max)),
            priority: if cfg.priority_mix {
                [Priority::LOW, Priority::NORMAL, Priority::HIGH][rng.usize(..3)]
            } else {
                Priority::NORMAL
            },
            seed: rng.u64(..),
        })
        .collect()
}

type DemoBody = dyn FnMut(&JobContext) -> Result<(), String> + Send;

/// The pool job for one planned job: sleeps its length, and fails as the seed says.
fn demo_job(job: Planned, cfg: &DemoConfig, t0: Instant) -> Job<Box<DemoBody>, (), String> {
    let length = cfg.scaled(job.length);
    let (fail_rate, max_runs) = (cfg.fail_rate, cfg.retries.saturating_add(1));
    let body: Box<DemoBody> = Box::new(move |ctx: &JobContext| {
        let worker = ctx.worker_id() + 1;
        let attempt = ctx.attempt();
        let again = if attempt > 1 {
            format!(" (attempt {attempt})")
        } else {
            String::new()
        };
        say(t0, &format!("worker {worker} started job {}{again}", job.n));
        let start = Instant::now();
        if !ctx.sleep(length) {
            say(
                t0,
                &format!("worker {worker} stopped job {}: cancelled", job.n),
            );
            return Err("cancelled".to_owned());
        }
        let took = fmt_duration(start.elapsed());
        let roll = fastrand::Rng::with_seed(job.seed ^ u64::from(attempt)).f64();
        if roll < fail_rate {
            let next = if attempt < max_runs {
                ", will retry"
            } else {
                ""
            };
            say(
                t0,
                &format!("worker {worker} failed job {} after {took}{next}", job.n),
            );
            return Err("injected failure".to_owned());
        }
        say(
            t0,
            &format!("worker {worker} finished job {} in {took}", job.n),
        );
        Ok(())
    });
    let mut spawned = Job::new(body).priority(job.priority);
    if max_runs > 1 {
        spawned = spawned.retry(Retry::exponential(max_runs, cfg.scaled(RETRY_BASE)).jitter(0.2));
    }
    spawned
}

/// The status line: queue depth by priority and what the workers do.
fn status_line(stats: &Stats) -> String {
    let lanes: Vec<String> = stats
        .queued_by_priority
        .iter()
        .map(|(p, n)| format!("{} {n}", priority_name(p.level())))
        .collect();
    let lanes = if lanes.is_empty() {
        String::new()
    } else {
        format!(" ({})", lanes.join(", "))
    };
    format!(
        "status: queued {}{lanes}, waiting {}, workers {} (busy {}, idle {}), done {}, failed {}",
        stats.queued,
        stats.delayed,
        stats.workers,
        stats.busy,
        stats.idle,
        stats.completed,
        stats.failed
    )
}

/// Prints one event line with the time since the start.
fn say(t0: Instant, line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "[{:>7.3}s] {line}", t0.elapsed().as_secs_f64());
}
