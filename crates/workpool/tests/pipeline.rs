//! `Pipeline`: source order and completion order, an item's error carried out with its
//! index and stage name, backpressure that stops pulling the source, per-stage stats, and a
//! cancel midway that loses nothing.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{eventually, quiet_panics, Gate};
use workpool::{Pipeline, Pool, ShutdownReport, TaskErrorKind};

const OWED: Duration = Duration::from_secs(20);

#[test]
fn ordered_output_follows_the_source() {
    let io = Pool::new(4);
    let cpu = Pool::new(2);
    // Item 0 of the first stage waits until item 6 has gone through it: the stages finish
    // items out of order.
    let (done6, wait6) = mpsc::channel::<()>();
    let wait6 = std::sync::Mutex::new(wait6);
    let results: Vec<String> = Pipeline::new(0..30u32)
        .stage("fetch", &io, move |i| {
            match i {
                0 => wait6
                    .lock()
                    .unwrap()
                    .recv_timeout(OWED)
                    .expect("item 6 ran"),
                6 => done6.send(()).unwrap(),
                _ => {}
            }
            i * 2
        })
        .stage("render", &cpu, |n: u32| format!("<{n}>"))
        .run()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected: Vec<String> = (0..30).map(|i| format!("<{}>", i * 2)).collect();
    assert_eq!(results, expected);
}

#[test]
fn unordered_output_comes_as_items_finish() {
    let pool = Pool::new(2);
    let gate = Gate::new();
    let _open = gate.open_on_drop();
    let held = Arc::clone(&gate);
    let mut run = Pipeline::new(0..8u32)
        .stage("hold", &pool, move |i| {
            if i == 0 {
                held.wait();
            }
            i
        })
        .stage("double", &pool, |i| i * 2)
        .unordered()
        .run();
    let mut first: Vec<u32> = (&mut run).take(7).map(Result::unwrap).collect();
    first.sort_unstable();
    assert_eq!(first, (1..8).map(|i| i * 2).collect::<Vec<_>>());
    gate.open();
    assert_eq!(run.next().map(Result::unwrap), Some(0));
    assert!(run.next().is_none());
}

#[test]
fn an_items_error_comes_out_with_its_index_and_stage_name() {
    quiet_panics();
    let read = Pool::new(3);
    let parse = Pool::new(2);
    let seen_by_last = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&seen_by_last);
    let run = Pipeline::new(0..20u32)
        .try_stage("read", &read, |i| match i % 7 {
            3 => Err(format!("no file {i}")),
            _ => Ok(i),
        })
        .stage("parse", &parse, |i| {
            if i % 5 == 4 {
                panic!("parse of {i} fails on purpose");
            }
            i + 100
        })
        .stage("store", &read, move |i| {
            seen.fetch_add(1, SeqCst);
            i
        })
        .run();
    let results: Vec<_> = run.collect();
    assert_eq!(results.len(), 20);
    for (i, result) in results.into_iter().enumerate() {
        let i = i as u32;
        match (i % 7, i % 5) {
            (3, _) => {
                let error = result.unwrap_err();
                assert_eq!((error.index(), error.stage()), (i as usize, "read"));
                assert_eq!(error.kind(), TaskErrorKind::Failed);
                let message = format!("\"no file {i}\"");
                assert_eq!(error.error().error_message(), Some(message.as_str()));
                assert_eq!(
                    error.to_string(),
                    format!("item {i} at stage \"read\": job failed: {message}")
                );
                assert_eq!(
                    error.into_error().into_error::<String>(),
                    Some(format!("no file {i}"))
                );
            }
            (_, 4) => {
                let error = result.unwrap_err();
                assert_eq!((error.index(), error.stage()), (i as usize, "parse"));
                assert!(error.error().is_panic());
            }
            _ => assert_eq!(result.unwrap(), i + 100),
        }
    }
    // Items 3, 10, 17 failed at "read" and 4, 9, 14, 19 at "parse": 13 reached "store".
    assert_eq!(seen_by_last.load(SeqCst), 13);
}

