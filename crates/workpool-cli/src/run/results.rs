//! `--results`: every finished job's outputs, in the form the name asks for.
//!
//! | name | form |
//! |---|---|
//! | `*.jsonl` | workpool's JSON Lines: id, line, cmd, outcome, exit, signal, attempts, start, duration, stdout and stderr (cut at `--max-output`), truncated |
//! | `*.csv`, `*.tsv` | GNU parallel's table: `Seq Host Starttime JobRuntime Send Receive Exitval Signal Command V1..Vn Stdout Stderr` |
//! | `*.json` | GNU parallel's JSON, an object a line with those fields (`V` an array) |
//! | anything else | GNU parallel's directory: `DIR/1/ARG1/2/ARG2/.../{stdout,stderr,seq}` |
//!
//! In a directory, each argument names a directory as GNU parallel escapes it: `\` as `\\`,
//! a tab as `\t`, `/` as `\_`. GNU parallel lets an empty argument, `.` and `..` write into
//! the directory above (`..` even out of `DIR`) and cuts long ones at the longest name the
//! file system takes, so that two long arguments can share a directory; here those three
//! become `\`, `\.` and `\..` (names its escaping never makes), and a name over 255 bytes
//! keeps its first 200 bytes, then `\~` and a hash of the whole argument. Outputs in the
//! GNU forms are whole; only the JSON Lines file cuts them.

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::Serialize;

use crate::error::CliError;
use crate::run::process::Captured;
use crate::run::slot::{Finished, Slot};

/// The longest file name most file systems take.
const NAME_MAX: usize = 255;
/// What is kept of a longer argument before its hash.
const NAME_KEPT: usize = 200;

/// Where `--results` writes.
#[derive(Debug)]
pub enum Results {
    /// `*.jsonl`.
    Lines(ResultsFile),
    /// `*.csv`, `*.tsv` or `*.json`.
    Table(TableFile),
    /// Anything else: a directory.
    Dir(PathBuf),
}

impl Results {
    /// Opens the results named `path`: a file appended to (for a resumed run) or afresh, or a
    /// directory, created if needed.
    ///
    /// # Errors
    ///
    /// [`CliError::Io`] if it cannot be opened or created; [`CliError::Usage`] for a file
    /// where a directory is meant.
    pub fn open(path: &Path, append: bool, max_output: u64) -> Result<Self, CliError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let format = match ext.as_deref() {
            Some("jsonl") => {
                return ResultsFile::open(path, append, max_output).map(Results::Lines)
            }
            Some("csv") => TableFormat::Csv,
            Some("tsv") => TableFormat::Tsv,
            Some("json") => TableFormat::Json,
            _ => {
                if path.exists() && !path.is_dir() {
                    return Err(CliError::usage(format!(
                        "--results {} is a file, and a name without .jsonl, .csv, .tsv or .json is a directory; \
                         name the results file FILE.jsonl",
                        path.display()
                    )));
                }
                fs::create_dir_all(path)
                    .map_err(|e| CliError::io("cannot create results directory", path, e))?;
                return Ok(Results::Dir(path.to_owned()));
            }
        };
        let file = open_file(path, append)?;
        let header_written = append && file.metadata().is_ok_and(|m| m.len() > 0);
        Ok(Results::Table(TableFile {
            file,
            path: path.to_owned(),
            format,
            header_written,
        }))
    }

    /// Writes one finished job.
    ///
    /// # Errors
    ///
    /// [`CliError::Io`] if it cannot be written.
    pub fn write(&mut self, slot: &Slot, done: &mut Finished) -> Result<(), CliError> {
        match self {
            Results::Lines(file) => file.write(slot, done),
            Results::Table(table) => table.write(slot, done),
            Results::Dir(dir) => write_dir(dir, slot, done),
        }
    }
}

fn open_file(path: &Path, append: bool) -> Result<File, CliError> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .map_err(|e| CliError::io("cannot open results file", path, e))
}

