//! Workload 9: fork-join, side by side with rayon (issue #17's bars). Two cases on one
//! worker per core:
//!
//! - recursive `join`: fib(32) with a sequential cut-off at 12, started inside the pool
//!   (`submit(..).wait()` for workpool, `install` for rayon), so every join runs on a
//!   worker. Bar: at most 1.25x `rayon::join`'s time.
//! - `scope` with 1,000 chunks of 1,024 `u64`s, each job doing a little arithmetic on its
//!   chunk, called from outside the pool as users write it. Bar: at most 1.25x
//!   `rayon::scope`'s time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use workpool_benches::{bench, Section, Settings, Summary, TimingRow};

const TITLE: &str = "9. Fork-join: recursive join and scope, against rayon";
const CUT_OFF: u64 = 12;
const CHUNK: usize = 1024;

fn fib_seq(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    fib_seq(n - 1) + fib_seq(n - 2)
}

fn fib_workpool(pool: &workpool::Pool, n: u64) -> u64 {
    if n <= CUT_OFF {
        return fib_seq(n);
    }
    let (a, b) = pool.join(|| fib_workpool(pool, n - 1), || fib_workpool(pool, n - 2));
    a + b
}

fn fib_rayon(n: u64) -> u64 {
    if n <= CUT_OFF {
        return fib_seq(n);
    }
    let (a, b) = rayon::join(|| fib_rayon(n - 1), || fib_rayon(n - 2));
    a + b
}

fn chunk_work(chunk: &mut [u64]) {
    for (i, x) in chunk.iter_mut().enumerate() {
        *x = x.wrapping_mul(6364136223846793005).wrapping_add(i as u64);
    }
}

pub fn run(criterion: &mut Criterion, settings: &Settings) -> Section {
    let workers = settings.workers;
    let n = settings.pick(32, 30, 16) as u64;
    let chunks = settings.pick(1000, 1000, 20);
    let pool = workpool::Pool::new(workers);
    let rayon_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .expect("rayon's pool starts");
    let mut data = vec![1u64; chunks * CHUNK];

    let mut group = criterion.benchmark_group("fork_join");
    settings.configure(&mut group);
    let mut rows = Vec::new();
    let fib_case = format!("fib({n}), cut-off {CUT_OFF}");
    let p = pool.clone();
    let wp = bench(
        &mut group,
        "join/workpool",
        settings,
        timed(|| {
            let q = p.clone();
            black_box(
                p.submit(move || fib_workpool(&q, n))
                    .unwrap()
                    .wait()
                    .unwrap(),
            );
        }),
    );
    let ry = bench(
        &mut group,
        "join/rayon",
        settings,
        timed(|| {
            black_box(rayon_pool.install(|| fib_rayon(n)));
        }),
    );
    push_pair(&mut rows, &fib_case, wp, ry, 1);

    let scope_case = format!("scope, {chunks} chunks of {CHUNK} u64");
    let wp = bench(
        &mut group,
        "scope/workpool",
        settings,
        timed(|| {
            pool.scope(|s| {
                for chunk in data.chunks_mut(CHUNK) {
                    s.spawn(move || chunk_work(chunk));
                }
            })
        }),
    );
    let ry = bench(
        &mut group,
        "scope/rayon",
        settings,
        timed(|| {
            rayon_pool.scope(|s| {
                for chunk in data.chunks_mut(CHUNK) {
                    s.spawn(move |_| chunk_work(chunk));
                }
            })
        }),
    );
    push_pair(&mut rows, &scope_case, wp, ry, chunks as u64);
    group.finish();
    black_box(&data);

    let description = format!(
        "Recursive join (fib({n}), sequential below {CUT_OFF}, started inside each pool) and a \
         scope of {chunks} jobs over disjoint chunks (started from outside), on {workers} \
         workers. Notes: time over rayon's; the bars are 1.25x for both."
    );
    Section::timing(TITLE, description, &rows)
}

/// Times `iters` calls of `routine`.
fn timed(mut routine: impl FnMut()) -> impl FnMut(u64) -> Duration {
    move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            routine();
        }
        start.elapsed()
    }
}

fn push_pair(
    rows: &mut Vec<TimingRow>,
    case: &str,
    workpool: Option<Summary>,
    rayon: Option<Summary>,
    jobs: u64,
) {
    let ratio = |s: Summary, r: Summary| s.mean.as_secs_f64() / r.mean.as_secs_f64();
    if let Some(w) = workpool {
        let mut row = TimingRow::measured(case, "workpool", w, jobs).reference();
        if let Some(r) = rayon {
            row = row.note(format!("{:.2}x rayon", ratio(w, r)));
        }
        rows.push(row);
    }
    if let Some(r) = rayon {
        rows.push(TimingRow::measured(case, "rayon", r, jobs));
    }
}