/// One worker per stage, buffers of one item, and a last stage held shut: item 0 runs the
/// last stage, item 1 waits in its buffer, item 2 in the first stage's buffer. Nothing more
/// can move, so the source must not be pulled again until the last stage lets go.
#[test]
fn backpressure_stops_pulling_the_source() {
    let first = Pool::new(1);
    let last = Pool::new(1);
    let gate = Gate::new();
    let _open = gate.open_on_drop();
    let pulled = Arc::new(AtomicUsize::new(0));
    let early_pull = Arc::new(AtomicUsize::new(0));
    let released = Arc::new(AtomicBool::new(false));
    let (results_tx, results) = mpsc::channel();
    let consumer = {
        let (first, last, gate) = (first.clone(), last.clone(), Arc::clone(&gate));
        let (pulled, early_pull) = (Arc::clone(&pulled), Arc::clone(&early_pull));
        let released = Arc::clone(&released);
        thread::spawn(move || {
            let source = (0u64..).inspect(move |&i| {
                pulled.fetch_add(1, SeqCst);
                if i >= 3 && !released.load(SeqCst) {
                    early_pull.fetch_add(1, SeqCst);
                }
            });
            let held = Arc::clone(&gate);
            let run = Pipeline::new(source)
                .stage("first", &first, |i| i)
                .stage("last", &last, move |i| {
                    held.wait();
                    i
                })
                .buffer(1)
                .run();
            for result in run.take(50) {
                results_tx.send(result.unwrap()).unwrap();
            }
        })
    };
    eventually("the pipeline filled", || pulled.load(SeqCst) >= 3);
    first.wait_idle();
    assert_eq!(
        pulled.load(SeqCst),
        3,
        "the source was pulled past the buffers"
    );
    released.store(true, SeqCst);
    gate.open();
    let out: Vec<u64> = results.iter().collect();
    consumer.join().unwrap();
    assert_eq!(out, (0..50).collect::<Vec<_>>());
    assert_eq!(early_pull.load(SeqCst), 0);
}

#[test]
fn stats_count_each_stages_items_and_times() {
    quiet_panics();
    let (pool, clock) = common::manual_pool(1);
    let mut run = Pipeline::new(0..10u32)
        .stage("tick", &pool, move |i| {
            clock.advance(Duration::from_millis(1));
            i
        })
        .try_stage("check", &pool, |i| if i == 4 { Err("four") } else { Ok(i) })
        .run();
    let failed = run.by_ref().filter(Result::is_err).count();
    assert_eq!(failed, 1);
    let stats = run.stats();
    assert_eq!((stats.pulled, stats.delivered), (10, 10));
    let tick = &stats.stages[0];
    assert_eq!(tick.name, "tick");
    assert_eq!((tick.items_in, tick.items_out, tick.failed), (10, 10, 0));
    // One worker runs both stages; each run of "tick" advances the pool's clock by 1 ms.
    assert_eq!(tick.busy, Duration::from_millis(10));
    let check = &stats.stages[1];
    assert_eq!((check.items_in, check.items_out, check.failed), (10, 9, 1));
    assert_eq!(check.busy, Duration::ZERO);
    assert_eq!(check.not_run, 0);
}

