//! Workload 7: what workpool's features cost. Grid: one case (the tiny-jobs batch of
//! workload 1: 1,000,000 jobs, 100,000 in quick mode, one producer, one worker per core)
//! × the workpool configurations in [`Variant::ALL`], plus the hand-rolled pool as the
//! floor of a pool with no features at all. design.md §4: "a pool that uses none of them
//! must not pay for them".
//!
//! The reference is the plain pool: `execute`, latency metrics off, no rate limit, no
//! priorities. Each other row turns one feature on (latency metrics, the default; a
//! pool-wide rate limit set to unlimited; jobs queued at three priority levels with
//! `execute_with_priority`), and the all-features row turns them all on at once. One more
//! row reads `stats()` every millisecond from another thread while the default pool runs,
//! the cost of someone actually looking; another spawns the prioritized jobs as `Job`s
//! with handles, which adds the cost of a result cell per job (workload 2's) to the
//! priorities'.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use workpool::{Job, JobContext, Pool, Priority, RateLimit};
use workpool_benches::{
    bench, start_all_workers, tiny, HandrolledPool, Latch, Section, Settings, Subject, TimingRow,
    WorkpoolSubject,
};

const TITLE: &str = "7. Cost of features: workpool configurations vs a featureless pool";
const STATS_EVERY: Duration = Duration::from_millis(1);

/// A workpool configuration to compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// `execute` on a pool with latency metrics off: the reference.
    Plain,
    /// The default build: latency metrics on.
    MetricsOn,
    /// The default build while another thread reads `stats()` every millisecond.
    MetricsOnPolled,
    /// Latency metrics off, a pool-wide rate limit of `RateLimit::unlimited()`.
    UnlimitedRate,
    /// Latency metrics off, every job queued with `execute_with_priority` at LOW, NORMAL
    /// and HIGH in turn.
    Priorities,
    /// Like `Priorities`, each job spawned as a `Job` with a handle (dropped).
    PrioritiesSpawned,
    /// Latency metrics on, the unlimited rate limit, and priorities.
    AllOn,
}

impl Variant {
    const ALL: [Variant; 7] = [
        Variant::Plain,
        Variant::MetricsOn,
        Variant::MetricsOnPolled,
        Variant::UnlimitedRate,
        Variant::Priorities,
        Variant::PrioritiesSpawned,
        Variant::AllOn,
    ];

    fn id(self) -> &'static str {
        match self {
            Variant::Plain => "workpool_plain",
            Variant::MetricsOn => "workpool_metrics_on",
            Variant::MetricsOnPolled => "workpool_metrics_on_polled",
            Variant::UnlimitedRate => "workpool_unlimited_rate",
            Variant::Priorities => "workpool_priorities",
            Variant::PrioritiesSpawned => "workpool_priorities_spawned",
            Variant::AllOn => "workpool_all_features",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Variant::Plain => "workpool plain (execute, latency metrics off)",
            Variant::MetricsOn => "workpool, latency metrics on (the default)",
            Variant::MetricsOnPolled => "workpool, latency metrics on, stats() read every 1 ms",
            Variant::UnlimitedRate => "workpool, rate limit set to unlimited",
            Variant::Priorities => "workpool, jobs at 3 priority levels",
            Variant::PrioritiesSpawned => {
                "workpool, jobs at 3 priority levels, spawned with handles (dropped)"
            }
            Variant::AllOn => "workpool, all of them: metrics, unlimited rate, priorities",
        }
    }

    fn build(self, workers: usize) -> Pool {
        let builder = Pool::builder().workers(workers);
        let builder = match self {
            Variant::Plain | Variant::Priorities | Variant::PrioritiesSpawned => {
                builder.latency_metrics(false)
            }
            Variant::UnlimitedRate => builder
                .latency_metrics(false)
                .rate_limit(RateLimit::unlimited()),
            Variant::MetricsOn | Variant::MetricsOnPolled => builder,
            Variant::AllOn => builder.rate_limit(RateLimit::unlimited()),
        };
        builder.build().expect("build a workpool")
    }

    fn polls_stats(self) -> bool {
        self == Variant::MetricsOnPolled
    }

    fn uses_priorities(self) -> bool {
        matches!(self, Variant::Priorities | Variant::AllOn)
    }

    fn spawns_jobs(self) -> bool {
        self == Variant::PrioritiesSpawned
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
                    } else if variant.uses_priorities() {
                        prioritized_batch(&pool.0, latch, jobs)
                    } else if variant.spawns_jobs() {
                        spawned_batch(&pool.0, latch, jobs)
                    } else {
                        batch(&pool, latch, jobs)
                    }
                })
                .sum()
        });
        pool.shutdown();
        if let Some(summary) = summary {
            let row = TimingRow::measured(&case, variant.label(), summary, jobs as u64);
            rows.push(row.reference_if(variant == Variant::Plain));
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
         The reference is the plain pool (execute, latency metrics off); each row below it \
         turns on one feature, and the all-features row turns on every one. Priorities \
         mean every job is queued with execute_with_priority at LOW, NORMAL or HIGH in \
         turn; the \"spawned with handles\" row queues the same jobs as Jobs through \
         Pool::spawn, a result cell and a handle (dropped) per job, which is workload 2's \
         cost on top. The hand-rolled pool is the featureless floor. \
         \"vs workpool\" compares with the plain pool; the target is at least 0.7x its \
         throughput for the all-features row, that is a ratio of at most 1.43."
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

const LEVELS: [Priority; 3] = [Priority::LOW, Priority::NORMAL, Priority::HIGH];

/// Like [`batch`], with every job queued at LOW, NORMAL or HIGH in turn.
fn prioritized_batch(pool: &Pool, latch: &'static Latch, jobs: usize) -> Duration {
    latch.reset(jobs);
    let start = Instant::now();
    for i in 0..jobs {
        pool.execute_with_priority(LEVELS[i % 3], move || tiny(latch))
            .expect("workpool refused a job: the pool is shut down");
    }
    latch.wait();
    start.elapsed()
}

/// Like [`prioritized_batch`], with every job spawned as a [`Job`] with a handle.
fn spawned_batch(pool: &Pool, latch: &'static Latch, jobs: usize) -> Duration {
    latch.reset(jobs);
    let start = Instant::now();
    for i in 0..jobs {
        let job = Job::new(move |_: &JobContext| {
            tiny(latch);
            Ok::<(), ()>(())
        })
        .priority(LEVELS[i % 3]);
        // The handle is dropped: like `execute`, nobody waits for the result.
        drop(
            pool.spawn(job)
                .expect("workpool refused a job: the pool is shut down"),
        );
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
