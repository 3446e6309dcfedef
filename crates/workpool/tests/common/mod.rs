//! Test support shared by the behaviour tests: gates that hold jobs, payloads that count
//! their runs and drops, and a bounded wait for conditions another thread makes true.

#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// A gate that jobs wait on until the test opens it.
#[derive(Default)]
pub struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.cv.wait(open).unwrap();
        }
    }

    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }

    /// Opens the gate when the guard drops, so a failing assertion cannot leave a worker
    /// held at the gate and the pool's drop waiting for it forever.
    pub fn open_on_drop(self: &Arc<Self>) -> impl Drop {
        struct Opener(Arc<Gate>);
        impl Drop for Opener {
            fn drop(&mut self) {
                self.0.open();
            }
        }
        Opener(Arc::clone(self))
    }
}

/// A job that tells the test it started, then waits at `gate`.
pub fn blocker(
    gate: &Arc<Gate>,
) -> (
    impl FnOnce() + Send + 'static,
    std::sync::mpsc::Receiver<()>,
) {
    let (started_tx, started) = std::sync::mpsc::channel();
    let gate = Arc::clone(gate);
    let job = move || {
        let _ = started_tx.send(());
        gate.wait();
    };
    (job, started)
}

/// A pool of `workers` fixed workers on a fresh manual clock.
pub fn manual_pool(workers: usize) -> (workpool::Pool, workpool::ManualClock) {
    let clock = workpool::ManualClock::new();
    let pool = workpool::Pool::builder()
        .workers(workers)
        .clock(clock.clone())
        .build()
        .unwrap();
    (pool, clock)
}

/// A one-worker pool with a queue of `capacity`, its worker held at the returned gate, so
/// Occupies one of `pool`'s workers with a job held at a new gate, and returns once the job
/// has started; the job ends when the gate opens.
pub fn hold(pool: &workpool::Pool) -> Arc<Gate> {
    let gate = Gate::new();
    let (job, started) = blocker(&gate);
    pool.execute(job).unwrap();
    started.recv().unwrap();
    gate
}

/// everything submitted next queues up.
pub fn held_pool(capacity: usize) -> (workpool::Pool, Arc<Gate>) {
    let pool = workpool::Pool::builder()
        .workers(1)
        .queue_capacity(capacity)
        .build()
        .unwrap();
    let gate = hold(&pool);
    (pool, gate)
}

/// Waits, spinning with `yield_now`, until `cond` holds; panics with `what` after 20 s of
/// real time, so a broken promise fails the test instead of hanging it. The limit is a
/// safety net, never the thing being measured.
#[track_caller]
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < give_up, "condition never held: {what}");
        thread::yield_now();
    }
}

/// Per-job run and drop counts, indexed by job number.
pub struct Ledger {
    pub runs: Vec<AtomicU32>,
    pub drops: Vec<AtomicU32>,
}

impl Ledger {
    pub fn new(jobs: usize) -> Arc<Self> {
        Arc::new(Self {
            runs: (0..jobs).map(|_| AtomicU32::new(0)).collect(),
            drops: (0..jobs).map(|_| AtomicU32::new(0)).collect(),
        })
    }

    pub fn runs(&self, i: usize) -> u32 {
        self.runs[i].load(SeqCst)
    }

    pub fn drops(&self, i: usize) -> u32 {
        self.drops[i].load(SeqCst)
    }
}

/// A value a job captures: it counts the job's runs, and its drop counts the closure's drop.
pub struct Payload {
    pub id: usize,
    pub ledger: Arc<Ledger>,
}

impl Payload {
    pub fn new(id: usize, ledger: &Arc<Ledger>) -> Self {
        Self {
            id,
            ledger: Arc::clone(ledger),
        }
    }

    pub fn ran(&self) {
        self.ledger.runs[self.id].fetch_add(1, SeqCst);
    }
}

impl Drop for Payload {
    fn drop(&mut self) {
        self.ledger.drops[self.id].fetch_add(1, SeqCst);
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// A minimal executor: polls `fut` on this thread, parking between wake-ups.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

/// Silences the default panic message for panics the tests cause on purpose.
pub fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !msg.contains("on purpose") {
                default(info);
            }
        }));
    });
}

