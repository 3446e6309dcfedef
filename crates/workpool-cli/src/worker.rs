//! `workpool worker`: runs the command jobs of a durable queue with the same process
//! handling as `workpool run` (see [`crate::run::process`]), on a
//! [`workpool_queue::Worker`].

use std::io::{self, Write};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use workpool_queue::{ClaimedJob, Context, Worker};

use crate::cli::WorkerArgs;
use crate::config::cores;
use crate::error::CliError;
use crate::exit::Exit;
use crate::input::JobSpec;
use crate::queue::{open, COMMAND_KIND};
use crate::run::groups::Groups;
use crate::run::process::{self, Attempt, Ending, Status, Supervision};
use crate::run::progress::Progress;
use crate::run::summary::{durations_line, Counts};
use crate::units::fmt_duration;

/// What the handler threads share with the command's main thread.
struct Tally {
    counts: Mutex<Counts>,
    /// The runs' durations, for the summary's percentiles: a histogram (microseconds, three
    /// significant digits), so that a worker that runs for months keeps a fixed size.
    durations: Mutex<Histogram<u64>>,
    running: AtomicUsize,
    progress: Progress,
}

/// `workpool worker`.
pub fn worker(args: &WorkerArgs, stderr_is_terminal: bool) -> Result<Exit, CliError> {
    let queue = open(&args.db)?;
    let total = {
        let s = queue.status(&args.db.queue)?;
        usize::try_from(s.queued + s.scheduled + s.running).unwrap_or(usize::MAX)
    };
    let tally = Arc::new(Tally {
        counts: Mutex::new(Counts::default()),
        durations: Mutex::new(
            // From 1 µs to a day: a histogram without bounds records nothing above 2 ms
            // with `saturating_record`.
            Histogram::new_with_bounds(1, 86_400_000_000, 3)
                .map_err(|e| CliError::usage(format!("cannot make a histogram: {e}")))?,
        ),
        running: AtomicUsize::new(0),
        progress: Progress::new(stderr_is_terminal && !args.quiet, total),
    });
    let watch = Supervision {
        timeout: args
            .timeout
            .filter(|t| !t.is_zero())
            .map(crate::run::timeout::Timeout::Fixed),
        kill_grace: args.kill_grace,
        ungroup: false,
    };
    let max_output = args.max_output;
    let concurrency = args
        .jobs
        .map_or_else(cores, |n| usize::try_from(n).unwrap_or(1));
    let handler_tally = Arc::clone(&tally);
    let worker = Worker::builder(queue)
        .queue(args.db.queue.clone())
        .concurrency(concurrency)
        .prefetch(usize::try_from(args.prefetch).unwrap_or(usize::MAX))
        .lease(args.lease)
        .poll_interval(args.poll)
        .grace(args.grace)
        .backoff(args.backoff.base, args.backoff.cap)
        .exit_when_empty(args.exit_when_empty)
        .handle(COMMAND_KIND, move |job: &ClaimedJob, ctx: &Context<'_>| {
            run_command(job, ctx, &watch, max_output, &handler_tally)
        })
        .build()?;
    process::become_subreaper();

    // The first signal that stopped the worker (0: none): it decides the exit code.
    let interrupted = Arc::new(AtomicI32::new(0));
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| CliError::usage(format!("cannot handle signals: {e}")))?;
    let signal_handle = signals.handle();
    let watcher = {
        let (handle, interrupted, tally) = (
            worker.shutdown_handle(),
            Arc::clone(&interrupted),
            Arc::clone(&tally),
        );
        let grace = args.grace;
        thread::spawn(move || {
            for signal in signals.forever() {
                let running = tally.running.load(Ordering::Relaxed);
                let first = interrupted
                    .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok();
                if !first {
                    tally.progress.note(&format!(
                        "workpool: interrupted again: ending {running} running jobs and handing them back"
                    ));
                    handle.kill();
                } else {
                    tally.progress.note(&format!(
                        "workpool: interrupted: claiming no more jobs, waiting up to {} for {running} running (a second ctrl-c or signal ends them)",
                        fmt_duration(grace)
                    ));
                    handle.stop();
                }
            }
        })
    };
    let started = Instant::now();
    let report = worker.run();
    signal_handle.close();
    let _ = watcher.join();
    let report = report?;
    tally.progress.finish();
    let counts = tally
        .counts
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if !args.quiet {
        let wall = started.elapsed();
        let ran = counts.ran();
        eprintln!(
            "workpool: worker: {ran} runs in {} ({:.1}/s): {} ok, {} failed, {} timed out, {} cancelled; {} failures to retry later, {} handed back, {} refused (lease lost)",
            fmt_duration(wall),
            ran as f64 / wall.as_secs_f64().max(1e-3),
            counts.ok,
            counts.failed,
            counts.timed_out,
            counts.cancelled,
            report.retried,
            report.released,
            report.refused,
        );
        let durations = tally
            .durations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !durations.is_empty() {
            let at = |q: f64| Duration::from_micros(durations.value_at_quantile(q));
            eprint!("{}", durations_line(at(0.50), at(0.90), at(0.99)));
        }
    }
    // 128 + the signal, as `workpool run` ends: 130 after Ctrl-C, 143 after SIGTERM.
    Ok(match interrupted.load(Ordering::SeqCst) {
        0 => None,
        SIGINT => Some(Exit::Interrupted),
        signal => Some(Exit::Signalled(signal)),
    }
    .unwrap_or(if report.failed > 0 || report.cancelled > 0 {
        Exit::JobsFailed
    } else {
        Exit::Success
    }))
}

