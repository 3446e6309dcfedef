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
