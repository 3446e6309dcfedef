//! Shuttle models: randomized schedules of the submit / close / shutdown races and of the
//! worker park-and-wake protocol. Built only with `RUSTFLAGS="--cfg workpool_shuttle"`, which
//! swaps the pool's locks, condition variables, atomics and threads for shuttle's.
//!
//! Jobs here never block on anything but the pool, and never panic: shuttle controls every
//! pool primitive, and a std lock held across one of its scheduling points would stall it.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
#![cfg(workpool_shuttle)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{fib, Audit, Ledger, Payload};
use shuttle::thread;
use workpool::{Pool, Priority, ShutdownReport};

const ITERATIONS: usize = 400;

fn job(id: usize, ledger: &Arc<Ledger>) -> impl FnOnce() + Send + 'static {
    let payload = Payload::new(id, ledger);
    move || payload.ran()
}

/// Two producers race a shutdown performed by `stop`; every job must be accounted for.
fn race(workers: usize, capacity: usize, stop: fn(&Pool) -> ShutdownReport) {
    let ledger = Ledger::new(4);
    let pool = Pool::builder()
        .workers(workers)
        .queue_capacity(capacity)
        .build()
        .unwrap();
    let blocking = {
        let (pool, ledger) = (pool.clone(), Arc::clone(&ledger));
        thread::spawn(move || {
            let mut audit = Audit::default();
            for id in 0..2 {
                audit.record(id, pool.submit(job(id, &ledger)));
            }
            audit
        })
    };
    let trying = {
        let (pool, ledger) = (pool.clone(), Arc::clone(&ledger));
        thread::spawn(move || {
            let mut audit = Audit::default();
            for id in 2..4 {
                let task = audit.record(id, pool.try_submit(job(id, &ledger)));
                if let Some(task) = task.filter(|_| id == 3) {
                    task.cancel();
                }
            }
            audit
        })
    };
    let first = stop(&pool);
    let mut audit = blocking.join().unwrap();
    audit.merge(trying.join().unwrap());
    let settled = pool.shutdown();
    assert_eq!(first.submitted, settled.submitted);
    audit.verify(4, &ledger, &settled);
}

#[test]
fn submissions_racing_a_graceful_shutdown_are_run_or_handed_back() {
    shuttle::check_random(|| race(2, 1, |p| p.shutdown()), ITERATIONS);
}

#[test]
fn submissions_racing_shutdown_now_are_run_or_reported() {
    shuttle::check_random(|| race(1, 2, |p| p.shutdown_now()), ITERATIONS);
}

#[test]
fn submissions_racing_an_expired_shutdown_timeout_are_run_or_reported() {
    shuttle::check_random(
        || race(2, 2, |p| p.shutdown_timeout(Duration::ZERO)),
        ITERATIONS,
    );
}

#[test]
fn parked_workers_wake_for_every_job() {
    // An elastic pool starts, parks and wakes workers; no job may be stranded in the queue
    // while workers sleep, and wait_idle must see the end of every job.
    shuttle::check_random(
        || {
            let ledger = Ledger::new(6);
            let pool = Pool::builder()
                .min_workers(0)
                .max_workers(2)
                .queue_capacity(2)
                .build()
                .unwrap();
            let other = {
                let (pool, ledger) = (pool.clone(), Arc::clone(&ledger));
                thread::spawn(move || {
                    for id in 3..6 {
                        pool.submit(job(id, &ledger)).unwrap().wait().unwrap();
                    }
                })
            };
            for id in 0..3 {
                pool.execute(job(id, &ledger)).unwrap();
            }
            pool.wait_idle();
            other.join().unwrap();
            pool.wait_idle();
            assert!((0..6).all(|id| ledger.runs(id) == 1));
            let report = pool.shutdown();
            assert_eq!(report.completed, 6);
        },
        ITERATIONS,
    );
}

