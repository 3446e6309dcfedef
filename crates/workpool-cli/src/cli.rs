//! The command line, as clap derive definitions. Parsing only: every check that involves more
//! than one flag, and every default that depends on the machine, is in [`crate::config`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::units::{
    parse_backoff, parse_block, parse_duration, parse_halt_flag, parse_jobs, parse_rate,
    parse_size, parse_timeout, Backoff, HaltFlag, JobsArg, Rate, TimeoutArg,
};

/// Run shell commands through a worker pool, watch a pool at work, or find the best pool size.
#[derive(Debug, Parser)]
#[command(name = "workpool", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
// Parsed once per process: the size of the largest variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run shell commands in parallel, one per input line (plain or JSON Lines).
    #[command(after_help = RUN_AFTER_HELP)]
    Run(RunArgs),
    /// Watch a pool at work: jobs arriving over time, workers taking them, live status.
    Demo(DemoArgs),
    /// Run one synthetic job set at several pool sizes and recommend the best size.
    Bench(BenchArgs),
    /// Add command jobs to a durable queue (the input of run, plus queue, run_at and delay).
    #[command(after_help = SUBMIT_AFTER_HELP)]
    Submit(SubmitArgs),
    /// Run command jobs from a durable queue until stopped (or until it is empty).
    #[command(after_help = WORKER_AFTER_HELP)]
    Worker(WorkerArgs),
    /// Show a durable queue: counts by state, live workers, the oldest queued job's age.
    Status(StatusArgs),
    /// Cancel a job: a waiting one at once, a running one through its worker.
    Cancel(CancelArgs),
    /// Make a failed or cancelled job due again, with all its attempts.
    Retry(RetryArgs),
    /// Stop workers from claiming jobs of a queue (they finish what they run).
    Pause(DbArgs),
    /// Let workers claim jobs of a paused queue again.
    Resume(DbArgs),
    /// Serve a live web dashboard of a queue database: counts by state per queue, live
    /// workers, throughput, recent failures.
    #[command(after_help = SERVE_AFTER_HELP)]
    Serve(ServeArgs),
}

const SERVE_AFTER_HELP: &str = "\
Open http://ADDR/ in a browser: the page polls ADDR/api/status (JSON: every queue's status,
as workpool status --json gives it, plus its latest failures) every second. Read-only; no
authentication: keep it on 127.0.0.1, or behind a proxy that checks who asks. Ctrl-C or
SIGTERM stops it (exit status 0).";

const SUBMIT_AFTER_HELP: &str = "\
Input: what workpool run reads, plus the JSON fields queue (overrides --queue), run_at (unix
seconds or \"2026-12-01T08:00:00Z\") and delay (\"90s\"). A job's id is its unique key in its
queue (a line without an id is keyed by its command): submitting a list again adds only what
is new. retries (or --retries) sets how many times a failed run is retried.

Database: --db sqlite:PATH (a file, no server) or postgres://USER@HOST/DATABASE; default
$WORKPOOL_DB, else sqlite:workpool.db. Exit status 2 for a bad URL, an unreachable server, a
schema newer than this program, or bad input.";

const WORKER_AFTER_HELP: &str = "\
Each job runs as workpool run runs it: sh -c in its own process group, with --timeout and
--kill-grace, stdout and stderr captured (up to --max-output each) into the job's record and
printed when it ends. Execution is at least once: a job whose worker dies runs again once its
lease expires; each outcome is recorded once.

Ctrl-C or SIGTERM once: stop claiming, hand back claimed jobs that have not started, let
running ones finish within --grace, then end and hand back the rest. Twice: end them now.
Exit status: 0, or 1 if a job failed here (with --exit-when-empty), 2 on a database error,
130 when interrupted.";

/// The queue database, as every command that opens one takes it.
#[derive(Debug, Args)]
pub struct DbUrlArg {
    /// The queue database: sqlite:PATH or postgres://USER@HOST/DATABASE.
    #[arg(
        long,
        value_name = "URL",
        env = "WORKPOOL_DB",
        default_value = "sqlite:workpool.db"
    )]
    pub db: String,
}

/// The database and queue every queue subcommand works on.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// The database.
    #[command(flatten)]
    pub url: DbUrlArg,

    /// The queue: one database holds many, told apart by name.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub queue: String,
}

