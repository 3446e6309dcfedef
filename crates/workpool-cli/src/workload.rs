//! What `workpool bench` runs and measures: the synthetic [`Work`], and a measured [`Row`].
//! Shared by the bench itself, its configuration and its plot.

use std::fmt::Write as _;
use std::time::Duration;

use crate::units::{fmt_duration, fmt_duration_arg, parse_duration};

/// The synthetic job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Computation that takes this long on an idle core.
    Cpu(Duration),
    /// Blocked (sleeping) this long.
    Sleep(Duration),
    /// Alternating `cpu:200us` and `sleep:5ms` jobs.
    Mix,
}

impl Work {
    /// Parses `cpu:DURATION`, `sleep:DURATION` or `mix`.
    ///
    /// # Errors
    ///
    /// A message naming what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad =
            || format!("invalid work \"{text}\": expected cpu:DURATION, sleep:DURATION or mix");
        match text.split_once(':') {
            None if text == "mix" => Ok(Work::Mix),
            Some(("cpu", d)) => Ok(Work::Cpu(parse_duration(d).map_err(|_| bad())?)),
            Some(("sleep", d)) => Ok(Work::Sleep(parse_duration(d).map_err(|_| bad())?)),
            _ => Err(bad()),
        }
    }

    /// The work as `workpool bench --work` takes it.
    pub fn label(self) -> String {
        match self {
            Work::Cpu(d) => format!("cpu:{}", fmt_duration_arg(d)),
            Work::Sleep(d) => format!("sleep:{}", fmt_duration_arg(d)),
            Work::Mix => "mix".to_owned(),
        }
    }
}

/// One measured pool size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Workers.
    pub size: usize,
    /// Time to run every job.
    pub wall: Duration,
    /// Jobs per second.
    pub throughput: f64,
    /// 99th percentile of a job's run time (start to end).
    pub p99: Duration,
}

/// A table row as text, for tests and the plot's tooltips.
pub fn describe(row: &Row) -> String {
    let mut text = String::new();
    let _ = write!(
        text,
        "{} workers: {:.0} jobs/s, p99 {}",
        row.size,
        row.throughput,
        fmt_duration(row.p99)
    );
    text
}
