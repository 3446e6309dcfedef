//! `workpool run`: shell commands through a [`workpool::Pool`].
//!
//! Besides the pool's workers, four threads do the work:
//!
//! - the **feeder** reads the input and hands jobs to the pool as they come, so that jobs
//!   start while the input is still arriving; it blocks while the pool's queue is full (the
//!   pool's backpressure) and stops at the first Ctrl-C;
//! - the **collector** (this module's caller thread) receives every job's final report and
//!   writes the job log and the results file at once, keeps the tallies and the progress bar,
//!   and decides what each signal means for the run;
//! - the **printer** ([`printer`]) writes the outputs; a standard output that blocks holds up
//!   only it;
//! - the **signal thread** ([`signals`]) takes SIGINT, SIGTERM, SIGHUP, SIGTSTP, SIGCONT and
//!   SIGCHLD and acts on them at once.
//!
//! The run ends when the feeder is done and every job it handed over has reported (see
//! [`slot`] for why each reports exactly once).

pub mod groups;
pub mod joblog;
pub mod printer;
pub mod process;
pub mod progress;
pub mod report;
pub mod results;
pub mod signals;
pub mod slot;
pub mod summary;
pub mod timeout;

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use workpool::Pool;

use crate::config::{Resume, RunConfig};
use crate::error::CliError;
use crate::exit::Exit;
use crate::input::{priority_name, JobSpec};
use crate::units::{fmt_duration_arg, Halt, HaltOn};

use self::groups::Groups;
use self::joblog::{History, JobLog, Outcome, Recorded};
use self::printer::{Output, Printer};
use self::process::Supervision;
use self::progress::Progress;
use self::report::Reporter;
use self::results::Results;
use self::slot::{Event, Feed, LineBuffer, RunShared, Slot};
use self::timeout::Timeout;

/// How often the progress bar is redrawn while nothing finishes.
const TICK: Duration = Duration::from_millis(100);
/// After SIGTERM, SIGHUP or a second Ctrl-C, how long the printer may take to write what it
/// still has before `workpool` exits without it (a standard output nobody reads would hold
/// it forever).
const PRINT_GRACE: Duration = Duration::from_secs(1);
/// How many jobs the `--resume` warnings name before they only count.
const MISMATCHES_NAMED: usize = 10;