/// `workpool submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The database and the queue.
    #[command(flatten)]
    pub db: DbArgs,

    /// The job list; standard input when absent or "-".
    #[arg(short = 'a', long = "arg-file", value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Retry a failed job up to N times (a JSON "retries" field overrides it).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: u32,
}

/// `workpool worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The database and the queue.
    #[command(flatten)]
    pub db: DbArgs,

    /// Run N jobs at once [default: the number of cores].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..10_000))]
    pub jobs: Option<u32>,

    /// Besides the jobs it runs, claim at most N more into a local buffer, so that one
    /// statement claims many quick jobs. The buffer holds what the worker finishes in about
    /// 25 ms at its recent rate (nothing, for jobs that take long); buffered jobs are handed
    /// back at shutdown. 0: claim only as many jobs as are free to run.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub prefetch: u32,

    /// The lease of a claimed job, renewed every third of it; a job whose worker stops
    /// renewing is run again by another worker once it expires.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub lease: Duration,

    /// The longest an idle worker waits before looking for jobs again.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub poll: Duration,

    /// End a job that runs longer than this (per run; a job's "timeout" overrides it).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// How long a job may take to exit after SIGTERM before its process group gets SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub kill_grace: Duration,

    /// At Ctrl-C or SIGTERM, how long running jobs may take to finish before they are ended
    /// and handed back.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub grace: Duration,

    /// Delay before a retry: exponential from the first to the cap, with 20% jitter.
    #[arg(long, value_name = "FIRST..CAP", default_value = "1s..10m", value_parser = parse_backoff)]
    pub backoff: Backoff,

    /// Keep at most this much of each output stream in the job's record.
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = parse_size)]
    pub max_output: u64,

    /// Stop once the queue has no job waiting or running.
    #[arg(long)]
    pub exit_when_empty: bool,

    /// No progress bar and no summary.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `workpool serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The database.
    #[command(flatten)]
    pub url: DbUrlArg,

    /// Where to listen for HTTP: HOST:PORT (port 0 picks a free one, printed at start).
    #[arg(long, value_name = "ADDR", default_value = crate::serve::DEFAULT_LISTEN, value_parser = crate::serve::parse_listen)]
    pub listen: std::net::SocketAddr,

    /// Show this queue (repeat for more) [default: every queue in the database].
    #[arg(long = "queue", value_name = "NAME")]
    pub queues: Vec<String>,
}

/// `workpool status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The database and the queue.
    #[command(flatten)]
    pub db: DbArgs,

    /// Print one JSON object (keys queued, scheduled, running, completed, failed, cancelled,
    /// paused, oldest_queued_age_ms, jobs_per_second, workers).
    #[arg(long)]
    pub json: bool,
}

/// `workpool cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The database and the queue.
    #[command(flatten)]
    pub db: DbArgs,

    /// The job: its id (unique key) in the queue, or its number in the database.
    #[arg(value_name = "ID")]
    pub id: String,
}

/// `workpool retry`.
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The database and the queue.
    #[command(flatten)]
    pub db: DbArgs,

    /// The job: its id (unique key) in the queue, or its number in the database.
    #[arg(
        value_name = "ID",
        required_unless_present = "failed",
        conflicts_with = "failed"
    )]
    pub id: Option<String>,

    /// Every failed job of the queue.
    #[arg(long)]
    pub failed: bool,
}

const RUN_AFTER_HELP: &str = "\
As GNU parallel: workpool run [OPTIONS] [COMMAND [ARGS...]] [::: ARGS... | :::: FILES...]...

