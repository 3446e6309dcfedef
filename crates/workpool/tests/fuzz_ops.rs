//! A fuzz model of the whole public API: long random sequences of every operation on a
//! [`Pool`], its [`Task`]s and [`Job`] options, with hostile user code among them, ended by a
//! random shutdown mode. It checks what the crate promises whatever user code does:
//!
//! - no panic from user code escapes a pool call (submit, stats, shutdown, ...);
//! - every shutdown returns, and every [`Task`] resolves afterwards;
//! - the reports balance: `submitted = completed + failed + cancelled + timed_out +
//!   never_started (+ still_running when a timeout hit)`, and `submitted` is exactly the
//!   number of jobs the pool accepted;
//! - each job ran as often as its handle says (a plain job at most once, a retried job at most
//!   its attempts), a task `cancel` resolved is cancelled, and every closure is dropped once.
//! - pausing ([`Pool::pause`], [`Pool::resume`]): `is_paused` and `stats().paused` say so;
//!   the jobs running when it began end while it lasts; no job accepted after `pause` returned
//!   (nor one due only after that) starts before `resume`, nor resolves unless cancelled, and
//!   `cancel` finds it unended; `wait_idle_timeout` never sees the pool idle over it; while
//!   the model's bound on the queue says there is room, admission goes on (a `try_` call is
//!   not refused as full, a blocking one returns); after `resume` the jobs queued meanwhile
//!   run; a graceful end of a paused pool runs them, and `shutdown_now` hands them back unrun.
//!
//! Time is a [`ManualClock`]: delays, deadlines, rate limits and timeouts move only when the
//! model advances the clock, or while a blocking call runs (a ticker thread moves the clock
//! forward then, so that a wait on the clock ends without the test sleeping).
//!
//! A hang is detected by a watchdog: a case that has not finished within `FUZZ_HANG_SECS`
//! (240 s by default) of real time fails with what it was doing. The bound detects hangs; it
//! does not measure speed. A case normally takes milliseconds, but one whose blocking calls
//! rightly wait out a century of pool time (a huge back-off holding the queue's last place)
//! takes up to about three minutes at the ticker's hour a tick, and must not count as hung.
//!
//! Environment:
//!
//! - `PROPTEST_CASES`: cases to run (default 64); `FUZZ_MAX_OPS`: longest sequence (200).
//! - `FUZZ_OFF=waker,huge,...`: switches hostile categories off (see [`Hostile`]), so that a
//!   known, not yet fixed bug can be isolated from the rest. `FUZZ_OFF=all` keeps only the
//!   plain operations.
//! - `FUZZ_HANG_SECS`: the watchdog's bound; `FUZZ_HANG_STACKS=1` holds a hung process for a
//!   debugger.
//! - `FUZZ_SUMMARY=1`: prints the cases and operations run; `FUZZ_MAX_SECS`: skips the cases
//!   left after that many seconds (for a long run of fixed length).
//! - `FUZZ_SEED`: the seed of the case generator (default: from the time); a failure prints
//!   it, and the same seed regenerates the same cases.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use workpool::{
    Job, JobContext, ManualClock, Pool, Priority, RateLimit, Retry, ShutdownReport, Task,
    TaskError, TaskErrorKind,
};

// ---------------------------------------------------------------------------------------
// Hostile categories, each switchable.

/// The kinds of hostile user code the model mixes in. Each is on unless named in `FUZZ_OFF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Hostile {
    /// Jobs that panic (a panic is the job's result: the mildest kind).
    Panic,
    /// A job's captures whose `Drop` panics.
    CaptureDrop,
    /// A job's result or error value whose `Drop` panics.
    ResultDrop,
    /// A panic payload whose `Drop` panics.
    PayloadDrop,
    /// A `Waker` that panics when woken.
    Waker,
    /// `Duration::MAX` wherever a duration enters.
    Huge,
    /// A `retry_if` predicate that panics.
    Predicate,
    /// Jobs and destructors that call back into their own pool, and hold its last handles.
    Reentrant,
}

const ALL_HOSTILE: [(Hostile, &str); 8] = [
    (Hostile::Panic, "panic"),
    (Hostile::CaptureDrop, "capture_drop"),
    (Hostile::ResultDrop, "result_drop"),
    (Hostile::PayloadDrop, "payload_drop"),
    (Hostile::Waker, "waker"),
    (Hostile::Huge, "huge"),
    (Hostile::Predicate, "predicate"),
    (Hostile::Reentrant, "reentrant"),
];

fn enabled(h: Hostile) -> bool {
    static ON: OnceLock<BTreeSet<Hostile>> = OnceLock::new();
    ON.get_or_init(|| {
        let off = std::env::var("FUZZ_OFF").unwrap_or_default();
        let off: Vec<&str> = off.split(',').map(str::trim).collect();
        ALL_HOSTILE
            .iter()
            .filter(|(_, name)| !off.contains(name) && !off.contains(&"all"))
            .map(|(h, _)| *h)
            .collect()
    })
    .contains(&h)
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------
// Probes: what user code saw, counted from inside the captures.

/// One job's view from user code: how often it ran, how often its captures and its results
/// were dropped, and whether its bombs are disarmed (the harness disarms them before it drops
/// something itself, so that only drops inside the pool panic).
#[derive(Default)]
struct Probe {
    runs: AtomicU32,
    capture_drops: AtomicU32,
    disarmed: AtomicBool,
    /// A `join` or `scope` the job ran inside the pool gave a wrong answer.
    composed_wrong: AtomicBool,
}

impl Probe {
    fn disarm(&self) {
        self.disarmed.store(true, SeqCst);
    }

    fn armed(&self) -> bool {
        !self.disarmed.load(SeqCst) && !thread::panicking()
    }
}

/// The job bodies running now, all jobs of a case together: a pause lets the running jobs
/// end, so the model waits on this (a condition variable, not a sleep) for none to run.
///
/// `parking_lot`'s lock and condition variable, not std's: job bodies run on the pool's
/// workers, and ThreadSanitizer (`scripts/sanitize.sh`) sees through these but not through
/// the uninstrumented std.
#[derive(Default)]
struct InFlight {
    /// Bodies running.
    running: parking_lot::Mutex<u64>,
    changed: parking_lot::Condvar,
}

/// One body's run, from its first statement to its return or unwinding.
struct Running {
    flight: Arc<InFlight>,
}

impl InFlight {
    fn enter(self: &Arc<Self>) -> Running {
        *self.running.lock() += 1;
        Running {
            flight: Arc::clone(self),
        }
    }

    /// Blocks until no body runs.
    fn wait_none_running(&self) {
        let mut running = self.running.lock();
        while *running > 0 {
            self.changed.wait(&mut running);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let flight = &self.flight;
        let mut running = flight.running.lock();
        *running -= 1;
        flight.changed.notify_all();
    }
}

const ON_PURPOSE: &str = "fuzz: on purpose";

/// Captured by every job: counts the closure's drop and may panic in it, or call the pool.
struct Capture {
    probe: Arc<Probe>,
    flight: Arc<InFlight>,
    bomb: bool,
    pool: Option<Pool>,
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.probe.capture_drops.fetch_add(1, SeqCst);
        if let Some(pool) = self.pool.take() {
            // User code in a destructor that looks at its pool, then drops what may be the
            // pool's last handle.
            let _ = pool.stats();
            let _ = format!("{pool:?}");
        }
        if self.bomb && self.probe.armed() {
            panic!("{ON_PURPOSE}: a capture's drop");
        }
    }
}

/// The value (or error) a job returns; its drop may panic.
struct Out {
    probe: Arc<Probe>,
    bomb: bool,
}

impl Drop for Out {
    fn drop(&mut self) {
        if self.bomb && self.probe.armed() {
            panic!("{ON_PURPOSE}: a result's drop");
        }
    }
}

impl fmt::Debug for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Out")
    }
}

/// A panic payload whose drop panics.
struct PayloadBomb;

impl Drop for PayloadBomb {
    fn drop(&mut self) {
        if !thread::panicking() {
            panic!("{ON_PURPOSE}: a panic payload's drop");
        }
    }
}

/// A waker that counts its wake-ups and may panic in them.
struct FuzzWaker {
    hostile: bool,
    wakes: AtomicU32,
}

impl Wake for FuzzWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
        if self.hostile && !thread::panicking() {
            panic!("{ON_PURPOSE}: a waker");
        }
    }
}

fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !msg.contains(ON_PURPOSE) && !payload.is::<PayloadBomb>() {
                default(info);
            }
        }));
    });
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned())
}

// ---------------------------------------------------------------------------------------
// The operations.

/// A duration as the model draws it. `Huge` is `Duration::MAX` when [`Hostile::Huge`] is on,
/// an hour otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dur {
    Zero,
    Micros(u16),
    Millis(u16),
    Secs(u16),
    Hour,
    Huge,
}

impl Dur {
    fn get(self) -> Duration {
        match self {
            Dur::Zero => Duration::ZERO,
            Dur::Micros(n) => Duration::from_micros(n.into()),
            Dur::Millis(n) => Duration::from_millis(n.into()),
            Dur::Secs(n) => Duration::from_secs(n.into()),
            Dur::Hour => Duration::from_secs(3600),
            Dur::Huge if enabled(Hostile::Huge) => Duration::MAX,
            Dur::Huge => Duration::from_secs(3600),
        }
    }

    /// For a wait that a graceful shutdown must sit out (a delay, a retry's back-off):
    /// `Duration::MAX` there means "never", and a graceful shutdown would rightly wait
    /// forever, so it is capped at an hour unless the case ends without draining.
    fn bounded(self, drains: bool) -> Duration {
        match self {
            Dur::Huge if drains => Duration::from_secs(3600),
            other => other.get(),
        }
    }
}

fn dur() -> impl Strategy<Value = Dur> {
    prop_oneof![
        3 => Just(Dur::Zero),
        3 => (0..2_000u16).prop_map(Dur::Micros),
        4 => (0..500u16).prop_map(Dur::Millis),
        2 => (0..120u16).prop_map(Dur::Secs),
        1 => Just(Dur::Hour),
        2 => Just(Dur::Huge),
    ]
}

/// What a job's body does on a run.
#[derive(Debug, Clone, Copy)]
enum Act {
    Ok,
    /// Returns `Err` (spawned jobs only; a plain job returns `Ok`).
    Err,
    Panic,
    /// Panics with a payload whose drop panics.
    PanicBomb,
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        6 => Just(Act::Ok),
        2 => Just(Act::Err),
        2 => Just(Act::Panic),
        1 => Just(Act::PanicBomb),
    ]
}

/// The user code of one job: what it does on each run, and how hostile its values are.
#[derive(Debug, Clone)]
struct Body {
    /// Action per run; the last repeats.
    acts: Vec<Act>,
    capture_bomb: bool,
    result_bomb: bool,
    /// The job holds a handle to its pool, calls `stats` and runs a `join` and a `scope`
    /// when it runs, and calls `stats` when its capture drops.
    reentrant: bool,
}

fn body() -> impl Strategy<Value = Body> {
    (
        prop::collection::vec(act(), 1..4),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(acts, capture_bomb, result_bomb, reentrant)| Body {
            acts,
            capture_bomb,
            result_bomb,
            reentrant,
        })
}

#[derive(Debug, Clone)]
enum RetryKind {
    Exponential(u32, Dur),
    Constant(u32, Dur),
    Delays(Vec<Dur>),
}

#[derive(Debug, Clone)]
struct RetryOpts {
    kind: RetryKind,
    jitter: Option<f64>,
    max_delay: Option<Dur>,
    /// `Some(true)`: a predicate that panics; `Some(false)`: one that retries every other
    /// error.
    retry_if: Option<bool>,
    panics: bool,
}

fn retry_opts() -> impl Strategy<Value = RetryOpts> {
    let kind = prop_oneof![
        (1..41u32, dur()).prop_map(|(n, d)| RetryKind::Exponential(n, d)),
        (1..6u32, dur()).prop_map(|(n, d)| RetryKind::Constant(n, d)),
        prop::collection::vec(dur(), 0..4).prop_map(RetryKind::Delays),
    ];
    (
        kind,
        prop::option::weighted(0.5, 0.0..=1.0f64),
        prop::option::weighted(0.5, dur()),
        prop::option::weighted(0.3, any::<bool>()),
        any::<bool>(),
    )
        .prop_map(|(kind, jitter, max_delay, retry_if, panics)| RetryOpts {
            kind,
            jitter,
            max_delay,
            retry_if,
            panics,
        })
}

#[derive(Debug, Clone)]
struct JobOpts {
    priority: Option<u8>,
    timeout: Option<Dur>,
    /// A deadline this far from now.
    deadline: Option<Dur>,
    delay: Option<Dur>,
    /// Due this far from now.
    at: Option<Dur>,
    retry: Option<RetryOpts>,
    /// `every(interval)`, with `fixed_delay` if the flag is set.
    every: Option<(Dur, bool)>,
    rate_key: Option<u8>,
}

fn job_opts() -> impl Strategy<Value = JobOpts> {
    (
        prop::option::weighted(0.4, any::<u8>()),
        prop::option::weighted(0.25, dur()),
        prop::option::weighted(0.1, dur()),
        prop::option::weighted(0.2, dur()),
        prop::option::weighted(0.05, dur()),
        prop::option::weighted(0.35, retry_opts()),
        prop::option::weighted(0.08, (dur(), any::<bool>())),
        prop::option::weighted(0.2, 0..3u8),
    )
        .prop_map(
            |(priority, timeout, deadline, delay, at, retry, every, rate_key)| JobOpts {
                priority,
                timeout,
                deadline,
                delay,
                at,
                retry,
                every,
                rate_key,
            },
        )
}

#[derive(Debug, Clone)]
enum Op {
    Submit(Body),
    TrySubmit(Body),
    SubmitTimeout(Body, Dur),
    Execute(Body, Option<u8>),
    Spawn(Body, Box<JobOpts>, bool),
    Cancel(usize),
    WaitTimeout(usize, Dur),
    /// Polls a task as a future once, with a waker that panics if the flag is set.
    Poll(usize, bool),
    DropTask(usize),
    Advance(Dur),
    Resize(usize, usize),
    SetKeepAlive(Dur),
    Stats,
    WaitIdle,
    /// `Pool::pause`; with the flag set, the model then waits for the jobs running to end.
    Pause(bool),
    /// `Pool::resume`; with the flag set, the model then waits on the handles of the plain
    /// jobs queued while the pool was paused.
    Resume(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => body().prop_map(Op::Submit),
        3 => body().prop_map(Op::TrySubmit),
        2 => (body(), dur()).prop_map(|(b, d)| Op::SubmitTimeout(b, d)),
        3 => (body(), prop::option::of(any::<u8>())).prop_map(|(b, p)| Op::Execute(b, p)),
        6 => (body(), job_opts(), any::<bool>()).prop_map(|(b, o, t)| Op::Spawn(b, Box::new(o), t)),
        3 => any::<usize>().prop_map(Op::Cancel),
        2 => (any::<usize>(), dur()).prop_map(|(i, d)| Op::WaitTimeout(i, d)),
        2 => (any::<usize>(), prop::bool::weighted(0.3)).prop_map(|(i, h)| Op::Poll(i, h)),
        1 => any::<usize>().prop_map(Op::DropTask),
        3 => dur().prop_map(Op::Advance),
        1 => (0..3usize, 1..4usize).prop_map(|(a, b)| Op::Resize(a.min(b), b)),
        1 => dur().prop_map(Op::SetKeepAlive),
        1 => Just(Op::Stats),
        1 => Just(Op::WaitIdle),
        // A pause fills the small queue within a few operations, after which most
        // submissions are refused as full: resumes are twice as likely, so that a pause
        // lasts some twenty operations and the rest of the case sees a running pool.
        1 => any::<bool>().prop_map(Op::Pause),
        2 => any::<bool>().prop_map(Op::Resume),
    ]
}

/// How the case ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Shutdown,
    Timeout(Dur),
    Now,
    /// Drops the last handle the test holds.
    Drop,
}

impl End {
    /// `true` if the end runs every accepted job, delayed ones included, so that a huge delay
    /// would rightly keep it waiting.
    fn drains(self) -> bool {
        // A shutdown timeout of a century drains as a plain shutdown does.
        matches!(self, End::Shutdown | End::Drop | End::Timeout(Dur::Huge))
    }
}

