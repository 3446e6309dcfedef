//! The job list: one shell command per line, or one JSON object per line, told apart line by
//! line (a line whose first character is `{` followed by a `"` or a `}`, spaces aside, is
//! JSON; `{ echo a; } > f` is a shell command).
//!
//! [`JobReader`] reads the list one job at a time, so that jobs can start while the rest is
//! still arriving; [`read_jobs`] reads and checks it whole first.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Byte offsets in `cmd` where the job slot number (`{%}`) goes when the job starts.
    pub slot_at: Vec<usize>,
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
        }
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
            let text = std::str::from_utf8(&self.buf)
                .map_err(|_| CliError::input(line, "not valid UTF-8"))?;
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
            let job = parse_line(line, self.seq, text)
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

/// The fields a JSON job line may have.
const FIELDS: [&str; 7] = ["cmd", "id", "priority", "timeout", "retries", "env", "cwd"];

/// Reads and checks every line of `reader`.
///
/// # Errors
///
/// [`CliError::Input`] naming the first bad line and what is wrong with it, or
/// [`CliError::Io`] if the input cannot be read.
// For the subcommands that take a whole list at once; `run` streams through `JobReader`.
#[allow(dead_code)]
pub fn read_jobs(reader: impl BufRead, source: &str) -> Result<Vec<JobSpec>, CliError> {
    JobReader::new(reader, source).collect()
}

/// `true` if `text` is a JSON object rather than a shell command: `{` then, spaces aside,
/// `"` or `}`. A shell's `{ cmd; }` group has a space and a word after the brace.
pub fn looks_like_json(text: &str) -> bool {
    text.strip_prefix('{')
        .map(|rest| rest.trim_start())
        .is_some_and(|rest| rest.starts_with('"') || rest.starts_with('}'))
}

/// Parses one non-blank, non-comment line.
pub fn parse_line(line: usize, seq: usize, text: &str) -> Result<JobSpec, String> {
    let mut job = JobSpec {
        line,
        seq,
        id: seq.to_string(),
        cmd: text.to_owned(),
        priority: Priority::NORMAL.level(),
        timeout: None,
        retries: None,
        env: Vec::new(),
        cwd: None,
        args: Vec::new(),
        slot_at: Vec::new(),
    };
    if looks_like_json(text) {
        let value: Value = serde_json::from_str(text)
            .map_err(|err| format!("invalid JSON: {}", json_error(&err)))?;
        let Value::Object(fields) = value else {
            return Err("invalid JSON: expected an object".to_owned());
        };
        read_fields(&mut job, fields)?;
    }
    check_command(&job.cmd)?;
    job.args = vec![job.cmd.clone()];
    Ok(job)
}

/// Fills `job` from a JSON object, checking each field.
fn read_fields(job: &mut JobSpec, mut fields: Map<String, Value>) -> Result<(), String> {
    if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "unknown field \"{unknown}\" (expected one of cmd, id, priority, timeout, retries, env, cwd)"
        ));
    }
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
        Some(Value::String(id)) => job.id = id,
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => job.id = n.to_string(),
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
    fn invalid_utf8_is_an_input_error() {
        let err = read_jobs(&b"true\n\xff\xfe\n"[..], "test").unwrap_err();
        assert_eq!(err.to_string(), "input line 2: not valid UTF-8");
    }
}
