//! Workload 5: blocking jobs. Grid: one case (64 workers on the 2 cores) × every subject,
//! plus 64 scoped std threads each running its share of the jobs in a loop, plus the
//! computed ideal. Each job sleeps 1 ms (`thread::sleep` is the workload here: it stands
//! for a blocking call) and counts the latch down; one batch is 1,280 jobs (640 in quick
//! mode), so the ideal is jobs / 64 × 1 ms = 20 ms (10 ms). The measured hand split shows
//! what the OS's sleep granularity leaves of that ideal; a pool's distance from it is the
//! cost of handing out blocking work to many threads. One more row measures the floor no
//! pool can beat: one thread sleeping one worker's share of the jobs (20 × 1 ms) in a row.

use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use workpool_benches::{
    bench, fmt_duration, with_subject, Kind, Latch, Section, Settings, Setup, Subject, Summary,
    TimingRow, Visit,
};

const TITLE: &str = "5. Blocking 1 ms jobs on 64 workers vs the ideal";
const WORKERS: usize = 64;
const SLEEP: Duration = Duration::from_millis(1);

#[inline]
fn job(latch: &'static Latch) {
    std::thread::sleep(SLEEP);
    latch.count_down();
}

pub fn run(criterion: &mut Criterion, settings: &Settings) -> Section {
    let jobs = settings.pick(1_280, 640, 64);
    let ideal = SLEEP * u32::try_from(jobs.div_ceil(WORKERS)).unwrap_or(u32::MAX);
    let case = format!("{jobs} × 1 ms, {WORKERS} workers");

    let mut group = criterion.benchmark_group("blocking");
    settings.configure(&mut group);
    group.throughput(Throughput::Elements(jobs as u64));
    let mut rows = Vec::new();
    let vs_ideal = |t: Duration| format!("{:.2}× ideal", t.as_secs_f64() / ideal.as_secs_f64());
    for kind in Kind::ALL {
        let visit = BlockingJobs {
            group: &mut group,
            settings,
            jobs,
        };
        if let Some(summary) = with_subject(kind, Setup::workers(WORKERS), visit) {
            let row = TimingRow::measured(&case, kind.label(), summary, jobs as u64)
                .note(vs_ideal(summary.mean));
            rows.push(row.reference_if(kind == Kind::Workpool));
        }
    }
    let share = jobs.div_ceil(WORKERS);
    let floor = bench(&mut group, "one_share_sleeping", settings, |iters| {
        let start = Instant::now();
        for _ in 0..iters * share as u64 {
            std::thread::sleep(SLEEP);
        }
        start.elapsed()
    });
    let latch = Latch::leak(0);
    let by_hand = bench(&mut group, "hand_split", settings, |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            latch.reset(jobs);
            std::thread::scope(|scope| {
                for w in 0..WORKERS {
                    let share = jobs / WORKERS + usize::from(w < jobs % WORKERS);
                    scope.spawn(move || {
                        for _ in 0..share {
                            job(latch);
                        }
                    });
                }
            });
            latch.wait();
        }
        start.elapsed()
    });
    group.finish();

    if let Some(hand) = by_hand {
        let label = format!("hand split over {WORKERS} std threads (started per batch)");
        rows.push(TimingRow::measured(&case, label, hand, jobs as u64).note(vs_ideal(hand.mean)));
    }
    if let Some(floor) = floor {
        let label = format!("one thread sleeping one worker's share ({share} × 1 ms) in a row");
        let note = format!("{}: the floor for any pool", vs_ideal(floor.mean));
        rows.push(TimingRow::measured(&case, label, floor, jobs as u64).note(note));
    }
    if !rows.is_empty() {
        rows.push(TimingRow {
            case: case.clone(),
            subject: "ideal: jobs / 64 × 1 ms".to_owned(),
            reference: false,
            time: ideal,
            spread: None,
            jobs: jobs as u64,
            note: "computed, not measured".to_owned(),
        });
    }
    let description = format!(
        "{jobs} jobs that each sleep 1 ms, on pools of {WORKERS} workers (tokio: a blocking \
         pool capped at {WORKERS}); the ideal is {} (every worker busy all the time, zero \
         overhead). The hand split runs the same jobs on {WORKERS} scoped std threads. The \
         floor row is one thread sleeping one worker's share of the jobs in a row: how long \
         the sleeps alone take on this machine.",
        fmt_duration(ideal)
    );
    Section::timing(TITLE, description, &rows)
}

struct BlockingJobs<'g, 'c> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
    settings: &'g Settings,
    jobs: usize,
}

impl Visit for BlockingJobs<'_, '_> {
    type Output = Option<Summary>;

    fn visit<S: Subject>(self, kind: Kind, subject: &S) -> Option<Summary> {
        let latch = Latch::leak(0);
        let jobs = self.jobs;
        bench(self.group, kind.id(), self.settings, |iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                latch.reset(jobs);
                let start = Instant::now();
                for _ in 0..jobs {
                    subject.spawn(move || job(latch));
                }
                latch.wait();
                total += start.elapsed();
            }
            total
        })
    }
}