#[derive(Debug, Clone)]
struct PoolConf {
    min: usize,
    max: usize,
    capacity: usize,
    keep_alive: Dur,
    latency_metrics: bool,
    rate: Option<u32>,
    per_key: Option<u32>,
}

fn pool_conf() -> impl Strategy<Value = PoolConf> {
    (
        0..3usize,
        1..4usize,
        1..9usize,
        dur(),
        any::<bool>(),
        prop::option::weighted(0.15, 1..5_000u32),
        prop::option::weighted(0.3, 1..5_000u32),
    )
        .prop_map(
            |(min, max, capacity, keep_alive, latency_metrics, rate, per_key)| PoolConf {
                min: min.min(max),
                max,
                capacity,
                keep_alive,
                latency_metrics,
                rate,
                per_key,
            },
        )
}

#[derive(Debug, Clone)]
struct Case {
    conf: PoolConf,
    ops: Vec<Op>,
    end: End,
}

fn case() -> impl Strategy<Value = Case> {
    let max_ops = env_u64("FUZZ_MAX_OPS", 200) as usize;
    let end = prop_oneof![
        Just(End::Shutdown),
        dur().prop_map(End::Timeout),
        Just(End::Now),
        Just(End::Drop),
    ];
    (
        pool_conf(),
        prop::collection::vec(op(), 1..max_ops.max(2)),
        end,
    )
        .prop_map(|(conf, ops, end)| Case { conf, ops, end })
}

// ---------------------------------------------------------------------------------------
// The model.

type Checked<T> = Result<T, String>;

macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// How many times a job may run.
#[derive(Debug, Clone, Copy)]
enum Runs {
    Once,
    AtMost(u32),
    Unbounded,
}

/// One accepted job with a handle.
struct Entry {
    op: usize,
    task: Option<Task<Out>>,
    probe: Arc<Probe>,
    /// How its handle resolved, once the harness has seen it.
    outcome: Option<Result<(), TaskErrorKind>>,
    /// `cancel()` returned `true`.
    cancelled_by_us: bool,
    /// A waker that panics is registered on it.
    hostile_waker: bool,
    /// Its first run may be far away (a huge delay): waits on it are skipped.
    far: bool,
    /// A periodic series whose closure holds a handle of its own pool: it keeps the pool
    /// alive (as an `Arc` cycle would) until it is cancelled.
    holds_pool: bool,
}

/// What the model knows of an accepted job from how it was submitted.
#[derive(Debug, Clone, Copy)]
struct Terms {
    runs: Runs,
    /// Its first run may be far away: see [`Entry::far`].
    far: bool,
    /// A plain job (`submit`, `try_submit`, `submit_timeout`, `execute`): no delay,
    /// deadline, rate key or rerun, so it waits in the ready queue until a worker starts it.
    plain: bool,
    /// It cannot start before this instant of the pool's clock (its delay or start time).
    not_before: Option<Instant>,
}

impl Terms {
    const PLAIN: Terms = Terms {
        runs: Runs::Once,
        far: false,
        plain: true,
        not_before: None,
    };
}

/// One accepted job (execute jobs included).
struct Accepted {
    op: usize,
    probe: Arc<Probe>,
    terms: Terms,
    /// Its handle's index in [`Model::entries`], if it has a handle.
    entry: Option<usize>,
}

struct Model {
    clock: ManualClock,
    pool: Option<Pool>,
    entries: Vec<Entry>,
    /// Every accepted job.
    accepted: Vec<Accepted>,
    /// Jobs handed back: they must never run.
    rejected: Vec<(usize, Arc<Probe>)>,
    progress: Arc<Mutex<String>>,
    drains: bool,
    reentrant_jobs: bool,
    ops_run: u64,
    /// The operation being run, for the watchdog's report.
    current_op: usize,
    /// The pool's queue bound.
    capacity: usize,
    /// The model paused the pool and has not resumed it since. Exact: only this thread
    /// pauses and resumes, and a shutdown comes only at the end.
    paused: bool,
    /// While paused: the jobs (indices in `accepted`) that must not start before the resume:
    /// those accepted after `pause` returned, and those not due until after it returned.
    held: Vec<usize>,
    /// The job bodies running now.
    flight: Arc<InFlight>,
}

/// The longest step of the ticker: an hour. A wait of a century (what a huge duration means)
/// then takes about three minutes of real time, which the watchdog's default bound allows:
/// longer steps would keep a periodic job with a tiny interval always due, so that
/// `wait_idle` never saw the pool idle while the clock moved.
const MAX_TICK: Duration = Duration::from_secs(3600);

/// Runs `f` while a ticker thread moves the manual clock forward, accelerating up to an
/// hour a tick, so that any wait on the clock inside `f` ends. The ticker paces itself on a
/// channel that `f`'s end closes; it decides no outcome.
fn ticking<R>(clock: &ManualClock, f: impl FnOnce() -> R) -> R {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let ticker = s.spawn(move || {
            let mut step = Duration::from_micros(100);
            let mut n = 0u32;
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                done_rx.recv_timeout(Duration::from_micros(200))
            {
                clock.advance(step);
                n += 1;
                if n.is_multiple_of(8) {
                    step = (step * 2).min(MAX_TICK);
                }
            }
        });
        let out = panic::catch_unwind(AssertUnwindSafe(f));
        drop(done_tx);
        ticker.join().expect("the ticker never panics");
        match out {
            Ok(out) => out,
            Err(payload) => panic::resume_unwind(payload),
        }
    })
}

impl Model {
    /// `true` when jobs whose next run may be a century away (see [`Entry::far`]) could hold
    /// every place in the queue's bound. Counted conservatively: a far job counts until the
    /// harness saw it resolve or cancelled it itself.
    fn queue_held_for_ever(&self) -> bool {
        let held = self
            .entries
            .iter()
            .filter(|e| e.far && e.outcome.is_none() && !e.cancelled_by_us)
            .count();
        held >= self.capacity
    }

    fn note(&self, what: impl fmt::Display) {
        *self.progress.lock().unwrap() = format!("op {}: {what}", self.current_op);
    }

    /// Runs a pool call: a panic out of it is a finding (user code's panics must stay inside
    /// the pool).
    fn call<R>(&self, what: &str, blocking: bool, f: impl FnOnce() -> R) -> Checked<R> {
        self.note(what);
        let out = if blocking {
            panic::catch_unwind(AssertUnwindSafe(|| ticking(&self.clock, f)))
        } else {
            panic::catch_unwind(AssertUnwindSafe(f))
        };
        out.map_err(|p| format!("a panic escaped from {what}: {}", panic_text(&*p)))
    }

    fn pool(&self) -> &Pool {
        self.pool.as_ref().expect("the pool lives until the end")
    }

    fn capture(&self, probe: &Arc<Probe>, body: &Body) -> Capture {
        Capture {
            probe: Arc::clone(probe),
            flight: Arc::clone(&self.flight),
            bomb: body.capture_bomb && enabled(Hostile::CaptureDrop),
            pool: (body.reentrant && enabled(Hostile::Reentrant)).then(|| self.pool().clone()),
        }
    }

