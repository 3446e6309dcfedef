//! Typed configuration: the command line after every cross-flag check and machine default,
//! ready for the subcommands to use without re-checking anything.

use std::path::PathBuf;
use std::time::Duration;

use workpool::{Builder, RateLimit};

use crate::bench::Work;
use crate::cli::{BenchArgs, DemoArgs, RunArgs};
use crate::error::CliError;
use crate::units::{Backoff, Rate};

/// How many workers a pool has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sizing {
    /// Exactly this many.
    Fixed(usize),
    /// Between `min` and `max`: workers start when jobs wait and retire when idle.
    Dynamic {
        /// Workers kept even when idle.
        min: usize,
        /// The most at once.
        max: usize,
    },
}

impl Sizing {
    /// Reads `-j`, `--min` and `--max`; `fixed` is the size when none of them is given.
    fn from_flags(
        jobs: Option<u32>,
        min: Option<u32>,
        max: Option<u32>,
        fixed: usize,
    ) -> Result<Self, CliError> {
        let size = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        match (jobs, min, max) {
            (Some(n), _, _) => Ok(Sizing::Fixed(size(n))),
            (None, None, None) => Ok(Sizing::Fixed(fixed)),
            (None, min, max) => {
                let min = min.map_or(1, size);
                let max = max.map_or(fixed.max(min), size);
                if min > max {
                    return Err(CliError::usage(format!(
                        "--min ({min}) is greater than --max ({max})"
                    )));
                }
                Ok(Sizing::Dynamic { min, max })
            }
        }
    }

    /// Sets the builder's worker bounds.
    pub fn apply(self, builder: Builder) -> Builder {
        match self {
            Sizing::Fixed(n) => builder.workers(n),
            Sizing::Dynamic { min, max } => builder.min_workers(min).max_workers(max),
        }
    }
}

/// Which jobs a rerun skips, by what the job log says about them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Run every job (the job log is started afresh).
    Off,
    /// `--resume`: skip jobs that finished, whether they succeeded or failed.
    SkipFinished,
    /// `--resume-failed`: skip only jobs that succeeded.
    SkipSucceeded,
}

/// When and how often a failed job runs again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// Extra runs after the first (a job's JSON `retries` overrides it).
    pub retries: u32,
    /// Exponential backoff from `base` to `cap`, with 20% jitter.
    pub backoff: Backoff,
    /// Only these exit codes are retried; `None` retries every failure, timeouts included.
    pub retry_on: Option<Vec<i32>>,
}

/// Everything `workpool run` needs to know.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The job list, or `None` for standard input.
    pub input: Option<PathBuf>,
    /// Pool size.
    pub sizing: Sizing,
    /// A limit on job starts.
    pub rate: Option<RateLimit>,
    /// Retries.
    pub retry: RetryConfig,
    /// Per-run timeout (a job's JSON `timeout` overrides it).
    pub timeout: Option<Duration>,
    /// Time between SIGTERM and SIGKILL when a job is ended.
    pub kill_grace: Duration,
    /// Print outputs in input order.
    pub keep_order: bool,
    /// The job log.
    pub joblog: Option<PathBuf>,
    /// What a rerun skips.
    pub resume: Resume,
    /// The results file (JSON Lines).
    pub results: Option<PathBuf>,
    /// The most bytes of each stream kept in the results file.
    pub max_output: u64,
    /// Draw a progress bar on standard error.
    pub progress: bool,
    /// Print the summary on standard error.
    pub summary: bool,
    /// `--quiet`: nothing on standard error but errors.
    pub quiet: bool,
    /// Print the plan only.
    pub dry_run: bool,
}

impl RunConfig {
    /// Checks `args` and fills in the defaults. `stderr_is_terminal` decides the progress bar.
    ///
    /// # Errors
    ///
    /// [`CliError::Usage`] for flags that cannot work together.
    pub fn from_args(args: RunArgs, stderr_is_terminal: bool) -> Result<Self, CliError> {
        let sizing = Sizing::from_flags(args.jobs, args.min, args.max, cores())?;
        let resume = match (args.resume, args.resume_failed) {
            (true, _) => Resume::SkipFinished,
            (false, true) => Resume::SkipSucceeded,
            (false, false) => Resume::Off,
        };
        Ok(RunConfig {
            input: args.file.filter(|path| path.as_os_str() != "-"),
            sizing,
            rate: args.rate.map(|rate| rate_limit(rate, args.burst)),
            retry: RetryConfig {
                retries: args.retries,
                backoff: args.backoff,
                retry_on: (!args.retry_on.is_empty()).then_some(args.retry_on),
            },
            timeout: args.timeout.filter(|t| !t.is_zero()),
            kill_grace: args.kill_grace,
            keep_order: args.keep_order,
            joblog: args.joblog,
            resume,
            results: args.results,
            max_output: args.max_output,
            progress: stderr_is_terminal && !args.quiet && !args.dry_run,
            summary: !args.quiet && !args.dry_run,
            quiet: args.quiet,
            dry_run: args.dry_run,
        })
    }
}

