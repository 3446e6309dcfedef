//! Panics: a panicking job never kills a worker or the pool; its panic becomes its error.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::panic::panic_any;

use workpool::Pool;

#[test]
fn panic_becomes_the_jobs_error_and_the_worker_goes_on() {
    common::quiet_panics();
    let pool = Pool::new(1);
    let err = pool
        .submit(|| -> u32 { panic!("bad input {} on purpose", 7) })
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("bad input 7 on purpose"));
    assert_eq!(err.attempts(), 1);

    // The single worker survived and runs the next job.
    assert_eq!(pool.submit(|| 5).unwrap().wait().unwrap(), 5);
    let stats = pool.stats();
    assert_eq!(stats.workers, 1);
    assert_eq!((stats.panicked, stats.failed, stats.completed), (1, 1, 1));
}

#[test]
fn non_string_panic_payloads_are_reported() {
    common::quiet_panics();
    let pool = Pool::new(1);
    let err = pool
        .submit(|| panic_any(42_i32))
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("<non-string panic payload>"));
}

#[test]
fn panics_in_fire_and_forget_jobs_are_counted() {
    common::quiet_panics();
    let pool = Pool::new(2);
    for i in 0..20 {
        pool.execute(move || {
            if i % 4 == 0 {
                panic!("job {i} fails on purpose");
            }
        })
        .unwrap();
    }
    pool.wait_idle();
    let stats = pool.stats();
    assert_eq!((stats.panicked, stats.completed), (5, 15));
    assert_eq!(stats.workers, 2);
}

#[test]
fn a_panic_while_dropping_captures_is_contained() {
    common::quiet_panics();
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("drop fails on purpose");
        }
    }
    let pool = Pool::new(1);
    let bomb = Bomb;
    let err = pool
        .submit(move || {
            let _keep = &bomb;
            1
        })
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(pool.submit(|| 2).unwrap().wait().unwrap(), 2);
}

#[test]
fn many_panics_never_shrink_the_pool() {
    common::quiet_panics();
    let pool = Pool::builder()
        .workers(2)
        .queue_capacity(8)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            pool.submit(move || {
                if i % 2 == 0 {
                    panic!("even job fails on purpose");
                }
                i
            })
            .unwrap()
        })
        .collect();
    let ok = tasks.into_iter().filter_map(|t| t.wait().ok()).count();
    assert_eq!(ok, 100);
    let stats = pool.stats();
    assert_eq!(stats.workers, 2);
    assert_eq!(stats.panicked, 100);
}
