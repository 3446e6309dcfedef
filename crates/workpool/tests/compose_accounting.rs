//! Nothing lost, nothing run twice, through the composition API: a map, an unordered map, a
//! task set and a pipeline feed one small pool at once, with panicking items among them,
//! while the pool is shut down in each of its three modes. Every item comes out exactly once
//! (a value, its panic, or "not run"), ran at most once and only if its result says so, is
//! dropped exactly once, and the pool's report balances (the formula of `accounting.rs`).

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{eventually, quiet_panics, Ledger, Payload};
use workpool::{Pipeline, Pool, ShutdownReport, TaskError, TaskErrorKind, TaskSet};

const ITEMS: usize = 3_000;

/// The work of an item: counts its run, panics for one item in eleven, returns its id. The
/// payload drops as the item ends (or wherever an item that never ran is dropped).
fn work(payload: Payload) -> usize {
    payload.ran();
    if payload.id % 11 == 5 {
        panic!("item {} fails on purpose", payload.id);
    }
    payload.id
}

/// Checks one item's result against its ledger entry.
#[track_caller]
fn check(id: usize, result: &Result<usize, TaskError>, ledger: &Ledger) {
    let runs = ledger.runs(id);
    match result {
        Ok(value) => assert_eq!((*value, runs), (id, 1), "item {id}"),
        Err(e) if e.is_panic() => assert_eq!((id % 11, runs), (5, 1), "item {id}"),
        Err(e) if e.kind() == TaskErrorKind::NotRun => assert_eq!(runs, 0, "item {id}"),
        // Only a task set's jobs resolve as cancelled: by a shutdown that cancels running
        // jobs (which still run to their end) or queued ones (which never run).
        Err(e) if e.is_cancelled() => assert!(runs <= 1, "item {id} ran {runs} times"),
        Err(e) => panic!("item {id} ended in an unexpected way: {e}"),
    }
}

fn payloads(ledger: &Arc<Ledger>) -> impl Iterator<Item = Payload> + 'static {
    let ledger = Arc::clone(ledger);
    (0..ITEMS).map(move |id| Payload::new(id, &ledger))
}

fn through_map(pool: Pool) -> Arc<Ledger> {
    let ledger = Ledger::new(ITEMS);
    let mut seen = 0;
    for (id, result) in pool.map(payloads(&ledger), work).enumerate() {
        check(id, &result, &ledger);
        seen += 1;
    }
    assert_eq!(seen, ITEMS);
    ledger
}

fn through_map_unordered(pool: Pool) -> Arc<Ledger> {
    let ledger = Ledger::new(ITEMS);
    let results: Vec<_> = pool.map_unordered(payloads(&ledger), work).collect();
    assert_eq!(results.len(), ITEMS);
    let mut ok = vec![false; ITEMS];
    for result in &results {
        if let Ok(id) = result {
            assert!(!ok[*id], "item {id} came out twice");
            ok[*id] = true;
            check(*id, result, &ledger);
        }
    }
    // Errors carry no id: count them against the ledger instead.
    let panicked = results
        .iter()
        .filter(|r| r.as_ref().is_err_and(|e| e.is_panic()))
        .count();
    let ran_and_panicked = (0..ITEMS)
        .filter(|&id| id % 11 == 5 && ledger.runs(id) == 1)
        .count();
    assert_eq!(panicked, ran_and_panicked);
    for id in (0..ITEMS).filter(|&id| !ok[id] && id % 11 != 5) {
        assert_eq!(
            ledger.runs(id),
            0,
            "item {id} ran, but its value never came out"
        );
    }
    ledger
}

fn through_task_set(pool: Pool) -> Arc<Ledger> {
    let ledger = Ledger::new(ITEMS);
    let mut set = TaskSet::new(&pool);
    let mut accepted = vec![false; ITEMS];
    let mut ids = std::collections::HashMap::new();
    for payload in payloads(&ledger) {
        let id = payload.id;
        match set.spawn(move || work(payload)) {
            Ok(job) => {
                accepted[id] = true;
                ids.insert(job, id);
            }
            // Handed back: dropping it drops the payload, unrun.
            Err(refused) => drop(refused.into_inner()),
        }
        // Join as we go, so that the set stays small and results arrive mid-stream.
        if set.len() > 16 {
            let (job, result) = set.join_next_with_id().unwrap();
            check(ids[&job], &result, &ledger);
        }
    }
    while let Some((job, result)) = set.join_next_with_id() {
        check(ids[&job], &result, &ledger);
    }
    for id in (0..ITEMS).filter(|&id| !accepted[id]) {
        assert_eq!(ledger.runs(id), 0);
    }
    ledger
}

