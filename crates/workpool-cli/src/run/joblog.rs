//! The job log: a tab-separated line per finished job, written in one `write` as soon as the
//! job ends, so that a run killed at any moment leaves a log that a rerun with `--resume` can
//! trust.
//!
//! The columns are GNU parallel's, so that tools reading its logs read ours, then three of
//! workpool's own:
//!
//! ```text
//! Seq  Host  Starttime  JobRuntime  Send  Receive  Exitval  Signal  Command  Id  Attempts  Outcome
//! ```
//!
//! `Seq` is the job's number in the input (`{#}`), `Host` is `:` (this machine), `Starttime`
//! the first run's start in unix seconds, `JobRuntime` the seconds from there to the end of the
//! last run, `Send` 0 (jobs get no input), `Receive` the bytes of output, `Exitval` the exit
//! code (0 when a signal ended the job, as GNU parallel writes it, -1 if it could not start),
//! `Signal` the signal that ended it (0 if none). `Id` is the JSON `id`, or `Seq`; `Outcome` is
//! `ok`, `failed`, `timeout` or `cancelled`. Tabs, newlines and backslashes in ids and commands
//! are escaped as `\t`, `\n`, `\r` and `\\`.
//!
//! [`History`] reads this format, GNU parallel's own (the first nine columns) and workpool's
//! earlier one (`id cmd exit signal attempts start duration outcome`).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::CliError;

/// The header line.
pub const HEADER: &str = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\tId\tAttempts\tOutcome";
/// The header of GNU parallel's job log: ours starts with it.
const GNU_HEADER: &str =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand";
/// The header of workpool's earlier job log.
const OLD_HEADER: &str = "id\tcmd\texit\tsignal\tattempts\tstart\tduration\toutcome";

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
    /// The job's number in the input, from 1.
    pub seq: usize,
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
    /// The bytes of output of its last run.
    pub received: u64,
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
        let exit = match (self.exit, self.signal) {
            (Some(code), _) => code,
            (None, Some(_)) => 0,
            (None, None) => -1,
        };
        format!(
            "{}\t:\t{start:.3}\t{:10.3}\t0\t{}\t{exit}\t{}\t{}\t{}\t{}\t{}\n",
            self.seq,
            self.duration.as_secs_f64(),
            self.received,
            self.signal.unwrap_or(0),
            escape(self.cmd),
            escape(self.id),
            self.attempts,
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
            // Commands keep the bytes of their input, as GNU parallel's log does.
            .write_all(&crate::bytes::encode(&entry.to_line()))
            .map_err(|e| CliError::io("cannot write job log", &self.path, e))
    }
}

/// What an earlier run's job log says about each id: for each command it had under that id,
/// the best outcome seen (ok over anything).
#[derive(Debug, Default)]
pub struct History {
    outcomes: HashMap<String, Vec<(String, Outcome)>>,
    /// Each id and command as first logged, in the log's order, with its `Seq`.
    order: Vec<(usize, String, String)>,
}

/// A job of the log that did not succeed, for `--retry-failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    /// Its `Seq`.
    pub seq: usize,
    /// Its id (its `Seq` unless it was a JSON job with an `id`).
    pub id: String,
    /// Its command, as it ran.
    pub cmd: String,
}

/// What the job log says about one job of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Nothing under its id.
    Nothing,
    /// Its id with the same command, and the best outcome seen.
    Same(Outcome),
    /// Its id, but with another command (the first one logged).
    OtherCommand(String),
}

#[derive(Clone, Copy)]
enum Format {
    Ours,
    Gnu,
    Old,
}

