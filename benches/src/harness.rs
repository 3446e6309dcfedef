//! Run modes, criterion group settings, and the samples the suite keeps for its table.

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, SamplingMode};

/// How thoroughly to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `cargo bench`: full job counts, 10 samples per subject, ~3 s of measurement each.
    Full,
    /// `cargo bench` with `WORKPOOL_BENCH_QUICK=1`: a tenth of the jobs, short samples.
    /// Numbers are rough; the run checks that everything works and finishes in minutes.
    Quick,
    /// Anything but `cargo bench` (for example `cargo test --benches`): criterion runs
    /// each routine once; the suite shrinks every workload to a handful of jobs and writes
    /// no results.
    Test,
}

/// The run's settings, read from the command line and the environment.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How thoroughly to run.
    pub mode: Mode,
    /// Worker threads for every workload that does not say otherwise: the number of cores.
    pub workers: usize,
    /// Samples criterion takes per subject (its minimum, 10: the jobs per sample are many).
    pub sample_size: usize,
    /// The benchmark filter given on the command line, if any (criterion applies it to its
    /// benchmarks; the suite applies it as a substring to the parts it times itself).
    pub filter: Option<String>,
}

impl Settings {
    /// Reads the mode the way criterion does (`--bench` without `--test` means measure),
    /// then `WORKPOOL_BENCH_QUICK`.
    pub fn from_env() -> Self {
        let args: Vec<String> = std::env::args().collect();
        let benching = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
        let quick = std::env::var("WORKPOOL_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let mode = match (benching, quick) {
            (false, _) => Mode::Test,
            (true, true) => Mode::Quick,
            (true, false) => Mode::Full,
        };
        Self {
            mode,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            sample_size: 10,
            filter: positional_filter(&args[1.min(args.len())..]),
        }
    }

    /// Whether the benchmark `id` passes the command line's filter (a plain substring
    /// test: criterion's regular expressions are not reimplemented here).
    pub fn selected(&self, id: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| id.contains(f))
    }

    /// Picks the size for the current mode.
    pub fn pick(&self, full: usize, quick: usize, test: usize) -> usize {
        match self.mode {
            Mode::Full => full,
            Mode::Quick => quick,
            Mode::Test => test,
        }
    }

    /// Whether results are measured (and so worth a table).
    pub fn measuring(&self) -> bool {
        self.mode != Mode::Test
    }

    /// Criterion's warm-up time for this mode.
    pub fn warm_up_time(&self) -> Duration {
        match self.mode {
            Mode::Full => Duration::from_secs(1),
            _ => Duration::from_millis(200),
        }
    }

    /// Criterion's target measurement time for this mode.
    pub fn measurement_time(&self) -> Duration {
        match self.mode {
            Mode::Full => Duration::from_secs(3),
            _ => Duration::from_millis(700),
        }
    }

    /// Applies the suite's settings to a group: few samples, flat sampling (every sample
    /// runs the same number of batches: a batch is already many jobs), short times.
    pub fn configure(&self, group: &mut BenchmarkGroup<'_, WallTime>) {
        group
            .sample_size(self.sample_size)
            .warm_up_time(self.warm_up_time())
            .measurement_time(self.measurement_time())
            .sampling_mode(SamplingMode::Flat)
            .nresamples(20_000);
    }
}

/// Criterion's options that take a value as the next argument.
const VALUE_OPTIONS: &[&str] = &[
    "--save-baseline",
    "--baseline",
    "--baseline-lenient",
    "--load-baseline",
    "--color",
    "--format",
    "--output-format",
    "--profile-time",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--plotting-backend",
    "--logfile",
    "-s",
    "-b",
    "-c",
];

/// The first argument that is neither an option nor an option's value: criterion's FILTER.
fn positional_filter(args: &[String]) -> Option<String> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if VALUE_OPTIONS.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            return Some(arg.clone());
        }
    }
    None
}

/// Every `(iterations, elapsed)` pair that criterion asked an `iter_custom` routine for.
///
/// Criterion first calls the routine during warm-up, then exactly once per sample, so the
/// last `sample_size` entries are the measurement.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    calls: Vec<(u64, Duration)>,
}

impl Samples {
    /// Records one call of the routine.
    pub fn record(&mut self, iters: u64, elapsed: Duration) {
        self.calls.push((iters, elapsed));
    }

    /// The mean time per iteration over the last `sample_size` calls (fewer if there were
    /// fewer), or `None` if the routine never ran (filtered out).
    pub fn summary(&self, sample_size: usize) -> Option<Summary> {
        let take = sample_size.min(self.calls.len());
        if take == 0 {
            return None;
        }
        let per_iter: Vec<f64> = self.calls[self.calls.len() - take..]
            .iter()
            .map(|&(iters, elapsed)| elapsed.as_secs_f64() / iters.max(1) as f64)
            .collect();
        let n = per_iter.len() as f64;
        let mean = per_iter.iter().sum::<f64>() / n;
        let var = per_iter.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        Some(Summary {
            mean: Duration::from_secs_f64(mean),
            rel_stddev: if mean > 0.0 { var.sqrt() / mean } else { 0.0 },
            samples: take,
        })
    }
}

/// The mean time of one iteration and how much the samples spread.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Mean time per iteration (per batch of jobs).
    pub mean: Duration,
    /// Standard deviation of the per-sample means, relative to the mean.
    pub rel_stddev: f64,
    /// Samples the mean is over.
    pub samples: usize,
}

/// Runs one criterion benchmark whose routine measures itself (`iter_custom`: `routine`
/// gets the iteration count and returns the time those iterations took), and returns the
/// suite's own summary of the measurement samples.
pub fn bench<R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    settings: &Settings,
    mut routine: R,
) -> Option<Summary>
where
    R: FnMut(u64) -> Duration,
{
    let mut samples = Samples::default();
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let elapsed = routine(iters);
            samples.record(iters, elapsed);
            elapsed
        });
    });
    samples.summary(settings.sample_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_uses_the_last_samples_per_iteration() {
        let mut s = Samples::default();
        s.record(1, Duration::from_secs(100)); // warm-up, ignored
        s.record(2, Duration::from_millis(20));
        s.record(4, Duration::from_millis(40));
        let sum = s.summary(2).unwrap();
        assert_eq!(sum.mean, Duration::from_millis(10));
        assert_eq!(sum.samples, 2);
        assert!(sum.rel_stddev.abs() < 1e-9);
        assert_eq!(Samples::default().summary(10), None);
    }

    #[test]
    fn finds_the_filter_among_options() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(positional_filter(&args(&["--bench"])), None);
        assert_eq!(
            positional_filter(&args(&["--bench", "--save-baseline", "x", "tiny"])).as_deref(),
            Some("tiny")
        );
    }
}