With a COMMAND, each input item fills its replacement strings, quoted for the shell: {} {.}
{/} {//} {/.} {#} (job number) {%} (job slot) {1} {2} {1.} ...; without any, the item is
appended. Sources: ::: ARGS, :::: FILES, -a FILE, else standard input; several multiply,
:::+ and ::::+ link to the one before. -X, -m, -n N and -N N put several items in one
command; --pipe instead cuts standard input into blocks, each a job's standard input. Bytes
that are not UTF-8 reach the command as they are.

Without a COMMAND, each item is a shell command, run with `sh -c`, or a JSON object with the
fields cmd (required), id, priority (0-255 or \"low\", \"normal\", \"high\"), timeout
(\"30s\"), retries (runs after the first), env (an object) and cwd. Blank lines and lines
starting with # are skipped.

Exit status: 0 every job succeeded, 1 some job failed, 2 usage or input error, 128+N after
signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP, 141 standard output closed). Ctrl-C once
stops starting jobs and waits for the running ones; twice ends them; SIGTERM and SIGHUP end
them at once.";

/// `workpool run`: the parallel command runner.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The command template, then its input sources: `::: ARGS...`, `:::: FILES...`,
    /// `:::+`/`::::+` to link; without a command, each input item is a command.
    #[arg(value_name = "COMMAND", trailing_var_arg = true, num_args = 0..,
          value_parser = clap::value_parser!(std::ffi::OsString))]
    pub command: Vec<std::ffi::OsString>,

    /// Read input items from FILE, one per line (`-`: standard input); repeatable, each an
    /// input source.
    #[arg(short = 'a', long = "arg-file", value_name = "FILE")]
    pub arg_file: Vec<PathBuf>,

    /// Split each input line at matches of REGEX into the arguments {1} {2} ...
    #[arg(long, value_name = "REGEX")]
    pub colsep: Option<String>,

    /// Run N jobs at once [default: the number of cores]. `+N`/`-N`: the cores plus or minus
    /// N; `P%`: that share of the cores; 0: as many as the machine allows.
    #[arg(short = 'j', long, value_name = "N", value_parser = parse_jobs,
          conflicts_with_all = ["min", "max"], allow_hyphen_values = true)]
    pub jobs: Option<JobsArg>,

    /// Dynamic sizing: keep at least N workers [default: 1 with --max].
    #[arg(long, value_name = "N")]
    pub min: Option<u32>,

    /// Dynamic sizing: start at most N workers [default: the number of cores with --min].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max: Option<u32>,

    /// Start at most this many jobs per second, minute or hour: 10/s, 30/m, 100/h.
    #[arg(long, value_name = "N/PERIOD", value_parser = parse_rate)]
    pub rate: Option<Rate>,

    /// Start jobs at least DURATION apart (as --rate 1 per DURATION).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "rate")]
    pub delay: Option<Duration>,

    /// Stop early: `now|soon,fail|success|done=N` or `=P%` (now ends the running jobs, soon
    /// lets them finish); `never` is the default.
    #[arg(long, value_name = "WHEN,WHAT=N", value_parser = parse_halt_flag)]
    pub halt: Option<HaltFlag>,

    /// With --rate: allow up to N starts at once after a quiet spell.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "rate",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub burst: u32,

    /// Run a failing job up to N times in all, as GNU parallel counts (0 and 1: once). A
    /// JSON "retries" field, which counts the runs after the first, overrides it.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub retries: u32,

    /// Delay between runs: exponential from the first to the cap, with 20% jitter.
    #[arg(long, value_name = "FIRST..CAP", default_value = "100ms..10s", value_parser = parse_backoff)]
    pub backoff: Backoff,

    /// Retry only these exit codes (comma-separated); other failures and timeouts are final.
    #[arg(long, value_name = "CODES", value_delimiter = ',')]
    pub retry_on: Vec<i32>,

    /// End a job that runs longer than this (per run): SIGTERM to its process group, then
    /// SIGKILL after --kill-grace. `P%`: longer than P percent of the median run time of the
    /// jobs that succeeded so far (no limit before the first success).
    #[arg(long, value_name = "DURATION|P%", value_parser = parse_timeout)]
    pub timeout: Option<TimeoutArg>,

    /// How long a job may take to exit after SIGTERM before its process group gets SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub kill_grace: Duration,

    /// Print outputs in input order instead of as jobs finish.
    #[arg(short = 'k', long)]
    pub keep_order: bool,

    /// Write a tab-separated line per finished job to FILE (appended to with --resume).
    #[arg(long, value_name = "FILE")]
    pub joblog: Option<PathBuf>,

    /// Skip the jobs the job log shows finished (succeeded or failed).
    #[arg(long, requires = "joblog", conflicts_with = "resume_failed")]
    pub resume: bool,

    /// Skip the jobs the job log shows succeeded; rerun the failed ones too.
    #[arg(long, requires = "joblog")]
    pub resume_failed: bool,

    /// Run again the jobs the job log shows never succeeded, each with its logged command
    /// and number, and append to the log; the command line's command and input are not
    /// used (as GNU parallel does).
    #[arg(long, requires = "joblog", conflicts_with_all = ["resume", "resume_failed"])]
    pub retry_failed: bool,

    /// Write every finished job's outputs: NAME.jsonl a JSON line per job (id, cmd, exit,
    /// stdout, stderr...); NAME.csv, NAME.tsv or NAME.json GNU parallel's tables; any other
    /// NAME a directory in GNU parallel's layout, NAME/1/ARG/stdout, stderr and seq.
    #[arg(long, value_name = "NAME")]
    pub results: Option<PathBuf>,

    /// In a .jsonl results file, keep at most this much of each stream (the rest is cut and
    /// `truncated` is set).
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = parse_size)]
    pub max_output: u64,

    /// No progress bar and no summary.
    #[arg(short, long)]
    pub quiet: bool,

    /// Print the plan (id, priority, timeout, retries, command) and run nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Read and check the whole input before the first job starts (a bad line then stops
    /// the run before anything runs); by default jobs start as the input arrives.
    #[arg(long)]
    pub check_first: bool,

    /// As many input items per job as the command line takes (the kernel's 128 KiB), the
    /// word around {} repeated for each; a short input is spread over the job slots.
    #[arg(short = 'X', conflicts_with = "m")]
    pub context_replace: bool,

    /// As many input items per job as the command line takes, {} standing for all of them
    /// separated by spaces; a short input is spread over the job slots.
    #[arg(short = 'm')]
    pub m: bool,

    /// At most N input items per job, {} standing for all of them (0: read one, insert none).
    #[arg(
        short = 'n',
        long,
        value_name = "N",
        conflicts_with = "max_replace_args"
    )]
    pub max_args: Option<usize>,

    /// At most N input items per job, the word around {} repeated for each, and {1} .. {N}
    /// the Nth argument (0: read one, insert none).
    #[arg(short = 'N', long, value_name = "N")]
    pub max_replace_args: Option<usize>,

    /// Cut standard input (or the one input file) into blocks of whole records and give each
    /// block to a job as its standard input, instead of making arguments of it.
    #[arg(long, conflicts_with_all = ["context_replace", "m", "max_args", "max_replace_args", "colsep", "null"])]
    pub pipe: bool,

    /// With --pipe: cut blocks at about this size, after the last record that fits (K, M, G
    /// are powers of 1024; k, m, g of 1000).
    #[arg(long, value_name = "SIZE", default_value = "1M", requires = "pipe", value_parser = parse_block)]
    pub block: u64,

    /// With --pipe: what ends a record [default: a newline, unless --recstart is given]
    /// (\n, \t, \r, \0 and \\ are read as those characters).
    #[arg(long, value_name = "STR", requires = "pipe")]
    pub recend: Option<String>,

    /// With --pipe: what starts a record [default: nothing].
    #[arg(long, value_name = "STR", requires = "pipe")]
    pub recstart: Option<String>,

    /// Input items end with a NUL byte, not a newline (as `find -print0` writes them).
    #[arg(short = '0', long)]
    pub null: bool,

    /// Let jobs write straight to stdout and stderr, uncaptured: output comes at once but
    /// may be mixed mid-line; --tag and --results get none of it.
    #[arg(short = 'u', long, conflicts_with_all = ["keep_order", "tag", "tagstring"])]
    pub ungroup: bool,

    /// Print each line of output as soon as a job has written it whole: lines of different
    /// jobs mix, but never within a line (GNU parallel's --line-buffer).
    #[arg(long, visible_alias = "lb", conflicts_with = "ungroup")]
    pub line_buffer: bool,

    /// Print each job's command on standard output before its output.
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Prefix each line of output with the job's arguments and a tab.
    #[arg(long)]
    pub tag: bool,

    /// Prefix each line of output with STR (replacement strings are expanded) and a tab.
    #[arg(long, value_name = "STR")]
    pub tagstring: Option<String>,
}

