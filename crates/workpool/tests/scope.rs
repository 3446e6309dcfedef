//! Scoped jobs and fork-join: jobs borrow from the caller's stack, every spawned job has
//! ended when `scope` returns, panics come back to the caller, and `join` is safe inside
//! a job of a one-worker pool.

#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // tests may use std directly

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::fib;
use workpool::{ManualClock, Pool, RateLimit};

/// How long a test waits for what a pool owes it before it calls it lost.
const OWED: Duration = Duration::from_secs(20);

#[test]
fn scoped_jobs_borrow_from_the_callers_stack() {
    let pool = Pool::new(4);
    let mut pixels = vec![1u32; 1000 * 64];
    let seen = AtomicUsize::new(0);
    pool.scope(|s| {
        for chunk in pixels.chunks_mut(64) {
            let seen = &seen;
            s.spawn(move || {
                chunk.iter_mut().for_each(|p| *p += 1);
                seen.fetch_add(1, SeqCst);
            });
        }
    });
    assert_eq!(seen.load(SeqCst), 1000);
    assert!(pixels.iter().all(|&p| p == 2));
}

#[test]
fn a_scope_returns_its_closures_value_and_jobs_may_spawn_more() {
    let pool = Pool::new(2);
    let count = AtomicUsize::new(0);
    let r = pool.scope(|s| {
        for _ in 0..10 {
            s.spawn(|| {
                count.fetch_add(1, SeqCst);
                s.spawn(|| {
                    count.fetch_add(1, SeqCst);
                });
            });
        }
        "done"
    });
    assert_eq!(r, "done");
    assert_eq!(count.load(SeqCst), 20);
}

#[test]
fn a_panicking_job_panics_the_scope_after_every_job_ended() {
    common::quiet_panics();
    let pool = Pool::new(2);
    let ran = AtomicUsize::new(0);
    let result = catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|s| {
            for i in 0..50 {
                let ran = &ran;
                s.spawn(move || {
                    if i == 7 {
                        panic!("job 7 failed on purpose");
                    }
                    ran.fetch_add(1, SeqCst);
                });
            }
        })
    }));
    let payload = result.expect_err("the scope resumes the job's panic");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"job 7 failed on purpose")
    );
    // Every other job ended before the panic reached the caller.
    assert_eq!(ran.load(SeqCst), 49);
    // The pool goes on.
    assert_eq!(pool.submit(|| 3).unwrap().wait().unwrap(), 3);
}

#[test]
fn a_panicking_scope_closure_waits_for_its_jobs_first() {
    common::quiet_panics();
    let pool = Pool::new(2);
    let ran = AtomicUsize::new(0);
    let result = catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|s| {
            for _ in 0..20 {
                s.spawn(|| {
                    ran.fetch_add(1, SeqCst);
                });
            }
            panic!("the closure failed on purpose");
        })
    }));
    let payload = result.expect_err("the scope resumes the closure's panic");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"the closure failed on purpose")
    );
    assert_eq!(ran.load(SeqCst), 20);
}

#[test]
fn recursive_join_finishes_inside_a_job_of_a_one_worker_pool() {
    let pool = Pool::new(1);
    let p = pool.clone();
    let task = pool.submit(move || fib(&p, 18)).unwrap();
    assert_eq!(task.wait().unwrap(), 2584);
    // And from outside the pool.
    assert_eq!(fib(&pool, 15), 610);
}

#[test]
fn join_returns_both_values_and_resumes_a_panic_after_both_ended() {
    common::quiet_panics();
    let pool = Pool::new(2);
    let mut left = vec![3, 1, 2];
    let mut right = vec![9, 7, 8];
    let (a, b) = pool.join(
        || {
            left.sort();
            left.len()
        },
        || {
            right.sort();
            right.len()
        },
    );
    assert_eq!((a, b), (3, 3));
    assert_eq!((left, right), (vec![1, 2, 3], vec![7, 8, 9]));

    let a_ended = AtomicUsize::new(0);
    let result = catch_unwind(AssertUnwindSafe(|| {
        pool.join(
            || {
                a_ended.fetch_add(1, SeqCst);
            },
            || panic!("b failed on purpose"),
        )
    }));
    assert_eq!(
        result.unwrap_err().downcast_ref::<&str>(),
        Some(&"b failed on purpose")
    );
    assert_eq!(a_ended.load(SeqCst), 1);
}

