//! Worker hooks and worker state: a start hook and a stop hook run exactly once on each worker
//! thread, around its jobs, however the worker ends; each worker builds its state at most once
//! while its jobs go well, lends it to its jobs, and drops it on its own thread as it exits; a
//! hook or constructor that panics, or a job for a state the pool lacks, harms nothing.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};

// parking_lot's lock, not std's: ThreadSanitizer sees it (std is not instrumented), so this
// file runs under TSan too.
use parking_lot::Mutex;
use std::thread::{self, ThreadId};
use std::time::Duration;

use common::{eventually, hold, quiet_panics};
use workpool::{ManualClock, Pool, TaskErrorKind};

/// What the hooks saw: (worker id, thread) per call, in call order.
#[derive(Default)]
struct Log {
    started: Mutex<Vec<(usize, ThreadId)>>,
    stopped: Mutex<Vec<(usize, ThreadId)>>,
}

impl Log {
    fn started(&self) -> Vec<(usize, ThreadId)> {
        self.started.lock().clone()
    }

    fn stopped(&self) -> Vec<(usize, ThreadId)> {
        self.stopped.lock().clone()
    }
}

thread_local! {
    /// Set by the start hook on the thread it runs on: a job that sees it unset ran before it.
    static HOOKED: Cell<bool> = const { Cell::new(false) };
}

fn logged(builder: workpool::Builder, log: &Arc<Log>) -> workpool::Builder {
    let (on_start, on_stop) = (Arc::clone(log), Arc::clone(log));
    builder
        .on_worker_start(move |id| {
            HOOKED.with(|h| h.set(true));
            on_start.started.lock().push((id, thread::current().id()));
        })
        .on_worker_stop(move |id| {
            on_stop.stopped.lock().push((id, thread::current().id()));
        })
}

/// Asserts that each worker thread ran each hook exactly once, with matching ids.
fn once_per_thread(log: &Log, workers: usize) {
    let (started, stopped) = (log.started(), log.stopped());
    assert_eq!(started.len(), workers, "start hooks: {started:?}");
    let mut started_sorted = started.clone();
    let mut stopped_sorted = stopped.clone();
    started_sorted.sort_by_key(|&(id, _)| id);
    stopped_sorted.sort_by_key(|&(id, _)| id);
    assert_eq!(started_sorted, stopped_sorted, "each start has its stop");
    let threads: HashSet<ThreadId> = started.iter().map(|&(_, t)| t).collect();
    let ids: HashSet<usize> = started.iter().map(|&(id, _)| id).collect();
    assert_eq!(
        (threads.len(), ids.len()),
        (workers, workers),
        "distinct threads and ids"
    );
}

#[test]
fn start_and_stop_hooks_run_once_per_worker_thread_around_its_jobs() {
    let log = Arc::new(Log::default());
    let pool = logged(Pool::builder().workers(3), &log).build().unwrap();
    let tasks: Vec<_> = (0..300)
        .map(|_| {
            pool.submit(|| (HOOKED.with(Cell::get), thread::current().id()))
                .unwrap()
        })
        .collect();
    let mut job_threads = HashSet::new();
    for task in tasks {
        let (hooked, thread) = task.wait().unwrap();
        assert!(hooked, "a job ran before its worker's start hook");
        job_threads.insert(thread);
    }
    assert!(
        log.stopped().is_empty(),
        "no worker stopped before shutdown"
    );
    let report = pool.shutdown();
    assert_eq!(report.workers_joined, 3);
    once_per_thread(&log, 3);
    let hooked: HashSet<ThreadId> = log.started().iter().map(|&(_, t)| t).collect();
    assert!(
        job_threads.is_subset(&hooked),
        "jobs ran only on hooked threads"
    );
}

#[test]
fn hooks_get_the_worker_id_jobs_see() {
    let log = Arc::new(Log::default());
    let pool = logged(Pool::builder().workers(1), &log).build().unwrap();
    let job = workpool::Job::new(|ctx: &workpool::JobContext| Ok::<_, ()>(ctx.worker_id()));
    let worker_id = pool.spawn(job).unwrap().wait().unwrap();
    pool.shutdown();
    assert_eq!(log.started()[0].0, worker_id);
    assert_eq!(log.stopped()[0].0, worker_id);
}