/// Checks the report of a shutdown that waited for every worker: every accepted job ended
/// in exactly one of the report's outcomes, and none is still running or queued.
pub fn assert_settled(report: &workpool::ShutdownReport) {
    let ended = report.completed
        + report.failed
        + report.cancelled
        + report.timed_out
        + report.never_started;
    assert_eq!(ended, report.submitted, "{report:?}");
    assert_eq!(
        (report.still_running, report.still_queued),
        (0, 0),
        "{report:?}"
    );
}

/// What happened to every job a test tried to submit, checked against the pool's report.
#[derive(Default)]
pub struct Audit {
    /// Jobs the pool accepted, with their handles.
    pub accepted: Vec<(usize, workpool::Task<()>)>,
    /// Jobs handed back (full queue or closed pool); the test dropped them.
    pub rejected: Vec<usize>,
}

/// How the accepted jobs ended, as their handles tell it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub completed: u64,
    pub panicked: u64,
    pub cancelled: u64,
    pub timed_out: u64,
    pub never_started: u64,
}

impl Audit {
    /// Records what a submission of job `id` gave: its handle, or the error, which is
    /// dropped here with the job it hands back. Returns the handle if it was accepted.
    pub fn record<E>(
        &mut self,
        id: usize,
        submitted: Result<workpool::Task<()>, E>,
    ) -> Option<&workpool::Task<()>> {
        match submitted {
            Ok(task) => {
                self.accepted.push((id, task));
                self.accepted.last().map(|(_, task)| task)
            }
            Err(refused) => {
                drop(refused);
                self.rejected.push(id);
                None
            }
        }
    }

    pub fn merge(&mut self, other: Audit) {
        self.accepted.extend(other.accepted);
        self.rejected.extend(other.rejected);
    }

    /// Waits every handle and checks that each job was accounted for exactly once: it ran at
    /// most once, its handle agrees with its run count, its closure was dropped exactly once,
    /// and the report's counters match the handles.
    pub fn verify(self, jobs: usize, ledger: &Ledger, report: &workpool::ShutdownReport) -> Tally {
        let mut seen = vec![0u32; jobs];
        let mut tally = Tally::default();
        let accepted = self.accepted.len() as u64;
        for (id, task) in self.accepted {
            seen[id] += 1;
            let runs = ledger.runs(id);
            match task.wait() {
                Ok(()) => {
                    assert_eq!(runs, 1, "job {id} completed but ran {runs} times");
                    tally.completed += 1;
                }
                Err(e) if e.is_panic() => {
                    assert_eq!(runs, 1, "job {id} panicked but ran {runs} times");
                    tally.panicked += 1;
                }
                Err(e) if e.is_cancelled() => {
                    assert!(runs <= 1, "job {id} was cancelled but ran {runs} times");
                    tally.cancelled += 1;
                }
                Err(e) if e.is_timeout() => {
                    assert!(runs <= 1, "job {id} timed out but ran {runs} times");
                    tally.timed_out += 1;
                }
                Err(e) if e.is_not_run() => {
                    assert_eq!(runs, 0, "job {id} never started but ran {runs} times");
                    tally.never_started += 1;
                }
                Err(e) => panic!("job {id} ended in an unexpected way: {e}"),
            }
        }
        for &id in &self.rejected {
            seen[id] += 1;
            assert_eq!(ledger.runs(id), 0, "rejected job {id} ran");
        }
        for (id, &times) in seen.iter().enumerate() {
            assert_eq!(times, 1, "job {id} was accounted for {times} times");
            assert_eq!(
                ledger.drops(id),
                1,
                "job {id}'s closure was dropped {} times",
                ledger.drops(id)
            );
        }
        assert_eq!(report.submitted, accepted, "{report:?}");
        assert_eq!(report.still_running, 0, "{report:?}");
        let from_report = Tally {
            completed: report.completed,
            panicked: report.panicked,
            cancelled: report.cancelled,
            timed_out: report.timed_out,
            never_started: report.never_started,
        };
        assert_eq!(
            tally, from_report,
            "handles and report disagree: {report:?}"
        );
        assert_eq!(report.failed, report.panicked, "{report:?}");
        tally
    }
}

/// Fibonacci by recursive `join` on `pool`, down to 1: a fork-join that nests as deep as `n`.
pub fn fib(pool: &workpool::Pool, n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = pool.join(|| fib(pool, n - 1), || fib(pool, n - 2));
    a + b
}