#[test]
fn resize_never_loses_or_repeats_a_job() {
    shuttle::check_random(
        || {
            let ledger = Ledger::new(4);
            let pool = Pool::builder()
                .workers(1)
                .queue_capacity(4)
                .build()
                .unwrap();
            let resizer = {
                let pool = pool.clone();
                thread::spawn(move || {
                    pool.resize(2, 3);
                    pool.resize(1, 1);
                })
            };
            let tasks: Vec<_> = (0..4)
                .map(|id| pool.submit(job(id, &ledger)).unwrap())
                .collect();
            resizer.join().unwrap();
            for task in tasks {
                task.wait().unwrap();
            }
            assert!((0..4).all(|id| ledger.runs(id) == 1));
            assert_eq!(pool.shutdown().completed, 4);
        },
        ITERATIONS,
    );
}

/// Jobs that fail their first run and retry with no backoff go through the delay queue and
/// the timer thread; a shutdown racing them must leave each one run to success, ended with
/// its last error, never started, cancelled, or handed back, and its counts must balance.
fn retries_race(stop: fn(&Pool) -> ShutdownReport, graceful: bool) {
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
    use workpool::{Job, JobContext, Retry, TaskErrorKind};

    let runs: Arc<Vec<AtomicU32>> = Arc::new((0..3).map(|_| AtomicU32::new(0)).collect());
    let pool = Pool::builder()
        .workers(1)
        .queue_capacity(4)
        .build()
        .unwrap();
    let producer = {
        let (pool, runs) = (pool.clone(), Arc::clone(&runs));
        thread::spawn(move || {
            (0..3)
                .map(|id| {
                    let runs = Arc::clone(&runs);
                    let job = Job::new(move |ctx: &JobContext| {
                        runs[id].fetch_add(1, SeqCst);
                        if ctx.attempt() == 1 {
                            Err("first run fails")
                        } else {
                            Ok(())
                        }
                    })
                    .retry(Retry::constant(2, Duration::ZERO));
                    (id, pool.spawn(job).ok())
                })
                .collect::<Vec<_>>()
        })
    };
    let first = stop(&pool);
    let tasks = producer.join().unwrap();
    let report = pool.shutdown();
    assert_eq!(first.submitted, report.submitted);
    let mut accepted = 0;
    for (id, task) in tasks {
        let ran = runs[id].load(SeqCst);
        let Some(task) = task else {
            assert_eq!(ran, 0, "a rejected job ran");
            continue;
        };
        accepted += 1;
        let result = task.wait();
        assert!(
            !graceful || result.is_ok(),
            "a graceful shutdown ran every job: {result:?}"
        );
        match result {
            Ok(()) => assert_eq!(ran, 2),
            Err(e) => match e.kind() {
                TaskErrorKind::Failed => assert_eq!((ran, e.attempts()), (1, 1)),
                TaskErrorKind::NotRun => assert_eq!(ran, 0),
                TaskErrorKind::Cancelled => assert!(ran <= 2),
                other => panic!("unexpected end {other:?}"),
            },
        }
    }
    assert_eq!(report.submitted, accepted);
    assert_eq!(
        report.completed + report.failed + report.cancelled + report.never_started,
        accepted,
        "{report:?}"
    );
}

#[test]
fn retries_racing_a_graceful_shutdown_all_finish() {
    shuttle::check_random(|| retries_race(|p| p.shutdown(), true), ITERATIONS);
}

#[test]
fn retries_racing_shutdown_now_are_run_or_reported() {
    shuttle::check_random(|| retries_race(|p| p.shutdown_now(), false), ITERATIONS);
}

#[test]
fn a_fixed_pool_wakes_a_parked_worker_for_each_job() {
    // Fixed pools take the lock-free lane: a producer must wake a parked worker itself,
    // since nothing else (no shutdown, no other job) would. Each result is awaited before
    // the next job is submitted, so a lost wake-up shows as a deadlock.
    shuttle::check_random(
        || {
            let ledger = Ledger::new(3);
            let pool = Pool::builder()
                .workers(2)
                .queue_capacity(2)
                .build()
                .unwrap();
            let other = {
                let (pool, ledger) = (pool.clone(), Arc::clone(&ledger));
                thread::spawn(move || pool.submit(job(2, &ledger)).unwrap().wait().unwrap())
            };
            for id in 0..2 {
                pool.submit(job(id, &ledger)).unwrap().wait().unwrap();
            }
            other.join().unwrap();
            assert!((0..3).all(|id| ledger.runs(id) == 1));
            assert_eq!(pool.shutdown().completed, 3);
        },
        ITERATIONS,
    );
}

