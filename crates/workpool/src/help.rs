//! Waiting without deadlock: a thread that blocks on work of a pool goes through here, and
//! a worker of that pool runs the pool's queued jobs while it waits (help while waiting),
//! so that a job waiting on jobs it queued into its own pool never waits for a worker that
//! is itself.
//!
//! [`Wakeup`] is the place a waiter parks; [`block_on`] is the one blocking loop every
//! composite wait (task sets, `map`, `scope`, `join`, pipelines) uses.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_deque::Worker as Deque;

use crate::shared::Shared;
use crate::steal::Boxed;
use crate::sync::{thread_local, Condvar, Mutex};
use crate::worker::{self, Local};

/// How deep a worker nests other jobs it runs while it waits inside jobs it runs while it
/// waits. Past this it runs only what it waits for (the job it claims, its own deque's
/// jobs), as a plain call would, so that helping alone cannot overflow the worker's stack.
const MAX_DEPTH: usize = 128;

/// The first and the longest nap of a worker that waits and found nothing to help with.
/// It naps rather than sleeps: a job may be queued meanwhile that only it can run (every
/// other worker waits too), and producers wake parked workers, not waiting ones.
const FIRST_NAP: Duration = Duration::from_micros(50);
const LONGEST_NAP: Duration = Duration::from_millis(1);

/// The pool a worker thread works for, and what it needs to run that pool's jobs while it
/// waits.
pub(crate) struct Home {
    shared: Arc<Shared>,
    /// `Local`s for helped jobs, kept for the next wait (one per level of nesting).
    spare: RefCell<Vec<Local>>,
    /// The worker's own, which the spares are made from.
    template: Local,
    depth: Cell<usize>,
    /// The worker's deque of jobs spawned by scopes and joins on it (see `steal.rs`).
    deque: Deque<Boxed>,
    id: u64,
    /// Where the worker parks while it waits for a `join`'s closure a thief runs.
    wakeup: Arc<Wakeup>,
}

thread_local! {
    static HOME: RefCell<Option<Rc<Home>>> = const { RefCell::new(None) };
}

/// While it lives, the calling thread is a worker of its pool and helps while it waits.
pub(crate) struct HomeGuard(());

impl Home {
    /// Makes the calling thread a worker of `shared` (see [`HomeGuard`]).
    pub(crate) fn enter(shared: &Arc<Shared>, local: &Local) -> HomeGuard {
        let deque = Deque::new_lifo();
        shared.steals.register(local.id(), deque.stealer());
        let home = Home {
            shared: Arc::clone(shared),
            spare: RefCell::new(Vec::new()),
            template: local.sibling(),
            depth: Cell::new(0),
            deque,
            id: local.id(),
            wakeup: Wakeup::new(),
        };
        HOME.with(|h| *h.borrow_mut() = Some(Rc::new(home)));
        HomeGuard(())
    }
}

impl Home {
    /// Runs `f` one level deeper, with a `Local` of its own.
    fn nested<R>(&self, f: impl FnOnce(&Arc<Shared>, &mut Local) -> R) -> R {
        let mut local = self
            .spare
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| self.template.sibling());
        let r = self.deeper(|shared| f(shared, &mut local));
        self.spare.borrow_mut().push(local);
        r
    }

    /// Runs `f` one level deeper: for a deque's job, which needs no `Local`.
    fn deeper<R>(&self, f: impl FnOnce(&Arc<Shared>) -> R) -> R {
        let depth = self.depth.get();
        self.depth.set(depth + 1);
        let r = f(&self.shared);
        self.depth.set(depth);
        r
    }
}

impl Drop for HomeGuard {
    fn drop(&mut self) {
        // The thread is leaving its loop: it holds no job, so no `Rc` of its home is out.
        // Its deque may still hold jobs of a scope whose owner waits elsewhere: a scope's job
        // spawns into the deque of the worker it runs on, and may end before what it spawned
        // runs. They go back to their scopes, whose owners run them (`join`'s halves cannot
        // be left here: their owner frame is inside `join` until its half is done).
        let home = HOME.with(|h| h.borrow_mut().take());
        if let Some(home) = &home {
            home.shared.steals.deregister(home.id);
            while let Some(job) = home.deque.pop() {
                job.hand_back();
            }
        }
        crate::unwind::drop_quietly(home);
    }
}

