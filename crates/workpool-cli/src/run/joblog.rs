//! The job log: a tab-separated line per finished job, written in one `write` and flushed as
//! soon as the job ends, so that a run killed at any moment leaves a log that a rerun with
//! `--resume` can trust.
//!
//! ```text
//! id  cmd  exit  signal  attempts  start  duration  outcome
//! ```
//!
//! `exit` is the exit code (-1 if the command did not exit on its own), `signal` the signal
//! that ended it (0 if none), `start` the first run's start in unix seconds, `duration` the
//! seconds from that start to the end of the last run, `outcome` one of `ok`, `failed`,
//! `timeout`, `cancelled`. Tabs, newlines and backslashes in ids and commands are escaped as
//! `\t`, `\n`, `\r` and `\\`.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::CliError;

/// The header line.
pub const HEADER: &str = "id\tcmd\texit\tsignal\tattempts\tstart\tduration\toutcome";

/// How a job ended, as the job log, the results file and the summary name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Exited 0.
    Ok,
    /// Exited non-zero, was killed by a signal of its own, or could not start.
    Failed,
    /// Ran past its timeout and was ended.
    TimedOut,
    /// Ended by a second Ctrl-C, or interrupted while waiting for a retry.
    Cancelled,
    /// Never started: skipped by the first Ctrl-C.
    NotRun,
}

impl Outcome {
    /// The name written in the logs.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timeout",
            Outcome::Cancelled => "cancelled",
            Outcome::NotRun => "not-run",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "ok" => Outcome::Ok,
            "failed" => Outcome::Failed,
            "timeout" => Outcome::TimedOut,
            "cancelled" => Outcome::Cancelled,
            "not-run" => Outcome::NotRun,
            _ => return None,
        })
    }
}

/// One line of the job log.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    /// The job's id.
    pub id: &'a str,
    /// Its command.
    pub cmd: &'a str,
    /// Its exit code, if it exited.
    pub exit: Option<i32>,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
    /// How many times it ran.
    pub attempts: u32,
    /// When its first run started.
    pub start: SystemTime,
    /// From that start to the end of its last run.
    pub duration: Duration,
    /// How it ended.
    pub outcome: Outcome,
}

impl Entry<'_> {
    fn to_line(&self) -> String {
        let start = self
            .start
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        format!(
            "{}\t{}\t{}\t{}\t{}\t{start:.3}\t{:.3}\t{}\n",
            escape(self.id),
            escape(self.cmd),
            self.exit.unwrap_or(-1),
            self.signal.unwrap_or(0),
            self.attempts,
            self.duration.as_secs_f64(),
            self.outcome.name(),
        )
    }
}

/// An open job log.
#[derive(Debug)]
pub struct JobLog {
    file: File,
    path: PathBuf,
}

impl JobLog {
    /// Opens the job log: afresh (truncated) unless `append`, writing the header when the file
    /// is empty. When appending to a file whose last line was cut short (a killed run), the
    /// cut line is ended first so that it cannot swallow the next one.
    ///
    /// # Errors
    ///
    /// [`CliError::Io`] if the file cannot be opened or written.
    pub fn open(path: &Path, append: bool) -> Result<Self, CliError> {
        let io_err = |e| CliError::io("cannot write job log", path, e);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(!append)
            .open(path)
            .map_err(|e| CliError::io("cannot open job log", path, e))?;
        let len = file.metadata().map_err(io_err)?.len();
        if len == 0 {
            file.write_all(format!("{HEADER}\n").as_bytes())
                .map_err(io_err)?;
        } else {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::End(-1)).map_err(io_err)?;
            file.read_exact(&mut last).map_err(io_err)?;
            file.seek(SeekFrom::End(0)).map_err(io_err)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(io_err)?;
            }
        }
        Ok(JobLog {
            file,
            path: path.to_owned(),
        })
    }

    /// Appends `entry` in one write; the operating system has it when this returns.
    ///
    /// # Errors
    ///
    /// [`CliError::Io`] if it cannot be written.
    pub fn write(&mut self, entry: &Entry<'_>) -> Result<(), CliError> {
        self.file
            .write_all(entry.to_line().as_bytes())
            .map_err(|e| CliError::io("cannot write job log", &self.path, e))
    }
}