/// The results file in workpool's JSON Lines.
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
        Ok(ResultsFile {
            file: open_file(path, append)?,
            path: path.to_owned(),
            max_output,
        })
    }

    fn write(&mut self, slot: &Slot, done: &mut Finished) -> Result<(), CliError> {
        let (stdout, out_cut) = done.stdout.head(self.max_output);
        let (stderr, err_cut) = done.stderr.head(self.max_output);
        let lossy = crate::bytes::lossy(&slot.spec.cmd);
        let line = ResultLine {
            id: &slot.spec.id,
            line: slot.spec.line,
            cmd: lossy.as_deref().unwrap_or(&slot.spec.cmd),
            cmd_hex: lossy.is_some().then(|| crate::bytes::hex(&slot.spec.cmd)),
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

/// One line of the JSON Lines file.
#[derive(Debug, Serialize)]
struct ResultLine<'a> {
    id: &'a str,
    line: usize,
    cmd: &'a str,
    /// The command's exact bytes, when some are not UTF-8 (`cmd` has U+FFFD for them).
    #[serde(skip_serializing_if = "Option::is_none")]
    cmd_hex: Option<String>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TableFormat {
    Csv,
    Tsv,
    Json,
}

/// A results file in one of GNU parallel's forms.
#[derive(Debug)]
pub struct TableFile {
    file: File,
    path: PathBuf,
    format: TableFormat,
    header_written: bool,
}

impl TableFile {
    fn write(&mut self, slot: &Slot, done: &mut Finished) -> Result<(), CliError> {
        let io_err = |path: &Path, e| CliError::io("cannot write results file", path, e);
        let stdout = whole(&mut done.stdout).map_err(|e| io_err(&self.path, e))?;
        let stderr = whole(&mut done.stderr).map_err(|e| io_err(&self.path, e))?;
        let start = done.start.map_or(0.0, |t| {
            t.duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64()
        });
        let (exit, signal) = exit_and_signal(done);
        let numbers = [
            slot.spec.seq.to_string(),
            ":".to_owned(),
            format!("{start:.3}"),
            format!("{:.3}", done.duration.as_secs_f64()),
            "0".to_owned(),
            (stdout.len() + stderr.len()).to_string(),
            exit.to_string(),
            signal.to_string(),
        ];
        let mut text = String::new();
        match self.format {
            TableFormat::Json => {
                let values: Vec<String> = slot.spec.args.iter().map(|a| json(a)).collect();
                let _ = writeln!(
                    text,
                    "{{ \"Seq\": {}, \"Host\": \":\", \"Starttime\": {}, \"JobRuntime\": {}, \"Send\": 0, \
                     \"Receive\": {}, \"Exitval\": {}, \"Signal\": {}, \"Command\": {}, \"V\": [ {} ], \
                     \"Stdout\": {}, \"Stderr\": {} }}",
                    numbers[0],
                    numbers[2],
                    numbers[3],
                    numbers[5],
                    numbers[6],
                    numbers[7],
                    json(&slot.spec.cmd),
                    values.join(","),
                    json(&String::from_utf8_lossy(&stdout)),
                    json(&String::from_utf8_lossy(&stderr)),
                );
            }
            TableFormat::Csv | TableFormat::Tsv => {
                let sep = if self.format == TableFormat::Csv {
                    ','
                } else {
                    '\t'
                };
                if !self.header_written {
                    let mut header: Vec<String> = [
                        "Seq",
                        "Host",
                        "Starttime",
                        "JobRuntime",
                        "Send",
                        "Receive",
                        "Exitval",
                        "Signal",
                        "Command",
                    ]
                    .map(str::to_owned)
                    .to_vec();
                    header.extend((1..=slot.spec.args.len()).map(|i| format!("V{i}")));
                    header.extend(["Stdout".to_owned(), "Stderr".to_owned()]);
                    text.push_str(&header.join(&sep.to_string()));
                    text.push('\n');
                    self.header_written = true;
                }
                let mut fields: Vec<String> = numbers.to_vec();
                fields.push(slot.spec.cmd.clone());
                fields.extend(slot.spec.args.iter().cloned());
                // Each byte that is not UTF-8 is carried as its character, and written back
                // as the byte below.
                let text_of = |bytes: &[u8]| match crate::bytes::decode(bytes) {
                    Ok(text) => text.into_owned(),
                    Err(_) => String::from_utf8_lossy(bytes).into_owned(),
                };
                fields.push(text_of(&stdout));
                fields.push(text_of(&stderr));
                let fields: Vec<String> = fields.iter().map(|f| csv_field(f, sep)).collect();
                text.push_str(&fields.join(&sep.to_string()));
                text.push('\n');
            }
        }
        // CSV and TSV keep the input's bytes, as GNU parallel's do; JSON holds only text.
        self.file
            .write_all(&crate::bytes::encode(&text))
            .map_err(|e| io_err(&self.path, e))
    }
}

/// The exit code and signal as the job log writes them: exit 0 when a signal ended the job,
/// -1 when it could not start.
fn exit_and_signal(done: &Finished) -> (i32, i32) {
    let code = done.status.as_ref().and_then(|s| s.code());
    let signal = done.status.as_ref().and_then(|s| s.signal());
    let exit = match (code, signal) {
        (Some(code), _) => code,
        (None, Some(_)) => 0,
        (None, None) => -1,
    };
    (exit, signal.unwrap_or(0))
}

fn whole(captured: &mut Captured) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    captured.write_to(&mut data)?;
    Ok(data)
}

/// A field as GNU parallel writes it: in double quotes (a `"` doubled) if it has a quote,
/// white space or the separator.
fn csv_field(text: &str, sep: char) -> String {
    if text.contains(|c: char| c == '"' || c == sep || c.is_whitespace()) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// A JSON string as GNU parallel writes it: `\` and `"` escaped, control characters as
/// `\u00XX`, the rest as it is.
fn json(text: &str) -> String {
    let lossy = crate::bytes::lossy(text);
    let text = lossy.as_deref().unwrap_or(text);
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes a job's `stdout`, `stderr` and `seq` into its directory under `dir`.
fn write_dir(dir: &Path, slot: &Slot, done: &mut Finished) -> Result<(), CliError> {
    let mut path = dir.to_owned();
    // Each input item's arguments count from 1 again (`-X` puts several items in a job).
    let columns = match slot.spec.columns {
        0 => slot.spec.args.len().max(1),
        n => n,
    };
    for (i, arg) in slot.spec.args.iter().enumerate() {
        path.push((i % columns + 1).to_string());
        path.push(crate::bytes::encode_os(&dir_name(arg)));
    }
    fs::create_dir_all(&path)
        .map_err(|e| CliError::io("cannot create results directory", &path, e))?;
    let write = |name: &str, captured: Option<&mut Captured>, text: &str| {
        let file_path = path.join(name);
        let mut file = File::create(&file_path)
            .map_err(|e| CliError::io("cannot write results file", &file_path, e))?;
        match captured {
            Some(captured) => captured.write_to(&mut file),
            None => file.write_all(text.as_bytes()),
        }
        .map_err(|e| CliError::io("cannot write results file", &file_path, e))
    };
    write("stdout", Some(&mut done.stdout), "")?;
    write("stderr", Some(&mut done.stderr), "")?;
    write("seq", None, &slot.spec.seq.to_string())
}

/// An argument as a directory name (see the module's documentation).
pub fn dir_name(arg: &str) -> String {
    match arg {
        "" => return "\\".to_owned(),
        "." => return "\\.".to_owned(),
        ".." => return "\\..".to_owned(),
        _ => {}
    }
    let mut name = String::with_capacity(arg.len());
    for c in arg.chars() {
        match c {
            '\\' => name.push_str("\\\\"),
            '\t' => name.push_str("\\t"),
            '/' => name.push_str("\\_"),
            c => name.push(c),
        }
    }
    if name.len() > NAME_MAX {
        let mut cut = NAME_KEPT;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
        let _ = write!(name, "\\~{:016x}", fnv1a(arg.as_bytes()));
    }
    name
}

/// The 64-bit FNV-1a hash: stable across versions and machines, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_become_directory_names_as_gnu_parallel_escapes_them() {
        assert_eq!(dir_name("a b"), "a b");
        assert_eq!(dir_name("it's"), "it's");
        assert_eq!(dir_name("x/y"), "x\\_y");
        assert_eq!(dir_name("a\\b"), "a\\\\b");
        assert_eq!(dir_name("tab\tx"), "tab\\tx");
        assert_eq!(dir_name("nl\ny"), "nl\ny");
    }

    #[test]
    fn names_that_would_leave_the_directory_or_collide_are_kept_apart() {
        let names = [dir_name(""), dir_name("."), dir_name(".."), dir_name("\\")];
        assert_eq!(names, ["\\", "\\.", "\\..", "\\\\"]);
        let long_a = "é".repeat(200);
        let long_b = format!("{}x", "é".repeat(199));
        let (a, b) = (dir_name(&long_a), dir_name(&long_b));
        assert!(a.len() <= NAME_MAX && b.len() <= NAME_MAX, "{a} {b}");
        assert_ne!(a, b);
        assert!(a.starts_with(&"é".repeat(100)));
    }

    #[test]
    fn json_strings_are_escaped_as_gnu_parallel_escapes_them() {
        assert_eq!(json("a\n\"b\"\\é"), "\"a\\u000a\\\"b\\\"\\\\é\"");
    }

    #[test]
    fn csv_fields_are_quoted_as_gnu_parallel_quotes_them() {
        assert_eq!(csv_field("a", ','), "a");
        assert_eq!(csv_field("echo a", ','), "\"echo a\"");
        assert_eq!(csv_field("b,c", ','), "\"b,c\"");
        assert_eq!(csv_field("say \"hi\"", ','), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("b,c", '\t'), "b,c");
        assert_eq!(csv_field("", ','), "");
    }
}
