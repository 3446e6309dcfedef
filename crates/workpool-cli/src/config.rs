//! Typed configuration: the command line after every cross-flag check and machine default,
//! ready for the subcommands to use without re-checking anything.

use std::path::{Path, PathBuf};

use regex::Regex;
use std::time::Duration;

use workpool::{Builder, RateLimit};

use crate::cli::{BenchArgs, DemoArgs, RunArgs};
use crate::error::CliError;
use crate::pipe::PipeSpec;
use crate::run::timeout::Timeout;
use crate::sources::{Input, Multi};
use crate::template::Fill;
use crate::units::{Backoff, Halt, Rate, TimeoutArg};
use crate::workload::Work;

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
        jobs: Option<usize>,
        min: Option<u32>,
        max: Option<u32>,
        fixed: usize,
    ) -> Result<Self, CliError> {
        let size = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        match (jobs, min, max) {
            (Some(n), _, _) => Ok(Sizing::Fixed(n)),
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

    /// The same sizing with no bound above `limit` (the most this machine can run, and why),
    /// with a warning for each bound cut, unless `quietly` (`-j 0` asks for the limit).
    pub fn capped(self, (limit, why): (usize, String), quietly: bool) -> Self {
        let cap = |flag: &str, n: usize| {
            if n <= limit {
                return n;
            }
            if !quietly {
                eprintln!(
                    "workpool: warning: {flag} {n} is more jobs at once than this machine allows ({why} allows {limit}); running at most {limit}"
                );
            }
            limit
        };
        match self {
            Sizing::Fixed(n) => Sizing::Fixed(cap("-j", n)),
            Sizing::Dynamic { min, max } => Sizing::Dynamic {
                min: cap("--min", min),
                max: cap("--max", max),
            },
        }
    }

    /// Sets the builder's worker bounds, starting workers only as jobs wait for them: a
    /// fixed size of N is a pool of at most N that keeps at least as many as there are cores.
    pub fn apply_lazily(self, builder: Builder) -> Builder {
        match self {
            Sizing::Fixed(n) => builder.min_workers(n.min(cores())).max_workers(n),
            Sizing::Dynamic { min, max } => builder.min_workers(min).max_workers(max),
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
    /// Runs in all, at least 1 (`--retries N`, as GNU parallel means it; a job's JSON
    /// `retries`, which counts the runs after the first, overrides it).
    pub runs: u32,
    /// Exponential backoff from `base` to `cap`, with 20% jitter.
    pub backoff: Backoff,
    /// Only these exit codes are retried; `None` retries every failure, timeouts included.
    pub retry_on: Option<Vec<i32>>,
}

/// Everything `workpool run` needs to know.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The command template and the input sources.
    pub input: Input,
    /// Pool size.
    pub sizing: Sizing,
    /// A limit on job starts.
    pub rate: Option<RateLimit>,
    /// Retries.
    pub retry: RetryConfig,
    /// Per-run timeout (a job's JSON `timeout` overrides it).
    pub timeout: Option<Timeout>,
    /// Time between SIGTERM and SIGKILL when a job is ended.
    pub kill_grace: Duration,
    /// Print outputs in input order.
    pub keep_order: bool,
    /// The job log.
    pub joblog: Option<PathBuf>,
    /// What a rerun skips.
    pub resume: Resume,
    /// `--retry-failed`: the jobs are the job log's unsuccessful ones, not the input.
    pub retry_failed: bool,
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
    /// Read and check the whole input before starting.
    pub check_first: bool,
    /// Print each command before its output.
    pub verbose: bool,
    /// Prefix output lines.
    pub tag: Option<Tag>,
    /// When to stop early.
    pub halt: Option<Halt>,
    /// Jobs write straight to stdout and stderr.
    pub ungroup: bool,
    /// Print whole lines as jobs write them.
    pub line_buffer: bool,
}

/// What `--tag` and `--tagstring` put before each line of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    /// `--tag`: the job's arguments, separated by spaces, then a tab.
    Args,
    /// `--tagstring STR`: STR with its replacement strings expanded, then a tab.
    Template(String),
}

impl Tag {
    /// The prefix for `spec`'s lines.
    pub fn render(&self, spec: &crate::input::JobSpec) -> String {
        match self {
            Tag::Args => format!("{}\t", spec.args.join(" ")),
            Tag::Template(text) => format!("{}\t", crate::template::expand_unquoted(text, spec)),
        }
    }
}

impl RunConfig {
    /// Checks `args` and fills in the defaults. `stderr_is_terminal` decides the progress bar.
    ///
    /// # Errors
    ///
    /// [`CliError::Usage`] for flags that cannot work together.
    pub fn from_args(args: RunArgs, stderr_is_terminal: bool) -> Result<Self, CliError> {
        let jobs = match args.jobs.map(|j| j.resolve(cores())) {
            None => None,
            Some(Some(n)) => Some(n),
            Some(None) => Some(usize::MAX),
        };
        let sizing = Sizing::from_flags(jobs, args.min, args.max, cores())?;
        let sizing = sizing.capped(
            machine_limit(),
            args.jobs == Some(crate::units::JobsArg::Count(0)),
        );
        let args_multi = MultiFlags {
            context: args.context_replace,
            whole: args.m,
            max_args: args.max_args,
            max_replace_args: args.max_replace_args,
        };
        let resume = match (args.resume, args.resume_failed) {
            (true, _) => Resume::SkipFinished,
            (false, true) => Resume::SkipSucceeded,
            (false, false) => Resume::Off,
        };
        let colsep = match &args.colsep {
            Some(text) => Some(Regex::new(text).map_err(|e| {
                CliError::usage(format!("--colsep: invalid regular expression: {e}"))
            })?),
            None => None,
        };
        if args.retry_failed && !(args.command.is_empty() && args.arg_file.is_empty()) {
            eprintln!(
                "workpool: warning: --retry-failed runs the commands of the job log; the command and input given are not used"
            );
        }
        // Words that are not UTF-8 (Latin-1 file names after :::) are carried byte for byte.
        let words = args
            .command
            .into_iter()
            .map(|word| {
                crate::bytes::decode_os(word)
                    .map_err(|e| CliError::usage(format!("an argument of the command line {e}")))
            })
            .collect::<Result<Vec<String>, CliError>>()?;
        let has_command =
            !words.is_empty() && !crate::sources::SEPARATORS.contains(&words[0].as_str());
        let mut input = Input::from_words(words, args.arg_file, colsep, args.null)?;
        input.multi = multi(&args_multi, sizing, has_command)?;
        if args.pipe {
            let (recend, recstart) = match (&args.recend, &args.recstart) {
                (None, None) => ("\n".to_owned(), String::new()),
                (None, Some(start)) => (String::new(), start.clone()),
                (Some(end), start) => (end.clone(), start.clone().unwrap_or_default()),
            };
            input.pipe = Some(PipeSpec {
                // A block bigger than memory cannot be read anyway; only the input's size
                // decides how much is held.
                block: usize::try_from(args.block).unwrap_or(usize::MAX),
                recend: crate::pipe::unescape(&recend),
                recstart: crate::pipe::unescape(&recstart),
            });
        }
        check_outputs(&input, args.joblog.as_deref(), args.results.as_deref())?;
        Ok(RunConfig {
            input,
            sizing,
            rate: match (args.rate, args.delay.filter(|d| !d.is_zero())) {
                (Some(rate), _) => Some(rate_limit(rate, args.burst)),
                (None, Some(delay)) => Some(RateLimit::per(1, delay).burst(1)),
                (None, None) => None,
            },
            halt: args.halt.and_then(|flag| flag.0),
            ungroup: args.ungroup,
            line_buffer: args.line_buffer,
            retry: RetryConfig {
                runs: args.retries.max(1),
                backoff: args.backoff,
                retry_on: (!args.retry_on.is_empty()).then_some(args.retry_on),
            },
            timeout: match args.timeout {
                None => None,
                Some(TimeoutArg::Fixed(d)) if d.is_zero() => None,
                Some(TimeoutArg::Fixed(d)) => Some(Timeout::Fixed(d)),
                Some(TimeoutArg::Percent(p)) => Some(Timeout::percent(p)),
            },
            kill_grace: args.kill_grace,
            keep_order: args.keep_order,
            joblog: args.joblog,
            resume,
            retry_failed: args.retry_failed,
            results: args.results,
            max_output: args.max_output,
            progress: stderr_is_terminal && !args.quiet && !args.dry_run,
            summary: !args.quiet && !args.dry_run,
            quiet: args.quiet,
            dry_run: args.dry_run,
            check_first: args.check_first,
            verbose: args.verbose,
            tag: match (args.tagstring, args.tag) {
                (Some(text), _) => Some(Tag::Template(text)),
                (None, true) => Some(Tag::Args),
                (None, false) => None,
            },
        })
    }
}

/// `-X`, `-m`, `-n`, `-N` as given.
struct MultiFlags {
    context: bool,
    whole: bool,
    max_args: Option<usize>,
    max_replace_args: Option<usize>,
}

/// Several input items per job, if asked for: `-X` and `-N` fill `{}` in context, `-m` and
/// `-n` with all the items (GNU parallel's `-n` does so, although its manual says it implies
/// `-X`).
fn multi(flags: &MultiFlags, sizing: Sizing, has_command: bool) -> Result<Option<Multi>, CliError> {
    let fill_line = flags.context || flags.whole;
    let max_items = flags.max_replace_args.or(flags.max_args);
    if !fill_line && max_items.is_none() {
        return Ok(None);
    }
    if !has_command {
        return Err(CliError::usage(
            "-X, -m, -n and -N put several input items in one command: give a COMMAND",
        ));
    }
    let fill = if flags.whole || (flags.max_args.is_some() && !flags.context) {
        Fill::Whole
    } else {
        Fill::Context
    };
    let slots = match sizing {
        Sizing::Fixed(n) => n,
        Sizing::Dynamic { max, .. } => max,
    };
    Ok(Some(Multi {
        fill,
        max_items,
        fill_line,
        slots,
    }))
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

/// Refuses output files that are an input file or each other: writing them would destroy
/// what is read, or garble both.
fn check_outputs(
    input: &Input,
    joblog: Option<&Path>,
    results: Option<&Path>,
) -> Result<(), CliError> {
    let outputs: Vec<(&str, &Path)> = [("--joblog", joblog), ("--results", results)]
        .into_iter()
        .filter_map(|(flag, path)| Some((flag, path?)))
        .collect();
    for (i, (flag, out)) in outputs.iter().enumerate() {
        for input in input.files() {
            if same_file(out, input) {
                return Err(CliError::usage(format!(
                    "{flag} {} is also an input file; refusing to overwrite it",
                    out.display()
                )));
            }
        }
        for (other_flag, other) in &outputs[i + 1..] {
            if same_file(out, other) {
                return Err(CliError::usage(format!(
                    "{flag} and {other_flag} are the same file ({}); give each its own",
                    out.display()
                )));
            }
        }
    }
    Ok(())
}

/// `true` if `a` and `b` name the same file: the same inode if both exist, else the same
/// absolute path once their directories are resolved.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        return x.dev() == y.dev() && x.ino() == y.ino();
    }
    let resolve = |p: &Path| -> Option<PathBuf> {
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.canonicalize().ok()?,
            _ => std::env::current_dir().ok()?,
        };
        Some(dir.join(p.file_name()?))
    };
    match (resolve(a), resolve(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// The most jobs this machine lets one process run at once, and the limit that decides it:
/// each running job holds a worker thread, a process or more, and up to six file descriptors.
pub fn machine_limit() -> (usize, String) {
    use nix::sys::resource::{getrlimit, Resource};
    let mut limit = (usize::MAX, String::new());
    let mut cap = |n: u64, why: String| {
        let n = usize::try_from(n).unwrap_or(usize::MAX).max(1);
        if n < limit.0 {
            limit = (n, why);
        }
    };
    if let Ok((soft, _)) = getrlimit(Resource::RLIMIT_NOFILE) {
        cap(
            soft.saturating_sub(16) / 6,
            format!("the open files limit of {soft}"),
        );
    }
    if let Ok((soft, _)) = getrlimit(Resource::RLIMIT_NPROC) {
        cap(soft / 4, format!("the processes limit of {soft}"));
    }
    let read =
        |path: &str| -> Option<u64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    if let Some(n) = read("/proc/sys/vm/max_map_count") {
        cap(n / 8, format!("vm.max_map_count of {n}"));
    }
    if let Some(n) = read("/proc/sys/kernel/threads-max") {
        cap(n / 4, format!("kernel.threads-max of {n}"));
    }
    limit
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
