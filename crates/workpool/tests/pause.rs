//! Pausing: a paused pool's workers finish what they run and start nothing new until
//! `resume`, while admission goes on up to the queue's capacity; each shutdown mode still runs
//! or reports every job; and the counts balance whatever pauses and resumes race.
//!
//! "Not started" is proved without sleeping: the job is queued before the jobs holding every
//! worker end, so a worker that was free to take it would never park with it queued
//! (fast/PROTOCOL.md, P1). Seeing every worker parked with the job still queued is the proof.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::{eventually, hold, manual_pool, quiet_panics, Audit, Gate, Ledger, Payload};
use workpool::{Job, JobContext, Pool, Priority, ShutdownReport, Task};

/// Holds each of the pool's `workers` with a job at a gate; the gates open when the guard
/// drops.
fn hold_all(pool: &Pool, workers: usize) -> Vec<Arc<Gate>> {
    (0..workers).map(|_| hold(pool)).collect()
}

/// Waits until every one of `workers` is parked with `queued` jobs waiting: the proof that
/// the pause, and nothing else, keeps them from the jobs (see the module's docs).
#[track_caller]
fn parked_with_queued(pool: &Pool, workers: usize, queued: usize) {
    eventually("every worker parked with the jobs still queued", || {
        let s = pool.stats();
        s.idle == workers && s.busy == 0 && s.queued == queued
    });
}

/// How a test queues its probe job: each takes another path through the pool.
#[derive(Debug, Clone, Copy)]
enum Path {
    /// `submit` on a fixed pool: the lock-free lanes.
    Fast,
    /// `execute_with_priority` and `submit` mixed on a fixed pool: the priority lanes.
    Prioritized,
    /// A `Job` with a deadline: the scheduler's lanes, under the pool lock.
    Scheduled,
}

fn probe(pool: &Pool, path: Path) -> Task<&'static str> {
    match path {
        Path::Fast => pool.submit(|| "ran").unwrap(),
        Path::Prioritized => {
            pool.execute_with_priority(Priority::HIGH, || ()).unwrap();
            pool.submit(|| "ran").unwrap()
        }
        Path::Scheduled => {
            let job =
                Job::new(|_: &JobContext| Ok::<_, ()>("ran")).timeout(Duration::from_secs(3600));
            pool.spawn(job).unwrap()
        }
    }
}

fn a_job_submitted_while_paused_waits_for_resume(path: Path) {
    let pool = Pool::builder().workers(2).build().unwrap();
    let gates = hold_all(&pool, 2);
    pool.pause();
    let task = probe(&pool, path);
    let queued = pool.stats().queued;
    for gate in &gates {
        gate.open();
    }
    parked_with_queued(&pool, 2, queued);
    assert!(
        !task.is_finished(),
        "{path:?}: the job started while paused"
    );
    pool.resume();
    assert_eq!(task.wait().unwrap(), "ran");
    let report = pool.shutdown();
    assert_eq!(report.completed, report.submitted, "{report:?}");
}

#[test]
fn a_job_submitted_while_paused_waits_for_resume_on_the_fast_lanes() {
    a_job_submitted_while_paused_waits_for_resume(Path::Fast);
}

#[test]
fn a_job_submitted_while_paused_waits_for_resume_on_the_priority_lanes() {
    a_job_submitted_while_paused_waits_for_resume(Path::Prioritized);
}

#[test]
fn a_job_submitted_while_paused_waits_for_resume_on_the_scheduler_path() {
    a_job_submitted_while_paused_waits_for_resume(Path::Scheduled);
}

#[test]
fn a_paused_elastic_pool_starts_no_worker_and_resume_starts_them() {
    // No worker at first: the two jobs queued while paused start none. Resume starts one
    // for each, which the barrier proves: it opens only with both jobs running at once.
    let pool = Pool::builder()
        .min_workers(0)
        .max_workers(2)
        .build()
        .unwrap();
    pool.pause();
    let barrier = Arc::new(Barrier::new(3));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            pool.submit(move || {
                barrier.wait();
            })
            .unwrap()
        })
        .collect();
    let s = pool.stats();
    assert_eq!((s.workers, s.queued, s.paused), (0, 2, true));
    pool.resume();
    barrier.wait();
    for task in tasks {
        task.wait().unwrap();
    }
    assert_eq!(pool.shutdown().completed, 2);
}