/// Which pool a job belongs to, without keeping the pool alive: the address of its shared
/// state, compared only while a worker of that pool holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolKey(usize);

impl PoolKey {
    pub(crate) fn of(shared: &Shared) -> Self {
        Self(std::ptr::from_ref(shared).addr())
    }
}

/// `true` if the calling thread is a worker of `pool` that may claim a job it waits for:
/// not while the pool is paused (fast/PROTOCOL.md, P8). Running the awaited job here is
/// what a plain call would do, so it is not bounded by [`MAX_DEPTH`], which bounds helping
/// with other jobs.
pub(crate) fn may_claim(pool: PoolKey) -> bool {
    HOME.with(|h| {
        h.borrow()
            .as_ref()
            .is_some_and(|home| PoolKey::of(&home.shared) == pool && !home.shared.fast.is_paused())
    })
}

/// Runs `job`, a job of `pool` that has not started, on the calling worker of that pool
/// (see [`may_claim`]). If a worker took it meanwhile, this does nothing.
pub(crate) fn run_here(pool: PoolKey, job: Arc<dyn crate::task::Runnable>) {
    let Some(home) = HOME.with(|h| h.borrow().clone()) else {
        return;
    };
    if PoolKey::of(&home.shared) != pool {
        return;
    }
    home.nested(|shared, local| worker::run_claimed(shared, local, job));
}

/// The calling thread's home, if it is a worker of `pool`.
pub(crate) fn home_of(pool: PoolKey) -> Option<Rc<Home>> {
    HOME.with(|h| {
        h.borrow()
            .as_ref()
            .filter(|home| PoolKey::of(&home.shared) == pool)
            .cloned()
    })
}

impl Home {
    /// Pushes `job` to this worker's deque, where idle workers may steal it (P7).
    pub(crate) fn push(&self, job: Boxed) {
        self.deque.push(job);
        self.shared.steals.pushed();
        self.shared.wake_thief();
    }

    /// Takes the job at address `job` back from the top of this worker's deque, where it
    /// was pushed: `true` if it was still there (no one stole it), so the caller runs it.
    pub(crate) fn take_back(&self, job: *const ()) -> bool {
        match self.deque.pop() {
            Some(top) if std::ptr::addr_eq(top.addr(), job) => true,
            Some(other) => {
                // Not ours: ours was stolen (the top is then an older job, of an outer frame),
                // or a job spawned into an outer scope sits above it. Either way it goes
                // back, and the wait that follows runs ours if it is still there.
                self.deque.push(other);
                false
            }
            None => false,
        }
    }

    /// Where this worker parks when it waits for a job another worker runs.
    pub(crate) fn wakeup(&self) -> &Arc<Wakeup> {
        &self.wakeup
    }
}

/// Runs a job stolen from, or taken back from, a deque.
pub(crate) fn run_local(shared: &Shared, job: Boxed) {
    shared
        .fast
        .running
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if let Err(payload) = crate::unwind::catch(|| job.run()) {
        crate::unwind::forget_payload(payload);
    }
    shared.end_running();
}

/// `true` if the calling thread is a worker of some pool.
pub(crate) fn on_worker() -> bool {
    HOME.with(|h| h.borrow().is_some())
}

