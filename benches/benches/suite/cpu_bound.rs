//! Workload 4: CPU-bound jobs. Grid: one case (one worker per core) × every subject, plus
//! the same total work split by hand over the same number of `std::thread::scope`
//! threads: the bar design.md §4 sets ("within a few percent of splitting the work by
//! hand"). Each job burns about 10 µs of arithmetic (calibrated once, on an idle core, at
//! the start of the workload) and counts the latch down; one batch is 20,000 jobs (5,000
//! in quick mode), about 200 ms of CPU. The hand split runs the same job body in a loop on
//! each thread, thread start included, and waits on the same latch.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use workpool_benches::{
    bench, burn, calibrate_burn, with_subject, Kind, Latch, Section, Settings, Setup, Subject,
    Summary, TimingRow, Visit,
};

const TITLE: &str = "4. CPU-bound 10 µs jobs vs splitting the work by hand";
const JOB: Duration = Duration::from_micros(10);

#[inline]
fn job(rounds: u64, latch: &'static Latch) {
    black_box(burn(rounds));
    latch.count_down();
}

pub fn run(criterion: &mut Criterion, settings: &Settings) -> Section {
    let jobs = settings.pick(20_000, 5_000, 20);
    let rounds = calibrate_burn(JOB);
    let workers = settings.workers;
    let case = format!("{jobs} × 10 µs");

    let mut group = criterion.benchmark_group("cpu_bound");
    settings.configure(&mut group);
    group.throughput(Throughput::Elements(jobs as u64));
    let mut measured: Vec<(Kind, Summary)> = Vec::new();
    for kind in Kind::ALL {
        let visit = CpuJobs {
            group: &mut group,
            settings,
            jobs,
            rounds,
        };
        if let Some(summary) = with_subject(kind, Setup::workers(workers), visit) {
            measured.push((kind, summary));
        }
    }
    let latch = Latch::leak(0);
    let by_hand = bench(&mut group, "hand_split", settings, |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            latch.reset(jobs);
            std::thread::scope(|scope| {
                for w in 0..workers {
                    let share = jobs / workers + usize::from(w < jobs % workers);
                    scope.spawn(move || {
                        for _ in 0..share {
                            job(rounds, latch);
                        }
                    });
                }
            });
            latch.wait();
        }
        start.elapsed()
    });
    group.finish();

    let mut rows: Vec<TimingRow> = measured
        .iter()
        .map(|&(kind, summary)| {
            let mut row = TimingRow::measured(&case, kind.label(), summary, jobs as u64);
            if let Some(hand) = by_hand {
                let over = summary.mean.as_secs_f64() / hand.mean.as_secs_f64() - 1.0;
                row = row.note(format!("{:+.1}% vs hand split", over * 100.0));
            }
            row.reference_if(kind == Kind::Workpool)
        })
        .collect();
    if let Some(hand) = by_hand {
        let label = format!("hand split over {workers} std threads (started per batch)");
        rows.push(TimingRow::measured(&case, label, hand, jobs as u64).note("the bar"));
    }
    let description = format!(
        "{jobs} jobs of ~10 µs of arithmetic each ({rounds} rounds, calibrated on this \
         machine) on {workers} workers, against the same jobs run in a loop on {workers} \
         scoped std threads (thread start included). Notes: time over the hand split."
    );
    Section::timing(TITLE, description, &rows)
}

struct CpuJobs<'g, 'c> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
    settings: &'g Settings,
    jobs: usize,
    rounds: u64,
}

impl Visit for CpuJobs<'_, '_> {
    type Output = Option<Summary>;

    fn visit<S: Subject>(self, kind: Kind, subject: &S) -> Option<Summary> {
        let latch = Latch::leak(0);
        let (jobs, rounds) = (self.jobs, self.rounds);
        bench(self.group, kind.id(), self.settings, |iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                latch.reset(jobs);
                let start = Instant::now();
                for _ in 0..jobs {
                    subject.spawn(move || job(rounds, latch));
                }
                latch.wait();
                total += start.elapsed();
            }
            total
        })
    }
}
