//! Each job's slot: its spec and the small state machine that makes sure it is reported
//! exactly once, whoever ends it.
//!
//! ```text
//! Waiting --a worker starts a run--> Running --run ends, retry due--> Waiting
//!    |                                  |
//!    +--first Ctrl-C (collector or      +--run ends, final--> Done  (the worker reports it)
//!       the worker that finds it)-----------------------------> Done  (that one reports it)
//! ```
//!
//! Whoever moves a slot to `Done` sends its [`Finished`] report, under the slot's lock; a run
//! that finds its slot `Done` does nothing. So the first Ctrl-C can end every job that is not
//! running (queued, not yet submitted, or waiting for a retry) without a race with the
//! workers, and the collector can count reports until every slot has sent one.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;
use workpool::{Job, JobContext, Priority, Retry};

use crate::config::RetryConfig;
use crate::config::Tag;
use crate::error::CliError;
use crate::input::JobSpec;
use crate::run::groups::Groups;
use crate::run::joblog::Outcome;
use crate::run::printer::Output;
use crate::run::process::{run_once, Attempt, Captured, Ending, Live, Status, Supervision};
use crate::units::{Halt, HaltOn, Threshold};

/// What the collector hears.
#[derive(Debug)]
pub enum Event {
    /// The job in this slot is over.
    Finished(Arc<Slot>, Box<Finished>),
    /// A signal arrived (the signal thread has already acted on it).
    Signal(Signal),
    /// Standard output is closed: nobody reads the outputs any more.
    StdoutClosed,
    /// The input has a bad line, or cannot be read: start nothing more.
    InputError(CliError),
    /// The feeder has handed every job of the input to the pool, or stopped.
    InputEnded,
    /// The printer has printed every output.
    Printed,
}

/// A job's final report.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub outcome: Outcome,
    /// How many runs it had.
    pub runs: u32,
    /// When its first run started, if it ran.
    pub start: Option<SystemTime>,
    /// From its first start to the end of its last run.
    pub duration: Duration,
    /// The last run's status, if it ran.
    pub status: Option<Status>,
    /// The last run's standard output.
    pub stdout: Captured,
    /// The last run's standard error.
    pub stderr: Captured,
    /// `--line-buffer`: the last run's output was printed as it ran, all of it.
    pub streamed: bool,
}

/// What the feeder has done so far; the collector reads it under the same lock that the
/// feeder holds between its look at `stop` and its count of a new job, so that once `stop` is
/// set, `submitted` is final.
#[derive(Debug, Default)]
pub struct Feed {
    /// Jobs handed to the pool (or about to be).
    pub submitted: usize,
    /// Jobs skipped by `--resume`.
    pub skipped: usize,
    /// The feeder is done: the input is over, or it stopped.
    pub ended: bool,
}

/// What every job of one `workpool run` shares.
#[derive(Debug)]
pub struct RunShared {
    /// Set by the first Ctrl-C: start nothing new.
    pub stop: AtomicBool,
    /// Set by the second Ctrl-C: end what runs.
    pub kill: AtomicBool,
    /// Runs in progress, for the progress bar.
    pub running: AtomicUsize,
    /// How runs are watched and ended.
    pub watch: Supervision,
    /// Where reports go.
    pub events: Sender<Event>,
    /// The jobs' process groups.
    pub groups: Groups,
    /// What the feeder has done.
    pub feed: Mutex<Feed>,
    /// The jobs handed to the pool and not yet reported, by index.
    pub live: Mutex<HashMap<usize, Arc<Slot>>>,
    /// The job slots (`{%}`) free.
    pub job_slots: JobSlots,
    /// `--halt`, checked by the worker that ends a job, before it could start another.
    pub halt: Option<Halt>,
    /// Jobs ended so far: succeeded, did not succeed.
    pub ended: [AtomicUsize; 2],
    /// `--line-buffer`: where running jobs' lines go.
    pub line_buffer: Option<LineBuffer>,
}

/// `--line-buffer`: running jobs send their complete lines straight to the printer.
#[derive(Debug)]
pub struct LineBuffer {
    /// The printer's inbox, taken away at the end of the run so that the printer can end.
    pub printer: Mutex<Option<Sender<Output>>>,
    /// `--tag` or `--tagstring`.
    pub tag: Option<Tag>,
    /// `-v`: each command is printed as its job starts.
    pub verbose: bool,
    /// With `-k`: the index of the job whose output goes now (the printer moves it on);
    /// the others' lines wait in their capture files.
    pub head: Option<Arc<AtomicUsize>>,
}

impl LineBuffer {
    fn send(&self, output: Output) {
        if let Some(printer) = &*self.printer.lock().unwrap_or_else(PoisonError::into_inner) {
            let _ = printer.send(output);
        }
    }
}

/// One run's way to the printer under `--line-buffer`.
struct LiveSink<'a> {
    line_buffer: &'a LineBuffer,
    index: usize,
    tag: Option<String>,
    /// With `-v`: the command, printed before the first lines (once the job may print).
    command: Option<String>,
    announced: AtomicBool,
}