    /// A plain job: one run of `body.acts[0]` (an `Err` there is a plain `Ok`).
    fn plain_job(&self, probe: &Arc<Probe>, body: &Body) -> impl FnOnce() -> Out + Send + 'static {
        let capture = self.capture(probe, body);
        let act = body.acts[0];
        let result_bomb = body.result_bomb && enabled(Hostile::ResultDrop);
        move || {
            let capture = capture;
            let _running = capture.flight.enter();
            capture.probe.runs.fetch_add(1, SeqCst);
            if let Some(pool) = &capture.pool {
                let _ = pool.stats();
                compose_inside(pool, &capture.probe);
            }
            act_out(act);
            Out {
                probe: Arc::clone(&capture.probe),
                bomb: result_bomb,
            }
        }
    }

    fn accept(&mut self, op: usize, probe: Arc<Probe>, task: Option<Task<Out>>, terms: Terms) {
        if self.paused {
            // Accepted after `pause` returned: it must not start before the resume.
            self.held.push(self.accepted.len());
        }
        let entry = task.map(|task| {
            self.entries.push(Entry {
                op,
                task: Some(task),
                probe: Arc::clone(&probe),
                outcome: None,
                cancelled_by_us: false,
                hostile_waker: false,
                far: terms.far,
                holds_pool: false,
            });
            self.entries.len() - 1
        });
        self.accepted.push(Accepted {
            op,
            probe,
            terms,
            entry,
        });
    }

    /// `true` if the job is out of the queue for good: it has run as often as it may, or its
    /// handle saw it end by running. Anything else may hold a place in the queue's bound
    /// (a job cancelled or timed out while queued does until a worker skips it, which a
    /// paused pool's workers do not).
    fn surely_out(&self, a: &Accepted) -> bool {
        let runs = a.probe.runs.load(SeqCst);
        let ran_out = match a.terms.runs {
            Runs::Once => runs >= 1,
            Runs::AtMost(n) => runs >= n,
            Runs::Unbounded => false,
        };
        let ended = a
            .entry
            .and_then(|k| self.entries[k].outcome)
            .is_some_and(|o| {
                matches!(
                    o,
                    Ok(()) | Err(TaskErrorKind::Failed | TaskErrorKind::Panicked)
                )
            });
        ran_out || ended
    }

    /// An upper bound on the places taken in the queue's bound (ready and delayed jobs):
    /// every accepted job not surely out of it. Only this thread submits, and a job that
    /// re-enters (a retry, a periodic run) was counted all along, so the bound holds
    /// whatever the workers do meanwhile.
    fn places_taken_at_most(&self) -> usize {
        self.accepted.iter().filter(|a| !self.surely_out(a)).count()
    }

    /// `true` if the queue surely has room for one more job.
    fn surely_room(&self) -> bool {
        self.places_taken_at_most() < self.capacity
    }

    /// While paused: a held plain job that is surely still queued (or held unstarted at a
    /// worker's gate): it has not run and nobody cancelled it. Its op's index.
    fn surely_queued(&self) -> Option<usize> {
        self.held.iter().map(|&k| &self.accepted[k]).find_map(|a| {
            let cancelled = a.entry.is_some_and(|e| self.entries[e].cancelled_by_us);
            (a.terms.plain && !cancelled && a.probe.runs.load(SeqCst) == 0).then_some(a.op)
        })
    }

    /// While paused: no held job has started, and no held plain job has resolved unless the
    /// model cancelled it.
    fn check_held(&self, what: &str) -> Checked<()> {
        for &k in &self.held {
            let a = &self.accepted[k];
            let runs = a.probe.runs.load(SeqCst);
            let why = match a.terms.plain {
                true => "accepted after pause() returned",
                false => "not due before pause() returned",
            };
            check!(
                runs == 0,
                "{what}: the job of op {} ({why}) ran {runs} times while the pool was paused",
                a.op
            );
            let Some(e) = a.entry.map(|e| &self.entries[e]) else {
                continue;
            };
            if a.terms.plain && !e.cancelled_by_us {
                let finished = e.task.as_ref().is_some_and(Task::is_finished);
                check!(
                    e.outcome.is_none() && !finished,
                    "{what}: the plain job of op {} ({why}) resolved while the pool was \
                     paused, unstarted and not cancelled: {:?}",
                    a.op,
                    e.outcome
                );
            }
        }
        Ok(())
    }

    fn reject<J>(&mut self, op: usize, probe: Arc<Probe>, job: J) {
        probe.disarm();
        drop(job);
        self.rejected.push((op, probe));
    }

    /// The index of a live entry, chosen by `i`.
    fn entry_index(&self, i: usize) -> Option<usize> {
        let live: Vec<usize> = (0..self.entries.len())
            .filter(|&k| self.entries[k].task.is_some())
            .collect();
        (!live.is_empty()).then(|| live[i % live.len()])
    }

    fn entry(&mut self, i: usize) -> Option<&mut Entry> {
        let k = self.entry_index(i)?;
        Some(&mut self.entries[k])
    }

    /// `true` if entry `k` is a held plain job: while paused it cannot have ended.
    fn held_plain(&self, k: usize) -> bool {
        self.held
            .iter()
            .any(|&h| self.accepted[h].entry == Some(k) && self.accepted[h].terms.plain)
    }

    fn record(entry: &mut Entry, result: Result<Out, TaskError>) -> Checked<()> {
        entry.probe.disarm();
        let outcome = match result {
            Ok(out) => {
                drop(out);
                Ok(())
            }
            Err(e) => Err(e.kind()),
        };
        check!(
            entry.outcome.is_none(),
            "op {}: its task resolved twice",
            entry.op
        );
        entry.outcome = Some(outcome);
        Ok(())
    }

    fn step(&mut self, i: usize, op: &Op) -> Checked<()> {
        self.step_op(i, op)?;
        if self.paused {
            self.check_held(&format!("after op {i}"))?;
        }
        Ok(())
    }

    fn step_op(&mut self, i: usize, op: &Op) -> Checked<()> {
        self.ops_run += 1;
        self.current_op = i;
        let blocking = matches!(
            op,
            Op::Submit(_)
                | Op::Execute(..)
                | Op::Spawn(_, _, false)
                | Op::SubmitTimeout(_, Dur::Huge)
        );
        // A paused pool's queue only fills: a blocking submission to a full one would wait
        // for the resume that this thread would have to make. So while paused, a blocking
        // submission blocks only if the model's bound says there is room (and must then
        // return), and otherwise takes its non-blocking form, where being full is a fair
        // answer: `try_submit`, `try_spawn`, `submit_timeout` for an hour of pool time. There
        // is no non-blocking `execute`: that one is skipped.
        let non_blocking = blocking && self.paused && !self.surely_room();
        if blocking && !non_blocking && self.queue_held_for_ever() {
            // Every place in the bound is held by a job due in a century (or a series that
            // comes back for ever): a blocking submission rightly waits that long.
            return Ok(());
        }
        match op {
            Op::Submit(body) if non_blocking => self.try_submit(i, body)?,
            Op::Submit(body) => {
                let probe = Arc::new(Probe::default());
                let job = self.plain_job(&probe, body);
                let pool = self.pool().clone();
                match self.call("submit", true, move || pool.submit(job))? {
                    Ok(task) => self.accept(i, probe, Some(task), Terms::PLAIN),
                    Err(e) => return Err(format!("op {i}: submit refused on an open pool: {e:?}")),
                }
            }
            Op::TrySubmit(body) => self.try_submit(i, body)?,
            Op::SubmitTimeout(body, d) => {
                let probe = Arc::new(Probe::default());
                let job = self.plain_job(&probe, body);
                let d = match non_blocking {
                    true => Duration::from_secs(3600),
                    false => d.get(),
                };
                let pool = self.pool().clone();
                match self.call("submit_timeout", true, move || pool.submit_timeout(job, d))? {
                    Ok(task) => self.accept(i, probe, Some(task), Terms::PLAIN),
                    Err(e) => {
                        check!(
                            e.is_timeout(),
                            "op {i}: submit_timeout closed on an open pool"
                        );
                        self.reject(i, probe, e.into_inner());
                    }
                }
            }
            Op::Execute(..) if non_blocking => {}
            Op::Execute(body, priority) => {
                let probe = Arc::new(Probe::default());
                let job = self.plain_job(&probe, body);
                let job = move || drop(job());
                let pool = self.pool().clone();
                let priority = *priority;
                let res = self.call("execute", true, move || match priority {
                    None => pool.execute(job),
                    Some(p) => pool.execute_with_priority(Priority::new(p), job),
                })?;
                check!(res.is_ok(), "op {i}: execute refused on an open pool");
                self.accept(i, probe, None, Terms::PLAIN);
            }
            Op::Spawn(body, opts, try_) => self.spawn(i, body, opts, *try_ || non_blocking)?,
            Op::Cancel(k) => {
                self.note("Task::cancel");
                let Some(k) = self.entry_index(*k) else {
                    return Ok(());
                };
                // While paused, a plain job accepted since has not started: it is there to
                // cancel.
                let unended = self.paused && self.held_plain(k);
                let entry = &mut self.entries[k];
                let task = entry.task.as_ref().expect("live");
                let hostile = entry.hostile_waker;
                match panic::catch_unwind(AssertUnwindSafe(|| task.cancel())) {
                    Ok(true) => entry.cancelled_by_us = true,
                    Ok(false) => check!(
                        !unended || entry.cancelled_by_us,
                        "op {i}: cancel() found the plain job of op {} ended, though it was \
                         accepted while the pool was paused",
                        entry.op
                    ),
                    // The caller's own waker, run by the caller's own cancel: its panic
                    // reaching the caller is fair, provided the task is resolved.
                    Err(_) if hostile => entry.cancelled_by_us = task.is_finished(),
                    Err(p) => {
                        return Err(format!(
                            "a panic escaped from Task::cancel: {}",
                            panic_text(&*p)
                        ))
                    }
                }
            }
            Op::WaitTimeout(k, d) => {
                let clock = self.clock.clone();
                let progress = Arc::clone(&self.progress);
                let paused = self.paused;
                let Some(entry) = self.entry(*k) else {
                    return Ok(());
                };
                if entry.far && matches!(d, Dur::Huge | Dur::Hour) {
                    return Ok(());
                }
                let task = entry.task.take().expect("live");
                // While paused, any job not yet ended may stay so until the resume: a wait of
                // a century would be waited out in full (minutes of ticks). An hour of pool
                // time still lets the ticker run the clock past delays and deadlines.
                let d = match d {
                    Dur::Huge if paused => Duration::from_secs(3600),
                    d => d.get(),
                };
                *progress.lock().unwrap() = format!("Task::wait_timeout({d:?})");
                let res = panic::catch_unwind(AssertUnwindSafe(|| {
                    ticking(&clock, move || task.wait_timeout(d))
                }));
                match res {
                    Ok(Ok(result)) => Self::record(entry, result)?,
                    Ok(Err(task)) => entry.task = Some(task),
                    Err(p) => {
                        return Err(format!(
                            "a panic escaped from Task::wait_timeout({d:?}): {}",
                            panic_text(&*p)
                        ))
                    }
                }
            }
            Op::Poll(k, hostile) => {
                let hostile = *hostile && enabled(Hostile::Waker);
                let Some(entry) = self.entry(*k) else {
                    return Ok(());
                };
                let waker = Waker::from(Arc::new(FuzzWaker {
                    hostile,
                    wakes: AtomicU32::new(0),
                }));
                let mut cx = Context::from_waker(&waker);
                let task = entry.task.as_mut().expect("live");
                match Pin::new(task).poll(&mut cx) {
                    Poll::Ready(result) => {
                        entry.task = None;
                        Self::record(entry, result)?;
                    }
                    Poll::Pending => entry.hostile_waker |= hostile,
                }
            }
            Op::DropTask(k) => {
                if let Some(entry) = self.entry(*k) {
                    // The result, if any, is now dropped by the pool. The handle of a series
                    // that holds its own pool is kept, as its user must keep it: it is the
                    // only way left to end the series once the other handles are gone.
                    if !entry.holds_pool {
                        entry.task = None;
                    }
                }
            }
            Op::Advance(d) => {
                // Never by Duration::MAX: the manual clock would overflow.
                let d = match d {
                    Dur::Huge => Duration::from_secs(3 * 3600),
                    d => d.get(),
                };
                self.clock.advance(d);
            }
            Op::Resize(min, max) => {
                let (min, max) = (*min, *max);
                self.call("resize", false, || self.pool().resize(min, max))?;
            }
            Op::SetKeepAlive(d) => {
                let d = d.get();
                self.call("set_keep_alive", false, || self.pool().set_keep_alive(d))?;
            }
            Op::Stats => {
                let stats = self.call("stats", false, || self.pool().stats())?;
                check!(
                    stats.failed >= stats.panicked,
                    "op {i}: stats count more panics than failures: {stats:?}"
                );
                check!(
                    stats.submitted <= self.accepted.len() as u64,
                    "op {i}: stats count {} submitted of {} accepted",
                    stats.submitted,
                    self.accepted.len()
                );
                check!(
                    stats.paused == self.paused,
                    "op {i}: stats say paused = {}, the model paused = {}: {stats:?}",
                    stats.paused,
                    self.paused
                );
            }
            Op::WaitIdle if self.paused => {
                // `wait_idle` waits for the queued jobs to run, so on a paused pool it returns
                // only after a resume, which this thread would have to make: the bounded
                // form, for a minute of pool time (the ticker moves the clock). It must not
                // see the pool idle while a job accepted during the pause is queued.
                let queued = self.surely_queued();
                let pool = self.pool().clone();
                let idle = self.call("wait_idle_timeout (paused)", true, move || {
                    pool.wait_idle_timeout(Duration::from_secs(60))
                })?;
                if let Some(op) = queued {
                    check!(
                        !idle,
                        "op {i}: wait_idle_timeout saw the paused pool idle while the job of \
                         op {op}, accepted during the pause, was queued"
                    );
                }
            }
            Op::WaitIdle => {
                let pool = self.pool().clone();
                self.call("wait_idle", true, move || pool.wait_idle())?;
            }
            Op::Pause(settle) => {
                self.call("pause", false, || self.pool().pause())?;
                self.check_paused(i, true)?;
                if !self.paused {
                    self.paused = true;
                    // The clock stands still outside blocking calls: a job not due yet has
                    // not started, and must not before the resume, due or not.
                    let now = self.clock.now();
                    self.held = (0..self.accepted.len())
                        .filter(|&k| self.accepted[k].terms.not_before.is_some_and(|t| t > now))
                        .collect();
                }
                if *settle {
                    // Workers finish the jobs they are running: every body running now (and
                    // any short job a worker took together with one, before the pause) ends.
                    // Jobs never block here: a reentrant job's `join` and `scope` run their
                    // jobs on its workers, paused or not (including the jobs its scope's jobs
                    // spawned to another worker's deque).
                    self.note("pause: waiting for the running jobs to end");
                    self.flight.wait_none_running();
                }
            }
            Op::Resume(wait) => {
                if self.paused {
                    self.check_held(&format!("op {i}, before resume"))?;
                }
                self.call("resume", false, || self.pool().resume())?;
                self.check_paused(i, false)?;
                self.paused = false;
                let held = std::mem::take(&mut self.held);
                if *wait {
                    self.wait_after_resume(i, &held)?;
                }
            }
        }
        Ok(())
    }

    fn try_submit(&mut self, i: usize, body: &Body) -> Checked<()> {
        // The model's bound on the queue, taken before the call: while paused nothing
        // leaves the queue, so room now is room at the call.
        let room = self.paused && self.surely_room();
        let probe = Arc::new(Probe::default());
        let job = self.plain_job(&probe, body);
        match self.call("try_submit", false, || self.pool().try_submit(job))? {
            Ok(task) => self.accept(i, probe, Some(task), Terms::PLAIN),
            Err(e) => {
                check!(e.is_full(), "op {i}: try_submit closed on an open pool");
                check!(
                    !room,
                    "op {i}: try_submit refused as full on a paused pool, with at most {} of \
                     {} places taken",
                    self.places_taken_at_most(),
                    self.capacity
                );
                self.reject(i, probe, e.into_inner());
            }
        }
        Ok(())
    }

    /// `is_paused` and `stats().paused` both say `paused`.
    fn check_paused(&self, i: usize, paused: bool) -> Checked<()> {
        let is_paused = self.call("is_paused", false, || self.pool().is_paused())?;
        let stats = self.call("stats", false, || self.pool().stats())?;
        check!(
            is_paused == paused && stats.paused == paused,
            "op {i}: is_paused() = {is_paused}, stats().paused = {}, expected {paused}",
            stats.paused
        );
        Ok(())
    }

    /// After a resume: every plain job queued during the pause, with its handle held, runs.
    /// Each ends by running (or as cancelled, if the model cancelled it).
    fn wait_after_resume(&mut self, i: usize, held: &[usize]) -> Checked<()> {
        let clock = self.clock.clone();
        for &k in held {
            let a = &self.accepted[k];
            let (Some(e), true) = (a.entry, a.terms.plain) else {
                continue;
            };
            let op = a.op;
            let entry = &mut self.entries[e];
            let Some(task) = entry.task.take() else {
                continue;
            };
            *self.progress.lock().unwrap() =
                format!("op {i}: after resume, waiting on the task of op {op}");
            let result =
                panic::catch_unwind(AssertUnwindSafe(|| ticking(&clock, move || task.wait())))
                    .map_err(|p| format!("a panic escaped from Task::wait: {}", panic_text(&*p)))?;
            Self::record(entry, result)?;
            let outcome = entry.outcome.expect("just recorded");
            let ran = matches!(
                outcome,
                Ok(()) | Err(TaskErrorKind::Failed | TaskErrorKind::Panicked)
            );
            check!(
                ran || (entry.cancelled_by_us && outcome == Err(TaskErrorKind::Cancelled)),
                "op {i}: after resume, the job of op {op}, queued while paused, ended as \
                 {outcome:?} (cancelled by the model: {})",
                entry.cancelled_by_us
            );
        }
        Ok(())
    }

    fn spawn(&mut self, i: usize, body: &Body, opts: &JobOpts, try_: bool) -> Checked<()> {
        let probe = Arc::new(Probe::default());
        let capture = self.capture(&probe, body);
        let acts = body.acts.clone();
        let result_bomb = body.result_bomb && enabled(Hostile::ResultDrop);
        let f = move |_ctx: &JobContext| -> Result<Out, Out> {
            let _running = capture.flight.enter();
            let run = capture.probe.runs.fetch_add(1, SeqCst) as usize;
            if let Some(pool) = &capture.pool {
                let _ = pool.stats();
                compose_inside(pool, &capture.probe);
            }
            let act = acts[run.min(acts.len() - 1)];
            let out = Out {
                probe: Arc::clone(&capture.probe),
                bomb: result_bomb,
            };
            match act {
                Act::Err => Err(out),
                other => {
                    act_out(other);
                    Ok(out)
                }
            }
        };
        let drains = self.drains;
        let now = self.clock.now();
        let mut job = Job::new(f);
        let mut far = false;
        if let Some(p) = opts.priority {
            job = job.priority(Priority::new(p));
        }
        if let Some(d) = opts.timeout {
            job = job.timeout(d.get());
        }
        if let Some(d) = opts.deadline {
            // An Instant cannot hold now + Duration::MAX: the furthest deadline a user can
            // write is what checked_add allows.
            if let Some(at) = now.checked_add(d.get()) {
                job = job.deadline(at);
            }
        }
        // The first run is due at the later of the delay's end and the start time; the pool
        // reads its clock at the call, which is `now` or later. A delay beyond an Instant
        // is taken as a century by the pool: a year is a lower bound either way.
        let mut not_before: Option<Instant> = None;
        if let Some(d) = opts.delay {
            far |= matches!(d, Dur::Huge);
            let d = d.bounded(drains);
            job = job.delay(d);
            not_before = now.checked_add(d.min(Duration::from_secs(365 * 24 * 3600)));
        }
        if let Some(d) = opts.at {
            if let Some(at) = now.checked_add(d.bounded(drains)) {
                job = job.at(at);
                not_before = not_before.max(Some(at));
            }
        }
        let mut runs = Runs::Once;
        if let Some(r) = &opts.retry {
            let mut policy: Retry<Out> = match &r.kind {
                RetryKind::Exponential(n, d) => Retry::exponential(*n, d.bounded(drains)),
                RetryKind::Constant(n, d) => Retry::constant(*n, d.bounded(drains)),
                RetryKind::Delays(list) => Retry::delays(list.iter().map(|d| d.bounded(drains))),
            };
            runs = Runs::AtMost(policy.attempts());
            if let Some(j) = r.jitter {
                policy = policy.jitter(j);
            }
            match r.max_delay {
                Some(d) => policy = policy.max_delay(d.bounded(drains)),
                // A graceful end waits out every back-off: keep them finite.
                None if drains => policy = policy.max_delay(Duration::from_secs(3600)),
                None => {}
            }
            // Uncapped (or capped at a century), a back-off may be a century long, and the job
            // holds its place in the bound meanwhile.
            far |= !drains && matches!(r.max_delay, None | Some(Dur::Huge));
            match r.retry_if {
                Some(true) if enabled(Hostile::Predicate) => {
                    policy = policy.retry_if(|_: &Out| panic!("{ON_PURPOSE}: a retry predicate"));
                }
                Some(_) => {
                    let flip = AtomicBool::new(false);
                    policy = policy.retry_if(move |_: &Out| !flip.fetch_xor(true, SeqCst));
                }
                None => {}
            }
            policy = policy.retry_panics(r.panics);
            job = job.retry(policy);
        }
        if let Some((d, fixed)) = opts.every {
            // A zero interval re-runs back to back for as long as the pool lives: fine, but
            // it makes every case slow; a microsecond is as hostile.
            let d = d.get().max(Duration::from_micros(1));
            job = job.every(d);
            if fixed {
                job = job.fixed_delay();
            }
            runs = Runs::Unbounded;
            far = true;
        }
        if let Some(k) = opts.rate_key {
            job = job.rate_key(format!("key-{k}"));
        }
        let holds_pool =
            matches!(runs, Runs::Unbounded) && body.reentrant && enabled(Hostile::Reentrant);
        let terms = Terms {
            runs,
            far,
            plain: false,
            not_before,
        };
        let accepted = self.entries.len();
        // See `try_submit`.
        let room = self.paused && self.surely_room();
        let pool = self.pool().clone();
        if try_ {
            // The refusal hands the whole job back: boxed, so that the result stays small.
            match self.call("try_spawn", false, move || {
                pool.try_spawn(job).map_err(Box::new)
            })? {
                Ok(task) => self.accept(i, probe, Some(task), terms),
                Err(e) => {
                    check!(e.is_full(), "op {i}: try_spawn closed on an open pool");
                    check!(
                        !room,
                        "op {i}: try_spawn refused as full on a paused pool, with at most {} \
                         of {} places taken",
                        self.places_taken_at_most(),
                        self.capacity
                    );
                    self.reject(i, probe, (*e).into_inner());
                }
            }
        } else {
            match self.call("spawn", true, move || pool.spawn(job).map_err(Box::new))? {
                Ok(task) => self.accept(i, probe, Some(task), terms),
                Err(e) => return Err(format!("op {i}: spawn refused on an open pool: {e:?}")),
            }
        }
        if let Some(entry) = self.entries.get_mut(accepted) {
            entry.holds_pool = holds_pool;
        }
        Ok(())
    }

    /// Ends the pool as the case says and checks the reports; returns the settled report
    /// (none when the last handle was dropped).
    fn end(&mut self, end: End) -> Checked<Option<ShutdownReport>> {
        let pool = self.pool.take().expect("the pool lives until the end");
        let first = match end {
            End::Drop => {
                self.note("drop of the last handle");
                let clock = self.clock.clone();
                panic::catch_unwind(AssertUnwindSafe(|| ticking(&clock, move || drop(pool))))
                    .map_err(|p| {
                        format!(
                            "a panic escaped from the last handle's drop: {}",
                            panic_text(&*p)
                        )
                    })?;
                return Ok(None);
            }
            End::Shutdown => self.call("shutdown", true, || pool.shutdown())?,
            End::Now => self.call("shutdown_now", true, || pool.shutdown_now())?,
            End::Timeout(d) => {
                let d = d.get();
                self.call(&format!("shutdown_timeout({d:?})"), true, || {
                    pool.shutdown_timeout(d)
                })?
            }
        };
        balanced(&first, "the first report")?;
        if end == End::Shutdown {
            check!(
                !first.timeout_hit,
                "a graceful shutdown hit a timeout: {first:?}"
            );
            check!(
                first.still_running == 0,
                "a graceful shutdown left jobs running: {first:?}"
            );
        }
        // A shutdown that gave up leaves jobs finishing in the background; a graceful one
        // after it waits for them, so the counts are final.
        let settled = self.call("shutdown (settling)", true, || pool.shutdown())?;
        balanced(&settled, "the settled report")?;
        check!(
            settled.still_running == 0 && !settled.timeout_hit,
            "the settled report still has jobs running: {settled:?}"
        );
        check!(
            settled.submitted == first.submitted,
            "submitted moved after shutdown: {first:?} then {settled:?}"
        );
        check!(
            settled.submitted == self.accepted.len() as u64,
            "the report counts {} submitted, the pool accepted {}: {settled:?}",
            settled.submitted,
            self.accepted.len()
        );
        let stats = self.call("stats after shutdown", false, || pool.stats())?;
        check!(
            stats.submitted == settled.submitted
                && stats.completed == settled.completed
                && stats.failed == settled.failed
                && stats.cancelled == settled.cancelled
                && stats.timed_out == settled.timed_out
                && stats.never_started == settled.never_started,
            "stats and the settled report disagree: {stats:?} vs {settled:?}"
        );
        let clock = self.clock.clone();
        self.note("drop of the shut-down pool");
        panic::catch_unwind(AssertUnwindSafe(|| ticking(&clock, move || drop(pool))))
            .map_err(|p| format!("a panic escaped from a pool's drop: {}", panic_text(&*p)))?;
        Ok(Some(settled))
    }

    /// Waits on every task still held and checks each job's runs against its outcome.
    fn verify(&mut self, report: Option<&ShutdownReport>) -> Checked<()> {
        let clock = self.clock.clone();
        if report.is_none() {
            // The last handle the test held is gone, but a series that holds a handle of its
            // own pool keeps the pool alive until it is cancelled. Cancelling the last of them
            // drops the pool's last handle from inside the pool; the test's thread may then
            // run the graceful shutdown, which waits for delayed jobs: the clock must move.
            for entry in self.entries.iter_mut().filter(|e| e.holds_pool) {
                if let Some(task) = &entry.task {
                    *self.progress.lock().unwrap() =
                        format!("cancelling the series of op {} after the end", entry.op);
                    let cancelled =
                        panic::catch_unwind(AssertUnwindSafe(|| ticking(&clock, || task.cancel())))
                            .map_err(|p| {
                                format!("a panic escaped from Task::cancel: {}", panic_text(&*p))
                            })?;
                    entry.cancelled_by_us |= cancelled;
                }
            }
        }
        for entry in &mut self.entries {
            if let Some(task) = entry.task.take() {
                *self.progress.lock().unwrap() =
                    format!("waiting on the task of op {} after the end", entry.op);
                let result =
                    panic::catch_unwind(AssertUnwindSafe(|| ticking(&clock, move || task.wait())))
                        .map_err(|p| {
                            format!("a panic escaped from Task::wait: {}", panic_text(&*p))
                        })?;
                Self::record(entry, result)?;
            }
        }
        let mut tally = [0u64; 6];
        for entry in &self.entries {
            let runs = entry.probe.runs.load(SeqCst);
            let op = entry.op;
            let Some(outcome) = entry.outcome else {
                continue; // dropped by the harness
            };
            if entry.cancelled_by_us {
                check!(
                    outcome == Err(TaskErrorKind::Cancelled),
                    "op {op}: cancel() returned true, yet the task ended as {outcome:?}"
                );
            }
            match outcome {
                Ok(()) => {
                    check!(runs >= 1, "op {op}: completed without running");
                    tally[0] += 1;
                }
                Err(TaskErrorKind::NotRun) => {
                    check!(runs == 0, "op {op}: ended as not run, but ran {runs} times");
                    tally[5] += 1;
                }
                Err(TaskErrorKind::Panicked) => {
                    check!(runs >= 1, "op {op}: panicked without running");
                    tally[1] += 1;
                    tally[2] += 1;
                }
                Err(TaskErrorKind::Failed) => {
                    check!(runs >= 1, "op {op}: failed without running");
                    tally[1] += 1;
                }
                Err(TaskErrorKind::Cancelled) => tally[3] += 1,
                Err(TaskErrorKind::TimedOut) => tally[4] += 1,
                Err(other) => return Err(format!("op {op}: ended in an unknown way: {other:?}")),
            }
        }
        for Accepted {
            op,
            probe,
            terms: Terms { runs: bound, .. },
            ..
        } in &self.accepted
        {
            check!(
                !probe.composed_wrong.load(SeqCst),
                "op {op}: a join or scope inside the job gave a wrong answer"
            );
            let runs = probe.runs.load(SeqCst);
            match bound {
                Runs::Once => check!(runs <= 1, "op {op}: a plain job ran {runs} times"),
                Runs::AtMost(n) => check!(
                    runs <= *n,
                    "op {op}: a job with {n} attempts ran {runs} times"
                ),
                Runs::Unbounded => {}
            }
            if !self.reentrant_jobs || report.is_some() {
                let drops = probe.capture_drops.load(SeqCst);
                check!(
                    drops == 1,
                    "op {op}: its closure was dropped {drops} times after the end"
                );
            }
        }
        for (op, probe) in &self.rejected {
            let runs = probe.runs.load(SeqCst);
            check!(runs == 0, "op {op}: a job handed back ran {runs} times");
        }
        if let Some(r) = report {
            let counted = [
                r.completed,
                r.failed,
                r.panicked,
                r.cancelled,
                r.timed_out,
                r.never_started,
            ];
            let names = [
                "completed",
                "failed",
                "panicked",
                "cancelled",
                "timed_out",
                "never_started",
            ];
            for k in 0..6 {
                check!(
                    tally[k] <= counted[k],
                    "handles saw {} {} jobs, the report counts {}: {r:?}",
                    tally[k],
                    names[k],
                    counted[k]
                );
            }
            let every_job_has_a_handle = self.entries.len() == self.accepted.len()
                && self.entries.iter().all(|e| e.outcome.is_some());
            if every_job_has_a_handle {
                check!(
                    tally == counted,
                    "handles and report disagree: handles {tally:?} (completed, failed, \
                     panicked, cancelled, timed_out, never_started), report {r:?}"
                );
            }
        }
        Ok(())
    }
}

