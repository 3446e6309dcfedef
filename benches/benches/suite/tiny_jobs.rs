//! Workload 1: tiny jobs, fire and forget, over the closure-size grid (issue #18). Grid:
//! closures capturing 8, 24, 64 and 256 bytes × 1, 2 and 4 producer threads × every
//! subject (workpool `execute`, rayon `spawn`, threadpool, rusty_pool, tokio
//! `spawn_blocking`, executors' channel and work-stealing pools, the hand-rolled crossbeam
//! pool), each pool with one worker per core and its default queue (bounded at 1024 for
//! workpool and the hand-rolled pool, unbounded for the others).
//!
//! Every job counts the shared latch down; what varies is what its closure carries besides
//! the `&'static Latch`: nothing (8 bytes), two words (24 bytes: a reference and two words,
//! the size of a `String`, or of an `Arc` and an index, and a reference), seven words
//! (64 bytes, a small struct) or 31 words (256 bytes, a small array). The job reads its
//! words through `black_box`, so the closure really carries them. The producer builds each
//! closure from the job's index, so nothing is shared or cached between jobs.
//!
//! One batch is 200,000 jobs (50,000 in quick mode) split evenly over the producers, with
//! shorter criterion times than the other workloads: 96 cells at the suite's usual 4 s or
//! more each would take over 7 minutes; at these settings the grid took 4.5 on 2 cores. The
//! batch ends when the producer side sees the latch open; its time divided by the job
//! count is the per-job overhead of submit, hand-off, run and completion.
//!
//! workpool's row of each cell notes its speed-up over the best library peer (rayon,
//! threadpool, rusty_pool, tokio, executors) and over the hand-rolled pool: the ratios the
//! issue's targets are stated in.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use workpool_benches::{
    bench, tiny, with_subject, Kind, Latch, Section, Settings, Setup, Subject, Summary, TimingRow,
    Visit,
};

const TITLE: &str = "1. Tiny jobs, fire and forget, by closure size";

/// Closure sizes in bytes: the latch reference plus `(size - 8) / 8` words.
pub const SIZES: [usize; 4] = [8, 24, 64, 256];
/// Producer threads.
pub const PRODUCERS: [usize; 3] = [1, 2, 4];

pub fn run(criterion: &mut Criterion, settings: &Settings) -> Section {
    let jobs = settings.pick(200_000, 50_000, 1_000);
    // The bench target has no test harness: the grid checks its own closures.
    let latch = Latch::leak(0);
    let sizes = [
        std::mem::size_of_val(&job::<0>(latch, 0)),
        std::mem::size_of_val(&job::<2>(latch, 0)),
        std::mem::size_of_val(&job::<7>(latch, 0)),
        std::mem::size_of_val(&job::<31>(latch, 0)),
    ];
    assert_eq!(sizes, SIZES, "the grid's closures capture what it says");
    let mut rows = Vec::new();
    for bytes in SIZES {
        for producers in PRODUCERS {
            let case = match producers {
                1 => format!("{bytes} B, 1 producer"),
                n => format!("{bytes} B, {n} producers"),
            };
            let mut group = criterion.benchmark_group(format!("tiny_jobs_b{bytes}_p{producers}"));
            settings.configure(&mut group);
            if settings.measuring() {
                group
                    .warm_up_time(settings.warm_up_time() / 2)
                    .measurement_time(settings.measurement_time() / 2);
            }
            group.throughput(Throughput::Elements(jobs as u64));
            let mut cell = Vec::new();
            for kind in Kind::ALL {
                let visit = TinyJobs {
                    group: &mut group,
                    settings,
                    jobs,
                    producers,
                    bytes,
                };
                if let Some(summary) = with_subject(kind, Setup::workers(settings.workers), visit) {
                    cell.push((kind, summary));
                }
            }
            group.finish();
            rows.extend(cell_rows(&case, &cell, jobs));
        }
    }
    let description = format!(
        "{jobs} jobs per batch, each counting a shared latch down, its closure capturing 8, \
         24, 64 or 256 bytes (the latch reference plus padding words it reads), submitted by \
         1, 2 or 4 producer threads to a pool of {} workers (one per core). workpool and the \
         hand-rolled pool queue at most 1024 jobs (producers block while full); the peers \
         queue without bound. Time is per batch, from the first submit until the latch opens. \
         workpool's note: how many times faster it is than the best library peer and than the \
         hand-rolled pool in that cell.",
        settings.workers
    );
    Section::timing(TITLE, description, &rows)
}