#[test]
fn the_stop_hook_runs_when_an_idle_worker_retires() {
    let clock = ManualClock::new();
    let (tx, stops) = mpsc::channel();
    let tx = Mutex::new(tx);
    let pool = Pool::builder()
        .min_workers(0)
        .max_workers(2)
        .keep_alive(Duration::from_secs(10))
        .clock(clock.clone())
        .on_worker_stop(move |id| tx.lock().send(id).unwrap())
        .build()
        .unwrap();
    pool.submit(|| ()).unwrap().wait().unwrap();
    assert_eq!(pool.stats().workers, 1);
    // Keep-alive counts from the moment the worker goes idle.
    eventually("the worker went idle", || pool.stats().idle == 1);
    clock.advance(Duration::from_secs(10));
    let id = stops.recv().unwrap();
    eventually("the retired worker left the books", || {
        pool.stats().workers == 0
    });
    // A job after the retirement gets a new worker, with a new id.
    pool.submit(|| ()).unwrap().wait().unwrap();
    pool.shutdown();
    let next = stops.recv().unwrap();
    assert!(next > id, "worker ids are not reused: {id} then {next}");
}

#[test]
fn the_stop_hook_runs_for_each_worker_a_resize_removes() {
    let log = Arc::new(Log::default());
    let pool = logged(Pool::builder().workers(3), &log).build().unwrap();
    eventually("three start hooks ran", || log.started().len() == 3);
    pool.resize(1, 1);
    eventually("two workers stopped", || log.stopped().len() == 2);
    pool.submit(|| ()).unwrap().wait().unwrap();
    pool.shutdown();
    once_per_thread(&log, 3);
}

#[test]
fn a_panicking_start_hook_is_counted_and_its_worker_runs_jobs() {
    quiet_panics();
    let stops = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&stops);
    let pool = Pool::builder()
        .workers(2)
        .on_worker_start(|_| panic!("start hook fails on purpose"))
        .on_worker_stop(move |_| {
            seen.fetch_add(1, SeqCst);
        })
        .build()
        .unwrap();
    let threads: HashSet<ThreadId> = (0..200)
        .map(|_| pool.submit(|| thread::current().id()).unwrap())
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.wait().unwrap())
        .collect();
    assert!(!threads.is_empty());
    eventually("both start hooks ran", || pool.stats().hook_panics == 2);
    let report = pool.shutdown();
    assert_eq!((report.completed, report.failed), (200, 0));
    assert_eq!(stops.load(SeqCst), 2, "the stop hooks ran all the same");
}

#[test]
fn a_panicking_stop_hook_is_counted_and_shutdown_returns() {
    quiet_panics();
    let pool = Pool::builder()
        .workers(2)
        .on_worker_stop(|_| panic!("stop hook fails on purpose"))
        .build()
        .unwrap();
    pool.submit(|| ()).unwrap().wait().unwrap();
    let report = pool.shutdown();
    assert_eq!(report.workers_joined, 2);
    assert_eq!(pool.stats().hook_panics, 2);
}

#[test]
fn hooks_may_call_back_into_their_pool() {
    // The hooks reach the pool through a cell filled after build; from a hook, `shutdown`
    // (on one of the pool's own threads) stops intake and returns at once.
    let cell: Arc<Mutex<Option<Pool>>> = Arc::default();
    let (in_start, in_stop) = (Arc::clone(&cell), Arc::clone(&cell));
    let (tx, rx) = mpsc::channel();
    let (start_tx, stop_tx) = (Mutex::new(tx.clone()), Mutex::new(tx));
    let pool = Pool::builder()
        .min_workers(0)
        .max_workers(1)
        .on_worker_start(move |_| {
            let pool = in_start.lock().clone();
            if let Some(pool) = pool {
                let workers = pool.stats().workers;
                pool.execute(|| ()).unwrap();
                start_tx.lock().send(("start", workers as u64)).unwrap();
            }
        })
        .on_worker_stop(move |_| {
            let pool = in_stop.lock().take();
            if let Some(pool) = pool {
                let report = pool.shutdown();
                stop_tx.lock().send(("stop", report.submitted)).unwrap();
            }
        })
        .build()
        .unwrap();
    *cell.lock() = Some(pool.clone());
    // The first job starts the only worker; its start hook queues a second job.
    pool.submit(|| ()).unwrap().wait().unwrap();
    assert_eq!(
        rx.recv().unwrap(),
        ("start", 1),
        "the start hook saw its own worker"
    );
    let report = pool.shutdown();
    assert_eq!(report.completed, 2, "{report:?}");
    assert_eq!(
        rx.recv().unwrap(),
        ("stop", 2),
        "the stop hook's shutdown returned"
    );
    assert_eq!(pool.stats().hook_panics, 0);
}