/// The jobs of the input, one at a time.
pub type Jobs = Box<dyn Iterator<Item = Result<JobSpec, CliError>> + Send>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs the job list as `config` says.
///
/// # Errors
///
/// [`CliError`] for unreadable or invalid input (found before anything runs with
/// `--check-first`), and for logs that cannot be opened; nothing has run then. A log that
/// cannot be written during the run, or a bad line found while jobs run, is reported at its
/// end (exit 2).
pub fn run(config: RunConfig) -> Result<Exit, CliError> {
    let history = match (&config.joblog, config.resume) {
        (Some(path), Resume::SkipFinished | Resume::SkipSucceeded) => History::read(path)?,
        _ => History::default(),
    };
    let mut jobs = match (&config.joblog, config.retry_failed) {
        (Some(path), true) => retry_failed_jobs(path)?,
        _ => open_input(&config)?,
    };
    if config.check_first || config.dry_run {
        let all = jobs.collect::<Result<Vec<JobSpec>, CliError>>()?;
        if config.dry_run {
            return print_plan(&config, &history, all);
        }
        jobs = Box::new(all.into_iter().map(Ok));
    }
    check_capture_files()?;

    let append = config.resume != Resume::Off || config.retry_failed;
    let joblog = match &config.joblog {
        Some(path) => Some(JobLog::open(path, append)?),
        None => None,
    };
    let results = match &config.results {
        Some(path) => Some(Results::open(path, append, config.max_output)?),
        None => None,
    };
    let pool = config
        .sizing
        .apply_lazily(Pool::builder())
        .thread_name("workpool-run")
        // A worker only starts and watches a process: a small stack lets many run at once.
        .stack_size(256 * 1024);
    let pool = match config.rate {
        Some(rate) => pool.rate_limit(rate),
        None => pool,
    }
    .build()?;
    process::become_subreaper();

    let started = Instant::now();
    let (events, inbox) = mpsc::channel();
    let progress = Progress::new(config.progress, 0);
    // With -k --line-buffer, the printer says whose lines go now.
    let head = (config.line_buffer && config.keep_order).then(|| Arc::new(AtomicUsize::new(0)));
    let printer = Printer::spawn(
        config.keep_order,
        head.clone(),
        progress.clone(),
        events.clone(),
    )?;
    let shared = Arc::new(RunShared {
        stop: AtomicBool::new(false),
        kill: AtomicBool::new(false),
        running: AtomicUsize::new(0),
        watch: Supervision {
            timeout: config.timeout.clone(),
            kill_grace: config.kill_grace,
            ungroup: config.ungroup,
        },
        events: events.clone(),
        groups: Groups::with_guard(),
        feed: Mutex::new(Feed::default()),
        live: Mutex::new(HashMap::new()),
        job_slots: slot::JobSlots::default(),
        halt: config.halt,
        ended: [AtomicUsize::new(0), AtomicUsize::new(0)],
        line_buffer: config.line_buffer.then(|| LineBuffer {
            printer: Mutex::new(Some(printer.sender.clone())),
            tag: config.tag.clone(),
            verbose: config.verbose,
            head,
        }),
    });
    drop(events);
    signals::spawn(Arc::clone(&shared))?;
    spawn_feeder(&config, jobs, history, &pool, &shared)?;

    let mut reporter = Reporter::new(joblog, results);
    let mut ending = collect(&config, &inbox, &shared, &mut reporter, &printer, &progress);
    reporter.summary.skip(lock(&shared.feed).skipped);

    if ending.kill() {
        pool.shutdown_now();
    } else {
        pool.shutdown();
    }
    // The feeder is not joined: it may be waiting for input that never comes. Nor does the
    // printer wait for it: it ends once the last way to it is gone.
    if let Some(line_buffer) = &shared.line_buffer {
        lock(&line_buffer.printer).take();
    }
    drop(printer);
    wait_for_printer(&inbox, &mut ending);
    progress.finish();
    shared.groups.reap();
    shared.groups.close();
    let wall = started.elapsed();
    if config.summary {
        // Commands in it keep their input's bytes (see crate::bytes).
        let _ = io::stderr().write_all(&crate::bytes::encode(&reporter.summary.render(wall)));
    }
    let mut exit = match ending {
        Ending::Signalled(signal) => Exit::Signalled(signal as i32),
        Ending::StdoutClosed => Exit::Signalled(Signal::SIGPIPE as i32),
        Ending::Interrupted { .. } => Exit::Interrupted,
        Ending::InputError(err) => {
            eprintln!("workpool: error: {err}");
            Exit::Error
        }
        Ending::Halted(halt) => {
            let c = &reporter.summary.counts;
            match halt.on {
                HaltOn::Fail => Exit::JobsFailed,
                HaltOn::Success => Exit::Success,
                HaltOn::Done if c.failed + c.timed_out > 0 => Exit::JobsFailed,
                HaltOn::Done => Exit::Success,
            }
        }
        Ending::Done if reporter.summary.counts.unsuccessful() > 0 => Exit::JobsFailed,
        Ending::Done => Exit::Success,
    };
    if let Some(err) = reporter.take_error() {
        eprintln!("workpool: error: {err}");
        if matches!(exit, Exit::Success | Exit::JobsFailed) {
            exit = Exit::Error;
        }
    }
    Ok(exit)
}

/// Waits until the printer has printed everything, or, after a signal that ends the run,
/// for at most [`PRINT_GRACE`]: a standard output nobody reads must not hold `workpool`.
fn wait_for_printer(inbox: &Receiver<Event>, ending: &mut Ending) {
    let mut deadline = ending.kill().then(|| Instant::now() + PRINT_GRACE);
    loop {
        let event = match deadline {
            Some(at) => match inbox.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(event) => event,
                Err(_) => return,
            },
            None => match inbox.recv() {
                Ok(event) => event,
                Err(_) => return,
            },
        };
        match event {
            Event::Printed => return,
            Event::Signal(signal) => {
                // Every job is over; only printing is left, and the user wants out.
                if !ending.kill() {
                    *ending = match signal {
                        Signal::SIGINT => Ending::Interrupted { twice: true },
                        signal => Ending::Signalled(signal),
                    };
                }
                deadline.get_or_insert_with(|| Instant::now() + PRINT_GRACE);
            }
            _ => {}
        }
    }
}

fn halt_word(on: HaltOn) -> &'static str {
    match on {
        HaltOn::Fail => "did not succeed",
        HaltOn::Success => "succeeded",
        HaltOn::Done => "are done",
    }
}

/// How the collection ended.
#[derive(Debug)]
enum Ending {
    /// Every job of the input reported.
    Done,
    /// Ctrl-C; `twice` if the running jobs were ended.
    Interrupted { twice: bool },
    /// SIGTERM or SIGHUP: the running jobs were ended.
    Signalled(Signal),
    /// Standard output closed: the running jobs were ended.
    StdoutClosed,
    /// `--halt` said so.
    Halted(Halt),
    /// A bad input item: the jobs before it ran, none after it.
    InputError(CliError),
}

