//! Workload 2: typed results. Grid: one case (1 producer, one worker per core) × the
//! subjects that hand back a typed result: workpool `submit` → `Task<u64>` then `wait` on
//! every handle; rusty_pool `evaluate` → `JoinHandle` then `await_complete`; tokio
//! `spawn_blocking` → `JoinHandle` awaited in order inside one `block_on`; and, as the
//! baseline shape with no handle at all, a rayon `scope` whose jobs write into their own
//! `Vec` slot. One batch submits 1,000,000 jobs (100,000 in quick mode) returning
//! `typed(i)`, then collects every result; the sum is checked against the expected one, so
//! a lost or repeated result fails the run. The handles' own completion is the signal here
//! (no latch): what is measured is the price of a typed handle per job.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use workpool_benches::{
    bench, start_all_workers, typed, RayonSubject, RustyPoolSubject, Section, Settings, Setup,
    Subject, Summary, TimingRow, TokioSubject, WorkpoolSubject,
};

const TITLE: &str = "2. Typed results: submit, then wait every handle";

pub fn run(criterion: &mut Criterion, settings: &Settings) -> Section {
    let jobs = settings.pick(1_000_000, 100_000, 1_000) as u64;
    let expected = (0..jobs).map(typed).fold(0, u64::wrapping_add);
    let setup = Setup::workers(settings.workers);
    let case = format!("{jobs} results");

    let mut group = criterion.benchmark_group("typed_results");
    settings.configure(&mut group);
    group.throughput(Throughput::Elements(jobs));
    let mut rows = Vec::new();
    let mut push = |label: &str, summary: Option<Summary>, reference: bool| {
        if let Some(summary) = summary {
            let row = TimingRow::measured(&case, label, summary, jobs);
            rows.push(row.reference_if(reference));
        }
    };

    let pool = WorkpoolSubject::build(setup);
    start_all_workers(&pool, setup.workers);
    let summary = measure(
        &mut group,
        settings,
        "workpool_submit_wait",
        expected,
        || {
            let tasks: Vec<_> = (0..jobs)
                .map(|i| pool.0.submit(move || typed(i)).expect("the pool is open"))
                .collect();
            tasks
                .into_iter()
                .map(|t| t.wait().expect("the job ran"))
                .fold(0, u64::wrapping_add)
        },
    );
    pool.shutdown();
    push("workpool submit + Task::wait", summary, true);

    let pool = RustyPoolSubject::build(setup);
    start_all_workers(&pool, setup.workers);
    let summary = measure(
        &mut group,
        settings,
        "rusty_pool_evaluate",
        expected,
        || {
            let handles: Vec<_> = (0..jobs)
                .map(|i| pool.0.evaluate(move || typed(i)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.await_complete())
                .fold(0, u64::wrapping_add)
        },
    );
    pool.shutdown();
    push("rusty_pool evaluate + await_complete", summary, false);

    let runtime = TokioSubject::build(setup);
    start_all_workers(&runtime, setup.workers);
    let summary = measure(
        &mut group,
        settings,
        "tokio_spawn_blocking",
        expected,
        || {
            let handles: Vec<_> = (0..jobs)
                .map(|i| runtime.0.spawn_blocking(move || typed(i)))
                .collect();
            runtime.0.block_on(async move {
                let mut sum = 0u64;
                for handle in handles {
                    sum = sum.wrapping_add(handle.await.expect("the job ran"));
                }
                sum
            })
        },
    );
    runtime.shutdown();
    push("tokio spawn_blocking + block_on(await)", summary, false);

    let pool = RayonSubject::build(setup);
    start_all_workers(&pool, setup.workers);
    let summary = measure(&mut group, settings, "rayon_scope_slots", expected, || {
        let mut slots = vec![0u64; jobs as usize];
        pool.0.scope(|scope| {
            for (i, slot) in slots.iter_mut().enumerate() {
                scope.spawn(move |_| *slot = typed(i as u64));
            }
        });
        slots.into_iter().fold(0, u64::wrapping_add)
    });
    pool.shutdown();
    push(
        "rayon scope writing Vec slots (baseline shape)",
        summary,
        false,
    );

    group.finish();
    let description = format!(
        "{jobs} jobs per batch returning a u64, submitted from one thread to {} workers; \
         the batch ends when every result has been collected through its handle (rayon: \
         when the scope ends). Results are checked.",
        settings.workers
    );
    Section::timing(TITLE, description, &rows)
}

/// Benchmarks `batch` (which returns the sum of the results) and checks its sum.
fn measure(
    group: &mut BenchmarkGroup<'_, WallTime>,
    settings: &Settings,
    id: &str,
    expected: u64,
    mut batch: impl FnMut() -> u64,
) -> Option<Summary> {
    bench(group, id, settings, |iters| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            let sum = batch();
            total += start.elapsed();
            assert_eq!(
                black_box(sum),
                expected,
                "{id}: a result was lost or repeated"
            );
        }
        total
    })
}
