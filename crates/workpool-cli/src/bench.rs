//! `workpool bench`: one synthetic job set at several pool sizes; a table of wall time,
//! throughput and p99 latency, a recommended size, and an SVG plot.
//!
//! CPU work is a calibrated amount of computation, not a spin on the clock: a spin would end
//! on time even when its thread got a fraction of a core, and make an oversubscribed pool look
//! as fast as it is wide.

use std::hint::black_box;
use std::io::{self, Write};
use std::thread;
use std::time::{Duration, Instant};

use workpool::Pool;

use crate::config::BenchConfig;
use crate::error::CliError;
use crate::exit::Exit;
use crate::svg;
use crate::units::fmt_duration;
use crate::workload::{Row, Work};

/// Throughputs within this fraction of the best count as a tie; the smallest size among the
/// tied ones is recommended. Run-to-run noise on a small machine is larger than exact ties.
pub const TIE: f64 = 0.03;

/// Runs the benchmark and prints the table.
///
/// # Errors
///
/// [`CliError::Pool`] if a pool cannot start, [`CliError::Io`] if the plot cannot be written.
pub fn bench(cfg: &BenchConfig) -> Result<Exit, CliError> {
    let spin_per_us = calibrate();
    let mut out = io::stdout().lock();
    let _ = writeln!(
        out,
        "bench: {} jobs of {} on {} cores\n{:>6}  {:>10}  {:>14}  {:>12}",
        cfg.count,
        cfg.work.label(),
        crate::config::cores(),
        "size",
        "wall",
        "throughput",
        "p99 latency"
    );
    let mut rows = Vec::with_capacity(cfg.sizes.len());
    for &size in &cfg.sizes {
        let row = measure(size, cfg.count, cfg.work, spin_per_us)?;
        let _ = writeln!(
            out,
            "{:>6}  {:>10}  {:>9.0} jobs/s  {:>12}",
            row.size,
            fmt_duration(row.wall),
            row.throughput,
            fmt_duration(row.p99)
        );
        let _ = out.flush();
        rows.push(row);
    }
    if let Some(best) = recommend(&rows) {
        let _ = writeln!(
            out,
            "recommended: {} workers ({:.0} jobs/s; sizes within {:.0}% of the best count as a tie, the smallest wins)",
            best.size,
            best.throughput,
            TIE * 100.0
        );
    }
    let title = format!("workpool bench: {} jobs of {}", cfg.count, cfg.work.label());
    let plot = svg::plot(&title, &rows, recommend(&rows).map(|r| r.size));
    std::fs::write(&cfg.svg, plot).map_err(|e| CliError::io("cannot write", &cfg.svg, e))?;
    let _ = writeln!(out, "plot: {}", cfg.svg.display());
    Ok(Exit::Success)
}

/// Runs `count` jobs of `work` on a pool of `size` workers.
fn measure(size: usize, count: u32, work: Work, spin_per_us: f64) -> Result<Row, CliError> {
    let pool = Pool::builder().workers(size).thread_name("bench").build()?;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(count as usize);
    for i in 0..count {
        let job = match work {
            Work::Mix if i % 2 == 0 => Work::Cpu(Duration::from_micros(200)),
            Work::Mix => Work::Sleep(Duration::from_millis(5)),
            other => other,
        };
        match pool.submit(move || perform(job, spin_per_us)) {
            Ok(task) => tasks.push(task),
            Err(_) => break,
        }
    }
    for task in tasks {
        let _ = task.wait();
    }
    let wall = start.elapsed();
    let stats = pool.stats();
    pool.shutdown();
    Ok(Row {
        size,
        wall,
        throughput: f64::from(count) / wall.as_secs_f64().max(1e-9),
        p99: stats.run_time.p99,
    })
}

fn perform(work: Work, spin_per_us: f64) {
    match work {
        Work::Cpu(d) => {
            black_box(spin((d.as_secs_f64() * 1e6 * spin_per_us) as u64));
        }
        Work::Sleep(d) => thread::sleep(d),
        Work::Mix => {}
    }
}

/// A fixed amount of arithmetic the optimizer cannot remove.
fn spin(iterations: u64) -> u64 {
    let mut x = black_box(0x9E37_79B9_7F4A_7C15_u64);
    for _ in 0..iterations {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

/// Spin iterations per microsecond on one core (the best of a few tries).
fn calibrate() -> f64 {
    const ROUND: u64 = 200_000;
    let best = (0..5)
        .map(|_| {
            let start = Instant::now();
            black_box(spin(black_box(ROUND)));
            start.elapsed()
        })
        .min()
        .unwrap_or(Duration::from_millis(1));
    ROUND as f64 / (best.as_secs_f64() * 1e6).max(1e-3)
}

/// The size with the highest throughput; sizes within [`TIE`] of it count as tied and the
/// smallest of them wins.
pub fn recommend(rows: &[Row]) -> Option<Row> {
    let best = rows.iter().map(|r| r.throughput).fold(f64::NAN, f64::max);
    rows.iter()
        .filter(|r| r.throughput >= best * (1.0 - TIE))
        .min_by_key(|r| r.size)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::describe;

    fn row(size: usize, throughput: f64) -> Row {
        Row {
            size,
            wall: Duration::from_millis(1),
            throughput,
            p99: Duration::from_micros(300),
        }
    }

    #[test]
    fn work_kinds_parse() {
        assert_eq!(
            Work::parse("cpu:200us"),
            Ok(Work::Cpu(Duration::from_micros(200)))
        );
        assert_eq!(
            Work::parse("sleep:5ms"),
            Ok(Work::Sleep(Duration::from_millis(5)))
        );
        assert_eq!(Work::parse("mix"), Ok(Work::Mix));
        assert!(Work::parse("disk:1ms")
            .unwrap_err()
            .contains("expected cpu:DURATION"));
        assert!(Work::parse("cpu:fast").is_err());
    }

    #[test]
    fn the_best_throughput_wins_and_ties_go_to_the_smallest_size() {
        let rows = [
            row(1, 100.0),
            row(2, 190.0),
            row(4, 400.0),
            row(8, 395.0),
            row(16, 300.0),
        ];
        assert_eq!(recommend(&rows).map(|r| r.size), Some(4));
        let rows = [row(1, 100.0), row(2, 399.0), row(4, 400.0)];
        assert_eq!(recommend(&rows).map(|r| r.size), Some(2));
        assert_eq!(recommend(&[]), None);
    }

    #[test]
    fn cpu_work_is_calibrated() {
        assert!(calibrate() > 0.0);
        assert_eq!(
            describe(&row(2, 1234.4)),
            "2 workers: 1234 jobs/s, p99 300us"
        );
    }
}