impl Ending {
    fn kill(&self) -> bool {
        matches!(
            self,
            Ending::Interrupted { twice: true } | Ending::Signalled(_) | Ending::StdoutClosed
        ) || matches!(self, Ending::Halted(halt) if halt.now)
    }
}

/// Starts the feeder: it hands each job of the input to the pool, skipping those the job log
/// says are done, until the input ends or the run stops.
fn spawn_feeder(
    config: &RunConfig,
    jobs: Jobs,
    history: History,
    pool: &Pool,
    shared: &Arc<RunShared>,
) -> Result<(), CliError> {
    let (pool, shared) = (pool.clone(), Arc::clone(shared));
    let retry = config.retry.clone();
    let resume = config.resume;
    thread::Builder::new()
        .name("workpool-feed".to_owned())
        .spawn(move || {
            let mut matcher = ResumeMatcher::new(history, resume);
            for job in jobs {
                let spec = match job {
                    Ok(spec) => spec,
                    Err(err) => {
                        let _ = shared.events.send(Event::InputError(err));
                        break;
                    }
                };
                let skip = matcher.skips(&spec);
                let mut feed = lock(&shared.feed);
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                if skip {
                    feed.skipped += 1;
                    continue;
                }
                let index = feed.submitted;
                feed.submitted += 1;
                let runs = spec.retries.map_or(retry.runs, |r| r.saturating_add(1));
                let slot = Arc::new(Slot::new(index, spec, runs));
                lock(&shared.live).insert(index, Arc::clone(&slot));
                drop(feed);
                if pool.spawn(slot.job(&shared, &retry)).is_err() {
                    // Only a shutdown closes the pool, and only once the run is over.
                    if let Some(done) = slot.stop_if_waiting() {
                        slot.report(&shared, done);
                    }
                    break;
                }
            }
            matcher.warn_unmatched();
            lock(&shared.feed).ended = true;
            let _ = shared.events.send(Event::InputEnded);
        })
        .map(drop)
        .map_err(|e| CliError::usage(format!("cannot start the feeding thread: {e}")))
}

/// Receives reports until the feeder is done and every job it handed over has reported;
/// handles the signals, a closed standard output and bad input.
fn collect(
    config: &RunConfig,
    inbox: &Receiver<Event>,
    shared: &RunShared,
    reporter: &mut Reporter,
    printer: &Printer,
    progress: &Progress,
) -> Ending {
    let mut reported = 0;
    let mut ending = Ending::Done;
    let mut interrupts = 0;
    loop {
        let (submitted, total, ended) = {
            let feed = lock(&shared.feed);
            (feed.submitted, feed.submitted + feed.skipped, feed.ended)
        };
        if ended && reported >= submitted {
            break;
        }
        progress.set_total(total);
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
        let running = shared.running.load(Ordering::Relaxed);
        let mut stop = false;
        match event {
            Some(Event::Finished(slot, done)) => {
                reported += 1;
                record(config, shared, reporter, printer, &slot, *done);
                if let (Some(halt), Ending::Done) = (config.halt, &ending) {
                    let c = &reporter.summary.counts;
                    let n = match halt.on {
                        HaltOn::Fail => c.unsuccessful(),
                        HaltOn::Success => c.ok,
                        HaltOn::Done => c.ran(),
                    };
                    if halt.threshold.reached(n, submitted) {
                        let running = shared.running.load(Ordering::Relaxed);
                        if halt.now {
                            progress.note(&format!(
                                "workpool: --halt: {n} jobs {}: ending {running} running jobs",
                                halt_word(halt.on)
                            ));
                        } else {
                            progress.note(&format!(
                                "workpool: --halt: {n} jobs {}: starting no more jobs, waiting for {running} running",
                                halt_word(halt.on)
                            ));
                        }
                        ending = Ending::Halted(halt);
                        stop = true;
                    }
                }
            }
            Some(Event::Signal(Signal::SIGINT)) => {
                interrupts += 1;
                if interrupts == 1 {
                    progress.note(&format!(
                        "workpool: interrupted: starting no more jobs, waiting for {running} running (ctrl-c again to end them)"
                    ));
                } else if interrupts == 2 {
                    progress.note(&format!(
                        "workpool: interrupted again: ending {running} running jobs"
                    ));
                }
                if !matches!(ending, Ending::Signalled(_) | Ending::StdoutClosed) {
                    ending = Ending::Interrupted {
                        twice: interrupts >= 2,
                    };
                }
                stop = true;
            }
            Some(Event::Signal(signal)) => {
                progress.note(&format!(
                    "workpool: received {}: ending {running} running jobs",
                    signal.as_str()
                ));
                ending = Ending::Signalled(signal);
                stop = true;
            }
            Some(Event::StdoutClosed) => {
                if matches!(ending, Ending::Done | Ending::InputError(_)) {
                    shared.stop.store(true, Ordering::SeqCst);
                    shared.kill.store(true, Ordering::SeqCst);
                    progress.note(&format!(
                        "workpool: standard output is closed: ending {running} running jobs"
                    ));
                    ending = Ending::StdoutClosed;
                }
                stop = true;
            }
            Some(Event::InputError(err)) => {
                // The feeder has stopped at the bad item; every job before it still runs.
                progress.note(&format!(
                    "workpool: error: {err}: reading no more input, finishing the jobs before it"
                ));
                if matches!(ending, Ending::Done) {
                    ending = Ending::InputError(err);
                }
            }
            Some(Event::InputEnded | Event::Printed) | None => {}
        }
        if stop {
            reported += stop_waiting(config, shared, reporter, printer);
        }
        let running = shared.running.load(Ordering::Relaxed);
        let queued = submitted.saturating_sub(reported);
        progress.update(
            &reporter.summary.counts,
            running,
            queued.saturating_sub(running),
        );
    }
    ending
}

