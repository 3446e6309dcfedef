//! The job list: one shell command per line, or one JSON object per line, told apart line by
//! line (a line whose first character is `{` followed by a `"` or a `}`, spaces aside, is
//! JSON; `{ echo a; } > f` is a shell command).
//!
//! [`JobReader`] reads the list one job at a time, so that jobs can start while the rest is
//! still arriving; [`read_jobs`] reads and checks it whole first.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use workpool::Priority;

use crate::error::CliError;
use crate::units::parse_duration;

/// One job of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// Its 1-based line number in the input.
    pub line: usize,
    /// Its 1-based number among the jobs (GNU parallel's `{#}`; comments and blank lines do
    /// not count).
    pub seq: usize,
    /// Its id: the JSON `id`, or `seq`.
    pub id: String,
    /// The shell command, run with `sh -c`.
    pub cmd: String,
    /// Its priority level (0-255; 128 is normal).
    pub priority: u8,
    /// Its own per-run timeout, overriding `--timeout`.
    pub timeout: Option<Duration>,
    /// Its own retry count, overriding `--retries`.
    pub retries: Option<u32>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Its working directory.
    pub cwd: Option<PathBuf>,
    /// The input arguments the command was made from (for `--tag` and `--results DIR`);
    /// a whole-command line is its own one argument.
    pub args: Vec<String>,
    /// How many of `args` each input item gave (with `-X`, `-m` and `-N` a job has several
    /// items); 0 when it has one item, all of `args`.
    pub columns: usize,
    /// Byte offsets in `cmd` where the job slot number (`{%}`) goes when the job starts.
    pub slot_at: Vec<usize>,
    /// `--pipe`: the block of input that is its standard input (else `/dev/null`).
    pub stdin: Option<crate::pipe::Block>,
    /// `true` if the id was given (JSON `id`), not the line number.
    pub explicit_id: bool,
    /// `workpool submit` only: the queue (JSON `queue`), overriding `--queue`.
    pub queue: Option<String>,
    /// `workpool submit` only: when it is first due (JSON `run_at` or `delay`).
    pub due: Option<Due>,
}

impl Default for JobSpec {
    /// An empty job: no command, normal priority, id and number 0; fill in what is known.
    fn default() -> Self {
        JobSpec {
            line: 0,
            seq: 0,
            id: String::new(),
            cmd: String::new(),
            priority: Priority::NORMAL.level(),
            timeout: None,
            retries: None,
            env: Vec::new(),
            cwd: None,
            args: Vec::new(),
            columns: 0,
            slot_at: Vec::new(),
            stdin: None,
            explicit_id: false,
            queue: None,
            due: None,
        }
    }
}

impl JobSpec {
    /// The command to run in job slot `slot` (`{%}` filled in).
    pub fn command_in_slot(&self, slot: usize) -> std::borrow::Cow<'_, str> {
        if self.slot_at.is_empty() {
            return std::borrow::Cow::Borrowed(&self.cmd);
        }
        let mut cmd = String::with_capacity(self.cmd.len() + 4 * self.slot_at.len());
        let mut from = 0;
        for &at in &self.slot_at {
            cmd.push_str(&self.cmd[from..at]);
            cmd.push_str(&slot.to_string());
            from = at;
        }
        cmd.push_str(&self.cmd[from..]);
        std::borrow::Cow::Owned(cmd)
    }
}

/// The longest single argument Linux passes to a program (`MAX_ARG_STRLEN`, 32 pages): a
/// longer command cannot be given to `sh -c`.
pub const MAX_COMMAND: usize = 32 * 4096 - 1;

/// Checks what the kernel would refuse at start: a NUL byte, a command too long.
///
/// # Errors
///
/// What is wrong, as a message.
pub fn check_command(cmd: &str) -> Result<(), String> {
    if cmd.contains('\0') {
        return Err("a NUL character cannot be passed to a command".to_owned());
    }
    if cmd.len() > MAX_COMMAND {
        return Err(format!(
            "the command is {} bytes, more than the {MAX_COMMAND} one argument may have",
            cmd.len()
        ));
    }
    Ok(())
}

