//! `workpool run`: shell commands through a [`workpool::Pool`].
//!
//! Three threads do the work besides the pool's workers:
//!
//! - the **submitter** hands jobs to the pool in input order, blocking while its queue is full
//!   (the pool's backpressure), and stops at the first Ctrl-C;
//! - the **collector** (this module's caller thread) receives every job's final report and
//!   writes the job log, the results file, the outputs and the progress bar, one job at a
//!   time, and handles Ctrl-C;
//! - ctrlc's handler thread turns SIGINT into an [`Event::Interrupt`] for the collector.
//!
//! The run ends when every job of the list has reported (see [`slot`] for why each reports
//! exactly once).

mod joblog;
pub(crate) mod process;
pub(crate) mod progress;
mod report;
mod slot;
pub(crate) mod summary;

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use workpool::Pool;

use crate::config::{Resume, RunConfig};
use crate::error::CliError;
use crate::exit::Exit;
use crate::input::{priority_name, read_jobs, JobSpec};
use crate::units::fmt_duration_arg;

use self::joblog::{History, JobLog, Outcome};
use self::process::Supervision;
use self::progress::Progress;
use self::report::{Reporter, ResultsFile};
use self::slot::{Event, RunShared, Slot};

/// How often the progress bar is redrawn while nothing finishes.
const TICK: Duration = Duration::from_millis(100);

/// Runs the job list as `config` says.
///
/// # Errors
///
/// [`CliError`] for unreadable or invalid input, and for logs that cannot be opened; nothing
/// has run then. A log that cannot be written during the run is reported at its end.
pub fn run(config: RunConfig) -> Result<Exit, CliError> {
    let specs = read_input(&config)?;
    let history = match (&config.joblog, config.resume) {
        (Some(path), Resume::SkipFinished | Resume::SkipSucceeded) => History::read(path)?,
        _ => History::default(),
    };
    let total = specs.len();
    let specs: Vec<JobSpec> = specs
        .into_iter()
        .filter(|spec| !skips(&history, config.resume, &spec.id))
        .collect();
    let skipped = total - specs.len();
    if config.dry_run {
        return print_plan(&config, &specs, skipped);
    }

    let append = config.resume != Resume::Off;
    let joblog = match &config.joblog {
        Some(path) => Some(JobLog::open(path, append)?),
        None => None,
    };
    let results = match &config.results {
        Some(path) => Some(ResultsFile::open(path, append, config.max_output)?),
        None => None,
    };
    let pool = config
        .sizing
        .apply(Pool::builder())
        .thread_name("workpool-run");
    let pool = match config.rate {
        Some(rate) => pool.rate_limit(rate),
        None => pool,
    }
    .build()?;
    process::become_subreaper();

    let started = Instant::now();
    let (events, inbox) = mpsc::channel();
    let interrupt = events.clone();
    if let Err(err) = ctrlc::set_handler(move || {
        let _ = interrupt.send(Event::Interrupt);
    }) {
        eprintln!("workpool: warning: ctrl-c will not stop jobs gracefully: {err}");
    }
    let shared = Arc::new(RunShared {
        stop: AtomicBool::new(false),
        kill: AtomicBool::new(false),
        running: AtomicUsize::new(0),
        watch: Supervision {
            timeout: config.timeout,
            kill_grace: config.kill_grace,
        },
        events,
    });
    let slots: Arc<[Arc<Slot>]> = specs
        .into_iter()
        .enumerate()
        .map(|(index, spec)| {
            let retries = spec.retries.unwrap_or(config.retry.retries);
            Arc::new(Slot::new(index, spec, retries))
        })
        .collect();

    let submitter = {
        let (pool, shared, slots) = (pool.clone(), Arc::clone(&shared), Arc::clone(&slots));
        let retry = config.retry.clone();
        thread::Builder::new()
            .name("workpool-submit".to_owned())
            .spawn(move || {
                for slot in slots.iter() {
                    if shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    match pool.spawn(slot.job(&shared, &retry)) {
                        Ok(task) => drop(task),
                        Err(_closed) => {
                            // Only a shutdown closes the pool, and only after Ctrl-C; the
                            // collector has ended this slot already.
                            break;
                        }
                    }
                }
            })
            .map_err(|e| CliError::usage(format!("cannot start the submitting thread: {e}")))?
    };

    let progress = Progress::new(config.progress, slots.len());
    let mut reporter = Reporter::new(joblog, results, config.keep_order);
    reporter.summary.skip(skipped);
    let interrupted = collect(&inbox, &slots, &shared, &mut reporter, &progress);

    if interrupted {
        pool.shutdown_now();
    } else {
        pool.shutdown();
    }
    let _ = submitter.join();
    progress.finish();
    let wall = started.elapsed();
    if config.summary {
        let _ = io::stderr().write_all(reporter.summary.render(wall).as_bytes());
    }
    if let Some(err) = reporter.take_error() {
        eprintln!("workpool: error: {err}");
        if !interrupted {
            return Ok(Exit::Usage);
        }
    }
    Ok(if interrupted {
        Exit::Interrupted
    } else if reporter.summary.counts.unsuccessful() > 0 {
        Exit::JobsFailed
    } else {
        Exit::Success
    })
}