#[test]
fn a_stop_hook_that_blocks_holds_shutdown_but_not_past_shutdown_timeout() {
    let clock = ManualClock::new();
    let (in_hook_tx, in_hook) = mpsc::channel();
    let (release_tx, release) = mpsc::channel::<()>();
    let hook_channels = Mutex::new((in_hook_tx, release));
    let pool = Pool::builder()
        .workers(1)
        .clock(clock.clone())
        .on_worker_stop(move |_| {
            let (in_hook_tx, release) = &*hook_channels.lock();
            in_hook_tx.send(()).unwrap();
            release.recv().unwrap();
        })
        .build()
        .unwrap();
    pool.submit(|| ()).unwrap().wait().unwrap();
    let advancer = thread::spawn(move || {
        in_hook.recv().unwrap();
        clock.advance(Duration::from_secs(5));
    });
    let report = pool.shutdown_timeout(Duration::from_secs(5));
    assert!(report.timeout_hit, "{report:?}");
    assert_eq!(
        report.workers_joined, 0,
        "the worker in its stop hook was not joined"
    );
    assert_eq!(report.completed, 1);
    advancer.join().unwrap();
    release_tx.send(()).unwrap();
    assert_eq!(
        pool.shutdown().workers_joined,
        1,
        "joined once its hook returned"
    );
}

#[test]
fn a_job_queued_while_the_only_worker_runs_its_stop_hook_still_runs() {
    // The worker retires; while its stop hook runs it still counts against the maximum of
    // one, so the job submitted then starts no worker of its own: the retiring worker must
    // see it and start one as it leaves.
    let clock = ManualClock::new();
    let (in_hook_tx, in_hook) = mpsc::channel();
    let (release_tx, release) = mpsc::channel::<()>();
    let hook_channels = Mutex::new(Some((in_hook_tx, release)));
    let pool = Pool::builder()
        .min_workers(0)
        .max_workers(1)
        .keep_alive(Duration::from_secs(1))
        .clock(clock.clone())
        .on_worker_stop(move |_| {
            // Only the first worker's stop hook waits.
            if let Some((in_hook_tx, release)) = hook_channels.lock().take() {
                in_hook_tx.send(()).unwrap();
                release.recv().unwrap();
            }
        })
        .build()
        .unwrap();
    pool.submit(|| ()).unwrap().wait().unwrap();
    eventually("the worker went idle", || pool.stats().idle == 1);
    clock.advance(Duration::from_secs(1));
    in_hook.recv().unwrap();
    let task = pool.submit(|| "ran").unwrap();
    release_tx.send(()).unwrap();
    // A stranded job would hang `wait`: bound it in real time, as a safety net only.
    let (done_tx, done) = mpsc::channel();
    thread::spawn(move || done_tx.send(task.wait()).unwrap());
    let result = done.recv_timeout(Duration::from_secs(60));
    assert_eq!(result.expect("the job was stranded").unwrap(), "ran");
    pool.shutdown();
}

/// A stand-in for a database connection: it counts how many were opened and closed, and
/// remembers the thread that opened it.
struct Conn {
    id: usize,
    opened_on: ThreadId,
    queries: usize,
    closed: Arc<Mutex<Vec<(usize, ThreadId, ThreadId)>>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        let closed_on = thread::current().id();
        let entry = (self.id, self.opened_on, closed_on);
        self.closed.lock().push(entry);
    }
}

struct Connections {
    opened: Arc<AtomicUsize>,
    closed: Arc<Mutex<Vec<(usize, ThreadId, ThreadId)>>>,
}

impl Connections {
    fn new() -> Self {
        Self {
            opened: Arc::default(),
            closed: Arc::default(),
        }
    }

