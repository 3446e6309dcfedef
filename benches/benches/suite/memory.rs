//! Workload 6: memory per queued job. Grid: every subject, each with a single worker that
//! is held on a gate so that everything submitted stays queued. Two measures. Heap per
//! job: with the counting global allocator switched on, queue 100,000 jobs (20,000 in
//! quick mode) and divide the bytes still held (allocated minus freed) and the allocation
//! calls by the job count; then open the gate and let them run. This is the marginal cost
//! of one queued job: a queue buffer allocated when the pool was built (the hand-rolled
//! pool's `bounded(n)` array, a preallocating bounded queue) is not in it. Peak RSS: a
//! fresh child process of this same binary builds the pool, queues 1,000,000 jobs
//! (200,000 in quick mode; workpool with `queue_capacity(n)`, the hand-rolled pool with
//! `bounded(n)`) and reads `VmHWM` from `/proc/self/status`; the growth per job is
//! (VmHWM − VmRSS before the pool was built) / n, so it includes preallocated buffers,
//! thread stacks touched and the allocator's own overhead. A child per subject because
//! VmHWM is a process-wide high-water mark and freed heap is not reliably returned to the
//! OS: in the benchmark process itself the first subject's peak would hide the others'.
//! Every job is the same closure, one `&'static Latch` (8 bytes), counting the latch down.

use std::process::Command;
use std::time::{Duration, Instant};

use workpool_benches::{
    fmt_bytes, fmt_duration, tiny, with_subject, Kind, Latch, Section, Settings, Setup, Subject,
    Visit,
};

use crate::counting_alloc::{count, Counts};

const TITLE: &str = "6. Memory per queued job";
const CHILD_ENV: &str = "WORKPOOL_BENCH_RSS_CHILD";
const CHILD_LINE: &str = "workpool-bench-rss";

pub fn run(settings: &Settings) -> Section {
    let heap_jobs = settings.pick(100_000, 20_000, 100);
    let rss_jobs = settings.pick(1_000_000, 200_000, 1_000);
    let mut measured = Vec::new();
    for kind in Kind::ALL {
        if !settings.selected(&format!("memory/{}", kind.id())) {
            continue;
        }
        let setup = Setup::workers(1).queue_capacity(heap_jobs + 1);
        let heap = with_subject(kind, setup, HeapPerJob { jobs: heap_jobs });
        let rss = rss_in_child(kind, rss_jobs);
        if let Err(err) = &rss {
            eprintln!("memory: peak RSS of {kind}: {err}");
        }
        measured.push((kind, heap, rss.ok()));
    }

    let mut section = Section::new(
        TITLE,
        format!(
            "One worker blocked on a gate, jobs queued behind it. Heap per job: bytes \
             requested and still held, and allocation calls, over {heap_jobs} queued jobs \
             (marginal cost; requested sizes, without malloc's per-block overhead). Peak \
             RSS: VmHWM of a fresh process holding {rss_jobs} queued jobs, and its growth \
             per job over the process before the pool existed. The closure is 8 bytes."
        ),
        &[
            "subject",
            "heap per job",
            "allocations per job",
            &format!("peak RSS, {rss_jobs} queued"),
            "RSS growth per job",
            "heap vs workpool",
            "notes",
        ],
    );
    let reference = measured
        .iter()
        .find(|(kind, ..)| *kind == Kind::Workpool)
        .map(|(_, heap, _)| heap.bytes_per_job());
    for (kind, heap, rss) in &measured {
        let per_job = heap.bytes_per_job();
        let ratio = match reference {
            Some(r) if r > 0.0 => format!("{:.2}×", per_job / r),
            _ => "—".to_owned(),
        };
        let (peak, growth) = match rss {
            Some(rss) => (
                fmt_bytes(rss.hwm_kb as f64 * 1024.0),
                fmt_bytes(rss.growth_per_job()),
            ),
            None => ("—".to_owned(), "—".to_owned()),
        };
        let note = match kind {
            Kind::Handrolled => format!(
                "bounded(n) array allocated at build (not in heap per job); queued {} in {}",
                heap.jobs,
                fmt_duration(heap.queue_time)
            ),
            _ => format!("queued {} in {}", heap.jobs, fmt_duration(heap.queue_time)),
        };
        section.rows.push(vec![
            kind.label().to_owned(),
            fmt_bytes(per_job),
            format!("{:.2}", heap.counts.allocations as f64 / heap.jobs as f64),
            peak,
            growth,
            ratio,
            note,
        ]);
    }
    for row in &section.rows {
        println!("memory {}", row.join(" | "));
    }
    section
}

