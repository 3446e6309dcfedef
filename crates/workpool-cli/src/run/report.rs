//! Where finished jobs are recorded: the job log first (so that a kill right after loses
//! nothing), then the results file, then the summary's tallies. Everything here runs on the
//! collector thread, which never writes to standard output: the printer does.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::Serialize;

use crate::error::CliError;
use crate::run::joblog::{Entry, JobLog, Outcome};
use crate::run::process::Captured;
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

/// Takes finished jobs and writes them to the logs and the summary's tallies; their outputs
/// go on to the [printer](crate::run::printer).
#[derive(Debug)]
pub struct Reporter {
    joblog: Option<JobLog>,
    results: Option<ResultsFile>,
    /// The first log that could not be written; the run ends with exit 2.
    error: Option<CliError>,
    /// The tallies for the summary.
    pub summary: Summary,
}

impl Reporter {
    /// A reporter writing to the given logs.
    pub fn new(joblog: Option<JobLog>, results: Option<ResultsFile>) -> Self {
        Reporter {
            joblog,
            results,
            error: None,
            summary: Summary::default(),
        }
    }

    /// Records one finished job in the logs and the tallies, and hands back its outputs.
    pub fn record(&mut self, slot: &Slot, mut done: Finished) -> (Captured, Captured) {
        if done.outcome != Outcome::NotRun {
            if let (Some(log), Some(start)) = (&mut self.joblog, done.start) {
                let entry = Entry {
                    seq: slot.spec.seq,
                    id: &slot.spec.id,
                    cmd: &slot.spec.cmd,
                    exit: done.status.as_ref().and_then(|s| s.code()),
                    signal: done.status.as_ref().and_then(|s| s.signal()),
                    attempts: done.runs,
                    start,
                    duration: done.duration,
                    received: done.stdout.len() + done.stderr.len(),
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
        (done.stdout, done.stderr)
    }

    /// The first error writing a log, if any.
    pub fn take_error(&mut self) -> Option<CliError> {
        self.error.take()
    }
}
