//! Workload 8: a parallel map collected into a `Vec`. Grid: two cases (one worker per core)
//! × workpool's `Pool::map` (input order) and `Pool::map_unordered`, each collected with
//! `collect::<Result<Vec<u64>, _>>()`, against rayon's
//! `(0..n).into_par_iter().map(..).collect::<Vec<u64>>()` inside `ThreadPool::install`, and
//! the same map and collect on one thread for scale. One batch maps 1,000,000 items (100,000
//! in quick mode) through `typed(i)`, a few arithmetic instructions; every result vector is
//! checked (outside the timing) against the expected one, so a lost, repeated or misplaced
//! item fails the run. The bar (issue #17): workpool's `map` within 2× rayon's time. The
//! second case maps 100,000 items (10,000 in quick mode) of about 250 ns each (`medium(i)`,
//! 200 dependent multiply-adds), where the pool's workers, not moving memory, should set
//! the pace.
//!
//! The shapes differ in a way that matters here: rayon splits the range itself and writes
//! each result into its place in the output, on its workers; `Pool::map` is a lazy iterator
//! over any input, so the calling thread pulls every item and takes every result, handing
//! items to the workers and results back through per-chunk slots.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use rayon::prelude::*;
use workpool_benches::{
    bench, start_all_workers, typed, RayonSubject, Section, Settings, Setup, Subject, Summary,
    TimingRow, WorkpoolSubject,
};

const TITLE: &str = "8. Parallel map collected into a Vec";

/// About 250 ns of arithmetic that the compiler cannot fold away.
fn medium(i: u64) -> u64 {
    let mut x = i;
    for _ in 0..200 {
        x = black_box(
            x.wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407),
        );
    }
    x
}

pub fn run(criterion: &mut Criterion, settings: &Settings) -> Section {
    let mut rows = Vec::new();
    let tiny = settings.pick(1_000_000, 100_000, 1_000) as u64;
    rows.extend(case(
        criterion,
        settings,
        "map_collect",
        tiny,
        typed,
        "tiny",
    ));
    let fewer = settings.pick(100_000, 10_000, 1_000) as u64;
    rows.extend(case(
        criterion,
        settings,
        "map_collect_250ns",
        fewer,
        medium,
        "~250 ns",
    ));
    let description = format!(
        "Items mapped per batch through a few arithmetic instructions (`typed(i)`, tiny) or \
         about 250 ns of them (`medium(i)`), on {} workers: workpool's lazy `Pool::map` \
         (default window and chunking) and rayon's indexed parallel iterator, each \
         collecting every result into a `Vec<u64>`; the results are checked. Notes: time \
         over rayon's.",
        settings.workers
    );
    Section::timing(TITLE, description, &rows)
}

/// One case: `items` items through `f`, every subject.
fn case(
    criterion: &mut Criterion,
    settings: &Settings,
    group_name: &str,
    items: u64,
    f: fn(u64) -> u64,
    size: &str,
) -> Vec<TimingRow> {
    let in_order: Vec<u64> = (0..items).map(f).collect();
    let mut sorted = in_order.clone();
    sorted.sort_unstable();
    let (expected, sorted) = (Expected::InOrder(&in_order), Expected::Sorted(&sorted));
    let setup = Setup::workers(settings.workers);
    let case = format!("{items} {size} items");

    let mut group = criterion.benchmark_group(group_name);
    settings.configure(&mut group);
    group.throughput(Throughput::Elements(items));

    let pool = WorkpoolSubject::build(setup);
    start_all_workers(&pool, setup.workers);
    let ordered = measure(&mut group, settings, "workpool_map", &expected, || {
        pool.0
            .map(0..items, f)
            .collect::<Result<Vec<u64>, _>>()
            .expect("no item fails")
    });
    let unordered = measure(
        &mut group,
        settings,
        "workpool_map_unordered",
        &sorted,
        || {
            pool.0
                .map_unordered(0..items, f)
                .collect::<Result<Vec<u64>, _>>()
                .expect("no item fails")
        },
    );
    pool.shutdown();

    let rayon = RayonSubject::build(setup);
    start_all_workers(&rayon, setup.workers);
    let rayon_row = measure(
        &mut group,
        settings,
        "rayon_par_iter_collect",
        &expected,
        || {
            rayon
                .0
                .install(|| (0..items).into_par_iter().map(f).collect::<Vec<u64>>())
        },
    );
    rayon.shutdown();

    let serial = measure(&mut group, settings, "one_thread", &expected, || {
        (0..items).map(f).collect::<Vec<u64>>()
    });
    group.finish();

    let mut rows = Vec::new();
    let ratio = |summary: Summary| match rayon_row {
        Some(r) => format!(
            "{:.2}× rayon",
            summary.mean.as_secs_f64() / r.mean.as_secs_f64()
        ),
        None => String::new(),
    };
    if let Some(s) = ordered {
        let row = TimingRow::measured(
            &case,
            "workpool map, collect::<Result<Vec<_>, _>>",
            s,
            items,
        );
        rows.push(row.note(format!("{} (bar: 2×)", ratio(s))).reference());
    }
    if let Some(s) = unordered {
        let label = "workpool map_unordered, collect::<Result<Vec<_>, _>>";
        rows.push(TimingRow::measured(&case, label, s, items).note(ratio(s)));
    }
    if let Some(s) = rayon_row {
        let label = "rayon into_par_iter().map().collect::<Vec<_>>()";
        rows.push(TimingRow::measured(&case, label, s, items));
    }
    if let Some(s) = serial {
        let label = "one thread: (0..n).map().collect::<Vec<_>>()";
        rows.push(TimingRow::measured(&case, label, s, items).note(ratio(s)));
    }
    rows
}

/// Benchmarks `batch` (which returns the collected results) and checks them, outside the
/// timing: against `expected` as they come, or, when `expected` is sorted, once sorted
/// (results in completion order).
fn measure(
    group: &mut BenchmarkGroup<'_, WallTime>,
    settings: &Settings,
    id: &str,
    expected: &Expected<'_>,
    mut batch: impl FnMut() -> Vec<u64>,
) -> Option<Summary> {
    bench(group, id, settings, |iters| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            let mut out = black_box(batch());
            total += start.elapsed();
            let want = match expected {
                Expected::InOrder(want) => want,
                Expected::Sorted(want) => {
                    out.sort_unstable();
                    want
                }
            };
            assert!(
                out == *want,
                "{id}: a result was lost, repeated or misplaced"
            );
        }
        total
    })
}

/// The results a batch must give.
enum Expected<'a> {
    /// In input order.
    InOrder(&'a [u64]),
    /// In any order: sorted, to compare with the batch's results once sorted.
    Sorted(&'a [u64]),
}
