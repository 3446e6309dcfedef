//! `Pool::map` and `Pool::map_unordered`: input order and completion order, laziness with a
//! bounded window, a panicking item as its own error, results of a chunk delivered while a
//! slow item of it still runs, cancellation on drop, and items a closed pool never ran.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{eventually, quiet_panics, Gate};
use workpool::{Pool, TaskErrorKind, DEFAULT_MAX_CHUNK};

/// How long a test waits for a result it is owed before it calls the promise broken. A
/// safety net against a hang, never the thing measured.
const OWED: Duration = Duration::from_secs(20);

#[test]
fn map_yields_results_in_input_order() {
    let pool = Pool::new(3);
    // Item 0 waits until item 5 has finished, so the pool finishes them out of order.
    let (done5, wait5) = mpsc::channel::<()>();
    let wait5 = std::sync::Mutex::new(wait5);
    let results: Vec<u64> = pool
        .map(0..40u64, move |i| {
            match i {
                0 => wait5
                    .lock()
                    .unwrap()
                    .recv_timeout(OWED)
                    .expect("item 5 ran"),
                5 => done5.send(()).unwrap(),
                _ => {}
            }
            i * 3
        })
        .max_chunk(1)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(results, (0..40).map(|i| i * 3).collect::<Vec<_>>());
}

#[test]
fn map_unordered_yields_results_as_items_finish() {
    let pool = Pool::new(2);
    let gate = Gate::new();
    let _open = gate.open_on_drop();
    let held = Arc::clone(&gate);
    let mut results = pool
        .map_unordered(0..10u64, move |i| {
            if i == 0 {
                held.wait();
            }
            i
        })
        .max_chunk(1);
    // Item 0 is held: the nine others come first, whatever the order they finish in.
    let mut first: Vec<u64> = (&mut results).take(9).map(Result::unwrap).collect();
    first.sort_unstable();
    assert_eq!(first, (1..10).collect::<Vec<_>>());
    gate.open();
    assert_eq!(results.next().map(Result::unwrap), Some(0));
    assert!(results.next().is_none());
}

#[test]
fn an_endless_input_with_take_terminates_and_pulls_a_bounded_number() {
    let pool = Pool::new(2);
    for (window, max_chunk) in [(4, 8), (1, 1), (3, 64)] {
        let pulled = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&pulled);
        let input = (0u64..).inspect(move |_| {
            counter.fetch_add(1, SeqCst);
        });
        let first: Vec<u64> = pool
            .map(input, |i| i * 2)
            .window(window)
            .max_chunk(max_chunk)
            .take(10)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(first, (0..10).map(|i| i * 2).collect::<Vec<_>>());
        let pulled = pulled.load(SeqCst);
        let bound = 10 + window * max_chunk;
        assert!(
            pulled <= bound,
            "pulled {pulled} > {bound} (window {window})"
        );
    }

    // With the defaults: twice the maximum workers, chunks of at most DEFAULT_MAX_CHUNK.
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&pulled);
    let input = (0u64..).inspect(move |_| {
        counter.fetch_add(1, SeqCst);
    });
    let taken = pool.map_unordered(input, |i| i).take(10).count();
    assert_eq!(taken, 10);
    let bound = 10 + 2 * 2 * DEFAULT_MAX_CHUNK;
    assert!(pulled.load(SeqCst) <= bound);
}

#[test]
fn the_window_counts_jobs_in_flight() {
    let pool = Pool::new(4);
    let gate = Gate::new();
    let _open = gate.open_on_drop();
    let (started_tx, started) = mpsc::channel();
    let held = Arc::clone(&gate);
    let consumer = {
        let pool = pool.clone();
        thread::spawn(move || {
            pool.map(0..10u64, move |i| {
                started_tx.send(i).unwrap();
                held.wait();
                i
            })
            .window(2)
            .max_chunk(1)
            .count()
        })
    };
    started.recv_timeout(OWED).unwrap();
    started.recv_timeout(OWED).unwrap();
    // Two jobs run and hold their results: no result taken, so no third job was queued.
    assert_eq!(pool.stats().submitted, 2);
    gate.open();
    assert_eq!(consumer.join().unwrap(), 10);
    assert_eq!(pool.stats().submitted, 10);
}