/// Everything `workpool demo` needs to know.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Pool size.
    pub sizing: Sizing,
    /// How many jobs arrive.
    pub jobs: u32,
    /// Shortest job (before `speed`).
    pub min: Duration,
    /// Longest job (before `speed`).
    pub max: Duration,
    /// Time between arrivals (before `speed`).
    pub arrival: Duration,
    /// Seed of every random choice.
    pub seed: u64,
    /// Random priorities.
    pub priority_mix: bool,
    /// A limit on job starts (before `speed`).
    pub rate: Option<Rate>,
    /// Probability that a run fails.
    pub fail_rate: f64,
    /// Extra runs after a failure.
    pub retries: u32,
    /// Every duration is divided by this.
    pub speed: f64,
}

impl DemoConfig {
    /// Checks `args` and fills in the defaults.
    ///
    /// # Errors
    ///
    /// [`CliError::Usage`] for values out of range.
    pub fn from_args(args: DemoArgs) -> Result<Self, CliError> {
        if args.min_ms > args.max_ms {
            return Err(CliError::usage(format!(
                "--min-ms ({}) is greater than --max-ms ({})",
                args.min_ms, args.max_ms
            )));
        }
        if !(0.0..=1.0).contains(&args.fail_rate) {
            return Err(CliError::usage(format!(
                "--fail-rate must be between 0 and 1, got {}",
                args.fail_rate
            )));
        }
        if !(args.speed.is_finite() && args.speed > 0.0) {
            return Err(CliError::usage(format!(
                "--speed must be a positive number, got {}",
                args.speed
            )));
        }
        let fixed = usize::try_from(args.workers).unwrap_or(usize::MAX);
        Ok(DemoConfig {
            sizing: Sizing::from_flags(None, args.min, args.max, fixed)?,
            jobs: args.jobs,
            min: Duration::from_millis(args.min_ms),
            max: Duration::from_millis(args.max_ms),
            arrival: Duration::from_millis(args.arrival_ms),
            seed: args.seed.unwrap_or_else(|| fastrand::u64(..)),
            priority_mix: args.priority_mix,
            rate: args.rate,
            fail_rate: args.fail_rate,
            retries: args.retries,
            speed: args.speed,
        })
    }

    /// `d` as it runs: divided by the speed.
    pub fn scaled(&self, d: Duration) -> Duration {
        d.div_f64(self.speed)
    }
}

/// Everything `workpool bench` needs to know.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The synthetic job.
    pub work: Work,
    /// Jobs per pool size.
    pub count: u32,
    /// Pool sizes, ascending, without repeats.
    pub sizes: Vec<usize>,
    /// Where the plot goes.
    pub svg: PathBuf,
}

impl BenchConfig {
    /// Checks `args`.
    ///
    /// # Errors
    ///
    /// [`CliError::Usage`] for an unknown kind of work.
    pub fn from_args(args: BenchArgs) -> Result<Self, CliError> {
        let work = Work::parse(&args.work).map_err(CliError::Usage)?;
        let mut sizes: Vec<usize> = args
            .sizes
            .iter()
            .map(|&n| usize::try_from(n).unwrap_or(usize::MAX))
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        Ok(BenchConfig {
            work,
            count: args.count,
            sizes,
            svg: args.svg,
        })
    }
}

/// A pool-wide rate limit from `--rate` and `--burst`.
pub fn rate_limit(rate: Rate, burst: u32) -> RateLimit {
    // Both were checked by the parsers (count >= 1, period > 0, burst >= 1).
    RateLimit::per(rate.count, rate.period).burst(burst.max(1))
}

/// The number of cores, the default pool size.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizing_reads_jobs_or_min_and_max() {
        assert_eq!(
            Sizing::from_flags(Some(3), None, None, 8).ok(),
            Some(Sizing::Fixed(3))
        );
        assert_eq!(
            Sizing::from_flags(None, None, None, 8).ok(),
            Some(Sizing::Fixed(8))
        );
        assert_eq!(
            Sizing::from_flags(None, Some(2), None, 8).ok(),
            Some(Sizing::Dynamic { min: 2, max: 8 })
        );
        assert_eq!(
            Sizing::from_flags(None, None, Some(4), 8).ok(),
            Some(Sizing::Dynamic { min: 1, max: 4 })
        );
        assert_eq!(
            Sizing::from_flags(None, Some(9), None, 8).ok(),
            Some(Sizing::Dynamic { min: 9, max: 9 })
        );
        let err = Sizing::from_flags(None, Some(5), Some(2), 8).unwrap_err();
        assert_eq!(err.to_string(), "--min (5) is greater than --max (2)");
    }
}