/// Runs one command job as `workpool run` would, records its output and prints it.
fn run_command(
    job: &ClaimedJob,
    ctx: &Context<'_>,
    watch: &Supervision,
    max_output: u64,
    tally: &Tally,
) -> Result<(), String> {
    let spec = spec_of(job)?;
    tally.running.fetch_add(1, Ordering::Relaxed);
    let mut attempt = process::run_once(
        &spec,
        watch,
        ctx.pool_context(),
        ctx.cancel_flag(),
        &Groups::default(),
        0,
        None,
    );
    tally.running.fetch_sub(1, Ordering::Relaxed);
    let (stdout, out_cut) = attempt.stdout.head(max_output);
    let (stderr, err_cut) = attempt.stderr.head(max_output);
    ctx.set_output(json!({
        "exit": attempt.status.code(),
        "signal": attempt.status.signal(),
        "outcome": outcome_name(&attempt),
        "duration_ms": attempt.elapsed.as_millis() as u64,
        "stdout": stdout,
        "stderr": stderr,
        "truncated": out_cut || err_cut,
    }));
    tally.progress.suspend(|| {
        if !attempt.stdout.is_empty() {
            let mut out = io::stdout().lock();
            let _ = attempt.stdout.write_to(&mut out).and_then(|()| out.flush());
        }
        if !attempt.stderr.is_empty() {
            let mut err = io::stderr().lock();
            let _ = attempt.stderr.write_to(&mut err).and_then(|()| err.flush());
        }
    });
    tally
        .durations
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .saturating_record(u64::try_from(attempt.elapsed.as_micros()).unwrap_or(u64::MAX));
    {
        let mut counts = tally.counts.lock().unwrap_or_else(PoisonError::into_inner);
        match (attempt.succeeded(), attempt.ending) {
            (true, _) => counts.ok += 1,
            (false, Ending::TimedOut) => counts.timed_out += 1,
            (false, Ending::Cancelled) => counts.cancelled += 1,
            (false, Ending::Exited) => counts.failed += 1,
        }
        let running = tally.running.load(Ordering::Relaxed);
        tally.progress.update(&counts, running, 0);
    }
    if attempt.succeeded() {
        Ok(())
    } else {
        Err(describe(&attempt, job.id.0))
    }
}

fn outcome_name(attempt: &Attempt) -> &'static str {
    match (attempt.succeeded(), attempt.ending) {
        (true, _) => "ok",
        (false, Ending::Exited) => "failed",
        (false, Ending::TimedOut) => "timeout",
        (false, Ending::Cancelled) => "cancelled",
    }
}

/// A failed run in a few words: `exit 3`, `timed out after 30s`, `killed by signal 9`.
fn describe(attempt: &Attempt, id: i64) -> String {
    let status = match &attempt.status {
        Status::Code(code) => format!("exit {code}"),
        Status::Signal(sig) => format!("killed by signal {sig}"),
        Status::Error(message) => message.clone(),
    };
    match attempt.ending {
        Ending::Exited => status,
        Ending::TimedOut => format!(
            "timed out after {} ({status})",
            fmt_duration(attempt.elapsed)
        ),
        Ending::Cancelled => format!("ended by a cancel or shutdown ({status}) in job {id}"),
    }
}

/// The command of a queue job, from the arguments `workpool submit` stored.
fn spec_of(job: &ClaimedJob) -> Result<JobSpec, String> {
    let args = &job.args;
    let cmd = args
        .get("cmd")
        .and_then(Value::as_str)
        .ok_or_else(|| "the job's arguments have no \"cmd\" string".to_owned())?;
    let env = match args.get("env") {
        Some(Value::Object(vars)) => vars
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(JobSpec {
        line: 0,
        seq: 0,
        args: Vec::new(),
        columns: 0,
        slot_at: Vec::new(),
        stdin: None,
        id: job.unique_key.clone().unwrap_or_else(|| job.id.to_string()),
        cmd: cmd.to_owned(),
        priority: job.priority,
        timeout: args
            .get("timeout_ms")
            .and_then(Value::as_u64)
            .map(Duration::from_millis),
        retries: None,
        env,
        cwd: args.get("cwd").and_then(Value::as_str).map(Into::into),
        explicit_id: true,
        queue: None,
        due: None,
    })
}