fn through_pipeline(pool: Pool) -> Arc<Ledger> {
    let ledger = Ledger::new(ITEMS);
    let run = Pipeline::new(payloads(&ledger))
        .stage("work", &pool, work)
        .stage("again", &pool, |id: usize| id)
        .run();
    let mut seen = 0;
    for (id, result) in run.enumerate() {
        let result = result.map_err(|e| {
            assert_eq!(e.index(), id);
            let stage = e.stage().to_owned();
            let error = e.into_error();
            if error.is_panic() {
                assert_eq!(stage, "work");
            }
            error
        });
        // An item that ran "work" and then met the closed pool at "again" is not run there.
        if let Err(e) = &result {
            if e.is_not_run() && ledger.runs(id) == 1 {
                seen += 1;
                continue;
            }
        }
        check(id, &result, &ledger);
        seen += 1;
    }
    assert_eq!(seen, ITEMS);
    ledger
}

/// Once the pool has shut down: a job a shutdown cancelled while it ran (its handle
/// resolved at once) drops its item only as it returns.
fn assert_dropped_once(path: &str, ledger: &Ledger) {
    for id in 0..ITEMS {
        let drops = ledger.drops(id);
        assert_eq!(drops, 1, "{path}: item {id} was dropped {drops} times");
    }
}

const PATHS: [&str; 4] = ["map", "map_unordered", "task set", "pipeline"];

fn run(shutdown: impl FnOnce(&Pool) -> ShutdownReport) {
    quiet_panics();
    let pool = Pool::builder()
        .min_workers(1)
        .max_workers(3)
        .keep_alive(Duration::from_millis(1))
        .queue_capacity(8)
        .build()
        .unwrap();
    let paths = [
        thread::spawn({
            let pool = pool.clone();
            move || through_map(pool)
        }),
        thread::spawn({
            let pool = pool.clone();
            move || through_map_unordered(pool)
        }),
        thread::spawn({
            let pool = pool.clone();
            move || through_task_set(pool)
        }),
        thread::spawn({
            let pool = pool.clone();
            move || through_pipeline(pool)
        }),
    ];
    // Shut down mid-stream, so that every path races the close.
    eventually("work is under way", || pool.stats().completed >= 200);
    let first = shutdown(&pool);
    let ledgers: Vec<_> = paths.into_iter().map(|p| p.join().unwrap()).collect();
    let settled = pool.shutdown();
    for (path, ledger) in PATHS.iter().zip(&ledgers) {
        assert_dropped_once(path, ledger);
    }
    assert_eq!(settled.submitted, first.submitted);
    common::assert_settled(&settled);
}

#[test]
fn composed_items_are_accounted_for_under_graceful_shutdown() {
    run(|pool| pool.shutdown());
}

#[test]
fn composed_items_are_accounted_for_under_shutdown_now() {
    run(|pool| pool.shutdown_now());
}

#[test]
fn composed_items_are_accounted_for_under_shutdown_timeout() {
    run(|pool| pool.shutdown_timeout(Duration::from_micros(200)));
}

#[test]
fn composed_items_run_exactly_once_without_a_shutdown() {
    quiet_panics();
    let pool = Pool::builder()
        .workers(2)
        .queue_capacity(8)
        .build()
        .unwrap();
    let ledgers = [
        through_map(pool.clone()),
        through_map_unordered(pool.clone()),
        through_task_set(pool.clone()),
        through_pipeline(pool.clone()),
    ];
    let report = pool.shutdown();
    for (path, ledger) in PATHS.iter().zip(&ledgers) {
        assert_dropped_once(path, ledger);
        assert!(
            (0..ITEMS).all(|id| ledger.runs(id) == 1),
            "{path}: an item never ran"
        );
    }
    assert_eq!(report.never_started + report.cancelled, 0);
    assert_eq!(report.submitted, report.completed + report.failed);
}