/// Inside a job, the halves of each `join` below meet at a barrier, so neither can end
/// before the other started: the second half is stolen by the other worker, and its value,
/// its panic, or its end while the first half panics comes back through the thief.
#[test]
fn a_stolen_half_hands_back_its_value_and_its_panic() {
    common::quiet_panics();
    let pool = Pool::new(2);
    let p = pool.clone();
    let task = pool
        .submit(move || {
            let meet = Barrier::new(2);
            let here = || {
                meet.wait();
                thread::current().id()
            };
            let (a, b) = p.join(here, here);
            assert_ne!(a, b, "the second half ran on the other worker");

            let meet = Barrier::new(2);
            let b_failed = catch_unwind(AssertUnwindSafe(|| {
                p.join(
                    || meet.wait(),
                    || {
                        meet.wait();
                        panic!("stolen b failed on purpose")
                    },
                )
            }));
            let b_failed = b_failed.unwrap_err().downcast_ref::<&str>().copied();

            let meet = Barrier::new(2);
            let b_ended = AtomicUsize::new(0);
            let a_failed = catch_unwind(AssertUnwindSafe(|| {
                p.join(
                    || {
                        meet.wait();
                        panic!("a failed on purpose")
                    },
                    || {
                        meet.wait();
                        b_ended.fetch_add(1, SeqCst);
                    },
                )
            }));
            let a_failed = a_failed.unwrap_err().downcast_ref::<&str>().copied();
            (b_failed, a_failed, b_ended.load(SeqCst))
        })
        .unwrap();
    assert_eq!(
        task.wait().unwrap(),
        (
            Some("stolen b failed on purpose"),
            Some("a failed on purpose"),
            1
        )
    );
}

/// A pool that has shut down refuses the jobs: they run on the spawning thread instead, so
/// a scope's jobs all run.
#[test]
fn scoped_jobs_run_on_the_caller_once_the_pool_is_closed() {
    let pool = Pool::new(2);
    pool.shutdown();
    let me = thread::current().id();
    let on_caller = AtomicUsize::new(0);
    pool.scope(|s| {
        for _ in 0..5 {
            s.spawn(|| {
                if thread::current().id() == me {
                    on_caller.fetch_add(1, SeqCst);
                }
            });
        }
    });
    assert_eq!(on_caller.load(SeqCst), 5);
}

/// A shutdown that hands back the queue hands a scope's queued jobs back to the scope,
/// whose owner runs them: here the queued job is the one that lets the running one end.
#[test]
fn a_scope_runs_the_jobs_a_shutdown_handed_back() {
    let pool = Pool::new(1);
    let gate = common::Gate::new();
    let _open = gate.open_on_drop();
    let (started_tx, started) = mpsc::channel();
    let stopper = {
        let pool = pool.clone();
        thread::spawn(move || {
            started.recv().unwrap();
            pool.shutdown_now()
        })
    };
    let me = thread::current().id();
    let opened_on = std::sync::Mutex::new(None);
    pool.scope(|s| {
        let gate1 = Arc::clone(&gate);
        s.spawn(move || {
            started_tx.send(()).unwrap();
            gate1.wait();
        });
        s.spawn(|| {
            *opened_on.lock().unwrap() = Some(thread::current().id());
            gate.open();
        });
    });
    assert_eq!(*opened_on.lock().unwrap(), Some(me));
    let report = stopper.join().unwrap();
    assert_eq!(report.never_started, 1);
}