    /// A builder whose workers each open a `Conn` when a job first asks.
    fn pool(&self, workers: usize) -> workpool::Builder {
        let (opened, closed) = (Arc::clone(&self.opened), Arc::clone(&self.closed));
        Pool::builder().workers(workers).worker_state(move || Conn {
            id: opened.fetch_add(1, SeqCst),
            opened_on: thread::current().id(),
            queries: 0,
            closed: Arc::clone(&closed),
        })
    }

    fn opened(&self) -> usize {
        self.opened.load(SeqCst)
    }

    fn closed(&self) -> Vec<(usize, ThreadId, ThreadId)> {
        self.closed.lock().clone()
    }
}

#[test]
fn worker_state_is_built_once_per_worker_and_reused_by_its_jobs() {
    let conns = Connections::new();
    let pool = conns.pool(2).build().unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            pool.submit_with_state(|conn: &mut Conn| {
                conn.queries += 1;
                assert_eq!(conn.opened_on, thread::current().id());
                (conn.id, conn.queries)
            })
            .unwrap()
        })
        .collect();
    let mut last_query: HashMap<usize, usize> = HashMap::new();
    for task in tasks {
        let (id, queries) = task.wait().unwrap();
        let last = last_query.entry(id).or_default();
        assert!(
            queries > *last,
            "connection {id} went back from {last} to {queries}"
        );
        *last = queries;
    }
    assert!(
        conns.opened() <= 2,
        "{} connections for 2 workers",
        conns.opened()
    );
    assert_eq!(last_query.len(), conns.opened());
    assert_eq!(
        last_query.values().sum::<usize>(),
        200,
        "every job used a connection"
    );
    assert!(
        conns.closed().is_empty(),
        "no connection closed while its worker lives"
    );
    pool.shutdown();
    let closed = conns.closed();
    assert_eq!(
        closed.len(),
        conns.opened(),
        "each connection closed once at exit"
    );
    for (id, opened_on, closed_on) in closed {
        assert_eq!(
            opened_on, closed_on,
            "connection {id} closed on another thread"
        );
    }
}

#[test]
fn worker_state_is_built_lazily() {
    let conns = Connections::new();
    let pool = conns.pool(3).build().unwrap();
    pool.submit(|| ()).unwrap().wait().unwrap();
    pool.shutdown();
    assert_eq!(conns.opened(), 0, "no job asked for a connection");
    let pool = conns.pool(3).build().unwrap();
    pool.submit_with_state(|_: &mut Conn| ())
        .unwrap()
        .wait()
        .unwrap();
    pool.shutdown();
    assert_eq!(conns.opened(), 1, "one job, one connection");
}

#[test]
fn worker_state_is_dropped_when_a_worker_retires_and_before_its_stop_hook() {
    let clock = ManualClock::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    let (in_state, in_hook) = (Arc::clone(&dropped), Arc::clone(&dropped));
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let pool = Pool::builder()
        .min_workers(0)
        .max_workers(1)
        .keep_alive(Duration::from_secs(5))
        .clock(clock.clone())
        .worker_state(move || Counted(Arc::clone(&in_state)))
        .on_worker_stop(move |_| tx.lock().send(in_hook.load(SeqCst)).unwrap())
        .build()
        .unwrap();
    pool.submit_with_state(|_: &mut Counted| ())
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(dropped.load(SeqCst), 0);
    eventually("the worker went idle", || pool.stats().idle == 1);
    clock.advance(Duration::from_secs(5));
    assert_eq!(
        rx.recv().unwrap(),
        1,
        "the state was dropped before the stop hook ran"
    );
    pool.shutdown();
}

#[test]
fn worker_state_need_not_be_send() {
    // An `Rc` cannot leave its thread; the worker's state never does.
    let pool = Pool::builder()
        .workers(2)
        .worker_state(|| Rc::new(RefCell::new(Vec::<u32>::new())))
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            pool.submit_with_state(move |log: &mut Rc<RefCell<Vec<u32>>>| {
                log.borrow_mut().push(i);
                log.borrow().len()
            })
            .unwrap()
        })
        .collect();
    let total: usize = tasks.into_iter().map(|t| t.wait().unwrap()).max().unwrap();
    assert!(total >= 25, "one of two workers ran at least half the jobs");
    pool.shutdown();
}