/// `workpool demo`: a live demonstration of a pool.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Worker threads (a fixed pool).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..),
          conflicts_with_all = ["min", "max"])]
    pub workers: u32,

    /// How many jobs arrive (at most 1,000,000: each keeps its handle until the end).
    #[arg(long, value_name = "M", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(..=1_000_000))]
    pub jobs: u32,

    /// Shortest job, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub min_ms: u64,

    /// Longest job, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub max_ms: u64,

    /// Milliseconds between two arrivals.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub arrival_ms: u64,

    /// Seed of the random job lengths, priorities and failures [default: random, printed].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Give jobs random priorities (low, normal, high).
    #[arg(long)]
    pub priority_mix: bool,

    /// Start at most this many jobs per period: 5/s.
    #[arg(long, value_name = "N/PERIOD", value_parser = parse_rate)]
    pub rate: Option<Rate>,

    /// Make each run fail with this probability (0 to 1).
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub fail_rate: f64,

    /// Run a failed job up to N more times.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: u32,

    /// Dynamic sizing: keep at least N workers [default: 1 with --max].
    #[arg(long, value_name = "N")]
    pub min: Option<u32>,

    /// Dynamic sizing: start at most N workers [default: 3 with --min].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max: Option<u32>,

    /// Run N times faster: every duration is divided by N.
    #[arg(long, value_name = "N", default_value_t = 1.0)]
    pub speed: f64,
}