/// The rows of one cell, workpool's noting its speed-ups.
fn cell_rows(case: &str, cell: &[(Kind, Summary)], jobs: usize) -> Vec<TimingRow> {
    let time = |kind: Kind| cell.iter().find(|(k, _)| *k == kind).map(|(_, s)| s.mean);
    let best_peer = cell
        .iter()
        .filter(|(k, _)| !matches!(k, Kind::Workpool | Kind::Handrolled))
        .min_by_key(|(_, s)| s.mean);
    let note = match (time(Kind::Workpool), best_peer, time(Kind::Handrolled)) {
        (Some(ours), Some((peer, theirs)), Some(hand)) if !ours.is_zero() => format!(
            "{:.2}× best peer ({}), {:.2}× hand-rolled",
            theirs.mean.as_secs_f64() / ours.as_secs_f64(),
            peer.id(),
            hand.as_secs_f64() / ours.as_secs_f64()
        ),
        _ => String::new(),
    };
    cell.iter()
        .map(|&(kind, summary)| {
            let row = TimingRow::measured(case, kind.label(), summary, jobs as u64);
            match kind {
                Kind::Workpool => row.reference().note(note.clone()),
                _ => row,
            }
        })
        .collect()
}

struct TinyJobs<'g, 'c> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
    settings: &'g Settings,
    jobs: usize,
    producers: usize,
    bytes: usize,
}

impl Visit for TinyJobs<'_, '_> {
    type Output = Option<Summary>;

    fn visit<S: Subject>(self, kind: Kind, subject: &S) -> Option<Summary> {
        let latch = Latch::leak(0);
        let (jobs, producers) = (self.jobs, self.producers);
        let routine = |iters: u64| -> Duration {
            (0..iters)
                .map(|_| match self.bytes {
                    8 => batch::<S, 0>(subject, latch, jobs, producers),
                    24 => batch::<S, 2>(subject, latch, jobs, producers),
                    64 => batch::<S, 7>(subject, latch, jobs, producers),
                    256 => batch::<S, 31>(subject, latch, jobs, producers),
                    other => unreachable!("no closure of {other} bytes in the grid"),
                })
                .sum()
        };
        bench(self.group, kind.id(), self.settings, routine)
    }
}

/// The job of the grid: counts `latch` down, carrying `WORDS` words besides it, so its
/// closure is `8 + 8 × WORDS` bytes.
#[inline]
pub fn job<const WORDS: usize>(latch: &'static Latch, index: usize) -> impl FnOnce() + Send {
    let words = [index as u64; WORDS];
    move || {
        black_box(&words);
        tiny(latch);
    }
}

/// Submits `jobs` jobs of `8 + 8 × WORDS` bytes from `producers` threads and waits for all
/// of them.
pub fn batch<S: Subject, const WORDS: usize>(
    subject: &S,
    latch: &'static Latch,
    jobs: usize,
    producers: usize,
) -> Duration {
    latch.reset(jobs);
    let start = Instant::now();
    if producers == 1 {
        for i in 0..jobs {
            subject.spawn(job::<WORDS>(latch, i));
        }
    } else {
        std::thread::scope(|scope| {
            for p in 0..producers {
                let share = jobs / producers + usize::from(p < jobs % producers);
                scope.spawn(move || {
                    for i in 0..share {
                        subject.spawn(job::<WORDS>(latch, i));
                    }
                });
            }
        });
    }
    latch.wait();
    start.elapsed()
}