/// On a worker: runs one queued job of its pool and says whether it did. `false` off a
/// worker, or past [`MAX_DEPTH`].
fn help_here() -> bool {
    let Some(home) = HOME.with(|h| h.borrow().clone()) else {
        return false;
    };
    // Its own newest job first: a job its own scope or join pushed, which the wait is for
    // (or an outer frame's, which it would run next anyway), so taken at any depth.
    if let Some(job) = home.deque.pop() {
        home.deeper(|shared| run_local(shared, job));
        return true;
    }
    // Then, within the depth bound, the pool's queue and the other workers' deques.
    if home.depth.get() >= MAX_DEPTH {
        return false;
    }
    if home.nested(worker::help_one) {
        return true;
    }
    // Paused or not: a job in a deque belongs to a job that started (fast/PROTOCOL.md, P8).
    match home.shared.steals.steal() {
        Some(job) => {
            home.deeper(|shared| run_local(shared, job));
            true
        }
        None => false,
    }
}

/// The one wait loop. `attempt(None)` waits as long as it takes and must return `Some`;
/// `attempt(Some(d))` waits at most `d` (`ZERO`: only looks) and may return `None`.
///
/// Off a worker it is `attempt(None)`. On a worker it looks, runs a queued job of its pool
/// if there is one, and naps otherwise, until `attempt` has its answer: a job that waits on
/// jobs it queued to its own pool runs them itself when no other worker does.
pub(crate) fn wait_helping<R>(mut attempt: impl FnMut(Option<Duration>) -> Option<R>) -> R {
    if !on_worker() {
        return attempt(None).expect("an untimed attempt returns only with its answer");
    }
    let mut nap = FIRST_NAP;
    loop {
        if let Some(r) = attempt(Some(Duration::ZERO)) {
            return r;
        }
        if help_here() {
            nap = FIRST_NAP;
            continue;
        }
        if let Some(r) = attempt(Some(nap)) {
            return r;
        }
        nap = (nap * 2).min(LONGEST_NAP);
    }
}

/// Blocks until `ready` returns `Some`, and returns it. `ready` is asked again after every
/// [`Wakeup::wake`] of `wakeup`; whoever changes what it looks at must wake it.
///
/// On a worker, the wait runs its pool's queued jobs while `ready` says no (see
/// [`wait_helping`]).
///
/// A worker helps the pool it works for, whichever pool the wait is on: that is the work
/// it can run, and running it may be what the awaited jobs wait for.
pub(crate) fn block_on<R>(wakeup: &Wakeup, ready: impl FnMut() -> Option<R>) -> R {
    wait(wakeup, None, ready)
}

/// Like [`block_on`], but asks `ready` again at least every `slice` even if nobody wakes
/// the wait: for a waiter whose wakers wake it only now and then.
pub(crate) fn block_on_within<R>(
    wakeup: &Wakeup,
    slice: Duration,
    ready: impl FnMut() -> Option<R>,
) -> R {
    wait(wakeup, Some(slice), ready)
}

fn wait<R>(wakeup: &Wakeup, slice: Option<Duration>, mut ready: impl FnMut() -> Option<R>) -> R {
    wait_helping(|timeout| loop {
        if let Some(r) = ready() {
            return Some(r);
        }
        match timeout {
            Some(Duration::ZERO) => return None,
            Some(nap) => {
                wakeup.park(Some(slice.map_or(nap, |slice| nap.min(slice))));
                return ready();
            }
            None => wakeup.park(slice),
        }
    })
}

/// A point one waiter parks at until someone says what it waits for may have changed.
/// A `wake` before the park is not lost: it makes the next park return at once.
#[derive(Debug, Default)]
pub(crate) struct Wakeup {
    woken: Mutex<bool>,
    cv: Condvar,
}

impl Wakeup {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Says that what the waiter waits for may have changed. Call it after the change.
    pub(crate) fn wake(&self) {
        *self.woken.lock() = true;
        self.cv.notify_all();
    }

    /// Parks until woken (or, with a timeout, until it passes), and consumes the wake.
    fn park(&self, timeout: Option<std::time::Duration>) {
        let mut woken = self.woken.lock();
        if !*woken {
            match timeout {
                Some(timeout) => self.cv.wait_for(&mut woken, timeout),
                None => self.cv.wait(&mut woken),
            }
        }
        *woken = false;
    }
}