/// Reads a job list one job at a time: each item is the next job, or the error that ends
/// the list.
#[derive(Debug)]
pub struct JobReader<R> {
    reader: R,
    source: String,
    delimiter: u8,
    line: usize,
    seq: usize,
    first_line_of: HashMap<String, usize>,
    buf: Vec<u8>,
    failed: bool,
    dialect: Dialect,
}

impl<R: BufRead> JobReader<R> {
    /// A reader of `reader`, named `source` in errors; lines end with a newline.
    pub fn new(reader: R, source: &str) -> Self {
        JobReader {
            reader,
            source: source.to_owned(),
            delimiter: b'\n',
            line: 0,
            seq: 0,
            first_line_of: HashMap::new(),
            buf: Vec::new(),
            failed: false,
            dialect: Dialect::Run,
        }
    }

    /// JSON lines may have the fields of `dialect` (`Dialect::Run` by default).
    pub fn dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// Lines end with a NUL byte instead (`-0`).
    pub fn null_separated(mut self, null: bool) -> Self {
        self.delimiter = if null { 0 } else { b'\n' };
        self
    }

    fn next_job(&mut self) -> Result<Option<JobSpec>, CliError> {
        loop {
            self.buf.clear();
            let n = self
                .reader
                .read_until(self.delimiter, &mut self.buf)
                .map_err(|err| CliError::io("cannot read", self.source.as_ref(), err))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            let line = self.line;
            let text = crate::bytes::decode(&self.buf)
                .map_err(|message| CliError::input(line, message))?;
            if looks_like_json(&text) && std::str::from_utf8(&self.buf).is_err() {
                return Err(CliError::input(
                    line,
                    "not valid UTF-8, which a JSON line must be",
                ));
            }
            let text = text.into_owned();
            let text = text.as_str();
            let text = text.strip_suffix(self.delimiter as char).unwrap_or(text);
            let text = if self.delimiter == 0 {
                text
            } else {
                text.trim()
            };
            if text.trim().is_empty() || (self.delimiter != 0 && text.starts_with('#')) {
                continue;
            }
            self.seq += 1;
            let job = parse_line(line, self.seq, text, self.dialect)
                .map_err(|message| CliError::input(line, message))?;
            if let Some(first) = self.first_line_of.insert(job.id.clone(), line) {
                return Err(CliError::input(
                    line,
                    format!("duplicate id \"{}\" (first used on line {first})", job.id),
                ));
            }
            return Ok(Some(job));
        }
    }
}

impl<R: BufRead> Iterator for JobReader<R> {
    type Item = Result<JobSpec, CliError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.next_job();
        self.failed = next.is_err();
        next.transpose()
    }
}

/// When a submitted job is first due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// This long after it is submitted.
    Delay(Duration),
    /// At this time.
    At(SystemTime),
}

/// Which fields a JSON line may have: `run`'s, or `submit`'s (which adds the queue fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `workpool run`.
    Run,
    /// `workpool submit`: also `queue`, `run_at` and `delay`.
    Submit,
}

/// The fields a JSON job line may have.
const FIELDS: [&str; 7] = ["cmd", "id", "priority", "timeout", "retries", "env", "cwd"];
/// The fields only `workpool submit` reads.
const SUBMIT_FIELDS: [&str; 3] = ["queue", "run_at", "delay"];

/// Reads and checks every line of `reader`.
///
/// # Errors
///
/// [`CliError::Input`] naming the first bad line and what is wrong with it, or
/// [`CliError::Io`] if the input cannot be read.
// For callers that take a whole list at once; `run` streams through `JobReader`.
#[allow(dead_code)]
pub fn read_jobs(reader: impl BufRead, source: &str) -> Result<Vec<JobSpec>, CliError> {
    read_jobs_as(reader, source, Dialect::Run)
}

/// Reads and checks every line of `reader`, with the fields of `dialect`.
///
/// # Errors
///
/// As [`read_jobs`].
pub fn read_jobs_as(
    reader: impl BufRead,
    source: &str,
    dialect: Dialect,
) -> Result<Vec<JobSpec>, CliError> {
    JobReader::new(reader, source).dialect(dialect).collect()
}

