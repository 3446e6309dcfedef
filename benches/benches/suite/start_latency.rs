//! Workload 3: start latency on an idle pool. Grid: two cases × every subject (one worker
//! per core), plus workpool waiting on its own `Task` instead of the latch. "back-to-back":
//! submit one job, wait for it, repeat at once, inside criterion's `iter_custom`; every
//! round trip goes into an HDR histogram, and the report takes p50, p99 and the mean over
//! the measurement samples (criterion's warm-up calls are dropped). This is the path a
//! pool's "spin briefly before parking" serves. "after 2 ms idle": the same round trip,
//! but each one starts after the pool has sat idle for 2 ms, long enough for the workers
//! of every pool here to park; timed by a plain loop (a fixed number of round trips),
//! because criterion would count the idle gaps into its time budget. The time column is
//! the p50; the ratio compares p50s. A last back-to-back row has no pool at all: two
//! threads handing a counter back and forth, each spinning on it. Every pool's round trip
//! makes at least those two hand-offs, so that row is the floor on this machine.

use std::hint::{black_box, spin_loop};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use hdrhistogram::Histogram;
use workpool_benches::{
    bench, fmt_duration, start_all_workers, with_subject, Kind, Latch, Section, Settings, Setup,
    Subject, TimingRow, Visit, WorkpoolSubject,
};

const TITLE: &str = "3. Start latency on an idle pool (submit one job, wait, repeat)";
const IDLE_GAP: Duration = Duration::from_millis(2);
const WORKPOOL_TASK: &str = "workpool submit + Task::wait";
const PING_PONG: &str = "floor: two spinning threads hand a counter back and forth (no pool)";

pub fn run(criterion: &mut Criterion, settings: &Settings) -> Section {
    let setup = Setup::workers(settings.workers);
    let parked_rounds = settings.pick(400, 100, 3);
    let mut rows = Vec::new();

    let mut group = criterion.benchmark_group("start_latency");
    settings.configure(&mut group);
    for kind in Kind::ALL {
        let visit = BackToBack {
            group: &mut group,
            settings,
        };
        if let Some(hist) = with_subject(kind, setup, visit) {
            rows.push(row(
                "back-to-back",
                kind.label(),
                &hist,
                kind == Kind::Workpool,
            ));
        }
    }
    // workpool's own handle as the completion signal, for comparison with the latch.
    let pool = WorkpoolSubject::build(setup);
    start_all_workers(&pool, setup.workers);
    let mut calls = Vec::new();
    let ran = bench(&mut group, "workpool_task_wait", settings, |iters| {
        let mut hist = histogram();
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            let task = pool.0.submit(|| black_box(1u64)).expect("the pool is open");
            task.wait().expect("the job ran");
            let elapsed = start.elapsed();
            record(&mut hist, elapsed);
            total += elapsed;
        }
        calls.push(hist);
        total
    });
    pool.shutdown();
    if ran.is_some() {
        rows.push(row(
            "back-to-back",
            WORKPOOL_TASK,
            &merge_last(&calls, settings.sample_size),
            false,
        ));
    }
    if let Some(hist) = ping_pong(&mut group, settings) {
        rows.push(row("back-to-back", PING_PONG, &hist, false));
    }
    group.finish();

    let case = format!("after {} idle", fmt_duration(IDLE_GAP));
    for kind in Kind::ALL {
        if !settings.selected(&format!("start_latency_parked/{}", kind.id())) {
            continue;
        }
        let hist = with_subject(
            kind,
            setup,
            AfterIdle {
                rounds: parked_rounds,
            },
        );
        rows.push(row(&case, kind.label(), &hist, kind == Kind::Workpool));
    }

    for r in &rows {
        println!("start_latency {:<28} {:<40} {}", r.case, r.subject, r.note);
    }
    let description = format!(
        "One job at a time on an idle pool of {} workers: time from submit until the waiter \
         sees the job's latch count down (it spins up to 10 µs, then parks). back-to-back \
         round trips run under criterion; the \"after {} idle\" rows are {parked_rounds} \
         round trips, each after the pool sat idle. Time = p50; ratio = p50 / workpool's p50.",
        settings.workers,
        fmt_duration(IDLE_GAP),
    );
    Section::timing(TITLE, description, &rows)
}