impl Live for LiveSink<'_> {
    fn ready(&self) -> bool {
        self.line_buffer
            .head
            .as_ref()
            .is_none_or(|head| head.load(Ordering::SeqCst) == self.index)
    }

    fn lines(&self, stdout: Vec<u8>, stderr: Vec<u8>) {
        if !self.announced.swap(true, Ordering::Relaxed) && self.command.is_some() {
            self.line_buffer.send(Output {
                index: self.index,
                command: self.command.clone(),
                chunk: true,
                ..Output::default()
            });
        }
        if stdout.is_empty() && stderr.is_empty() {
            return;
        }
        self.line_buffer.send(Output {
            index: self.index,
            command: None,
            tag: self.tag.clone(),
            stdout: Captured::Memory(stdout),
            stderr: Captured::Memory(stderr),
            chunk: true,
        });
    }
}

impl RunShared {
    /// Counts a job's end and, if `--halt` is reached, stops new starts (and with `now`,
    /// ends the running jobs) at once; the collector says so when the report reaches it.
    fn tally(&self, outcome: Outcome) {
        let Some(halt) = self.halt else {
            return;
        };
        let ok = usize::from(outcome == Outcome::Ok);
        let ended = [
            self.ended[0].fetch_add(ok, Ordering::SeqCst) + ok,
            self.ended[1].fetch_add(1 - ok, Ordering::SeqCst) + 1 - ok,
        ];
        let n = match halt.on {
            HaltOn::Success => ended[0],
            HaltOn::Fail => ended[1],
            HaltOn::Done => ended[0] + ended[1],
        };
        let submitted = match halt.threshold {
            Threshold::Count(_) => 0,
            Threshold::Percent(_) => {
                self.feed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .submitted
            }
        };
        if halt.threshold.reached(n, submitted) {
            self.stop.store(true, Ordering::SeqCst);
            if halt.now {
                self.kill.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// GNU parallel's job slots: each running job that asks for one (`{%}`) holds the smallest
/// number free, from 1.
#[derive(Debug, Default)]
pub struct JobSlots {
    free: Mutex<(BinaryHeap<Reverse<usize>>, usize)>,
}

impl JobSlots {
    /// Takes the smallest free slot number.
    pub fn take(&self) -> usize {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        match free.0.pop() {
            Some(Reverse(n)) => n,
            None => {
                free.1 += 1;
                free.1
            }
        }
    }

    /// Gives a slot number back.
    pub fn give_back(&self, n: usize) {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        free.0.push(Reverse(n));
    }
}

/// The error a failed run hands the pool: whether the retry policy should run it again.
#[derive(Debug)]
pub struct RunFailed {
    /// `true` to run again (the policy also counts attempts).
    pub retry: bool,
}

#[derive(Debug)]
enum State {
    Waiting {
        runs: u32,
        first: Option<(SystemTime, Instant)>,
        last: Option<Attempt>,
    },
    Running,
    Done,
}

/// One job of the run list.
#[derive(Debug)]
pub struct Slot {
    /// Its position in the run list.
    pub index: usize,
    /// What to run.
    pub spec: JobSpec,
    max_runs: u32,
    state: Mutex<State>,
}

impl Slot {
    /// A slot for `spec`, which runs at most `runs` times (at least once).
    pub fn new(index: usize, spec: JobSpec, runs: u32) -> Self {
        Slot {
            index,
            spec,
            max_runs: runs.max(1),
            state: Mutex::new(State::Waiting {
                runs: 0,
                first: None,
                last: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends the job if it is not running (first Ctrl-C): returns its report, or `None` if it
    /// is running or already over.
    pub fn stop_if_waiting(&self) -> Option<Finished> {
        let mut state = self.lock();
        let State::Waiting { runs, first, last } = &mut *state else {
            return None;
        };
        let report = stopped(*runs, *first, last.take());
        *state = State::Done;
        Some(report)
    }

    /// The pool job that runs this slot, with its priority and retry policy.
    pub fn job(
        self: &Arc<Self>,
        shared: &Arc<RunShared>,
        retry: &RetryConfig,
    ) -> Job<impl FnMut(&JobContext) -> Result<(), RunFailed> + Send + 'static, (), RunFailed> {
        let slot = Arc::clone(self);
        let shared = Arc::clone(shared);
        let retry_on = retry.retry_on.clone();
        let mut job = Job::new(move |ctx: &JobContext| slot.run(ctx, &shared, retry_on.as_deref()))
            .priority(Priority::new(self.spec.priority))
            .name(self.spec.id.clone());
        if self.max_runs > 1 {
            job = job.retry(
                Retry::exponential(self.max_runs, retry.backoff.base)
                    .max_delay(retry.backoff.cap)
                    .jitter(0.2)
                    .retry_if(|failed: &RunFailed| failed.retry),
            );
        }
        job
    }

    /// One run, called by a worker.
    fn run(
        self: &Arc<Self>,
        ctx: &JobContext,
        shared: &RunShared,
        retry_on: Option<&[i32]>,
    ) -> Result<(), RunFailed> {
        let (runs, first) = {
            let mut state = self.lock();
            let State::Waiting { runs, first, last } = &mut *state else {
                // Ended by the first Ctrl-C while it waited: nothing to do, nothing to report.
                return Ok(());
            };
            if shared.stop.load(Ordering::SeqCst) {
                let report = stopped(*runs, *first, last.take());
                *state = State::Done;
                drop(state);
                self.report(shared, report);
                return Ok(());
            }
            let runs = *runs + 1;
            let first = *first.get_or_insert_with(|| (SystemTime::now(), Instant::now()));
            *state = State::Running;
            (runs, first)
        };

        shared.running.fetch_add(1, Ordering::Relaxed);
        let started_at = Instant::now();
        // A panic here would be a bug in workpool itself; caught, it fails this run instead
        // of leaving the slot running forever and the collector waiting for its report.
        let job_slot = if self.spec.slot_at.is_empty() {
            0
        } else {
            shared.job_slots.take()
        };
        let live = shared.line_buffer.as_ref().map(|line_buffer| LiveSink {
            line_buffer,
            index: self.index,
            tag: line_buffer.tag.as_ref().map(|tag| tag.render(&self.spec)),
            command: line_buffer
                .verbose
                .then(|| self.spec.command_in_slot(job_slot).into_owned()),
            announced: AtomicBool::new(false),
        });
        let attempt = panic::catch_unwind(AssertUnwindSafe(|| {
            run_once(
                &self.spec,
                &shared.watch,
                ctx,
                &shared.kill,
                &shared.groups,
                job_slot,
                live.as_ref().map(|live| live as &dyn Live),
            )
        }))
        .unwrap_or_else(|payload| {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Attempt {
                started_at,
                elapsed: started_at.elapsed(),
                ending: Ending::Exited,
                status: Status::Error(format!("internal error: {message}")),
                stdout: Captured::Empty,
                stderr: Captured::Empty,
                streamed: false,
            }
        });
        if job_slot > 0 {
            shared.job_slots.give_back(job_slot);
        }
        shared.running.fetch_sub(1, Ordering::Relaxed);

        let ok = attempt.succeeded();
        if ok {
            if let Some(timeout) = &shared.watch.timeout {
                timeout.succeeded(attempt.elapsed);
            }
        }
        let retryable = match retry_on {
            None => attempt.ending != Ending::Cancelled,
            Some(codes) => {
                attempt.ending == Ending::Exited
                    && attempt
                        .status
                        .code()
                        .is_some_and(|code| codes.contains(&code))
            }
        };
        let again = !ok
            && retryable
            && runs < self.max_runs
            && !shared.kill.load(Ordering::SeqCst)
            && !ctx.is_cancelled();

        let mut state = self.lock();
        let outcome = if again {
            if !shared.stop.load(Ordering::SeqCst) {
                *state = State::Waiting {
                    runs,
                    first: Some(first),
                    last: Some(attempt),
                };
                return Err(RunFailed { retry: true });
            }
            // It would run again, but Ctrl-C stops new runs: not a final failure.
            Outcome::Cancelled
        } else if ok {
            Outcome::Ok
        } else {
            match attempt.ending {
                Ending::Exited => Outcome::Failed,
                Ending::TimedOut => Outcome::TimedOut,
                Ending::Cancelled => Outcome::Cancelled,
            }
        };
        *state = State::Done;
        drop(state);
        shared.tally(outcome);
        self.report(shared, finished(outcome, runs, Some(first), Some(attempt)));
        if ok {
            Ok(())
        } else {
            Err(RunFailed { retry: false })
        }
    }

    /// Sends this slot's final report to the collector.
    pub fn report(self: &Arc<Self>, shared: &RunShared, report: Finished) {
        // The collector outlives every job it waits for; if it is gone, so is the run.
        let _ = shared
            .events
            .send(Event::Finished(Arc::clone(self), Box::new(report)));
    }
}

/// The report of a job ended by the first Ctrl-C before (another) run.
fn stopped(runs: u32, first: Option<(SystemTime, Instant)>, last: Option<Attempt>) -> Finished {
    let outcome = if runs == 0 {
        Outcome::NotRun
    } else {
        Outcome::Cancelled
    };
    finished(outcome, runs, first, last)
}

fn finished(
    outcome: Outcome,
    runs: u32,
    first: Option<(SystemTime, Instant)>,
    last: Option<Attempt>,
) -> Finished {
    let streamed = last.as_ref().is_some_and(|a| a.streamed);
    let (status, stdout, stderr, end) = match last {
        Some(a) => (Some(a.status), a.stdout, a.stderr, a.started_at + a.elapsed),
        None => (None, Captured::Empty, Captured::Empty, Instant::now()),
    };
    Finished {
        outcome,
        runs,
        start: first.map(|(wall, _)| wall),
        duration: first.map_or(Duration::ZERO, |(_, at)| end.saturating_duration_since(at)),
        status,
        stdout,
        stderr,
        streamed,
    }
}