/// `true` if `text` is a JSON object rather than a shell command: `{` then, spaces aside,
/// `"` or `}`. A shell's `{ cmd; }` group has a space and a word after the brace.
pub fn looks_like_json(text: &str) -> bool {
    text.strip_prefix('{')
        .map(|rest| rest.trim_start())
        .is_some_and(|rest| rest.starts_with('"') || rest.starts_with('}'))
}

/// Parses one non-blank, non-comment line, with the fields of `dialect`.
pub fn parse_line(
    line: usize,
    seq: usize,
    text: &str,
    dialect: Dialect,
) -> Result<JobSpec, String> {
    let mut job = JobSpec {
        line,
        seq,
        id: seq.to_string(),
        cmd: text.to_owned(),
        ..JobSpec::default()
    };
    if looks_like_json(text) {
        let value: Value = serde_json::from_str(text)
            .map_err(|err| format!("invalid JSON: {}", json_error(&err)))?;
        let Value::Object(fields) = value else {
            return Err("invalid JSON: expected an object".to_owned());
        };
        read_fields(&mut job, fields, dialect)?;
        if crate::bytes::has_reserved(&job.cmd)
            || job.env.iter().any(|(_, v)| crate::bytes::has_reserved(v))
        {
            return Err(crate::bytes::reserved_error());
        }
    }
    check_command(&job.cmd)?;
    job.args = vec![job.cmd.clone()];
    Ok(job)
}

/// Fills `job` from a JSON object, checking each field.
fn read_fields(
    job: &mut JobSpec,
    mut fields: Map<String, Value>,
    dialect: Dialect,
) -> Result<(), String> {
    let known =
        |k: &str| FIELDS.contains(&k) || (dialect == Dialect::Submit && SUBMIT_FIELDS.contains(&k));
    if let Some(unknown) = fields.keys().find(|k| !known(k)) {
        let extra = match dialect {
            Dialect::Run if SUBMIT_FIELDS.contains(&unknown.as_str()) => {
                " (queue, run_at and delay are for workpool submit)"
            }
            Dialect::Run => " (expected one of cmd, id, priority, timeout, retries, env, cwd)",
            Dialect::Submit => " (expected one of cmd, id, priority, timeout, retries, env, cwd, queue, run_at, delay)",
        };
        return Err(format!("unknown field \"{unknown}\"{extra}"));
    }
    read_submit_fields(job, &mut fields)?;
    job.cmd = match fields.remove("cmd") {
        None | Some(Value::Null) => return Err("missing \"cmd\"".to_owned()),
        Some(Value::String(cmd)) if cmd.trim().is_empty() => {
            return Err("\"cmd\" is empty".to_owned())
        }
        Some(Value::String(cmd)) => cmd,
        Some(other) => return Err(format!("\"cmd\" must be a string, got {other}")),
    };
    match fields.remove("id") {
        None | Some(Value::Null) => {}
        Some(Value::String(id)) if id.is_empty() => return Err("\"id\" is empty".to_owned()),
        Some(Value::String(id)) => {
            job.id = id;
            job.explicit_id = true;
        }
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => {
            job.id = n.to_string();
            job.explicit_id = true;
        }
        Some(other) => {
            return Err(format!(
                "\"id\" must be a string or a whole number, got {other}"
            ))
        }
    }
    if let Some(priority) = fields.remove("priority") {
        job.priority = parse_priority(&priority)?;
    }
    match fields.remove("timeout") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => {
            job.timeout = Some(parse_duration(&text).map_err(|e| format!("\"timeout\": {e}"))?);
        }
        Some(Value::Number(n)) => {
            match n.as_f64().and_then(|s| Duration::try_from_secs_f64(s).ok()) {
                Some(d) => job.timeout = Some(d),
                None => {
                    return Err(format!(
                        "\"timeout\" must be a duration like \"30s\", got {n}"
                    ))
                }
            }
        }
        Some(other) => {
            return Err(format!(
                "\"timeout\" must be a duration like \"30s\", got {other}"
            ))
        }
    }
    match fields.remove("retries") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => job.retries = Some(n),
            None => {
                return Err(format!(
                    "\"retries\" must be a whole number from 0, got {n}"
                ))
            }
        },
        Some(other) => {
            return Err(format!(
                "\"retries\" must be a whole number from 0, got {other}"
            ))
        }
    }
    match fields.remove("env") {
        None | Some(Value::Null) => {}
        Some(Value::Object(vars)) => {
            for (name, value) in vars {
                if name.is_empty() || name.contains('=') || name.contains('\0') {
                    return Err(format!("\"env\": invalid variable name \"{name}\""));
                }
                let value = match value {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        return Err(format!(
                        "\"env\": \"{name}\" must be a string, a number or a boolean, got {other}"
                    ))
                    }
                };
                job.env.push((name, value));
            }
        }
        Some(other) => return Err(format!("\"env\" must be an object, got {other}")),
    }
    match fields.remove("cwd") {
        None | Some(Value::Null) => {}
        Some(Value::String(dir)) if !dir.is_empty() => {
            if !std::path::Path::new(&dir).is_dir() {
                return Err(format!("\"cwd\": no such directory {dir}"));
            }
            job.cwd = Some(PathBuf::from(dir));
        }
        Some(other) => return Err(format!("\"cwd\" must be a directory path, got {other}")),
    }
    if job.env.iter().any(|(_, v)| v.contains('\0')) {
        return Err("a NUL character cannot be passed to a command".to_owned());
    }
    Ok(())
}

