//! A soak: millions of jobs with random panics, cancels, priorities, retries, timeouts and
//! resizes, through a few pools, each ended by a different shutdown mode, with the process's
//! resident memory sampled as it goes. At the end every job must be accounted for and memory
//! must be flat.
//!
//! ```text
//! cargo run --release -p workpool --example soak -- [--jobs N] [--phases P] [--min-secs S]
//!     [--quick] [--rss-factor F] [--seed S]
//! ```
//!
//! - `--jobs N` (or `SOAK_JOBS`): jobs to submit over the whole run (default 10,000,000).
//! - `--phases P` (or `SOAK_PHASES`): pools to run one after another (default 8), each
//!   taking `N / P` jobs. Phase `k` ends with shutdown mode `k mod 4`: `shutdown`,
//!   `shutdown_timeout(1ms)`, `shutdown_now`, drop of the last handle.
//! - `--min-secs S` (or `SOAK_MIN_SECS`, default 0): after the `P` phases, keep running more
//!   phases of the same size until `S` seconds have passed (a soak of fixed length).
//! - `--quick`: 400,000 jobs, for a run of a few seconds.
//! - `--rss-factor F` (or `SOAK_RSS_FACTOR`, default 1.5): memory is flat if no resident-set
//!   sample after the warm-up (the first tenth of the first phase) exceeds F times the
//!   largest sample of the warm-up, plus 8 MiB for allocator slack.
//!
//! Each phase's producers submit with `submit`, `try_submit`, `execute`,
//! `execute_with_priority` and `spawn` (random priority, timeouts short and long, retries,
//! retried panics, delays), cancel random tasks, and resize the pool; one in 200 jobs panics.
//! Producers keep a bounded window of tasks and wait on the oldest, checking each job's run
//! count against how its task ended. When a phase has submitted its share, it is shut down
//! mid-stream, so that submissions race the close.
//!
//! Exit status: 0 when everything balances and memory is flat; 1 on an accounting mismatch
//! (the first few are printed); 2 when memory grew beyond the factor; 3 when a phase stopped
//! making progress for two minutes (a hang: the process exits instead of waiting forever).

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::collections::VecDeque;
use std::hint::black_box;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use workpool::{Job, JobContext, Pool, Priority, Retry, ShutdownReport, Task, TaskErrorKind};

const PRODUCERS: usize = 2;
/// Tasks a producer keeps before it waits on the oldest.
const WINDOW: usize = 4096;
/// A phase that completes no job for this long has hung.
const HANG: Duration = Duration::from_secs(120);

/// How a phase ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Shutdown,
    Timeout,
    Now,
    Drop,
}

impl End {
    fn of(phase: usize) -> Self {
        [End::Shutdown, End::Timeout, End::Now, End::Drop][phase % 4]
    }

    /// `true` if the end runs every accepted job.
    fn drains(self) -> bool {
        matches!(self, End::Shutdown | End::Drop)
    }
}

/// How many times a job may run, and how its task ended.
struct Tracked {
    task: Task<u64>,
    runs: Arc<AtomicU32>,
    attempts: u32,
    cancelled_by_us: bool,
}

/// Counts shared by a phase's threads.
#[derive(Default)]
struct Totals {
    accepted: AtomicU64,
    handed_back: AtomicU64,
    executed_accepted: AtomicU64,
    executed_ran: AtomicU64,
    /// Tasks waited on, per outcome: completed, failed, panicked, cancelled, timed out, not run.
    outcomes: [AtomicU64; 6],
    operations: AtomicU64,
    cancels: AtomicU64,
    resizes: AtomicU64,
}

/// What the whole run found.
#[derive(Default)]
struct Findings {
    list: Mutex<Vec<String>>,
}

impl Findings {
    fn add(&self, what: String) {
        let mut list = self.list.lock().unwrap();
        if list.len() < 20 {
            eprintln!("FINDING: {what}");
        }
        list.push(what);
    }

    fn count(&self) -> usize {
        self.list.lock().unwrap().len()
    }
}

struct Args {
    jobs: u64,
    min_secs: u64,
    phases: usize,
    rss_factor: f64,
    seed: u64,
}

