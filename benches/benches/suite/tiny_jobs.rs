//! Workload 1: tiny jobs, fire and forget. Grid: 1, 2 and 4 producer threads × every
//! subject (workpool `execute`, rayon `spawn`, threadpool, rusty_pool, tokio
//! `spawn_blocking`, executors' channel and work-stealing pools, the hand-rolled crossbeam
//! pool), each pool with one worker per core and its default queue (bounded at 1024 for
//! workpool and the hand-rolled pool, unbounded for the others). One batch is 1,000,000
//! jobs (100,000 in quick mode) split evenly over the producers; each job only counts the
//! shared latch down, and the batch ends when the producer side sees the latch open. The
//! time per batch divided by the job count is the per-job overhead of submit, hand-off,
//! run and completion: what design.md §4 wants at or below the best peer.

use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use workpool_benches::{
    bench, tiny, with_subject, Kind, Latch, Section, Settings, Setup, Subject, Summary, TimingRow,
    Visit,
};

const TITLE: &str = "1. Tiny jobs, fire and forget";

pub fn run(criterion: &mut Criterion, settings: &Settings) -> Section {
    let jobs = settings.pick(1_000_000, 100_000, 1_000);
    let mut rows = Vec::new();
    for producers in [1, 2, 4] {
        let case = if producers == 1 {
            "1 producer".to_owned()
        } else {
            format!("{producers} producers")
        };
        let mut group = criterion.benchmark_group(format!("tiny_jobs_p{producers}"));
        settings.configure(&mut group);
        group.throughput(Throughput::Elements(jobs as u64));
        for kind in Kind::ALL {
            let visit = TinyJobs {
                group: &mut group,
                settings,
                jobs,
                producers,
            };
            if let Some(summary) = with_subject(kind, Setup::workers(settings.workers), visit) {
                let row = TimingRow::measured(&case, kind.label(), summary, jobs as u64);
                rows.push(row.reference_if(kind == Kind::Workpool));
            }
        }
        group.finish();
    }
    let description = format!(
        "{jobs} jobs per batch, each only counting a shared latch down, submitted by 1, 2 or \
         4 producer threads to a pool of {} workers (one per core). workpool and the \
         hand-rolled pool queue at most 1024 jobs (producers block while full); the peers \
         queue without bound. Time is per batch, from the first submit until the latch opens.",
        settings.workers
    );
    Section::timing(TITLE, description, &rows)
}

struct TinyJobs<'g, 'c> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
    settings: &'g Settings,
    jobs: usize,
    producers: usize,
}

impl Visit for TinyJobs<'_, '_> {
    type Output = Option<Summary>;

    fn visit<S: Subject>(self, kind: Kind, subject: &S) -> Option<Summary> {
        let latch = Latch::leak(0);
        let (jobs, producers) = (self.jobs, self.producers);
        bench(self.group, kind.id(), self.settings, |iters| {
            (0..iters)
                .map(|_| batch(subject, latch, jobs, producers))
                .sum()
        })
    }
}

/// Submits `jobs` tiny jobs from `producers` threads and waits for all of them.
pub fn batch<S: Subject>(
    subject: &S,
    latch: &'static Latch,
    jobs: usize,
    producers: usize,
) -> Duration {
    latch.reset(jobs);
    let start = Instant::now();
    if producers == 1 {
        for _ in 0..jobs {
            subject.spawn(move || tiny(latch));
        }
    } else {
        std::thread::scope(|scope| {
            for p in 0..producers {
                let share = jobs / producers + usize::from(p < jobs % producers);
                scope.spawn(move || {
                    for _ in 0..share {
                        subject.spawn(move || tiny(latch));
                    }
                });
            }
        });
    }
    latch.wait();
    start.elapsed()
}
