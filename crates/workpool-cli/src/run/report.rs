//! Where finished jobs are recorded: the job log first (so that a kill right after loses
//! nothing), then the results file, then the summary's tallies. Everything here runs on the
//! collector thread, which never writes to standard output: the printer does.

use crate::error::CliError;
use crate::run::joblog::{Entry, JobLog, Outcome};
use crate::run::process::Captured;
use crate::run::results::Results;
use crate::run::slot::{Finished, Slot};
use crate::run::summary::Summary;

/// Takes finished jobs and writes them to the logs and the summary's tallies; their outputs
/// go on to the [printer](crate::run::printer).
#[derive(Debug)]
pub struct Reporter {
    joblog: Option<JobLog>,
    results: Option<Results>,
    /// The first log that could not be written; the run ends with exit 2.
    error: Option<CliError>,
    /// The tallies for the summary.
    pub summary: Summary,
}

impl Reporter {
    /// A reporter writing to the given logs.
    pub fn new(joblog: Option<JobLog>, results: Option<Results>) -> Self {
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