/// After a stop: the feeder hands over nothing more, and every job not running is reported
/// as not run (or cancelled, if it waits for a retry). Returns how many were reported.
fn stop_waiting(
    config: &RunConfig,
    shared: &RunShared,
    reporter: &mut Reporter,
    printer: &Printer,
) -> usize {
    shared.stop.store(true, Ordering::SeqCst);
    lock(&shared.feed).ended = true;
    let live: Vec<Arc<Slot>> = lock(&shared.live).values().cloned().collect();
    let mut reported = 0;
    for slot in live {
        if let Some(done) = slot.stop_if_waiting() {
            reported += 1;
            record(config, shared, reporter, printer, &slot, done);
        }
    }
    reported
}

/// Logs one finished job and hands its outputs to the printer.
fn record(
    config: &RunConfig,
    shared: &RunShared,
    reporter: &mut Reporter,
    printer: &Printer,
    slot: &Slot,
    done: slot::Finished,
) {
    lock(&shared.live).remove(&slot.index);
    let ran = done.outcome != Outcome::NotRun;
    let streamed = done.streamed;
    let (stdout, stderr) = reporter.record(slot, done);
    if streamed {
        // Printed line by line as it ran; with -k, the printer moves on to the next job.
        let _ = printer.sender.send(Output {
            index: slot.index,
            ..Output::default()
        });
        return;
    }
    let _ = printer.sender.send(Output {
        index: slot.index,
        command: (config.verbose && ran).then(|| slot.spec.cmd.clone()),
        tag: config.tag.as_ref().map(|tag| tag.render(&slot.spec)),
        stdout,
        stderr,
        chunk: false,
    });
}

/// Decides what `--resume` and `--resume-failed` skip, and says what did not match.
struct ResumeMatcher {
    history: History,
    resume: Resume,
    matched: std::collections::HashSet<String>,
    mismatches: usize,
}

impl ResumeMatcher {
    fn new(history: History, resume: Resume) -> Self {
        ResumeMatcher {
            history,
            resume,
            matched: std::collections::HashSet::new(),
            mismatches: 0,
        }
    }

    /// Whether the job is skipped: its id with the same command is in the log, finished as
    /// the mode requires. A job whose id the log has with another command runs, with a
    /// warning.
    fn skips(&mut self, spec: &JobSpec) -> bool {
        if self.resume == Resume::Off {
            return false;
        }
        match self.history.recorded(&spec.id, &spec.cmd) {
            Recorded::Nothing => false,
            Recorded::OtherCommand(logged) => {
                self.matched.insert(spec.id.clone());
                self.mismatches += 1;
                if self.mismatches <= MISMATCHES_NAMED {
                    eprintln!(
                        "workpool: warning: --resume: job {} is `{}` in the job log but `{}` in the input; running it",
                        spec.id,
                        joblog::escape(&logged),
                        joblog::escape(&spec.cmd)
                    );
                }
                false
            }
            Recorded::Same(outcome) => {
                self.matched.insert(spec.id.clone());
                skips(self.resume, outcome)
            }
        }
    }