#[test]
fn a_panicking_item_is_its_own_error_and_the_others_go_on() {
    quiet_panics();
    let pool = Pool::new(2);
    let f = |i: u64| {
        if i % 10 == 3 {
            panic!("item {i} fails on purpose");
        }
        i
    };
    let in_order: Vec<_> = pool.map(0..100u64, f).collect();
    assert_eq!(in_order.len(), 100);
    for (i, result) in in_order.iter().enumerate() {
        match result {
            Ok(value) => assert_eq!(*value, i as u64),
            Err(error) => {
                assert_eq!(i % 10, 3, "only the panicking items fail");
                assert_eq!(error.kind(), TaskErrorKind::Panicked);
                let message = format!("item {i} fails on purpose");
                assert_eq!(error.panic_message(), Some(message.as_str()));
            }
        }
    }
    let unordered: Vec<_> = pool.map_unordered(0..100u64, f).collect();
    let failed = unordered.iter().filter(|r| r.is_err()).count();
    let mut values: Vec<u64> = unordered.into_iter().filter_map(Result::ok).collect();
    values.sort_unstable();
    assert_eq!(failed, 10);
    assert_eq!(values, (0..100).filter(|i| i % 10 != 3).collect::<Vec<_>>());
    // The panics were caught per item: no job of the pool panicked.
    pool.wait_idle();
    assert_eq!(pool.stats().panicked, 0);
}

/// On a pool with a manual clock every chunk measures as taking no time, so chunks double
/// deterministically; with a window of one job they are items [0], [1, 2], [3..=6],
/// [7..=14]. Item 10 is held: items 7, 8 and 9, of its chunk, must come out while it runs.
#[test]
fn a_finished_item_is_delivered_while_a_slow_item_of_its_chunk_runs() {
    let (pool, _clock) = common::manual_pool(2);
    let gate = Gate::new();
    let _open = gate.open_on_drop();
    let (started_tx, started) = mpsc::channel();
    let held = Arc::clone(&gate);
    let (results_tx, results) = mpsc::channel();
    let consumer = {
        let pool = pool.clone();
        thread::spawn(move || {
            let map = pool
                .map(0..20u64, move |i| {
                    if i == 10 {
                        started_tx.send(()).unwrap();
                        held.wait();
                    }
                    i
                })
                .window(1);
            for result in map {
                results_tx.send(result.unwrap()).unwrap();
            }
        })
    };
    started.recv_timeout(OWED).expect("item 10 started");
    for expected in 0..10 {
        let got = results.recv_timeout(OWED);
        assert_eq!(
            got,
            Ok(expected),
            "item {expected} was held back by item 10"
        );
    }
    // Items 0 to 14 went out in four jobs, so 7, 8 and 9 shared item 10's job.
    assert_eq!(pool.stats().submitted, 4);
    gate.open();
    let rest: Vec<u64> = results.iter().collect();
    assert_eq!(rest, (10..20).collect::<Vec<_>>());
    consumer.join().unwrap();
}

#[test]
fn chunks_grow_while_items_are_tiny() {
    let pool = Pool::new(2);
    let n = 100_000u64;
    let sum: u64 = pool.map(0..n, |i| i).map(Result::unwrap).sum();
    assert_eq!(sum, n * (n - 1) / 2);
    pool.wait_idle();
    // One job per item would be 100,000 jobs; doubling chunks need a few hundred.
    let jobs = pool.stats().submitted;
    assert!(jobs < n / 10, "{jobs} jobs for {n} tiny items");
}

