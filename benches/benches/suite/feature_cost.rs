//! Workload 7: what workpool's features cost. Grid: one case (the tiny-jobs batch of
//! workload 1: 1,000,000 jobs, 100,000 in quick mode, one producer, one worker per core)
//! × the workpool configurations in [`Variant::ALL`], plus the hand-rolled pool as the
//! floor of a pool with no features at all. design.md §4: "a pool that uses none of them
//! must not pay for them".
//!
//! Variants that exist today: workpool's engine has no switch for its metrics (they are
//! always on), so there are two workpool rows: `metrics on` (the default build, which is
//! every build today) and `metrics on, stats() read every 1 ms` (the same pool while
//! another thread reads `Pool::stats()` a thousand times a second, the cost of someone
//! actually looking). Once `Builder` grows an option (metrics off, priorities, rate
//! limits), it becomes one more `Variant` with its line in `Variant::build`, and its row
//! lands in this table next to `metrics on`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use workpool::Pool;
use workpool_benches::{
    bench, start_all_workers, tiny, HandrolledPool, Latch, Section, Settings, Subject, TimingRow,
    WorkpoolSubject,
};

const TITLE: &str = "7. Cost of features: workpool configurations vs a featureless pool";
const STATS_EVERY: Duration = Duration::from_millis(1);

/// A workpool configuration to compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// The default build: metrics on (today they cannot be turned off).
    MetricsOn,
    /// The default build while another thread reads `stats()` every millisecond.
    MetricsOnPolled,
}

impl Variant {
    const ALL: [Variant; 2] = [Variant::MetricsOn, Variant::MetricsOnPolled];

    fn id(self) -> &'static str {
        match self {
            Variant::MetricsOn => "workpool_metrics_on",
            Variant::MetricsOnPolled => "workpool_metrics_on_polled",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Variant::MetricsOn => "workpool, metrics on (default)",
            Variant::MetricsOnPolled => "workpool, metrics on, stats() read every 1 ms",
        }
    }

    /// The pool for this variant: the place a later `Builder` option plugs in.
    fn build(self, workers: usize) -> Pool {
        let builder = Pool::builder().workers(workers);
        match self {
            Variant::MetricsOn | Variant::MetricsOnPolled => builder,
        }
        .build()
        .expect("build a workpool")
    }

    fn polls_stats(self) -> bool {
        self == Variant::MetricsOnPolled
    }
}

pub fn run(criterion: &mut Criterion, settings: &Settings) -> Section {
    let jobs = settings.pick(1_000_000, 100_000, 1_000);
    let workers = settings.workers;
    let case = format!("{jobs} tiny jobs");
    let mut group = criterion.benchmark_group("feature_cost");
    settings.configure(&mut group);
    group.throughput(Throughput::Elements(jobs as u64));
    let mut rows = Vec::new();

    for variant in Variant::ALL {
        let pool = WorkpoolSubject(variant.build(workers));
        start_all_workers(&pool, workers);
        let latch = Latch::leak(0);
        let summary = bench(&mut group, variant.id(), settings, |iters| {
            (0..iters)
                .map(|_| {
                    if variant.polls_stats() {
                        with_stats_reader(&pool.0, || batch(&pool, latch, jobs))
                    } else {
                        batch(&pool, latch, jobs)
                    }
                })
                .sum()
        });
        pool.shutdown();
        if let Some(summary) = summary {
            let row = TimingRow::measured(&case, variant.label(), summary, jobs as u64);
            rows.push(row.reference_if(variant == Variant::MetricsOn));
        }
    }

    let floor = HandrolledPool::new(workers, workpool::DEFAULT_QUEUE_CAPACITY);
    let latch = Latch::leak(0);
    let summary = bench(&mut group, "handrolled_floor", settings, |iters| {
        (0..iters)
            .map(|_| {
                latch.reset(jobs);
                let start = Instant::now();
                for _ in 0..jobs {
                    floor.execute(move || tiny(latch));
                }
                latch.wait();
                start.elapsed()
            })
            .sum()
    });
    drop(floor);
    group.finish();
    if let Some(summary) = summary {
        rows.push(
            TimingRow::measured(
                &case,
                "hand-rolled pool (no features: the floor)",
                summary,
                jobs as u64,
            )
            .note("threads over crossbeam bounded(1024), one Box per job"),
        );
    }

    let description = format!(
        "{jobs} tiny jobs from one producer on {workers} workers, queue bound 1024 for all. \
         Variants that exist today: metrics on (always, no switch yet) with and without a \
         reader of stats() every 1 ms; the hand-rolled pool is the featureless floor. \
         \"vs workpool\" compares with the default build."
    );
    Section::timing(TITLE, description, &rows)
}

fn batch(pool: &WorkpoolSubject, latch: &'static Latch, jobs: usize) -> Duration {
    latch.reset(jobs);
    let start = Instant::now();
    for _ in 0..jobs {
        pool.spawn(move || tiny(latch));
    }
    latch.wait();
    start.elapsed()
}

/// Runs `f` while another thread reads `pool.stats()` every [`STATS_EVERY`].
fn with_stats_reader<R>(pool: &Pool, f: impl FnOnce() -> R) -> R {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                std::hint::black_box(pool.stats());
                std::thread::sleep(STATS_EVERY);
            }
        });
        let out = f();
        stop.store(true, Ordering::Relaxed);
        out
    })
}