/// What an earlier run's job log says about each id: the best outcome seen (ok over anything).
#[derive(Debug, Default)]
pub struct History {
    outcomes: HashMap<String, Outcome>,
}

impl History {
    /// Reads the job log at `path`; a missing file is an empty history. Lines cut short by a
    /// killed run, and lines that do not parse, are ignored: those jobs run again.
    ///
    /// # Errors
    ///
    /// [`CliError::Io`] if the file exists but cannot be read.
    pub fn read(path: &Path) -> Result<Self, CliError> {
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(History::default()),
            Err(e) => return Err(CliError::io("cannot read job log", path, e)),
        };
        let mut history = History::default();
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        for line in complete.lines() {
            if line == HEADER {
                continue;
            }
            if let Some((id, outcome)) = parse_line(line) {
                let best = history.outcomes.entry(id).or_insert(outcome);
                if outcome == Outcome::Ok || *best != Outcome::Ok {
                    *best = outcome;
                }
            }
        }
        Ok(history)
    }

    /// The outcome recorded for `id`, if any.
    pub fn outcome(&self, id: &str) -> Option<Outcome> {
        self.outcomes.get(id).copied()
    }
}

fn parse_line(line: &str) -> Option<(String, Outcome)> {
    let fields: Vec<&str> = line.split('\t').collect();
    if fields.len() < 7 {
        return None;
    }
    let exit: i32 = fields[2].parse().ok()?;
    let signal: i32 = fields[3].parse().ok()?;
    let outcome = match fields.get(7) {
        Some(name) => Outcome::from_name(name)?,
        // A log without the outcome column: exit status alone decides.
        None if exit == 0 && signal == 0 => Outcome::Ok,
        None => Outcome::Failed,
    };
    Some((unescape(fields[0]), outcome))
}

/// Escapes what would break a tab-separated line.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(id: &'a str, outcome: Outcome) -> Entry<'a> {
        Entry {
            id,
            cmd: "echo\t\"a\\b\"\nx",
            exit: Some(if outcome == Outcome::Ok { 0 } else { 1 }),
            signal: None,
            attempts: 1,
            start: UNIX_EPOCH + Duration::from_millis(1_700_000_000_250),
            duration: Duration::from_millis(1_500),
            outcome,
        }
    }

    #[test]
    fn a_line_has_eight_tab_separated_fields_with_escapes() {
        let line = entry("a\tb", Outcome::Ok).to_line();
        assert_eq!(
            line,
            "a\\tb\techo\\t\"a\\\\b\"\\nx\t0\t0\t1\t1700000000.250\t1.500\tok\n"
        );
        assert_eq!(unescape("a\\tb"), "a\tb");
        assert_eq!(unescape(&escape("x\\n\ty\r\n")), "x\\n\ty\r\n");
    }

    #[test]
    fn history_keeps_the_best_outcome_and_ignores_a_cut_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut log = JobLog::open(&path, false).unwrap();
        log.write(&entry("1", Outcome::Failed)).unwrap();
        log.write(&entry("1", Outcome::Ok)).unwrap();
        log.write(&entry("2", Outcome::Ok)).unwrap();
        log.write(&entry("2", Outcome::Failed)).unwrap();
        log.write(&entry("3", Outcome::Cancelled)).unwrap();
        drop(log);
        // A run killed in the middle of a write.
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("4\ttrue\t0\t0\t1\t17");
        std::fs::write(&path, &text).unwrap();

        let history = History::read(&path).unwrap();
        assert_eq!(history.outcome("1"), Some(Outcome::Ok));
        assert_eq!(history.outcome("2"), Some(Outcome::Ok));
        assert_eq!(history.outcome("3"), Some(Outcome::Cancelled));
        assert_eq!(history.outcome("4"), None);

        // Appending ends the cut line first, so the next entry stays whole.
        let mut log = JobLog::open(&path, true).unwrap();
        log.write(&entry("4", Outcome::Ok)).unwrap();
        drop(log);
        assert_eq!(
            History::read(&path).unwrap().outcome("4"),
            Some(Outcome::Ok)
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().next(), Some(HEADER));
        assert_eq!(text.matches(HEADER).count(), 1);
    }

    #[test]
    fn a_missing_log_is_an_empty_history() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::read(&dir.path().join("none")).unwrap();
        assert_eq!(history.outcome("1"), None);
    }
}