#[test]
fn dropping_the_iterator_cancels_jobs_not_started() {
    let pool = Pool::new(1);
    let gate = Gate::new();
    let _open = gate.open_on_drop();
    let runs = Arc::new(AtomicUsize::new(0));
    let (started_tx, started) = mpsc::channel();
    let (held, counted) = (Arc::clone(&gate), Arc::clone(&runs));
    let mut map = pool
        .map(0..8u64, move |i| {
            counted.fetch_add(1, SeqCst);
            if i == 1 {
                started_tx.send(()).unwrap();
                held.wait();
            }
            i
        })
        .max_chunk(1)
        .window(8);
    assert_eq!(map.next().map(Result::unwrap), Some(0));
    started.recv_timeout(OWED).expect("item 1 started");
    // Items 2 to 7 wait in the queue behind item 1 on the pool's only worker.
    drop(map);
    gate.open();
    let report = pool.shutdown();
    assert_eq!(runs.load(SeqCst), 2, "a cancelled item ran");
    assert_eq!(report.submitted, 8);
    assert_eq!(report.completed, 1);
    assert_eq!(report.cancelled, 7, "six queued jobs and the running one");
    assert_balanced(&report);
}

#[test]
fn a_closed_pool_gives_not_run_for_every_item() {
    let pool = Pool::new(2);
    pool.shutdown();
    let results: Vec<_> = pool.map(0..5u64, |i| i).collect();
    assert_eq!(results.len(), 5);
    assert!(results
        .iter()
        .all(|r| r.as_ref().is_err_and(|e| e.kind() == TaskErrorKind::NotRun)));
    let results: Vec<_> = pool.map_unordered(0..3u64, |i| i).collect();
    assert_eq!(results.len(), 3);
    assert!(results
        .iter()
        .all(|r| r.as_ref().is_err_and(|e| e.is_not_run())));
}

#[test]
fn a_shutdown_midway_reports_the_items_it_never_ran() {
    let pool = Pool::new(1);
    let gate = Gate::new();
    let _open = gate.open_on_drop();
    let (started_tx, started) = mpsc::channel();
    let held = Arc::clone(&gate);
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let map = pool
        .map(0..6u64, move |i| {
            counted.fetch_add(1, SeqCst);
            if i == 0 {
                started_tx.send(()).unwrap();
                held.wait();
            }
            i
        })
        .max_chunk(1)
        .window(4);
    let closer = {
        let (pool, gate) = (pool.clone(), Arc::clone(&gate));
        thread::spawn(move || {
            started.recv_timeout(OWED).expect("item 0 started");
            let shutdown = {
                let pool = pool.clone();
                thread::spawn(move || pool.shutdown_now())
            };
            // The queued jobs of items 1 to 3 are handed back; then item 0 may return.
            eventually("the queued jobs were handed back", || {
                pool.stats().never_started == 3
            });
            gate.open();
            shutdown.join().unwrap()
        })
    };
    // Item 0 ran (the shutdown cancelled its job, but the value was written before the map
    // looked); items 1 to 3 were queued and never ran; items 4 and 5 met a closed pool.
    let results: Vec<_> = map.collect();
    let report = closer.join().unwrap();
    assert_eq!(results.len(), 6);
    assert_eq!(results[0].as_ref().ok(), Some(&0));
    assert!(results[1..]
        .iter()
        .all(|r| r.as_ref().is_err_and(|e| e.is_not_run())));
    assert_eq!(runs.load(SeqCst), 1);
    assert_eq!(report.never_started, 3);
    assert_balanced(&pool.shutdown());
}

/// The formula of `tests/accounting.rs`, once a shutdown has waited for every worker.
fn assert_balanced(report: &workpool::ShutdownReport) {
    let ended = report.completed
        + report.failed
        + report.cancelled
        + report.timed_out
        + report.never_started;
    assert_eq!(report.submitted, ended, "{report:?}");
    assert_eq!((report.still_running, report.still_queued), (0, 0));
}