fn parse_args() -> Args {
    let env = |name: &str| std::env::var(name).ok();
    let mut args = Args {
        jobs: env("SOAK_JOBS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000_000),
        phases: env("SOAK_PHASES").and_then(|v| v.parse().ok()).unwrap_or(8),
        min_secs: env("SOAK_MIN_SECS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        rss_factor: env("SOAK_RSS_FACTOR")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1.5),
        seed: env("SOAK_SEED")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| fastrand::u64(..)),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().unwrap_or_else(|| panic!("{name} needs a value"));
        match arg.as_str() {
            "--jobs" => args.jobs = value("--jobs").parse().expect("--jobs N"),
            "--phases" => args.phases = value("--phases").parse().expect("--phases P"),
            "--min-secs" => args.min_secs = value("--min-secs").parse().expect("--min-secs S"),
            "--rss-factor" => {
                args.rss_factor = value("--rss-factor").parse().expect("--rss-factor F")
            }
            "--seed" => args.seed = value("--seed").parse().expect("--seed S"),
            "--quick" => args.jobs = 400_000,
            other => panic!("unknown argument {other}; see the header of examples/soak.rs"),
        }
    }
    args.phases = args.phases.max(1);
    args
}

/// The resident set size, in bytes, from `/proc/self/statm` (0 where there is none).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A few hundred nanoseconds of arithmetic.
fn work(seed: u64) -> u64 {
    (0..(seed % 32) * 8).fold(seed, |acc, i| {
        black_box(acc.wrapping_mul(31).wrapping_add(i))
    })
}

const ON_PURPOSE: &str = "soak: on purpose";

/// The job body every kind of submission runs: counts its run, may panic or fail.
fn body(runs: &AtomicU32, seed: u64) -> Result<u64, u64> {
    let run = runs.fetch_add(1, SeqCst) + 1;
    if seed % 200 == 7 {
        panic!("{ON_PURPOSE}");
    }
    let value = work(seed);
    // A retried job fails its first `seed % 3` runs.
    if u64::from(run) <= (seed >> 8) % 3 {
        Err(value)
    } else {
        Ok(value)
    }
}

struct Producer {
    /// Taken when the producer stops, before it waits on its last tasks.
    pool: Option<Pool>,
    rng: fastrand::Rng,
    window: VecDeque<Tracked>,
    totals: Arc<Totals>,
    findings: Arc<Findings>,
    end: End,
    target: u64,
    ended: mpsc::Sender<()>,
    stop: Arc<AtomicBool>,
    resizer: bool,
}

impl Producer {
    fn pool(&self) -> &Pool {
        self.pool
            .as_ref()
            .expect("the producer holds its handle until it stops")
    }

    fn run(mut self) {
        let mut sent_end = false;
        let mut n = 0u64;
        while !self.stop.load(SeqCst) {
            n += 1;
            match self.submit_one() {
                Some(true) => {
                    let accepted = self.totals.accepted.fetch_add(1, SeqCst) + 1;
                    if accepted >= self.target && !sent_end {
                        sent_end = true;
                        let _ = self.ended.send(());
                    }
                }
                Some(false) => {
                    self.totals.handed_back.fetch_add(1, SeqCst);
                }
                None => break, // closed
            }
            if self.rng.u32(..50) == 0 && !self.window.is_empty() {
                let i = self.rng.usize(..self.window.len());
                let t = &mut self.window[i];
                t.cancelled_by_us |= t.task.cancel();
                self.totals.cancels.fetch_add(1, SeqCst);
            }
            if self.resizer && n.is_multiple_of(5_000) {
                let max = self.rng.usize(1..5);
                let min = self.rng.usize(0..=max.min(2));
                self.pool().resize(min, max);
                let keep_alive = Duration::from_millis(self.rng.u64(0..20));
                self.pool().set_keep_alive(keep_alive);
                self.totals.resizes.fetch_add(1, SeqCst);
            }
            while self.window.len() > WINDOW {
                let t = self.window.pop_front().expect("not empty");
                self.settle(t);
            }
        }
        // Drop this handle before waiting, so that a phase ended by dropping the last handle
        // ends when every producer has let go.
        drop(self.pool.take());
        while let Some(t) = self.window.pop_front() {
            self.settle(t);
        }
    }

    /// Submits one job; `Some(true)` if accepted, `Some(false)` if handed back as full,
    /// `None` once the pool is closed.
    fn submit_one(&mut self) -> Option<bool> {
        self.totals.operations.fetch_add(1, SeqCst);
        let seed = self.rng.u64(..);
        let runs = Arc::new(AtomicU32::new(0));
        let r = Arc::clone(&runs);
        let plain = move || body(&r, seed).unwrap_or_else(|e| e);
        let track = |task, attempts| Tracked {
            task,
            runs: Arc::clone(&runs),
            attempts,
            cancelled_by_us: false,
        };
        match self.rng.u32(..100) {
            0..60 => match self.pool().submit(plain) {
                Ok(task) => self.window.push_back(track(task, 1)),
                Err(_) => return None,
            },
            60..70 => match self.pool().try_submit(plain) {
                Ok(task) => self.window.push_back(track(task, 1)),
                Err(e) if e.is_full() => return Some(false),
                Err(_) => return None,
            },
            70..80 => {
                let ran = Arc::clone(&self.totals);
                let job = move || {
                    ran.executed_ran.fetch_add(1, SeqCst);
                    black_box(plain());
                };
                let priority = Priority::new(self.rng.u8(..));
                let res = if seed.is_multiple_of(2) {
                    self.pool().execute(job)
                } else {
                    self.pool().execute_with_priority(priority, job)
                };
                if res.is_err() {
                    return None;
                }
                self.totals.executed_accepted.fetch_add(1, SeqCst);
            }
            _ => {
                let r = Arc::clone(&runs);
                let mut job = Job::new(move |_: &JobContext| body(&r, seed))
                    .priority(Priority::new(self.rng.u8(..)));
                if self.rng.u32(..3) == 0 {
                    // Half short (some expire), half long: a long timeout never fires, but
                    // its bookkeeping must not outlive the job.
                    job = job.timeout(if self.rng.bool() {
                        Duration::from_micros(self.rng.u64(0..3_000))
                    } else {
                        Duration::from_secs(600)
                    });
                }
                let mut attempts = 1;
                if self.rng.u32(..4) == 0 {
                    attempts = 3;
                    job = job.retry(
                        Retry::constant(3, Duration::from_micros(self.rng.u64(0..100)))
                            .retry_panics(self.rng.bool()),
                    );
                }
                if self.rng.u32(..20) == 0 {
                    job = job.delay(Duration::from_micros(self.rng.u64(0..500)));
                }
                match self.pool().spawn(job) {
                    Ok(task) => self.window.push_back(track(task, attempts)),
                    Err(_) => return None,
                }
            }
        }
        Some(true)
    }

    /// Waits on a task and checks its job's runs against how it ended.
    fn settle(&self, t: Tracked) {
        let result = t.task.wait();
        let runs = t.runs.load(SeqCst);
        let kind = match &result {
            Ok(_) => 0,
            Err(e) => match e.kind() {
                TaskErrorKind::Failed => 1,
                TaskErrorKind::Panicked => 2,
                TaskErrorKind::Cancelled => 3,
                TaskErrorKind::TimedOut => 4,
                TaskErrorKind::NotRun => 5,
                other => {
                    self.findings
                        .add(format!("a task ended in an unknown way: {other:?}"));
                    return;
                }
            },
        };
        self.totals.outcomes[kind].fetch_add(1, SeqCst);
        let fine = match kind {
            0..=2 => (1..=t.attempts).contains(&runs),
            5 => runs == 0,
            _ => runs <= t.attempts,
        };
        if !fine {
            self.findings.add(format!(
                "a job with {} attempts ran {runs} times and ended as {result:?}",
                t.attempts
            ));
        }
        if t.cancelled_by_us && kind != 3 {
            self.findings.add(format!(
                "cancel() returned true, yet the task ended as {result:?}"
            ));
        }
        if self.end.drains() && kind == 5 {
            self.findings.add(format!(
                "a graceful end ({:?}) left a job not run",
                self.end
            ));
        }
    }
}

fn balanced(r: &ShutdownReport) -> bool {
    r.submitted
        == r.completed
            + r.failed
            + r.cancelled
            + r.timed_out
            + r.never_started
            + r.still_running as u64
}

/// Runs one phase: a pool, its producers, its end. Returns the jobs it accepted.
fn phase(k: usize, jobs: u64, seed: u64, findings: &Arc<Findings>, done: &Arc<AtomicU64>) -> u64 {
    let end = End::of(k);
    let pool = Pool::builder()
        .min_workers(1)
        .max_workers(3)
        .keep_alive(Duration::from_millis(5))
        .queue_capacity(512)
        .thread_name(format!("soak{k}"))
        .build()
        .expect("a valid configuration builds");
    let totals = Arc::new(Totals::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (ended_tx, ended_rx) = mpsc::channel();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let producer = Producer {
                pool: Some(pool.clone()),
                rng: fastrand::Rng::with_seed(seed ^ (k as u64) << 8 ^ p as u64),
                window: VecDeque::with_capacity(WINDOW + 1),
                totals: Arc::clone(&totals),
                findings: Arc::clone(findings),
                end,
                target: jobs,
                ended: ended_tx.clone(),
                stop: Arc::clone(&stop),
                resizer: p == 0,
            };
            thread::Builder::new()
                .name(format!("producer-{k}-{p}"))
                .spawn(move || producer.run())
                .expect("spawn a producer")
        })
        .collect();
    drop(ended_tx);
    let _ = ended_rx.recv();

    let mut pool = Some(pool);
    let first = match end {
        End::Shutdown => pool.as_ref().map(Pool::shutdown),
        End::Timeout => pool
            .as_ref()
            .map(|p| p.shutdown_timeout(Duration::from_millis(1))),
        End::Now => pool.as_ref().map(Pool::shutdown_now),
        End::Drop => {
            stop.store(true, SeqCst);
            drop(pool.take());
            None
        }
    };
    if let Some(first) = &first {
        if !balanced(first) {
            findings.add(format!(
                "phase {k}: the {end:?} report does not balance: {first:?}"
            ));
        }
    }
    // With the pool closed, producers stop at their next submission.
    stop.store(true, SeqCst);
    for p in producers {
        if p.join().is_err() {
            findings.add(format!("phase {k}: a producer panicked"));
        }
    }
    // A shutdown that gave up leaves jobs finishing in the background; a graceful one after
    // it waits for them, so that its counts are final.
    let settled = pool.take().map(|p| p.shutdown());
    let accepted = totals.accepted.load(SeqCst);
    let executed = totals.executed_accepted.load(SeqCst);
    let ran = totals.executed_ran.load(SeqCst);
    let o: Vec<u64> = totals.outcomes.iter().map(|c| c.load(SeqCst)).collect();
    let waited: u64 = o.iter().sum();
    if waited + executed != accepted {
        findings.add(format!(
            "phase {k}: {accepted} accepted, but {waited} tasks and {executed} execute jobs"
        ));
    }
    if ran > executed || (end.drains() && ran != executed) {
        findings.add(format!(
            "phase {k} ({end:?}): {ran} of {executed} execute jobs ran"
        ));
    }
    let mut line = format!(
        "phase {k} {end:?}: accepted {accepted} (tasks {waited}, execute {executed}), \
         handed back {}, tasks: completed {} failed {} panicked {} cancelled {} timed_out {} \
         not_run {}; cancels {} resizes {}",
        totals.handed_back.load(SeqCst),
        o[0],
        o[1],
        o[2],
        o[3],
        o[4],
        o[5],
        totals.cancels.load(SeqCst),
        totals.resizes.load(SeqCst),
    );
    if let Some(r) = &settled {
        line.push_str(&format!(
            "\n  report: submitted {} completed {} failed {} (panicked {}) cancelled {} \
             timed_out {} never_started {} still_running {}",
            r.submitted,
            r.completed,
            r.failed,
            r.panicked,
            r.cancelled,
            r.timed_out,
            r.never_started,
            r.still_running,
        ));
        if let Some(first) = &first {
            line.push_str(&format!(
                " (first report: still_running {} timeout_hit {})",
                first.still_running, first.timeout_hit
            ));
        }
        if !balanced(r) || r.still_running != 0 {
            findings.add(format!(
                "phase {k}: the settled report does not balance: {r:?}"
            ));
        }
        if r.submitted != accepted {
            findings.add(format!(
                "phase {k}: the report counts {} submitted, the producers {accepted}",
                r.submitted
            ));
        }
        // Handles are a subset of the jobs: execute jobs have none.
        let handles = [o[0], o[1] + o[2], o[2], o[3], o[4], o[5]];
        let counted = [
            r.completed,
            r.failed,
            r.panicked,
            r.cancelled,
            r.timed_out,
            r.never_started,
        ];
        if handles.iter().zip(&counted).any(|(h, c)| h > c) {
            findings.add(format!(
                "phase {k}: handles saw more of a kind than the report counts: {handles:?} \
                 (completed, failed, panicked, cancelled, timed_out, not run) vs {r:?}"
            ));
        }
    }
    println!("{line}");
    done.fetch_add(accepted, SeqCst);
    totals.operations.load(SeqCst) + totals.cancels.load(SeqCst) + totals.resizes.load(SeqCst)
}

