//! The summary printed at the end of a run: counts by outcome, wall time, throughput, duration
//! percentiles, the slowest jobs and the failures.

use std::fmt::Write as _;
use std::time::Duration;

use crate::run::joblog::{escape, Outcome};
use crate::run::process::Status;
use crate::run::slot::{Finished, Slot};
use crate::units::fmt_duration;

/// How many of the slowest jobs the summary names.
const SLOWEST: usize = 5;
/// How many failures the summary names.
const FAILURES: usize = 10;
/// The longest command text the summary shows.
const CMD_WIDTH: usize = 60;

/// Tallies of a run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Exited 0.
    pub ok: usize,
    /// Failed.
    pub failed: usize,
    /// Ended at their timeout.
    pub timed_out: usize,
    /// Ended by Ctrl-C (or interrupted before a retry).
    pub cancelled: usize,
    /// Never started because of Ctrl-C.
    pub not_run: usize,
    /// Skipped by `--resume`.
    pub skipped: usize,
}

impl Counts {
    /// Jobs that ran and did not succeed.
    pub fn unsuccessful(&self) -> usize {
        self.failed + self.timed_out + self.cancelled
    }

    /// Jobs that ran.
    pub fn ran(&self) -> usize {
        self.ok + self.unsuccessful()
    }
}

/// What the summary needs, gathered job by job.
#[derive(Debug, Default)]
pub struct Summary {
    /// The tallies.
    pub counts: Counts,
    durations: Vec<Duration>,
    /// The slowest jobs: duration, id, command.
    slowest: Vec<(Duration, String, String)>,
    /// The first failures: id, what happened, command.
    failures: Vec<(String, String, String)>,
}

impl Summary {
    /// Adds a finished job.
    pub fn add(&mut self, slot: &Slot, done: &Finished) {
        let counts = &mut self.counts;
        match done.outcome {
            Outcome::Ok => counts.ok += 1,
            Outcome::Failed => counts.failed += 1,
            Outcome::TimedOut => counts.timed_out += 1,
            Outcome::Cancelled => counts.cancelled += 1,
            Outcome::NotRun => {
                counts.not_run += 1;
                return;
            }
        }
        self.durations.push(done.duration);
        self.slowest
            .push((done.duration, slot.spec.id.clone(), short(&slot.spec.cmd)));
        self.slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
        self.slowest.truncate(SLOWEST);
        if done.outcome != Outcome::Ok && self.failures.len() < FAILURES {
            let what = match (done.outcome, &done.status) {
                (Outcome::TimedOut, _) => "timed out".to_owned(),
                (Outcome::Cancelled, _) => "cancelled".to_owned(),
                (_, Some(Status::Code(code))) => format!("exit {code}"),
                (_, Some(Status::Signal(sig))) => format!("signal {sig}"),
                (_, Some(Status::Error(message))) => message.clone(),
                (_, None) => "failed".to_owned(),
            };
            self.failures
                .push((slot.spec.id.clone(), what, short(&slot.spec.cmd)));
        }
    }

    /// Adds `n` jobs skipped by `--resume`.
    pub fn skip(&mut self, n: usize) {
        self.counts.skipped += n;
    }

    /// The summary text, given the run's wall time.
    pub fn render(&self, wall: Duration) -> String {
        let c = &self.counts;
        let total = c.ran() + c.not_run + c.skipped;
        let mut text = format!(
            "workpool: {total} jobs: {} ok, {} failed, {} timed out, {} cancelled, {} not run, {} skipped\n",
            c.ok, c.failed, c.timed_out, c.cancelled, c.not_run, c.skipped
        );
        let rate = if wall.is_zero() {
            0.0
        } else {
            c.ran() as f64 / wall.as_secs_f64()
        };
        let _ = writeln!(text, "wall time {}, {rate:.1} jobs/s", fmt_duration(wall));
        if !self.durations.is_empty() {
            let mut sorted = self.durations.clone();
            sorted.sort_unstable();
            text.push_str(&durations_line(
                percentile(&sorted, 0.50),
                percentile(&sorted, 0.90),
                percentile(&sorted, 0.99),
            ));
            text.push_str("slowest:\n");
            for (duration, id, cmd) in &self.slowest {
                let _ = writeln!(text, "  {:>8}  {id:<8}  {cmd}", fmt_duration(*duration));
            }
        }
        if !self.failures.is_empty() {
            let more = c.unsuccessful().saturating_sub(self.failures.len());
            text.push_str("not successful:\n");
            for (id, what, cmd) in &self.failures {
                let _ = writeln!(text, "  {id:<8}  {what:<10}  {cmd}");
            }
            if more > 0 {
                let _ = writeln!(text, "  ... and {more} more (see the job log)");
            }
        }
        text
    }
}

/// The line of job-duration percentiles, as `workpool run` and `workpool worker` print it.
pub fn durations_line(p50: Duration, p90: Duration, p99: Duration) -> String {
    format!(
        "job durations: p50 {}, p90 {}, p99 {}\n",
        fmt_duration(p50),
        fmt_duration(p90),
        fmt_duration(p99)
    )
}

/// The nearest-rank percentile `q` of `sorted` (not empty).
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A command cut to [`CMD_WIDTH`] characters, on one line.
fn short(cmd: &str) -> String {
    let cmd = escape(cmd);
    if cmd.chars().count() <= CMD_WIDTH {
        return cmd;
    }
    let mut cut: String = cmd.chars().take(CMD_WIDTH - 3).collect();
    cut.push_str("...");
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&ms, 0.90), Duration::from_millis(90));
        assert_eq!(percentile(&ms, 0.99), Duration::from_millis(99));
        let one = [Duration::from_millis(7)];
        assert_eq!(percentile(&one, 0.99), Duration::from_millis(7));
    }

    #[test]
    fn long_commands_are_cut() {
        assert_eq!(short("echo hi"), "echo hi");
        let long = "x".repeat(100);
        assert_eq!(short(&long).chars().count(), CMD_WIDTH);
        assert!(short(&long).ends_with("..."));
    }
}