/// Two threads `execute` the jobs with the ids in `ids`, each at its priority in `levels`,
/// each returning how many the pool accepted; a refused job's closure is dropped on the spot.
fn execute_from_two_threads(
    pool: &Pool,
    ledger: &Arc<Ledger>,
    ids: [std::ops::Range<usize>; 2],
    levels: [Priority; 2],
) -> Vec<thread::JoinHandle<u64>> {
    ids.into_iter()
        .zip(levels)
        .map(|(ids, level)| {
            let (pool, ledger) = (pool.clone(), Arc::clone(ledger));
            thread::spawn(move || {
                let mut accepted = 0;
                for id in ids {
                    match pool.execute_with_priority(level, job(id, &ledger)) {
                        Ok(()) => accepted += 1,
                        Err(e) => drop(e.into_inner()),
                    }
                }
                accepted
            })
        })
        .collect()
}

#[test]
fn execute_jobs_racing_shutdown_now_run_once_or_are_reported() {
    execute_racing_shutdown_now([Priority::NORMAL; 2]);
}

#[test]
fn prioritized_execute_jobs_racing_shutdown_now_run_once_or_are_reported() {
    // The first job at another priority moves the pool to its priority lanes while the other
    // producer may still be pushing to the NORMAL queue.
    execute_racing_shutdown_now([Priority::NORMAL, Priority::HIGH]);
}

fn execute_racing_shutdown_now(levels: [Priority; 2]) {
    // `execute` jobs have no handle: the ledger and the report are the only witnesses. Each
    // accepted job ran once or was reported never started, and every closure was dropped once.
    shuttle::check_random(
        move || {
            let ledger = Ledger::new(4);
            let pool = Pool::builder()
                .workers(2)
                .queue_capacity(2)
                .build()
                .unwrap();
            let producers = execute_from_two_threads(&pool, &ledger, [0..2, 2..4], levels);
            let first = pool.shutdown_now();
            let accepted: u64 = producers.into_iter().map(|p| p.join().unwrap()).sum();
            let report = pool.shutdown();
            assert_eq!(first.submitted, report.submitted);
            assert_eq!(report.submitted, accepted);
            let ran: u64 = (0..4).map(|id| u64::from(ledger.runs(id))).sum();
            assert!((0..4).all(|id| ledger.runs(id) <= 1 && ledger.drops(id) == 1));
            assert_eq!(report.completed, ran);
            assert_eq!(report.completed + report.never_started, accepted);
        },
        ITERATIONS,
    );
}

#[test]
fn lock_free_workers_wake_blocked_producers_and_wait_idle() {
    wake_producers_and_wait_idle([Priority::NORMAL; 2]);
}

#[test]
fn prioritized_lock_free_workers_wake_blocked_producers_and_wait_idle() {
    wake_producers_and_wait_idle([Priority::LOW, Priority::HIGH]);
}

fn wake_producers_and_wait_idle(levels: [Priority; 2]) {
    // Workers of a fixed pool take jobs without the pool lock, so they free room and finish
    // jobs without it: a producer blocked on the full queue and a `wait_idle` caller must
    // still be woken (a lost wake-up shows as a deadlock), and `wait_idle` must not return
    // before the last job has ended.
    shuttle::check_random(
        move || {
            let ledger = Ledger::new(6);
            let pool = Pool::builder()
                .workers(2)
                .queue_capacity(1)
                .build()
                .unwrap();
            let producers = execute_from_two_threads(&pool, &ledger, [0..3, 3..6], levels);
            let accepted: u64 = producers.into_iter().map(|p| p.join().unwrap()).sum();
            assert_eq!(accepted, 6);
            pool.wait_idle();
            assert!((0..6).all(|id| ledger.runs(id) == 1));
            assert_eq!(pool.stats().completed, 6);
            assert_eq!(pool.shutdown().completed, 6);
        },
        ITERATIONS,
    );
}