    /// Says how many jobs differed from the log, and how many logged jobs the input lacks.
    fn warn_unmatched(&self) {
        if self.resume == Resume::Off {
            return;
        }
        if self.mismatches > MISMATCHES_NAMED {
            eprintln!(
                "workpool: warning: --resume: {} jobs in all had another command in the job log",
                self.mismatches
            );
        }
        let missing = self
            .history
            .ids()
            .filter(|id| !self.matched.contains(*id))
            .count();
        if missing > 0 {
            eprintln!(
                "workpool: warning: --resume: {missing} jobs of the job log are not in the input"
            );
        }
    }
}

/// Whether `--resume` or `--resume-failed` skips a job the log shows ended so.
fn skips(resume: Resume, outcome: Outcome) -> bool {
    match (resume, outcome) {
        (Resume::Off, _) => false,
        (_, Outcome::Ok) => true,
        (Resume::SkipFinished, Outcome::Failed | Outcome::TimedOut) => true,
        // Cancelled and never-run jobs did not finish: every rerun runs them.
        _ => false,
    }
}

/// `--retry-failed`: the jobs of the log at `path` that never succeeded, as they were logged.
fn retry_failed_jobs(path: &std::path::Path) -> Result<Jobs, CliError> {
    if !path.exists() {
        eprintln!(
            "workpool: warning: --retry-failed: there is no job log {}: nothing to retry",
            path.display()
        );
    }
    let history = History::read(path)?;
    let mut jobs = Vec::new();
    let mut json_jobs = 0;
    for logged in history.unfinished() {
        let explicit_id = logged.id != logged.seq.to_string();
        json_jobs += usize::from(explicit_id);
        jobs.push(Ok(JobSpec {
            line: logged.seq,
            seq: logged.seq,
            args: vec![logged.cmd.clone()],
            cmd: logged.cmd,
            id: logged.id,
            explicit_id,
            ..JobSpec::default()
        }));
    }
    if json_jobs > 0 {
        eprintln!(
            "workpool: warning: --retry-failed: {json_jobs} of the jobs were JSON jobs; the job log has only their command and id, so they run without their own env, cwd, timeout, retries and priority (rerun them whole with --resume-failed and the input)"
        );
    }
    Ok(Box::new(jobs.into_iter()))
}

/// The input, as jobs read one at a time.
fn open_input(config: &RunConfig) -> Result<Jobs, CliError> {
    config.input.clone().jobs(config.quiet)
}

/// Fails early, with a clear message, if the jobs' outputs cannot be captured: every job
/// would fail otherwise.
fn check_capture_files() -> Result<(), CliError> {
    tempfile::tempfile().map(drop).map_err(|e| {
        CliError::io(
            "cannot create the files that capture outputs in",
            &std::env::temp_dir(),
            e,
        )
    })
}

/// `--dry-run`: one tab-separated line per job that would run.
fn print_plan(
    config: &RunConfig,
    history: &History,
    specs: Vec<JobSpec>,
) -> Result<Exit, CliError> {
    let mut plan = String::new();
    let (mut planned, mut skipped) = (0, 0);
    for spec in specs {
        if skips_by(history, config.resume, &spec) {
            skipped += 1;
            continue;
        }
        planned += 1;
        let timeout = match (spec.timeout, &config.timeout) {
            (Some(own), _) if own.is_zero() => "-".to_owned(),
            (Some(own), _) => fmt_duration_arg(own),
            (None, Some(Timeout::Fixed(d))) => fmt_duration_arg(*d),
            (None, Some(Timeout::Percent { percent, .. })) => format!("{percent}%"),
            (None, None) => "-".to_owned(),
        };
        let retries = spec.retries.unwrap_or(config.retry.runs.saturating_sub(1));
        plan.push_str(&format!(
            "{}\t{}\t{timeout}\t{retries}\t{}\n",
            joblog::escape(&spec.id),
            priority_name(spec.priority),
            joblog::escape(&spec.cmd),
        ));
    }
    let mut out = io::stdout().lock();
    let _ = out
        .write_all(&crate::bytes::encode(&plan))
        .and_then(|()| out.flush());
    if !config.quiet {
        eprintln!("workpool: dry run: {planned} jobs would run, {skipped} skipped");
    }
    Ok(Exit::Success)
}

/// Whether the job log skips `spec`, for the plan (without warnings).
fn skips_by(history: &History, resume: Resume, spec: &JobSpec) -> bool {
    match history.recorded(&spec.id, &spec.cmd) {
        Recorded::Same(outcome) => skips(resume, outcome),
        _ => false,
    }
}