#[test]
fn a_job_for_a_state_the_pool_lacks_is_handed_back() {
    let ran = Arc::new(AtomicUsize::new(0));
    let job = {
        let ran = Arc::clone(&ran);
        move |n: &mut u32| {
            ran.fetch_add(1, SeqCst);
            *n
        }
    };

    let stateless = Pool::new(1);
    let err = stateless.submit_with_state(job).unwrap_err();
    assert!(err.is_wrong_state() && !err.is_closed() && !err.is_full());
    assert_eq!(
        err.to_string(),
        "cannot submit: the pool's workers hold no state of the type this job takes"
    );
    let job = err.into_inner();
    assert_eq!(job(&mut 7), 7, "the job came back whole");

    let other = Pool::builder()
        .workers(1)
        .worker_state(String::new)
        .build()
        .unwrap();
    let err = other.submit_with_state(job).unwrap_err();
    assert!(err.is_wrong_state());
    let err = other
        .execute_with_state(|_: &mut u64| unreachable!("never queued"))
        .unwrap_err();
    assert!(err.is_wrong_state());

    for pool in [stateless, other] {
        let report = pool.shutdown();
        assert_eq!(report.submitted, 0, "nothing was queued");
    }
    assert_eq!(ran.load(SeqCst), 1, "only the direct call ran it");
}

#[test]
fn a_panicking_constructor_fails_that_job_and_the_next_job_builds_again() {
    quiet_panics();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let pool = Pool::builder()
        .workers(1)
        .worker_state(move || {
            if seen.fetch_add(1, SeqCst) == 0 {
                panic!("cannot connect, on purpose");
            }
            String::from("connected")
        })
        .build()
        .unwrap();
    let first = pool
        .submit_with_state(|s: &mut String| s.clone())
        .unwrap()
        .wait()
        .unwrap_err();
    assert_eq!(first.kind(), TaskErrorKind::Panicked);
    assert_eq!(first.attempts(), 0, "the job itself never ran");
    assert_eq!(
        first.panic_message(),
        Some("worker state constructor panicked: cannot connect, on purpose")
    );
    let second = pool.submit_with_state(|s: &mut String| s.clone()).unwrap();
    assert_eq!(second.wait().unwrap(), "connected");
    let third = pool.submit_with_state(|s: &mut String| s.len()).unwrap();
    assert_eq!(third.wait().unwrap(), 9);
    assert_eq!(calls.load(SeqCst), 2, "built again once, then kept");
    let report = pool.shutdown();
    assert_eq!(
        (report.completed, report.panicked, report.failed),
        (2, 1, 1)
    );
}

#[test]
fn a_panicking_job_drops_its_state_and_the_next_job_gets_a_new_one() {
    quiet_panics();
    let conns = Connections::new();
    let pool = conns.pool(1).build().unwrap();
    let id = |conn: &mut Conn| conn.id;
    assert_eq!(pool.submit_with_state(id).unwrap().wait().unwrap(), 0);
    let err = pool
        .submit_with_state(|_: &mut Conn| panic!("query fails on purpose"))
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(
        conns.closed().len(),
        1,
        "the connection the job broke was closed"
    );
    assert_eq!(pool.submit_with_state(id).unwrap().wait().unwrap(), 1);
    pool.shutdown();
    assert_eq!((conns.opened(), conns.closed().len()), (2, 2));
}

#[test]
fn execute_with_state_runs_with_the_worker_state_and_counts_panics() {
    quiet_panics();
    let pool = Pool::builder()
        .workers(1)
        .worker_state(Vec::<u32>::new)
        .build()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    for i in 0..3 {
        pool.execute_with_state(move |v: &mut Vec<u32>| v.push(i))
            .unwrap();
    }
    pool.execute_with_state(|_: &mut Vec<u32>| panic!("fails on purpose"))
        .unwrap();
    pool.execute_with_state(move |v: &mut Vec<u32>| tx.send(v.clone()).unwrap())
        .unwrap();
    assert_eq!(
        rx.recv().unwrap(),
        Vec::<u32>::new(),
        "the panic dropped the state"
    );
    let report = pool.shutdown();
    assert_eq!((report.completed, report.panicked), (4, 1));
}