/// `workpool bench`: throughput and latency against pool size.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The job: cpu:DURATION (busy computing), sleep:DURATION (blocked), or mix (alternating
    /// cpu:200us and sleep:5ms).
    #[arg(long, value_name = "KIND", default_value = "cpu:200us")]
    pub work: String,

    /// Jobs per pool size (at most 10,000,000: each keeps its handle until the size is done).
    #[arg(long, value_name = "N", default_value_t = 2000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub count: u32,

    /// Pool sizes to try, comma-separated.
    #[arg(long, value_name = "LIST", value_delimiter = ',',
          default_value = "1,2,4,8,16,32,64",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub sizes: Vec<u32>,

    /// Where to write the plot of throughput and p99 latency against pool size.
    #[arg(long, value_name = "FILE", default_value = "bench.svg")]
    pub svg: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_flags_parse_into_typed_values() {
        let cli = Cli::try_parse_from([
            "workpool",
            "run",
            "-j",
            "3",
            "--rate",
            "10/s",
            "--burst",
            "4",
            "--retries",
            "2",
            "--backoff",
            "10ms..1s",
            "--retry-on",
            "1,2,75",
            "--timeout",
            "30s",
            "-a",
            "jobs.txt",
        ])
        .expect("valid command line");
        let Command::Run(args) = cli.command else {
            panic!("expected run");
        };
        assert_eq!(args.jobs, Some(JobsArg::Count(3)));
        assert_eq!(args.rate.map(|r| r.count), Some(10));
        assert_eq!(args.burst, 4);
        assert_eq!(args.retry_on, [1, 2, 75]);
        assert_eq!(
            args.timeout,
            Some(TimeoutArg::Fixed(Duration::from_secs(30)))
        );
        assert_eq!(args.kill_grace, Duration::from_secs(2));
        assert_eq!(args.max_output, 1 << 20);
        assert_eq!(args.arg_file, [PathBuf::from("jobs.txt")]);
    }

    #[test]
    fn a_list_flag_does_not_swallow_the_command() {
        let cli = Cli::try_parse_from(["workpool", "run", "--retry-on", "1,2", "gzip", "-9"])
            .expect("valid command line");
        let Command::Run(args) = cli.command else {
            panic!("expected run");
        };
        assert_eq!(args.retry_on, [1, 2]);
        assert_eq!(args.command, ["gzip", "-9"]);
    }

    #[test]
    fn flags_after_the_command_belong_to_it() {
        let cli = Cli::try_parse_from([
            "workpool", "run", "-j", "2", "echo", "-n", "{}", ":::", "-a",
        ])
        .expect("valid command line");
        let Command::Run(args) = cli.command else {
            panic!("expected run");
        };
        assert_eq!(args.command, ["echo", "-n", "{}", ":::", "-a"]);
        assert!(args.arg_file.is_empty());
    }

    #[test]
    fn conflicting_flags_are_refused() {
        for argv in [
            &["workpool", "run", "-j", "2", "--max", "4"][..],
            &["workpool", "run", "--resume"],
            &[
                "workpool",
                "run",
                "--joblog",
                "l",
                "--resume",
                "--resume-failed",
            ],
            &["workpool", "run", "--burst", "3"],
            &["workpool", "run", "-j", "x"],
        ] {
            assert!(Cli::try_parse_from(argv).is_err(), "{argv:?}");
        }
    }
}