#[test]
fn running_jobs_finish_while_paused() {
    let pool = Pool::new(1);
    let gate = Gate::new();
    let (job, started) = common::blocker(&gate);
    let running = pool.submit(job).unwrap();
    started.recv().unwrap();
    pool.pause();
    let queued = pool.submit(|| ()).unwrap();
    gate.open();
    running.wait().unwrap();
    assert!(pool.is_paused());
    parked_with_queued(&pool, 1, 1);
    assert!(!queued.is_finished());
    pool.resume();
    queued.wait().unwrap();
}

#[test]
fn admission_goes_on_while_paused_up_to_the_queue_capacity() {
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(4)
        .build()
        .unwrap();
    pool.pause();
    let mut tasks: Vec<_> = (0..4)
        .map(|i| pool.try_submit(move || i).unwrap())
        .collect();
    let full = pool.try_submit(|| 4).unwrap_err();
    assert!(full.is_full());
    assert_eq!((full.into_inner())(), 4, "the job came back");
    let timed_out = pool.submit_timeout(|| 4, Duration::ZERO).unwrap_err();
    assert!(timed_out.is_timeout());
    let s = pool.stats();
    assert_eq!((s.queued, s.rejected_full, s.paused), (4, 2, true));
    // A blocking submission waits for room, which the resumed workers make.
    let blocked = thread::spawn({
        let pool = pool.clone();
        move || pool.submit(|| 4).map_err(drop).unwrap().wait().unwrap()
    });
    pool.resume();
    assert_eq!(blocked.join().unwrap(), 4);
    tasks.sort_by_key(Task::id);
    let values: Vec<_> = tasks.into_iter().map(|t| t.wait().unwrap()).collect();
    assert_eq!(values, [0, 1, 2, 3]);
}

#[test]
fn pause_is_idempotent_and_resume_of_a_running_pool_does_nothing() {
    let pool = Pool::new(1);
    pool.resume();
    assert!(!pool.is_paused());
    pool.submit(|| ()).unwrap().wait().unwrap();
    pool.pause();
    pool.pause();
    assert!(pool.is_paused() && pool.stats().paused);
    let task = pool.submit(|| "ran").unwrap();
    parked_with_queued(&pool, 1, 1);
    pool.resume();
    assert!(!pool.is_paused() && !pool.stats().paused);
    assert_eq!(task.wait().unwrap(), "ran");
    pool.resume();
    assert_eq!(pool.submit(|| 2).unwrap().wait().unwrap(), 2);
}

#[test]
fn a_shut_down_pool_cannot_be_paused() {
    let pool = Pool::new(1);
    pool.shutdown();
    pool.pause();
    assert!(!pool.is_paused());
    pool.resume();
}

/// The handles of a test's submitted jobs, by job number.
type Handles = Vec<(usize, Task<()>)>;

/// A paused two-worker pool with `n` submitted and `n` executed jobs queued, each counting
/// its runs and drops in the ledger.
fn paused_with_queued(n: usize) -> (Pool, Arc<Ledger>, Handles) {
    let ledger = Ledger::new(2 * n);
    let pool = Pool::builder()
        .workers(2)
        .queue_capacity(2 * n)
        .build()
        .unwrap();
    pool.pause();
    let tasks = (0..n)
        .map(|id| {
            let payload = Payload::new(id, &ledger);
            (id, pool.submit(move || payload.ran()).unwrap())
        })
        .collect();
    for id in n..2 * n {
        let payload = Payload::new(id, &ledger);
        pool.execute(move || payload.ran()).unwrap();
    }
    assert_eq!(pool.stats().queued, 2 * n);
    (pool, ledger, tasks)
}