impl History {
    /// Reads the job log at `path`; a missing or empty file is an empty history. Lines cut
    /// short by a killed run, and lines that do not parse, are ignored: those jobs run again.
    ///
    /// # Errors
    ///
    /// [`CliError::Io`] if the file exists but cannot be read, [`CliError::Usage`] if it is not
    /// a job log (its first line is none of the known headers).
    pub fn read(path: &Path) -> Result<Self, CliError> {
        let text = match std::fs::read(path) {
            Ok(bytes) => match crate::bytes::decode(&bytes) {
                Ok(text) => text.into_owned(),
                Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(History::default()),
            Err(e) => return Err(CliError::io("cannot read job log", path, e)),
        };
        let mut history = History::default();
        if text.is_empty() {
            return Ok(history);
        }
        let header = text.lines().next().unwrap_or_default();
        if !(header.starts_with(GNU_HEADER) || header == OLD_HEADER) {
            return Err(CliError::usage(format!(
                "--joblog {} is not a job log (its first line is not a job log's header); \
                 refusing to resume from it or append to it",
                path.display()
            )));
        }
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        for line in complete.lines().skip(1) {
            if let Some((seq, id, cmd, outcome)) = parse_line(line) {
                let commands = history.outcomes.entry(id.clone()).or_default();
                match commands.iter_mut().find(|(c, _)| *c == cmd) {
                    Some((_, best)) => {
                        if outcome == Outcome::Ok || *best != Outcome::Ok {
                            *best = outcome;
                        }
                    }
                    None => {
                        commands.push((cmd.clone(), outcome));
                        let seq = if seq == 0 {
                            history.order.len() + 1
                        } else {
                            seq
                        };
                        history.order.push((seq, id, cmd));
                    }
                }
            }
        }
        Ok(history)
    }

    /// What the log says about the job with this id and command.
    pub fn recorded(&self, id: &str, cmd: &str) -> Recorded {
        match self.outcomes.get(id) {
            None => Recorded::Nothing,
            Some(commands) => match commands.iter().find(|(c, _)| c == cmd) {
                Some((_, outcome)) => Recorded::Same(*outcome),
                None => Recorded::OtherCommand(commands[0].0.clone()),
            },
        }
    }

    /// The best outcome recorded for `id` with any command, if any.
    #[cfg(test)]
    pub fn outcome(&self, id: &str) -> Option<Outcome> {
        let commands = self.outcomes.get(id)?;
        commands
            .iter()
            .map(|(_, o)| *o)
            .find(|o| *o == Outcome::Ok)
            .or_else(|| commands.first().map(|(_, o)| *o))
    }

    /// The ids in the log.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.outcomes.keys().map(String::as_str)
    }

    /// The jobs that never succeeded (failed, timed out or cancelled in every line the log
    /// has of them), in the order they were first logged.
    pub fn unfinished(&self) -> impl Iterator<Item = Unfinished> + '_ {
        self.order
            .iter()
            .filter(|(_, id, cmd)| self.recorded(id, cmd) != Recorded::Same(Outcome::Ok))
            .map(|(seq, id, cmd)| Unfinished {
                seq: *seq,
                id: id.clone(),
                cmd: cmd.clone(),
            })
    }
}