/// Jobs a scope spawns on a worker go to that worker's deque, and an idle worker steals
/// them: here the owner runs one of two jobs that wait for each other at a barrier, so the
/// scope can end only if the other worker stole the second.
#[test]
fn an_idle_worker_steals_from_a_scope_on_another_worker() {
    let pool = Pool::new(2);
    let p = pool.clone();
    let task = pool
        .submit(move || {
            let barrier = std::sync::Barrier::new(2);
            let threads = std::sync::Mutex::new(Vec::new());
            p.scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        threads.lock().unwrap().push(thread::current().id());
                        barrier.wait();
                    });
                }
            });
            let threads = threads.into_inner().unwrap();
            threads[0] != threads[1]
        })
        .unwrap();
    assert!(task.wait().unwrap(), "the two jobs ran on two threads");
}

/// A scope inside a job of a one-worker pool: the worker runs every job of its deque.
#[test]
fn a_scope_inside_a_job_of_a_one_worker_pool_runs_every_job() {
    let pool = Pool::new(1);
    let p = pool.clone();
    let task = pool
        .submit(move || {
            let count = AtomicUsize::new(0);
            p.scope(|s| {
                for _ in 0..1000 {
                    s.spawn(|| {
                        count.fetch_add(1, SeqCst);
                    });
                }
            });
            count.into_inner()
        })
        .unwrap();
    assert_eq!(task.wait().unwrap(), 1000);
}

/// A worker held back by the rate limit (a job is ready, its token is not due) still steals
/// the jobs a scope on another worker spawned: they are not queued jobs, and the limit is not
/// theirs. Such a worker used to go round its loop with the pool's lock held instead, so the
/// spawned job never ran and nothing else could take the lock.
#[test]
fn a_worker_throttled_by_the_rate_limit_steals_a_scopes_jobs() {
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .workers(2)
        .rate_limit(RateLimit::per_second(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    let (started_tx, started) = mpsc::channel();
    let (queued_tx, queued) = mpsc::channel::<()>();
    let (ran_tx, ran) = mpsc::channel();
    let (go_tx, go) = mpsc::channel::<()>();
    let p = pool.clone();
    let opener = pool
        .submit(move || {
            started_tx.send(()).unwrap();
            queued.recv().unwrap();
            p.scope(|s| {
                s.spawn(move || ran_tx.send(thread::current().id()).unwrap());
                // The scope's job stays in this worker's deque while it waits here.
                go.recv().unwrap();
            });
            thread::current().id()
        })
        .unwrap();
    started.recv_timeout(OWED).expect("the opener started");
    // The opener took the only token: this job is ready, and throttled until the clock,
    // which stays put, makes the next one due.
    let throttled = pool.submit(|| ()).unwrap();
    queued_tx.send(()).unwrap();
    let thief = ran
        .recv_timeout(OWED)
        .expect("the other worker ran the scope's job");
    go_tx.send(()).unwrap();
    assert_ne!(opener.wait().unwrap(), thief);
    pool.shutdown_now();
    assert!(
        throttled.wait().is_err(),
        "the throttled job never got its token"
    );
}

/// A job that a scope's job spawns goes to the deque of the worker running it, which need
/// not be the scope's owner. If that worker then leaves its loop (here `shutdown_now`, from
/// the job itself), the job left in its deque goes back to the scope's owner, which runs
/// it: a scope's jobs all run, whatever happens to the pool.
#[test]
fn a_scopes_job_left_in_a_leaving_workers_deque_runs_on_the_owner() {
    let pool = Pool::new(1);
    let (done_tx, done) = mpsc::channel();
    let owner = thread::spawn(move || {
        let ran = AtomicUsize::new(0);
        let (ran, pool) = (&ran, &pool);
        pool.scope(|s| {
            s.spawn(move || {
                s.spawn(move || {
                    ran.fetch_add(1, SeqCst);
                });
                pool.shutdown_now();
            });
        });
        done_tx.send(ran.load(SeqCst)).unwrap();
    });
    assert_eq!(done.recv_timeout(OWED), Ok(1), "the inner job ran once");
    owner.join().unwrap();
}