/// `queue`, `run_at` and `delay` (present only where the dialect allows them).
fn read_submit_fields(job: &mut JobSpec, fields: &mut Map<String, Value>) -> Result<(), String> {
    match fields.remove("queue") {
        None | Some(Value::Null) => {}
        Some(Value::String(q)) if !q.is_empty() => job.queue = Some(q),
        Some(other) => return Err(format!("\"queue\" must be a queue name, got {other}")),
    }
    let run_at = fields.remove("run_at").filter(|v| !v.is_null());
    let delay = fields.remove("delay").filter(|v| !v.is_null());
    job.due = match (run_at, delay) {
        (Some(_), Some(_)) => return Err("give \"run_at\" or \"delay\", not both".to_owned()),
        (Some(at), None) => Some(Due::At(parse_run_at(&at)?)),
        (None, Some(Value::String(text))) => Some(Due::Delay(
            parse_duration(&text).map_err(|e| format!("\"delay\": {e}"))?,
        )),
        (None, Some(Value::Number(n))) => {
            match n.as_f64().and_then(|s| Duration::try_from_secs_f64(s).ok()) {
                Some(d) => Some(Due::Delay(d)),
                None => {
                    return Err(format!(
                        "\"delay\" must be a duration like \"30s\", got {n}"
                    ))
                }
            }
        }
        (None, Some(other)) => {
            return Err(format!(
                "\"delay\" must be a duration like \"30s\", got {other}"
            ))
        }
        (None, None) => None,
    };
    Ok(())
}