impl Model {
    /// After a case that ended with the pool paused: `shutdown_now` handed back every job
    /// the pause held (none ran; a plain one's handle says not run), and a graceful end
    /// (`shutdown`, the last handle's drop) ran every plain one the model did not cancel.
    fn check_paused_end(&self, end: End) -> Checked<()> {
        for &k in &self.held {
            let a = &self.accepted[k];
            let op = a.op;
            let runs = a.probe.runs.load(SeqCst);
            let entry = a.entry.map(|e| &self.entries[e]);
            let cancelled = entry.is_some_and(|e| e.cancelled_by_us);
            match end {
                End::Now => {
                    check!(
                        runs == 0,
                        "shutdown_now of a paused pool: the job of op {op}, held by the pause, \
                         ran {runs} times"
                    );
                    if let (true, Some(outcome)) = (a.terms.plain, entry.and_then(|e| e.outcome)) {
                        let expected = match cancelled {
                            true => TaskErrorKind::Cancelled,
                            false => TaskErrorKind::NotRun,
                        };
                        check!(
                            outcome == Err(expected),
                            "shutdown_now of a paused pool: the plain job of op {op}, held by \
                             the pause, ended as {outcome:?}, not {expected:?}"
                        );
                    }
                }
                End::Shutdown | End::Drop if a.terms.plain && !cancelled => check!(
                    runs == 1,
                    "{end:?} of a paused pool: the plain job of op {op}, queued during the \
                     pause, ran {runs} times"
                ),
                _ => {}
            }
        }
        Ok(())
    }
}