/// Receives reports until every slot has sent one; handles Ctrl-C. Returns `true` if
/// interrupted.
fn collect(
    inbox: &Receiver<Event>,
    slots: &[Arc<Slot>],
    shared: &RunShared,
    reporter: &mut Reporter,
    progress: &Progress,
) -> bool {
    let mut reported = 0;
    let mut interrupts = 0;
    while reported < slots.len() {
        let event = if progress.is_drawn() {
            match inbox.recv_timeout(TICK) {
                Ok(event) => Some(event),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match inbox.recv() {
                Ok(event) => Some(event),
                Err(_) => break,
            }
        };
        match event {
            Some(Event::Finished(index, done)) => {
                reported += 1;
                reporter.record(&slots[index], *done, progress);
            }
            Some(Event::Interrupt) => {
                interrupts += 1;
                let running = shared.running.load(Ordering::Relaxed);
                if interrupts == 1 {
                    shared.stop.store(true, Ordering::SeqCst);
                    progress.note(&format!(
                        "workpool: interrupted: starting no more jobs, waiting for {running} running (ctrl-c again to end them)"
                    ));
                    for slot in slots {
                        if let Some(done) = slot.stop_if_waiting() {
                            reported += 1;
                            reporter.record(slot, done, progress);
                        }
                    }
                } else if interrupts == 2 {
                    shared.kill.store(true, Ordering::SeqCst);
                    progress.note(&format!(
                        "workpool: interrupted again: ending {running} running jobs"
                    ));
                }
            }
            None => {}
        }
        let running = shared.running.load(Ordering::Relaxed);
        let counts = &reporter.summary.counts;
        let queued = slots.len() - reported.min(slots.len());
        progress.update(counts, running, queued.saturating_sub(running));
    }
    interrupts > 0
}

/// Whether `--resume` or `--resume-failed` skips the job with this id.
fn skips(history: &History, resume: Resume, id: &str) -> bool {
    match (resume, history.outcome(id)) {
        (Resume::Off, _) | (_, None) => false,
        (_, Some(Outcome::Ok)) => true,
        (Resume::SkipFinished, Some(Outcome::Failed | Outcome::TimedOut)) => true,
        // Cancelled and never-run jobs did not finish: every rerun runs them.
        _ => false,
    }
}

fn read_input(config: &RunConfig) -> Result<Vec<JobSpec>, CliError> {
    match &config.input {
        Some(path) => {
            let file = File::open(path).map_err(|e| CliError::io("cannot open", path, e))?;
            read_jobs(BufReader::new(file), &path.display().to_string())
        }
        None => read_jobs(io::stdin().lock(), "standard input"),
    }
}

/// `--dry-run`: one tab-separated line per job that would run.
fn print_plan(config: &RunConfig, specs: &[JobSpec], skipped: usize) -> Result<Exit, CliError> {
    let mut plan = String::new();
    for spec in specs {
        let timeout = spec
            .timeout
            .or(config.timeout)
            .map_or_else(|| "-".to_owned(), fmt_duration_arg);
        let retries = spec.retries.unwrap_or(config.retry.retries);
        plan.push_str(&format!(
            "{}\t{}\t{timeout}\t{retries}\t{}\n",
            joblog::escape(&spec.id),
            priority_name(spec.priority),
            joblog::escape(&spec.cmd),
        ));
    }
    let mut out = io::stdout().lock();
    let _ = out.write_all(plan.as_bytes()).and_then(|()| out.flush());
    if !config.quiet {
        eprintln!(
            "workpool: dry run: {} jobs would run, {skipped} skipped",
            specs.len()
        );
    }
    Ok(Exit::Success)
}