/// A JSON `run_at`: unix seconds, or an RFC 3339 time like `2026-12-01T08:00:00Z`.
fn parse_run_at(value: &Value) -> Result<SystemTime, String> {
    let bad = || {
        format!(
            "\"run_at\" must be unix seconds or a time like \"2026-12-01T08:00:00Z\", got {value}"
        )
    };
    match value {
        Value::Number(n) => n
            .as_f64()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .and_then(|d| UNIX_EPOCH.checked_add(d))
            .ok_or_else(bad),
        Value::String(text) => rfc3339(text).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`, from 1970 on.
fn rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let kept = &frac[..digits.min(9)];
        nanos = kept.parse::<u32>().ok()? * 10u32.pow(9 - kept.len() as u32);
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let h: i64 = rest[1..3].parse().ok()?;
            let m: i64 = rest[4..6].parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// A JSON `priority`: 0-255, or `"low"`, `"normal"`, `"high"`.
fn parse_priority(value: &Value) -> Result<u8, String> {
    let bad =
        || format!("\"priority\" must be 0-255 or \"low\", \"normal\" or \"high\", got {value}");
    match value {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .ok_or_else(bad),
        Value::String(name) => match name.to_ascii_lowercase().as_str() {
            "low" => Ok(Priority::LOW.level()),
            "normal" => Ok(Priority::NORMAL.level()),
            "high" => Ok(Priority::HIGH.level()),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// serde_json's message without its "at line 1 column N" (every input line is line 1 to it),
/// with the column kept.
fn json_error(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let message = text
        .rfind(" at line ")
        .map_or(text.as_str(), |at| &text[..at]);
    format!("{message} at column {}", err.column())
}

/// A priority level for people: `low`, `normal`, `high`, or the number.
pub fn priority_name(level: u8) -> String {
    match Priority::new(level) {
        Priority::LOW => "low".to_owned(),
        Priority::NORMAL => "normal".to_owned(),
        Priority::HIGH => "high".to_owned(),
        _ => level.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<JobSpec>, String> {
        read_jobs(text.as_bytes(), "test").map_err(|e| e.to_string())
    }

    #[test]
    fn plain_lines_are_commands_with_their_job_number_as_id() {
        let jobs = read("echo a\n\n# a comment\n  echo b  \r\n{ echo c; } >&2\n").unwrap();
        assert_eq!(jobs.len(), 3);
        assert_eq!((jobs[0].id.as_str(), jobs[0].cmd.as_str()), ("1", "echo a"));
        // Comments and blank lines do not count: adding one shifts no id.
        assert_eq!((jobs[1].id.as_str(), jobs[1].cmd.as_str()), ("2", "echo b"));
        assert_eq!((jobs[1].line, jobs[2].cmd.as_str()), (4, "{ echo c; } >&2"));
        assert_eq!(jobs[1].priority, 128);
    }

    #[test]
    fn json_lines_carry_every_field() {
        let jobs = read(
            r#"{"cmd": "make", "id": "build", "priority": "high", "timeout": "30s", "retries": 2, "env": {"A": "1", "N": 3}, "cwd": "/tmp"}
{"cmd": "ls", "id": 7, "priority": 10}"#,
        )
        .unwrap();
        let job = &jobs[0];
        assert_eq!(job.id, "build");
        assert_eq!(job.priority, 255);
        assert_eq!(job.timeout, Some(Duration::from_secs(30)));
        assert_eq!(job.retries, Some(2));
        assert_eq!(
            job.env,
            [("A".into(), "1".into()), ("N".into(), "3".into())]
        );
        assert_eq!(job.cwd, Some(PathBuf::from("/tmp")));
        assert_eq!((jobs[1].id.as_str(), jobs[1].priority), ("7", 10));
    }

    #[test]
    fn bad_lines_are_named_with_what_is_wrong() {
        let cases = [
            (
                "true\n{\"cmd\": \"x\"\n",
                "input line 2: invalid JSON: EOF while parsing an object at column 11",
            ),
            ("true\ntrue\n{\"id\": 1}", "input line 3: missing \"cmd\""),
            (
                "{\"cmd\": 5}",
                "input line 1: \"cmd\" must be a string, got 5",
            ),
            ("{\"cmd\": \" \"}", "input line 1: \"cmd\" is empty"),
            (
                "{\"cmd\": \"x\", \"tiemout\": \"1s\"}",
                "input line 1: unknown field \"tiemout\"",
            ),
            (
                "{\"cmd\": \"x\", \"priority\": 256}",
                "input line 1: \"priority\" must be 0-255",
            ),
            (
                "{\"cmd\": \"x\", \"priority\": \"urgent\"}",
                "input line 1: \"priority\" must be 0-255",
            ),
            (
                "{\"cmd\": \"x\", \"timeout\": \"soon\"}",
                "input line 1: \"timeout\": invalid duration \"soon\"",
            ),
            (
                "{\"cmd\": \"x\", \"retries\": -1}",
                "input line 1: \"retries\" must be a whole number",
            ),
            (
                "{\"cmd\": \"x\", \"env\": [1]}",
                "input line 1: \"env\" must be an object",
            ),
            (
                "{\"cmd\": \"x\", \"env\": {\"A\": null}}",
                "input line 1: \"env\": \"A\" must be a string",
            ),
            (
                "{\"cmd\": \"x\", \"cwd\": 3}",
                "input line 1: \"cwd\" must be a directory path",
            ),
            (
                "{\"cmd\": \"x\", \"cwd\": \"/no/such/dir\"}",
                "input line 1: \"cwd\": no such directory /no/such/dir",
            ),
            (
                "{\"cmd\": \"a\\u0000b\"}",
                "input line 1: a NUL character cannot be passed to a command",
            ),
            (
                "{\"cmd\": \"x\", \"id\": [1]}",
                "input line 1: \"id\" must be a string or a whole number",
            ),
            (
                "{\"cmd\": \"a\", \"id\": \"x\"}\n{\"cmd\": \"b\", \"id\": \"x\"}",
                "input line 2: duplicate id \"x\" (first used on line 1)",
            ),
            (
                "{\"cmd\": \"a\", \"id\": 2}\ntrue",
                "input line 2: duplicate id \"2\" (first used on line 1)",
            ),
        ];
        for (input, expected) in cases {
            let err = read(input).unwrap_err();
            assert!(err.starts_with(expected), "{input:?}: {err}");
        }
    }

    #[test]
    fn submit_lines_carry_queue_and_due_time() {
        let jobs = read_jobs_as(
            &br#"{"cmd": "a", "queue": "q", "delay": "90s"}
{"cmd": "b", "run_at": "2026-12-01T08:00:00.5+01:00"}
{"cmd": "c", "run_at": 1800000000}
echo d"#[..],
            "test",
            Dialect::Submit,
        )
        .unwrap();
        assert_eq!(jobs[0].queue.as_deref(), Some("q"));
        assert_eq!(jobs[0].due, Some(Due::Delay(Duration::from_secs(90))));
        let at = UNIX_EPOCH + Duration::from_millis(1_796_108_400_500);
        assert_eq!(jobs[1].due, Some(Due::At(at)));
        assert_eq!(
            jobs[2].due,
            Some(Due::At(UNIX_EPOCH + Duration::from_secs(1_800_000_000)))
        );
        assert!(!jobs[3].explicit_id);
        for (line, expected) in [
            (
                r#"{"cmd": "a", "run_at": "tomorrow"}"#,
                "input line 1: \"run_at\" must be",
            ),
            (
                r#"{"cmd": "a", "run_at": 1, "delay": "1s"}"#,
                "input line 1: give \"run_at\" or \"delay\"",
            ),
            (
                r#"{"cmd": "a", "delay": -1}"#,
                "input line 1: \"delay\" must be",
            ),
            (
                r#"{"cmd": "a", "queue": 3}"#,
                "input line 1: \"queue\" must be",
            ),
        ] {
            let err = read_jobs_as(line.as_bytes(), "test", Dialect::Submit).unwrap_err();
            assert!(err.to_string().starts_with(expected), "{line}: {err}");
        }
        let err = read(r#"{"cmd": "a", "delay": "1s"}"#).unwrap_err();
        assert!(err.contains("are for workpool submit"), "{err}");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_carried_and_json_must_be_utf8() {
        let jobs = read_jobs(&b"true\necho caf\xe9\n"[..], "test").unwrap();
        assert_eq!(&*crate::bytes::encode(&jobs[1].cmd), b"echo caf\xe9");
        let err = read_jobs(&b"true\n{\"cmd\": \"\xff\"}\n"[..], "test").unwrap_err();
        assert_eq!(
            err.to_string(),
            "input line 2: not valid UTF-8, which a JSON line must be"
        );
        let err = read_jobs(&br#"{"cmd": "echo \udbff\udf90"}"#[..], "test").unwrap_err();
        assert!(err.to_string().contains("U+10FF80"), "{err}");
    }
}