/// Pause races a producer; a job submitted after `pause` returned must not run before a
/// resume, whatever the schedule (a worker may be taking a job from the lock-free lanes just
/// as the pause begins); then a resume and a second producer race the shutdown `stop`.
/// Every job is accounted for, and a graceful shutdown runs every accepted one.
fn pause_race(stop: fn(&Pool) -> ShutdownReport, graceful: bool) {
    let ledger = Ledger::new(4);
    let pool = Pool::builder()
        .workers(2)
        .queue_capacity(4)
        .build()
        .unwrap();
    let producer = |ids: std::ops::Range<usize>| {
        let (pool, ledger) = (pool.clone(), Arc::clone(&ledger));
        thread::spawn(move || {
            let mut audit = Audit::default();
            for id in ids {
                audit.record(id, pool.try_submit(job(id, &ledger)));
            }
            audit
        })
    };
    let racing = producer(0..2);
    pool.pause();
    let after = pool.submit(job(2, &ledger)).unwrap();
    thread::yield_now();
    assert_eq!(
        ledger.runs(2),
        0,
        "a job submitted after pause ran before resume"
    );
    assert!(!after.is_finished());
    let resumer = {
        let pool = pool.clone();
        thread::spawn(move || pool.resume())
    };
    let late = producer(3..4);
    let first = stop(&pool);
    resumer.join().unwrap();
    let mut audit = racing.join().unwrap();
    audit.merge(late.join().unwrap());
    audit.accepted.push((2, after));
    let settled = pool.shutdown();
    assert_eq!(first.submitted, settled.submitted);
    let tally = audit.verify(4, &ledger, &settled);
    if graceful {
        assert_eq!(tally.never_started, 0, "{tally:?}");
    }
}

/// Runs `f` under PCT schedules: the race that matters for a pause (a worker that looked at
/// the flag before the pause takes the job pushed after it) needs a few preemptions at the
/// right places, which PCT finds within a few hundred iterations and uniform random schedules
/// do not in thousands. PCT never lets a low-priority thread run while a higher one can, so a
/// worker that goes round its loop waiting for a producer to finish writing a slot (P1) can
/// spin for ever in a model: such a schedule is cut short and the next one begins.
fn check_pct(f: impl Fn() + Send + Sync + 'static, iterations: usize) {
    let mut config = shuttle::Config::new();
    config.max_steps = shuttle::MaxSteps::ContinueAfter(20_000);
    let scheduler = shuttle::scheduler::PctScheduler::new(3, iterations);
    shuttle::Runner::new(scheduler, config).run(f);
}

#[test]
fn pause_holds_later_jobs_and_a_graceful_shutdown_racing_resume_runs_them() {
    check_pct(|| pause_race(|p| p.shutdown(), true), ITERATIONS);
}

#[test]
fn pause_holds_later_jobs_and_shutdown_now_racing_resume_reports_them() {
    check_pct(|| pause_race(|p| p.shutdown_now(), false), ITERATIONS);
}

#[test]
fn a_paused_pool_shut_down_now_runs_nothing_submitted_after_the_pause() {
    // Jobs 0 and 1 race the pause; jobs 2 and 3 are queued after it by a producer racing
    // `shutdown_now`. With no resume, 2 and 3 never run: a worker holding one hands it back,
    // and the end of the pause in `stop` must not let a worker start one first.
    check_pct(
        || {
            let ledger = Ledger::new(4);
            let pool = Pool::builder()
                .workers(2)
                .queue_capacity(4)
                .build()
                .unwrap();
            let execute = |ids: std::ops::Range<usize>| {
                let (pool, ledger) = (pool.clone(), Arc::clone(&ledger));
                thread::spawn(move || {
                    ids.filter(|&id| pool.execute(job(id, &ledger)).is_ok())
                        .count() as u64
                })
            };
            let racing = execute(0..2);
            pool.pause();
            let after = execute(2..4);
            let report = pool.shutdown_now();
            let accepted = racing.join().unwrap() + after.join().unwrap();
            let settled = pool.shutdown();
            let ran: u64 = (0..4).map(|id| u64::from(ledger.runs(id))).sum();
            assert_eq!(
                ledger.runs(2) + ledger.runs(3),
                0,
                "a job queued after the pause ran"
            );
            assert_eq!(report.submitted, settled.submitted);
            assert_eq!(settled.submitted, accepted);
            assert_eq!(settled.completed, ran);
            assert_eq!(settled.completed + settled.never_started, accepted);
            assert!((0..4).all(|id| ledger.runs(id) <= 1 && ledger.drops(id) == 1));
        },
        ITERATIONS,
    );
}