/// One line of any of the three formats, told apart line by line: a resumed run appends
/// lines of today's format to an older log.
fn parse_line(line: &str) -> Option<(usize, String, String, Outcome)> {
    let fields: Vec<&str> = line.split('\t').collect();
    let format = if fields.len() >= 9 && fields[1] == ":" {
        if fields.len() == 12 && Outcome::from_name(fields[11]).is_some() {
            Format::Ours
        } else {
            Format::Gnu
        }
    } else {
        Format::Old
    };
    let by_status = |exit: i32, signal: i32| {
        if exit == 0 && signal == 0 {
            Outcome::Ok
        } else {
            Outcome::Failed
        }
    };
    match format {
        Format::Ours | Format::Gnu => {
            if fields.len() < 9 {
                return None;
            }
            let seq: usize = fields[0].parse().ok()?;
            let exit: i32 = fields[6].trim().parse().ok()?;
            let signal: i32 = fields[7].trim().parse().ok()?;
            if let Format::Ours = format {
                let outcome = Outcome::from_name(fields[11])?;
                return Some((seq, unescape(fields[9]), unescape(fields[8]), outcome));
            }
            // GNU parallel's command is the rest of the line, tabs and all.
            let cmd = fields[8..].join("\t");
            Some((
                seq,
                seq.to_string(),
                unescape(&cmd),
                by_status(exit, signal),
            ))
        }
        Format::Old => {
            if fields.len() < 7 {
                return None;
            }
            let exit: i32 = fields[2].parse().ok()?;
            let signal: i32 = fields[3].parse().ok()?;
            let outcome = match fields.get(7) {
                Some(name) => Outcome::from_name(name)?,
                None => by_status(exit, signal),
            };
            // This format has no `Seq`: the line's place among the jobs stands in for it.
            Some((0, unescape(fields[0]), unescape(fields[1]), outcome))
        }
    }
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
            seq: 7,
            id,
            cmd: "echo\t\"a\\b\"\nx",
            exit: Some(if outcome == Outcome::Ok { 0 } else { 1 }),
            signal: None,
            attempts: 1,
            start: UNIX_EPOCH + Duration::from_millis(1_700_000_000_250),
            duration: Duration::from_millis(1_500),
            received: 12,
            outcome,
        }
    }

    #[test]
    fn a_line_has_gnu_parallels_columns_then_ours_with_escapes() {
        let line = entry("a\tb", Outcome::Ok).to_line();
        assert_eq!(
            line,
            "7\t:\t1700000000.250\t     1.500\t0\t12\t0\t0\techo\\t\"a\\\\b\"\\nx\ta\\tb\t1\tok\n"
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
        text.push_str("4\t:\t17");
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
    fn gnu_parallels_and_the_earlier_logs_are_read_and_other_files_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(
            &path,
            format!("{GNU_HEADER}\n1\t:\t1.0\t0.1\t0\t0\t0\t0\techo a\n2\t:\t1.0\t0.1\t0\t0\t0\t15\techo\tb\n"),
        )
        .unwrap();
        let history = History::read(&path).unwrap();
        assert_eq!(history.recorded("1", "echo a"), Recorded::Same(Outcome::Ok));
        assert_eq!(
            history.recorded("2", "echo\tb"),
            Recorded::Same(Outcome::Failed)
        );
        assert_eq!(
            history.recorded("1", "echo z"),
            Recorded::OtherCommand("echo a".to_owned())
        );
        std::fs::write(
            &path,
            format!("{OLD_HEADER}\nx\ttrue\t0\t0\t1\t1.0\t0.1\tok\n"),
        )
        .unwrap();
        let history = History::read(&path).unwrap();
        assert_eq!(history.recorded("x", "true"), Recorded::Same(Outcome::Ok));
        std::fs::write(&path, "{\"id\": 1}\n").unwrap();
        let err = History::read(&path).unwrap_err().to_string();
        assert!(err.contains("is not a job log"), "{err}");
    }

    #[test]
    fn the_unfinished_jobs_are_those_that_never_succeeded_in_log_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(
            &path,
            format!(
                "{GNU_HEADER}\n3\t:\t1.0\t0.1\t0\t0\t2\t0\techo c\n\
                 1\t:\t1.0\t0.1\t0\t0\t1\t0\techo a\n\
                 2\t:\t1.0\t0.1\t0\t0\t0\t0\techo b\n\
                 1\t:\t1.0\t0.1\t0\t0\t0\t9\techo a\n\
                 3\t:\t1.0\t0.1\t0\t0\t0\t0\techo c\n"
            ),
        )
        .unwrap();
        let unfinished: Vec<Unfinished> = History::read(&path).unwrap().unfinished().collect();
        assert_eq!(
            unfinished,
            [Unfinished {
                seq: 1,
                id: "1".to_owned(),
                cmd: "echo a".to_owned()
            }]
        );
    }

    #[test]
    fn a_missing_log_is_an_empty_history() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::read(&dir.path().join("none")).unwrap();
        assert_eq!(history.outcome("1"), None);
    }
}