#[test]
fn state_jobs_are_accounted_for_under_shutdown_now() {
    // One worker held; state jobs queued behind it are handed back, never run.
    let conns = Connections::new();
    let pool = conns.pool(1).build().unwrap();
    let gate = hold(&pool);
    let tasks: Vec<_> = (0..5)
        .map(|_| pool.submit_with_state(|c: &mut Conn| c.id).unwrap())
        .collect();
    let waiter = thread::spawn({
        let pool = pool.clone();
        move || pool.shutdown_now()
    });
    // The queued jobs are handed back while the worker is still held.
    eventually("the queued jobs were handed back", || {
        tasks.iter().all(workpool::Task::is_finished)
    });
    gate.open();
    let report = waiter.join().unwrap();
    for task in tasks {
        assert!(task.wait().unwrap_err().is_not_run());
    }
    assert_eq!(
        (report.submitted, report.never_started),
        (6, 5),
        "{report:?}"
    );
    assert_eq!(conns.opened(), 0);
}

#[test]
fn a_state_job_waiting_on_a_state_job_of_its_own_pool_lends_it_a_state_of_its_own() {
    // One worker: the outer job holds the worker's connection and waits on an inner job,
    // which that same worker runs while it waits (help while waiting). The inner job cannot
    // have the connection the outer one holds: it gets one of its own, closed when it ends.
    let conns = Connections::new();
    let pool = conns.pool(1).build().unwrap();
    let inner_pool = pool.clone();
    let outer = pool
        .submit_with_state(move |conn: &mut Conn| {
            conn.queries += 1;
            let inner = inner_pool
                .submit_with_state(|inner: &mut Conn| {
                    inner.queries += 1;
                    (inner.id, inner.queries)
                })
                .unwrap();
            let inner = inner.wait().unwrap();
            conn.queries += 1;
            (conn.id, conn.queries, inner)
        })
        .unwrap();
    let (outer_id, outer_queries, (inner_id, inner_queries)) = outer.wait().unwrap();
    assert_ne!(outer_id, inner_id, "two jobs never share a state");
    assert_eq!((outer_queries, inner_queries), (2, 1));
    let closed = conns.closed();
    assert_eq!(
        closed.len(),
        1,
        "the inner job's state was closed when it ended"
    );
    assert_eq!(closed[0].0, inner_id);
    // The worker kept its own state for its next job.
    let next = pool.submit_with_state(|conn: &mut Conn| conn.id).unwrap();
    assert_eq!(next.wait().unwrap(), outer_id);
    pool.shutdown();
    assert_eq!((conns.opened(), conns.closed().len()), (2, 2));
}

/// A worker that decided to retire runs its stop hook before it leaves the books; the
/// others must not count it as staying meanwhile. Here the hooks of the first two retiring
/// workers hold until both have begun: a resize from 3 workers to 1 must retire exactly 2,
/// so the job after it needs no new worker.
#[test]
fn a_resize_down_retires_only_the_workers_above_the_new_bound() {
    let gate = common::Gate::new();
    let _open = gate.open_on_drop();
    let (stop_tx, stops) = mpsc::channel();
    let starts = Arc::new(AtomicUsize::new(0));
    let (hook_gate, hook_starts) = (Arc::clone(&gate), Arc::clone(&starts));
    let stop_tx = Mutex::new(stop_tx);
    let pool = Pool::builder()
        .workers(3)
        .on_worker_start(move |_| {
            hook_starts.fetch_add(1, SeqCst);
        })
        .on_worker_stop(move |id| {
            stop_tx.lock().send(id).unwrap();
            hook_gate.wait();
        })
        .build()
        .unwrap();
    eventually("three workers started", || starts.load(SeqCst) == 3);
    pool.resize(1, 1);
    let first = stops.recv().unwrap();
    let second = stops.recv().unwrap();
    assert_ne!(first, second);
    gate.open();
    eventually("two workers left", || pool.stats().workers == 1);
    pool.submit(|| ()).unwrap().wait().unwrap();
    pool.shutdown();
    assert_eq!(
        starts.load(SeqCst),
        3,
        "a worker retired that should have stayed"
    );
    assert_eq!(
        stops.try_iter().count(),
        1,
        "the staying worker stops at shutdown"
    );
}