/// What a reentrant job does with its pool besides `stats`: a `join` and a `scope` on the
/// worker it runs on, which must give their answers whatever else the pool is doing
/// (shutting down, full, resizing), since the worker runs what it waits for itself.
fn compose_inside(pool: &Pool, probe: &Probe) {
    let (a, b) = pool.join(|| 1u32 + 1, || 2u32 + 2);
    let mut seen = [0usize; 4];
    let nested = AtomicU32::new(0);
    pool.scope(|s| {
        for (k, slot) in seen.iter_mut().enumerate() {
            let nested = &nested;
            // Each spawns one more, into the deque of whichever worker runs it.
            s.spawn(move || {
                *slot = k + 1;
                s.spawn(move || {
                    nested.fetch_add(1, SeqCst);
                });
            });
        }
    });
    if (a, b) != (2, 4) || seen != [1, 2, 3, 4] || nested.load(SeqCst) != 4 {
        probe.composed_wrong.store(true, SeqCst);
    }
}

fn act_out(act: Act) {
    match act {
        Act::Ok | Act::Err => {}
        Act::Panic if enabled(Hostile::Panic) => panic!("{ON_PURPOSE}: a job"),
        Act::PanicBomb if enabled(Hostile::PayloadDrop) => panic::panic_any(PayloadBomb),
        Act::PanicBomb if enabled(Hostile::Panic) => panic!("{ON_PURPOSE}: a job"),
        Act::Panic | Act::PanicBomb => {}
    }
}