/// What queuing cost on the heap.
struct Heap {
    jobs: usize,
    counts: Counts,
    queue_time: Duration,
}

impl Heap {
    fn bytes_per_job(&self) -> f64 {
        self.counts.live() as f64 / self.jobs as f64
    }
}

struct HeapPerJob {
    jobs: usize,
}

impl Visit for HeapPerJob {
    type Output = Heap;

    fn visit<S: Subject>(self, _kind: Kind, subject: &S) -> Heap {
        let gate = hold_the_worker(subject);
        let latch = Latch::leak(self.jobs);
        let start = Instant::now();
        let ((), counts) = count(|| {
            for _ in 0..self.jobs {
                subject.spawn(move || tiny(latch));
            }
        });
        let queue_time = start.elapsed();
        gate.count_down();
        latch.wait();
        Heap {
            jobs: self.jobs,
            counts,
            queue_time,
        }
    }
}

/// Occupies the pool's only worker until the returned gate is counted down.
fn hold_the_worker<S: Subject>(subject: &S) -> &'static Latch {
    let gate = Latch::leak(1);
    let started = Latch::leak(1);
    subject.spawn(move || {
        started.count_down();
        gate.wait();
    });
    started.wait();
    gate
}

/// A child's report, in KiB as `/proc` gives them.
#[derive(Debug)]
struct Rss {
    jobs: usize,
    before_kb: u64,
    hwm_kb: u64,
}

impl Rss {
    fn growth_per_job(&self) -> f64 {
        (self.hwm_kb.saturating_sub(self.before_kb) * 1024) as f64 / self.jobs as f64
    }
}

fn rss_in_child(kind: Kind, jobs: usize) -> Result<Rss, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
    let out = Command::new(exe)
        .env(CHILD_ENV, format!("{}:{jobs}", kind.id()))
        .output()
        .map_err(|e| format!("cannot start child: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with(CHILD_LINE))
        .ok_or_else(|| {
            format!(
                "child exited with {} and no report; stderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
    let value = |key: &str| -> Result<u64, String> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no {key} in {line:?}"))
    };
    Ok(Rss {
        jobs,
        before_kb: value("before_kb")?,
        hwm_kb: value("hwm_kb")?,
    })
}

/// In the child process (`WORKPOOL_BENCH_RSS_CHILD=<kind>:<jobs>`): queues the jobs,
/// prints one report line, and returns `true`. Otherwise returns `false` at once.
pub fn run_child_if_requested() -> bool {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return false;
    };
    let parsed = spec
        .split_once(':')
        .and_then(|(kind, jobs)| Some((Kind::from_id(kind)?, jobs.parse::<usize>().ok()?)));
    let Some((kind, jobs)) = parsed else {
        eprintln!("{CHILD_ENV}={spec:?}: expected <kind>:<jobs>");
        std::process::exit(2);
    };
    let before_kb = status_kb("VmRSS");
    let setup = Setup::workers(1).queue_capacity(jobs + 1);
    let (queued_kb, hwm_kb) = with_subject(kind, setup, QueueAll { jobs });
    println!("{CHILD_LINE} kind={} jobs={jobs} before_kb={before_kb} queued_kb={queued_kb} hwm_kb={hwm_kb}", kind.id());
    true
}

struct QueueAll {
    jobs: usize,
}

impl Visit for QueueAll {
    type Output = (u64, u64);

    fn visit<S: Subject>(self, _kind: Kind, subject: &S) -> (u64, u64) {
        let gate = hold_the_worker(subject);
        let latch = Latch::leak(self.jobs);
        for _ in 0..self.jobs {
            subject.spawn(move || tiny(latch));
        }
        let queued = (status_kb("VmRSS"), status_kb("VmHWM"));
        gate.count_down();
        latch.wait();
        queued
    }
}

/// A `kB` field of `/proc/self/status`, 0 if unreadable.
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix(field)?.strip_prefix(':')?;
                rest.trim().trim_end_matches("kB").trim().parse().ok()
            })
        })
        .unwrap_or(0)
}