#[test]
fn graceful_shutdown_of_a_paused_pool_resumes_it_and_runs_every_job() {
    let (pool, ledger, tasks) = paused_with_queued(20);
    let report = pool.shutdown();
    assert_eq!(
        (report.completed, report.never_started),
        (40, 0),
        "{report:?}"
    );
    assert!(!pool.is_paused(), "the shutdown ended the pause");
    for (_, task) in tasks {
        task.wait().unwrap();
    }
    assert!((0..40).all(|id| ledger.runs(id) == 1 && ledger.drops(id) == 1));
}

#[test]
fn shutdown_timeout_of_a_paused_pool_drains_it() {
    let (pool, ledger, _tasks) = paused_with_queued(20);
    let report = pool.shutdown_timeout(Duration::from_secs(600));
    assert!(!report.timeout_hit);
    assert_eq!(
        (report.completed, report.never_started),
        (40, 0),
        "{report:?}"
    );
    assert!((0..40).all(|id| ledger.runs(id) == 1));
}

#[test]
fn shutdown_now_of_a_paused_pool_hands_back_every_queued_job() {
    let (pool, ledger, tasks) = paused_with_queued(20);
    let report = pool.shutdown_now();
    assert_eq!(
        (report.submitted, report.completed, report.never_started),
        (40, 0, 40),
        "{report:?}"
    );
    for (_, task) in tasks {
        assert!(task.wait().unwrap_err().is_not_run());
    }
    assert!((0..40).all(|id| ledger.runs(id) == 0 && ledger.drops(id) == 1));
}

#[test]
fn wait_idle_on_a_paused_pool_waits_for_resume() {
    let pool = Pool::new(2);
    pool.pause();
    assert!(
        pool.wait_idle_timeout(Duration::ZERO),
        "nothing queued: idle"
    );
    let task = pool.submit(|| ()).unwrap();
    assert!(
        !pool.wait_idle_timeout(Duration::ZERO),
        "a queued job keeps a paused pool busy"
    );
    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn({
        let pool = pool.clone();
        move || {
            pool.wait_idle();
            tx.send(()).unwrap();
        }
    });
    eventually("the waiter waits", || pool.stats().waiting_for_idle == 1);
    assert!(
        rx.try_recv().is_err(),
        "wait_idle returned while the job was queued"
    );
    pool.resume();
    rx.recv().unwrap();
    waiter.join().unwrap();
    assert!(task.is_finished());
}

#[test]
fn delayed_jobs_coming_due_while_paused_stay_queued() {
    let (pool, clock) = manual_pool(1);
    let gate = hold(&pool);
    pool.pause();
    let job = Job::new(|_: &JobContext| Ok::<_, ()>("ran")).delay(Duration::from_secs(1));
    let task = pool.spawn(job).unwrap();
    assert_eq!(pool.stats().delayed, 1);
    clock.advance(Duration::from_secs(1));
    eventually("the timer moved the job to the queue", || {
        let s = pool.stats();
        s.delayed == 0 && s.queued == 1
    });
    gate.open();
    parked_with_queued(&pool, 1, 1);
    assert!(!task.is_finished());
    pool.resume();
    assert_eq!(task.wait().unwrap(), "ran");
}

#[test]
fn a_queued_job_past_its_deadline_times_out_while_paused() {
    let (pool, clock) = manual_pool(1);
    pool.pause();
    let job = Job::new(|_: &JobContext| Ok::<_, ()>(())).timeout(Duration::from_secs(1));
    let task = pool.spawn(job).unwrap();
    clock.advance(Duration::from_secs(1));
    assert!(task.wait().unwrap_err().is_timeout());
    pool.resume();
    let report = pool.shutdown();
    assert_eq!((report.timed_out, report.completed), (1, 0));
}

const PRODUCERS: usize = 3;
const PER_PRODUCER: usize = 600;
const JOBS: usize = PRODUCERS * PER_PRODUCER;