fn balanced(r: &ShutdownReport, what: &str) -> Checked<()> {
    let sum = r.completed + r.failed + r.cancelled + r.timed_out + r.never_started;
    check!(
        r.submitted == sum + r.still_running as u64,
        "{what} does not balance: submitted {} = completed + failed + cancelled + timed_out + \
         never_started + still_running = {} + {}: {r:?}",
        r.submitted,
        sum,
        r.still_running
    );
    check!(r.failed >= r.panicked, "{what}: panicked > failed: {r:?}");
    Ok(())
}

fn build(conf: &PoolConf, clock: &ManualClock) -> Pool {
    let mut b = Pool::builder()
        .min_workers(conf.min)
        .max_workers(conf.max)
        .queue_capacity(conf.capacity)
        .keep_alive(conf.keep_alive.get())
        .latency_metrics(conf.latency_metrics)
        .thread_name("fuzz")
        .clock(clock.clone());
    if let Some(n) = conf.rate {
        b = b.rate_limit(RateLimit::per_second(n));
    }
    if let Some(n) = conf.per_key {
        b = b
            .rate_limit_per_key(RateLimit::per_second(n))
            .rate_limit_for("key-0", RateLimit::per_second(n.saturating_mul(2)));
    }
    b.build().expect("a valid configuration builds")
}