#[test]
fn a_waiting_worker_of_a_paused_pool_runs_no_queued_job_and_steals_nothing() {
    // A job running as the pool pauses queues an inner job, forks with `join`, then waits on
    // the inner job. Until the resume, the inner job must not run: not claimed by the waiting
    // worker, not helped with, not taken by the other worker. Both halves of the join run on
    // the forking worker: the other one, paused, steals nothing.
    use shuttle::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

    check_pct(
        || {
            let pool = Pool::new(2);
            let (go, joined, inner_runs) = (
                Arc::new(AtomicBool::new(false)),
                Arc::new(AtomicBool::new(false)),
                Arc::new(AtomicUsize::new(0)),
            );
            let outer = {
                let (p, go, joined, inner_runs) = (
                    pool.clone(),
                    Arc::clone(&go),
                    Arc::clone(&joined),
                    Arc::clone(&inner_runs),
                );
                pool.submit(move || {
                    while !go.load(SeqCst) {
                        thread::yield_now();
                    }
                    let inner = p
                        .submit(move || {
                            inner_runs.fetch_add(1, SeqCst);
                        })
                        .unwrap();
                    let me = thread::current().id();
                    let halves = p.join(|| thread::current().id(), || thread::current().id());
                    joined.store(true, SeqCst);
                    inner.wait().unwrap();
                    (me, halves)
                })
                .unwrap()
            };
            pool.pause();
            go.store(true, SeqCst);
            while !joined.load(SeqCst) {
                thread::yield_now();
            }
            thread::yield_now();
            assert_eq!(inner_runs.load(SeqCst), 0, "a job queued while paused ran");
            pool.resume();
            let (me, (a, b)) = outer.wait().unwrap();
            assert_eq!((a, b), (me, me), "a paused worker stole half of a join");
            assert_eq!(inner_runs.load(SeqCst), 1);
            assert_eq!(pool.shutdown().completed, 2);
        },
        ITERATIONS,
    );
}

#[test]
fn hooks_run_once_per_worker_and_states_drop_once_whatever_races_shutdown() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    shuttle::check_random(
        || {
            let counts: Arc<[AtomicUsize; 4]> = Arc::new(Default::default());
            let [starts, stops, built, dropped] = [0, 1, 2, 3].map(|i| {
                let counts = Arc::clone(&counts);
                move || counts[i].fetch_add(1, SeqCst)
            });
            struct State(Box<dyn Fn() -> usize + Send + Sync>);
            impl Drop for State {
                fn drop(&mut self) {
                    (self.0)();
                }
            }
            let dropped = Arc::new(dropped);
            let pool = Pool::builder()
                .min_workers(0)
                .max_workers(2)
                .queue_capacity(2)
                .on_worker_start(move |_| {
                    starts();
                })
                .on_worker_stop(move |_| {
                    stops();
                })
                .worker_state(move || {
                    built();
                    let dropped = Arc::clone(&dropped);
                    State(Box::new(move || dropped()))
                })
                .build()
                .unwrap();
            let other = {
                let pool = pool.clone();
                thread::spawn(move || {
                    let _ = pool.try_submit(|| ());
                    let _ = pool.execute_with_state(|_: &mut State| ());
                })
            };
            let task = pool.submit_with_state(|_: &mut State| 7);
            let first = pool.shutdown_now();
            other.join().unwrap();
            let settled = pool.shutdown();
            assert_eq!(first.submitted, settled.submitted);
            if let Ok(task) = task {
                match task.wait() {
                    Ok(value) => assert_eq!(value, 7),
                    Err(e) => assert!(e.is_not_run() || e.is_cancelled(), "{e}"),
                }
            }
            let [starts, stops, built, dropped] = [0, 1, 2, 3].map(|i| counts[i].load(SeqCst));
            assert_eq!(starts, stops, "every started worker stopped once");
            assert_eq!(built, dropped, "every state built was dropped once");
            assert!(built <= starts, "at most one state per worker");
        },
        ITERATIONS,
    );
}