fn main() -> ExitCode {
    let args = parse_args();
    std::panic::set_hook(Box::new(|info| {
        if !info.to_string().contains(ON_PURPOSE) {
            eprintln!("{info}");
        }
    }));
    let per_phase = args.jobs.div_ceil(args.phases as u64);
    println!(
        "soak: {} jobs in {} phases of {per_phase}, seed {}, rss factor {}",
        args.jobs, args.phases, args.seed, args.rss_factor
    );
    let findings = Arc::new(Findings::default());
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();

    // The sampler prints the resident set every few seconds and keeps every sample; it also
    // notices a run that stopped making progress.
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let samples = Arc::new(Mutex::new(Vec::<(u64, u64)>::new()));
    let sampler = {
        let (samples, done) = (Arc::clone(&samples), Arc::clone(&done));
        let every = if args.jobs < 2_000_000 && args.min_secs == 0 {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(5)
        };
        thread::spawn(move || {
            let mut last = (0u64, Instant::now());
            while let Err(mpsc::RecvTimeoutError::Timeout) = stop_rx.recv_timeout(every) {
                let (rss, jobs) = (rss(), done.load(SeqCst));
                samples.lock().unwrap().push((jobs, rss));
                println!(
                    "  [{:>6.1}s] jobs done {jobs:>10} rss {:>7.1} MiB",
                    started.elapsed().as_secs_f64(),
                    mib(rss)
                );
                if jobs != last.0 {
                    last = (jobs, Instant::now());
                } else if last.1.elapsed() > HANG {
                    eprintln!("HANG: no phase ended for {HANG:?}; giving up");
                    // The figures so far, in the form scripts/soak.sh reads.
                    println!(
                        "soak: operations {jobs} (or more), jobs accepted {jobs}, hung after {:.1}s",
                        started.elapsed().as_secs_f64()
                    );
                    println!("soak: findings 1 (a hang)");
                    std::process::exit(3);
                }
            }
        })
    };

    let mut operations = 0;
    let mut phases = 0;
    while phases < args.phases || started.elapsed().as_secs() < args.min_secs {
        operations += phase(phases, per_phase, args.seed, &findings, &done);
        phases += 1;
    }
    drop(stop_tx);
    sampler.join().expect("the sampler never panics");

    let samples = samples.lock().unwrap().clone();
    let warmup_end = per_phase / 10;
    let baseline = samples
        .iter()
        .filter(|s| s.0 <= warmup_end)
        .map(|s| s.1)
        .max()
        .or_else(|| samples.first().map(|s| s.1))
        .unwrap_or_else(rss);
    let peak = samples
        .iter()
        .map(|s| s.1)
        .max()
        .unwrap_or(baseline)
        .max(rss());
    let limit = (baseline as f64 * args.rss_factor) as u64 + 8 * 1024 * 1024;
    let elapsed = started.elapsed();
    let accepted = done.load(SeqCst);
    println!(
        "soak: operations {operations}, jobs accepted {accepted}, phases {phases}, {:.1}s ({:.0} jobs/s)",
        elapsed.as_secs_f64(),
        accepted as f64 / elapsed.as_secs_f64()
    );
    println!(
        "soak: rss baseline {:.1} MiB, peak {:.1} MiB, final {:.1} MiB, limit {:.1} MiB ({} samples)",
        mib(baseline),
        mib(peak),
        mib(rss()),
        mib(limit),
        samples.len()
    );
    let n = findings.count();
    println!("soak: findings {n}");
    if n > 0 {
        return ExitCode::from(1);
    }
    if peak > limit {
        println!(
            "soak: memory grew beyond {}x the warm-up's",
            args.rss_factor
        );
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
