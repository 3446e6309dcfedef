//! Where finished jobs go: the job log first (so that a kill right after loses nothing), then
//! the results file, then the job's captured output, printed in one piece (in input order with
//! `--keep-order`), then the summary's tallies.
//!
//! Everything here runs on the collector thread, one job at a time: that alone is what keeps
//! one job's output from being interleaved with another's.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::Serialize;

use crate::error::CliError;
use crate::run::joblog::{Entry, JobLog, Outcome};
use crate::run::process::Captured;
use crate::run::progress::Progress;
use crate::run::slot::{Finished, Slot};
use crate::run::summary::Summary;

/// The results file: a JSON line per finished job.
#[derive(Debug)]
pub struct ResultsFile {
    file: File,
    path: PathBuf,
    max_output: u64,
}

impl ResultsFile {
    /// Opens `path`, appending (for a resumed run) or afresh.
    ///
    /// # Errors
    ///
    /// [`CliError::Io`] if it cannot be opened.
    pub fn open(path: &Path, append: bool, max_output: u64) -> Result<Self, CliError> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .append(append)
            .truncate(!append)
            .open(path)
            .map_err(|e| CliError::io("cannot open results file", path, e))?;
        Ok(ResultsFile {
            file,
            path: path.to_owned(),
            max_output,
        })
    }

    fn write(&mut self, slot: &Slot, done: &mut Finished) -> Result<(), CliError> {
        let (stdout, out_cut) = done.stdout.head(self.max_output);
        let (stderr, err_cut) = done.stderr.head(self.max_output);
        let line = ResultLine {
            id: &slot.spec.id,
            line: slot.spec.line,
            cmd: &slot.spec.cmd,
            outcome: done.outcome.name(),
            exit: done.status.as_ref().and_then(|s| s.code()),
            signal: done.status.as_ref().and_then(|s| s.signal()),
            attempts: done.runs,
            start: done.start.map(|t| {
                t.duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64()
            }),
            duration: done.duration.as_secs_f64(),
            stdout,
            stderr,
            truncated: out_cut || err_cut,
        };
        let mut text = serde_json::to_string(&line).map_err(|e| {
            CliError::io("cannot write results file", &self.path, io::Error::other(e))
        })?;
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .map_err(|e| CliError::io("cannot write results file", &self.path, e))
    }
}

/// One line of the results file.
#[derive(Debug, Serialize)]
struct ResultLine<'a> {
    id: &'a str,
    line: usize,
    cmd: &'a str,
    outcome: &'static str,
    exit: Option<i32>,
    signal: Option<i32>,
    attempts: u32,
    start: Option<f64>,
    duration: f64,
    stdout: String,
    stderr: String,
    truncated: bool,
}

/// Takes finished jobs and sends them everywhere they go.
#[derive(Debug)]
pub struct Reporter {
    joblog: Option<JobLog>,
    results: Option<ResultsFile>,
    keep_order: bool,
    /// With `--keep-order`: the next slot to print, and outputs waiting for it.
    next: usize,
    waiting: BTreeMap<usize, (Captured, Captured)>,
    /// Set once standard output is closed (`| head`); outputs are dropped from then on.
    stdout_closed: bool,
    /// The first log that could not be written; the run ends with exit 2.
    error: Option<CliError>,
    /// The tallies for the summary.
    pub summary: Summary,
}

impl Reporter {
    /// A reporter writing to the given logs.
    pub fn new(joblog: Option<JobLog>, results: Option<ResultsFile>, keep_order: bool) -> Self {
        Reporter {
            joblog,
            results,
            keep_order,
            next: 0,
            waiting: BTreeMap::new(),
            stdout_closed: false,
            error: None,
            summary: Summary::default(),
        }
    }

    /// Records one finished job.
    pub fn record(&mut self, slot: &Slot, mut done: Finished, progress: &Progress) {
        if done.outcome != Outcome::NotRun {
            if let (Some(log), Some(start)) = (&mut self.joblog, done.start) {
                let entry = Entry {
                    id: &slot.spec.id,
                    cmd: &slot.spec.cmd,
                    exit: done.status.as_ref().and_then(|s| s.code()),
                    signal: done.status.as_ref().and_then(|s| s.signal()),
                    attempts: done.runs,
                    start,
                    duration: done.duration,
                    outcome: done.outcome,
                };
                if let Err(err) = log.write(&entry) {
                    self.error.get_or_insert(err);
                }
            }
            if let Some(results) = &mut self.results {
                if let Err(err) = results.write(slot, &mut done) {
                    self.error.get_or_insert(err);
                }
            }
        }
        self.summary.add(slot, &done);
        let output = (done.stdout, done.stderr);
        if !self.keep_order {
            self.print(output, progress);
            return;
        }
        self.waiting.insert(slot.index, output);
        while let Some(output) = self.waiting.remove(&self.next) {
            self.next += 1;
            self.print(output, progress);
        }
    }

    fn print(&mut self, (mut stdout, mut stderr): (Captured, Captured), progress: &Progress) {
        if stdout.is_empty() && stderr.is_empty() {
            return;
        }
        progress.suspend(|| {
            if !self.stdout_closed && !stdout.is_empty() {
                let mut out = io::stdout().lock();
                if stdout
                    .write_to(&mut out)
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    self.stdout_closed = true;
                }
            }
            if !stderr.is_empty() {
                let mut err = io::stderr().lock();
                let _ = stderr.write_to(&mut err).and_then(|()| err.flush());
            }
        });
    }

    /// The first error writing a log, if any.
    pub fn take_error(&mut self) -> Option<CliError> {
        self.error.take()
    }
}