fn row(case: &str, subject: &str, hist: &Histogram<u64>, reference: bool) -> TimingRow {
    let ns = |v: u64| fmt_duration(Duration::from_nanos(v));
    TimingRow {
        case: case.to_owned(),
        subject: subject.to_owned(),
        reference,
        time: Duration::from_nanos(hist.value_at_quantile(0.5)),
        spread: None,
        jobs: 0,
        note: format!(
            "p50 {}, p99 {}, mean {}, max {} ({} round trips)",
            ns(hist.value_at_quantile(0.5)),
            ns(hist.value_at_quantile(0.99)),
            ns(hist.mean() as u64),
            ns(hist.max()),
            hist.len()
        ),
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

fn record(hist: &mut Histogram<u64>, elapsed: Duration) {
    hist.saturating_record(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
}

/// The merge of the histograms of criterion's measurement calls: the last `n`.
fn merge_last(calls: &[Histogram<u64>], n: usize) -> Histogram<u64> {
    let mut merged = histogram();
    for h in &calls[calls.len().saturating_sub(n)..] {
        merged.add(h).expect("histograms with the same bounds");
    }
    merged
}

/// The floor of a round trip: this thread hands an odd count to a thread spinning on it,
/// which hands back the next one.
fn ping_pong(
    group: &mut BenchmarkGroup<'_, WallTime>,
    settings: &Settings,
) -> Option<Histogram<u64>> {
    let ball = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let count = ball.load(Ordering::Acquire);
                if count % 2 == 1 {
                    ball.store(count + 1, Ordering::Release);
                } else {
                    spin_loop();
                }
            }
        });
        let mut calls = Vec::new();
        let mut next = 1u64;
        let ran = bench(group, "spin_ping_pong", settings, |iters| {
            let mut hist = histogram();
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                ball.store(next, Ordering::Release);
                while ball.load(Ordering::Acquire) != next + 1 {
                    spin_loop();
                }
                let elapsed = start.elapsed();
                next += 2;
                record(&mut hist, elapsed);
                total += elapsed;
            }
            calls.push(hist);
            total
        });
        stop.store(true, Ordering::Relaxed);
        ran.map(|_| merge_last(&calls, settings.sample_size))
    })
}

struct BackToBack<'g, 'c> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
    settings: &'g Settings,
}

impl Visit for BackToBack<'_, '_> {
    type Output = Option<Histogram<u64>>;

    fn visit<S: Subject>(self, kind: Kind, subject: &S) -> Option<Histogram<u64>> {
        let latch = Latch::leak(0);
        let mut calls = Vec::new();
        bench(self.group, kind.id(), self.settings, |iters| {
            let mut hist = histogram();
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let elapsed = round_trip(subject, latch);
                record(&mut hist, elapsed);
                total += elapsed;
            }
            calls.push(hist);
            total
        })?;
        Some(merge_last(&calls, self.settings.sample_size))
    }
}

struct AfterIdle {
    rounds: usize,
}

impl Visit for AfterIdle {
    type Output = Histogram<u64>;

    fn visit<S: Subject>(self, _kind: Kind, subject: &S) -> Histogram<u64> {
        let latch = Latch::leak(0);
        let mut hist = histogram();
        for _ in 0..self.rounds {
            std::thread::sleep(IDLE_GAP);
            record(&mut hist, round_trip(subject, latch));
        }
        hist
    }
}

fn round_trip<S: Subject>(subject: &S, latch: &'static Latch) -> Duration {
    latch.reset(1);
    let start = Instant::now();
    subject.spawn(move || latch.count_down());
    latch.wait();
    start.elapsed()
}