/// Runs one case on this thread; `Err` says what broke.
fn model(case: &Case, progress: Arc<Mutex<String>>) -> Checked<u64> {
    let clock = ManualClock::new();
    let pool = build(&case.conf, &clock);
    let mut m = Model {
        clock,
        pool: Some(pool),
        entries: Vec::new(),
        accepted: Vec::new(),
        rejected: Vec::new(),
        progress,
        drains: case.end.drains(),
        reentrant_jobs: false,
        ops_run: 0,
        current_op: 0,
        capacity: case.conf.capacity,
        paused: false,
        held: Vec::new(),
        flight: Arc::new(InFlight::default()),
    };
    let out = run_case(&mut m, case);
    if out.is_err() {
        // A broken promise must be reported as itself: dropped as it is, the pool would
        // shut down gracefully without the ticker, waiting out its delayed jobs (for ever, for
        // a century-long one), and the watchdog would report a hang instead. Hand the queue
        // back with the clock moving; a pool stuck even then is left to the watchdog.
        if let Some(pool) = m.pool.take() {
            m.note("abandoning the pool of a failed case");
            let clock = m.clock.clone();
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                ticking(&clock, move || {
                    pool.shutdown_now();
                    drop(pool);
                })
            }));
        }
    }
    out.map(|()| m.ops_run + 1)
}

fn run_case(m: &mut Model, case: &Case) -> Checked<()> {
    for (i, op) in case.ops.iter().enumerate() {
        m.note(format!("op {i}: {op:?}"));
        if let Op::Submit(b)
        | Op::TrySubmit(b)
        | Op::SubmitTimeout(b, _)
        | Op::Execute(b, _)
        | Op::Spawn(b, _, _) = op
        {
            m.reentrant_jobs |= b.reentrant && enabled(Hostile::Reentrant);
        }
        m.step(i, op)
            .map_err(|e| format!("{e} (at op {i}: {op:?})"))?;
    }
    if m.paused && case.end == End::Drop && m.reentrant_jobs {
        // A queued job whose closure holds a handle of its own pool keeps a paused pool
        // alive once the test's handle is gone, and nothing is left to resume it: a cycle
        // the user makes (as with a series that holds its pool, which `verify` cancels; a
        // plain job has no handle to cancel it by). Resume, so that the drop can end it.
        m.note("resume before dropping a paused pool that its jobs hold");
        m.call("resume", false, || m.pool().resume())?;
        m.paused = false;
        m.held.clear();
    }
    let paused_at_end = m.paused;
    let report = m.end(case.end)?;
    m.verify(report.as_ref())?;
    if paused_at_end {
        m.check_paused_end(case.end)?;
    }
    Ok(())
}

/// With `FUZZ_MAX_SECS`, cases after that many seconds are rejected (and not counted), which
/// ends the run, so that a long run has a fixed length whatever the machine.
fn past_time_budget() -> bool {
    static START: OnceLock<(Instant, Option<u64>)> = OnceLock::new();
    let (start, budget) = START.get_or_init(|| {
        let budget = std::env::var("FUZZ_MAX_SECS")
            .ok()
            .and_then(|v| v.parse().ok());
        (Instant::now(), budget)
    });
    budget.is_some_and(|secs| start.elapsed() >= Duration::from_secs(secs))
}

static OPS_RUN: AtomicU64 = AtomicU64::new(0);
static CASES_RUN: AtomicU64 = AtomicU64::new(0);

/// Runs a case on its own thread under the watchdog. A hung case's threads are leaked: the
/// failure is reported either way.
fn watched(case: &Case) -> Result<(), TestCaseError> {
    quiet_panics();
    if past_time_budget() {
        // Rejected cases end the run once proptest's reject limit is reached.
        return Err(TestCaseError::reject("past FUZZ_MAX_SECS"));
    }
    let hang = Duration::from_secs(env_u64("FUZZ_HANG_SECS", 240));
    let progress = Arc::new(Mutex::new(String::from("starting")));
    let (tx, rx) = mpsc::channel();
    let runner = {
        let case = case.clone();
        let progress = Arc::clone(&progress);
        thread::Builder::new()
            .name("fuzz-case".into())
            .spawn(move || {
                let out = panic::catch_unwind(AssertUnwindSafe(|| model(&case, progress)));
                let _ =
                    tx.send(out.unwrap_or_else(|p| {
                        Err(format!("the model panicked: {}", panic_text(&*p)))
                    }));
            })
            .expect("spawn the case thread")
    };
    let started = Instant::now();
    match rx.recv_timeout(hang) {
        Ok(out) => {
            let _ = runner.join();
            CASES_RUN.fetch_add(1, SeqCst);
            let ops = out.map_err(TestCaseError::fail)?;
            OPS_RUN.fetch_add(ops, SeqCst);
            Ok(())
        }
        Err(_) => {
            dump_stacks();
            Err(TestCaseError::fail(format!(
                "HANG: the case has not finished after {:?}; it was at: {}",
                started.elapsed(),
                progress.lock().unwrap()
            )))
        }
    }
}

/// With `FUZZ_HANG_STACKS=1`, a hang holds the process for ten minutes and says so, so that a
/// debugger can be attached from outside (`gdb -p PID -batch -ex "thread apply all bt"`) to
/// see where the pool is stuck.
fn dump_stacks() {
    if std::env::var_os("FUZZ_HANG_STACKS").is_none() {
        return;
    }
    eprintln!(
        "FUZZ_HANG_STACKS: a case hung; pid {} waits ten minutes for a debugger",
        std::process::id()
    );
    thread::park_timeout(Duration::from_secs(600));
}

// The default run is short (64 cases, a few seconds); scripts/soak.sh runs it for minutes.
#[test]
fn random_operation_sequences_keep_every_promise() {
    let cases = env_u64("PROPTEST_CASES", 64) as u32;
    let config = Config {
        cases,
        // Shrinking re-runs failing cases; a hanging one costs the watchdog's bound each time.
        max_shrink_iters: env_u64("PROPTEST_MAX_SHRINK_ITERS", 256) as u32,
        // ... so the whole of shrinking is bounded too (30 s unless told).
        max_shrink_time: env_u64("PROPTEST_MAX_SHRINK_TIME", 30_000) as u32,
        failure_persistence: None,
        ..Config::default()
    };
    // A fixed seed regenerates the same cases (thread timing still varies); a failure prints
    // the seed it ran with.
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let mut result = runner.run(&case(), |case| watched(&case));
    if matches!(result, Err(TestError::Abort(_))) && past_time_budget() {
        result = Ok(());
    }
    if std::env::var_os("FUZZ_SUMMARY").is_some() {
        let off: Vec<&str> = ALL_HOSTILE
            .iter()
            .filter(|(h, _)| !enabled(*h))
            .map(|(_, n)| *n)
            .collect();
        println!(
            "fuzz_ops: cases {} operations {} hostile-off {:?} result {}",
            CASES_RUN.load(SeqCst),
            OPS_RUN.load(SeqCst),
            off,
            if result.is_ok() { "ok" } else { "FAILED" }
        );
    }
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, case)) => {
            panic!(
                "fuzz_ops found a broken promise (FUZZ_SEED={seed}): {why}\nminimal case: {case:?}"
            )
        }
        Err(TestError::Abort(why)) => panic!("fuzz_ops aborted: {why}"),
    }
}
