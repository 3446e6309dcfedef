//! `wait_idle`: every caller waiting when the pool goes idle returns, however soon the pool
//! gets busy again; `wait_idle_timeout` gives up on time.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{eventually, hold, manual_pool, Gate};
use workpool::Pool;

#[test]
fn every_waiter_returns_even_if_the_first_one_makes_the_pool_busy_again() {
    let pool = Pool::new(1);
    let first = hold(&pool);
    let again = Gate::new();
    let _open = again.open_on_drop();
    let (returned_tx, returned) = mpsc::channel();
    for _ in 0..4 {
        let pool = pool.clone();
        let again = again.clone();
        let returned_tx = returned_tx.clone();
        thread::spawn(move || {
            pool.wait_idle();
            // Busy again at once, until the test lets this job go.
            let again = again.clone();
            pool.execute(move || again.wait()).unwrap();
            returned_tx.send(()).unwrap();
        });
    }
    eventually("all four wait", || pool.stats().waiting_for_idle == 4);
    first.open();
    for i in 0..4 {
        returned
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("only {i} of 4 waiters returned"));
    }
}

#[test]
fn wait_idle_timeout_gives_up_on_a_busy_pool_and_succeeds_on_an_idle_one() {
    let (pool, clock) = manual_pool(1);
    let gate = hold(&pool);
    let waiter = {
        let pool = pool.clone();
        thread::spawn(move || pool.wait_idle_timeout(Duration::from_secs(5)))
    };
    eventually("the waiter waits", || pool.stats().waiting_for_idle == 1);
    while !waiter.is_finished() {
        clock.advance(Duration::from_secs(1));
        thread::yield_now();
    }
    assert!(!waiter.join().unwrap(), "the pool was busy the whole time");
    gate.open();
    assert!(pool.wait_idle_timeout(Duration::from_secs(3600)));
}

#[test]
fn wait_idle_does_not_wait_for_delayed_jobs() {
    let (pool, _clock) = manual_pool(1);
    let later = pool
        .spawn(
            workpool::Job::new(|_: &workpool::JobContext| Ok::<_, ()>(()))
                .delay(Duration::from_secs(3600)),
        )
        .unwrap();
    pool.wait_idle();
    assert_eq!(pool.stats().delayed, 1);
    assert!(later.cancel());
}