/// A job that waits on a job it queued to its own one-worker pool, racing a shutdown: the
/// waiting worker runs the inner job itself, or the shutdown resolves it; either way the
/// outer job ends, and every job is counted once.
fn nested_wait_races(stop: fn(&Pool) -> ShutdownReport) {
    let pool = Pool::new(1);
    let inner_pool = pool.clone();
    let outer = pool
        .submit(move || match inner_pool.submit(|| 21) {
            Ok(inner) => inner.wait().map(|v| v * 2).ok(),
            Err(_) => None,
        })
        .unwrap();
    let stopper = {
        let pool = pool.clone();
        thread::spawn(move || stop(&pool))
    };
    let result = outer.wait();
    let first = stopper.join().unwrap();
    let settled = pool.shutdown();
    assert_eq!(first.submitted, settled.submitted);
    if let Ok(Some(v)) = result {
        assert_eq!(v, 42);
    }
    common::assert_settled(&settled);
}

#[test]
fn a_nested_wait_racing_shutdown_now_ends_and_counts_every_job() {
    shuttle::check_random(|| nested_wait_races(|p| p.shutdown_now()), ITERATIONS);
}

#[test]
fn a_nested_wait_racing_a_graceful_shutdown_ends_and_counts_every_job() {
    shuttle::check_random(|| nested_wait_races(|p| p.shutdown()), ITERATIONS);
}

/// `join` inside a job of a two-worker pool, its second half stolen or taken back, racing
/// shutdown_now: both halves run exactly once whatever happens to the pool.
#[test]
fn join_racing_shutdown_now_runs_both_halves_once() {
    shuttle::check_random(
        || {
            let pool = Pool::new(2);
            let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let task = {
                let (p, runs) = (pool.clone(), Arc::clone(&runs));
                pool.submit(move || {
                    let count = || runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    p.join(count, count)
                })
                .unwrap()
            };
            let stopper = {
                let pool = pool.clone();
                thread::spawn(move || pool.shutdown_now())
            };
            let ran = task.wait().is_ok();
            stopper.join().unwrap();
            pool.shutdown();
            let runs = runs.load(std::sync::atomic::Ordering::SeqCst);
            // The job ran to its end (and so both halves did), or never started (and
            // neither did); a job whose handle says it finished ran both.
            assert!(runs == 0 || runs == 2, "halves run: {runs}");
            if ran {
                assert_eq!(runs, 2);
            }
        },
        ITERATIONS,
    );
}

/// Recursive `join` inside a job of a two-worker pool: every second half is taken back,
/// stolen by the other worker, or run by its owner's helping, and an owner whose half was
/// stolen parks until the thief wakes it (the `join` stack job's PENDING, SLEEPY and DONE).
/// Whatever the schedule, the sum is right and nothing hangs.
#[test]
fn recursive_join_on_two_workers_sums_right_whoever_runs_each_half() {
    check_pct(
        || {
            let pool = Pool::new(2);
            let task = {
                let p = pool.clone();
                pool.submit(move || fib(&p, 6)).unwrap()
            };
            assert_eq!(task.wait().unwrap(), 8);
            pool.shutdown();
        },
        ITERATIONS,
    );
}

/// A scope opened off the pool whose jobs spawn more into the deques of the workers running
/// them, racing `shutdown_now` and a resize down: workers leave with jobs in their deques,
/// which go back to the scope's owner. Every job runs exactly once and the scope returns.
#[test]
fn scope_jobs_in_leaving_workers_deques_run_once_whatever_races_them() {
    shuttle::check_random(
        || {
            let pool = Pool::new(2);
            let runs = std::sync::atomic::AtomicUsize::new(0);
            let stopper = {
                let pool = pool.clone();
                thread::spawn(move || {
                    pool.resize(1, 1);
                    pool.shutdown_now()
                })
            };
            let runs_ref = &runs;
            pool.scope(|s| {
                for _ in 0..2 {
                    s.spawn(move || {
                        runs_ref.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        s.spawn(move || {
                            runs_ref.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        });
                    });
                }
            });
            stopper.join().unwrap();
            assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 4);
        },
        ITERATIONS,
    );
}