/// One worker per stage, so items reach the held stage in source order: items 0 to 4 come
/// out, item 5 is held in the second stage, later ones wait in buffers and queues.
#[test]
fn a_pipeline_cancelled_midway_loses_nothing() {
    let first = Pool::new(1);
    let second = Pool::new(1);
    let gate = Gate::new();
    let _open = gate.open_on_drop();
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&pulled);
    let source = (0usize..1000).inspect(move |_| {
        counter.fetch_add(1, SeqCst);
    });
    let (started_tx, started) = mpsc::channel();
    let held = Arc::clone(&gate);
    let mut run = Pipeline::new(source)
        .stage("parse", &first, |i| i)
        .stage("slow", &second, move |i| {
            if i == 5 {
                started_tx.send(()).unwrap();
                held.wait();
            }
            i
        })
        .run();
    let mut out = Vec::new();
    for _ in 0..5 {
        out.push(run.next().unwrap().unwrap());
    }
    assert_eq!(out, [0, 1, 2, 3, 4]);
    started
        .recv_timeout(OWED)
        .expect("item 5 entered the slow stage");
    // Cancel from another thread while item 5 runs and others wait in buffers and queues.
    let canceller = run.canceller();
    thread::spawn(move || canceller.cancel()).join().unwrap();
    assert!(run.is_cancelled());
    gate.open();
    let rest: Vec<_> = run.by_ref().collect();
    let pulled = pulled.load(SeqCst);
    assert!(pulled < 1000, "a cancelled pipeline kept pulling");
    // Every item pulled comes out exactly once: item 5 finished its stage (it was running);
    // every later one is reported as cancelled, at the stage it did not run.
    assert_eq!(out.len() + rest.len(), pulled);
    let mut seen: BTreeSet<usize> = out.iter().copied().collect();
    for result in &rest {
        let index = match result {
            Ok(value) => {
                assert_eq!(*value, 5, "only the running item finishes after the cancel");
                *value
            }
            Err(error) => {
                assert_eq!(error.kind(), TaskErrorKind::Cancelled, "{error}");
                assert!(["parse", "slow"].contains(&error.stage()));
                error.index()
            }
        };
        assert!(seen.insert(index), "item {index} came out twice");
    }
    assert_eq!(seen, (0..pulled).collect());
    let stats = run.stats();
    assert_eq!(stats.delivered as usize, pulled);
    let not_run: u64 = stats.stages.iter().map(|s| s.not_run).sum();
    assert_eq!(not_run as usize, rest.len() - 1);
    drop(run);
    assert_balanced(&first.shutdown());
    assert_balanced(&second.shutdown());
}

#[test]
fn a_stage_pool_that_shuts_down_reports_the_items_it_never_ran() {
    let first = Pool::new(2);
    let second = Pool::new(1);
    second.shutdown();
    let results: Vec<_> = Pipeline::new(0..6u8)
        .stage("first", &first, |i| i)
        .stage("second", &second, |i| i)
        .run()
        .collect();
    assert_eq!(results.len(), 6);
    for (i, result) in results.iter().enumerate() {
        let error = result.as_ref().unwrap_err();
        assert_eq!((error.index(), error.stage()), (i, "second"));
        assert!(error.error().is_not_run());
    }
}

#[test]
fn dropping_the_output_cancels_the_pipeline() {
    let pool = Pool::new(1);
    let gate = Gate::new();
    let _open = gate.open_on_drop();
    let runs = Arc::new(AtomicUsize::new(0));
    let (started_tx, started) = mpsc::channel();
    let (held, counted) = (Arc::clone(&gate), Arc::clone(&runs));
    let mut run = Pipeline::new(0..100u32)
        .stage("only", &pool, move |i| {
            counted.fetch_add(1, SeqCst);
            if i == 1 {
                started_tx.send(()).unwrap();
                held.wait();
            }
            i
        })
        .buffer(4)
        .run();
    assert_eq!(run.next().map(Result::unwrap), Some(0));
    started.recv_timeout(OWED).unwrap();
    drop(run);
    gate.open();
    let report = pool.shutdown();
    assert_eq!(
        runs.load(SeqCst),
        2,
        "an item ran after the output was dropped"
    );
    assert_balanced(&report);
}

#[test]
fn a_pipeline_with_no_stage_passes_its_source_through() {
    let out: Vec<_> = Pipeline::new(["a", "b"])
        .run()
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, ["a", "b"]);
}

/// The formula of `tests/accounting.rs`, once a shutdown has waited for every worker.
fn assert_balanced(report: &ShutdownReport) {
    let ended = report.completed
        + report.failed
        + report.cancelled
        + report.timed_out
        + report.never_started;
    assert_eq!(report.submitted, ended, "{report:?}");
    assert_eq!((report.still_running, report.still_queued), (0, 0));
}