/// Producers push jobs (some panicking, some cancelled) through a small queue while another
/// thread pauses and resumes the pool over and over; then `shutdown` ends it, maybe paused.
/// Every job must be accounted for exactly once.
fn pauses_race_producers(shutdown: fn(&Pool) -> ShutdownReport, workers: (usize, usize)) {
    quiet_panics();
    let ledger = Ledger::new(JOBS);
    let pool = Pool::builder()
        .min_workers(workers.0)
        .max_workers(workers.1)
        .keep_alive(Duration::from_millis(1))
        .queue_capacity(8)
        .build()
        .unwrap();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (pool, ledger) = (pool.clone(), Arc::clone(&ledger));
            thread::spawn(move || {
                let mut audit = Audit::default();
                for j in 0..PER_PRODUCER {
                    let id = p * PER_PRODUCER + j;
                    let payload = Payload::new(id, &ledger);
                    let job = move || {
                        payload.ran();
                        if id.is_multiple_of(11) {
                            panic!("job {id} fails on purpose");
                        }
                    };
                    // A timed submission: a producer must not block for ever on a queue that
                    // a pause keeps full after the toggler is done.
                    let task = audit.record(id, pool.submit_timeout(job, Duration::from_millis(1)));
                    if let Some(task) = task.filter(|_| j % 7 == 0) {
                        task.cancel();
                    }
                }
                audit
            })
        })
        .collect();
    let toggler = thread::spawn({
        let pool = pool.clone();
        move || {
            for _ in 0..300 {
                pool.pause();
                thread::yield_now();
                pool.resume();
            }
            // End paused: the shutdown must deal with it.
            pool.pause();
        }
    });
    toggler.join().unwrap();
    let mut audit = Audit::default();
    let first = shutdown(&pool);
    for p in producers {
        audit.merge(p.join().unwrap());
    }
    let settled = pool.shutdown();
    assert_eq!(first.submitted, settled.submitted);
    let tally = audit.verify(JOBS, &ledger, &settled);
    assert!(settled.submitted > 0, "{tally:?}");
}

#[test]
fn pauses_racing_producers_lose_nothing_under_graceful_shutdown() {
    pauses_race_producers(
        |pool| {
            let report = pool.shutdown();
            assert_eq!(report.never_started, 0, "{report:?}");
            report
        },
        (2, 2),
    );
}

#[test]
fn pauses_racing_producers_lose_nothing_under_shutdown_now() {
    pauses_race_producers(|pool| pool.shutdown_now(), (2, 2));
}

#[test]
fn pauses_racing_producers_lose_nothing_on_an_elastic_pool() {
    pauses_race_producers(
        |pool| pool.shutdown_timeout(Duration::from_micros(200)),
        (0, 3),
    );
}

/// A job running when the pool pauses finishes while paused, even when the scope it waits in
/// spawned a job that sits in another worker's deque: that job belongs to the running job, so
/// the pause does not hold it back. Before, the worker holding it parked and the scope's
/// owner could not steal it, so the running job waited for `resume`.
#[test]
fn a_scope_running_when_the_pool_pauses_finishes_its_nested_jobs() {
    let pool = Pool::new(2);
    let paused = Gate::new();
    let _open = paused.open_on_drop();
    let (spawned_tx, spawned) = mpsc::channel();
    let nested_ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let running = {
        let (pool2, paused, ran) = (pool.clone(), Arc::clone(&paused), Arc::clone(&nested_ran));
        pool.submit(move || {
            pool2.scope(|s| {
                // Stolen by the other worker, since this one blocks below instead of
                // taking it back: the nested job it spawns goes to that worker's deque.
                s.spawn(|| {
                    s.spawn(move || ran.store(true, std::sync::atomic::Ordering::SeqCst));
                    spawned_tx.send(()).unwrap();
                    paused.wait();
                });
                paused.wait();
            });
        })
        .unwrap()
    };
    spawned.recv().unwrap();
    pool.pause();
    paused.open();
    let ended = running.wait_timeout(Duration::from_secs(60));
    assert!(
        matches!(ended, Ok(Ok(()))),
        "the running job did not finish while paused"
    );
    assert!(nested_ran.load(std::sync::atomic::Ordering::SeqCst));
    assert!(pool.is_paused());
    pool.resume();
}
