//! Where `workpool run`'s jobs come from, in GNU parallel's grammar:
//!
//! ```text
//! workpool run [OPTIONS] [COMMAND [ARGS...]] [::: ARGS... | :::: FILES...]...
//! ```
//!
//! Each `::: ARGS` is an input source of those arguments, each file after `::::` (or given to
//! `-a`) an input source of its lines (`-` is standard input), and without any source standard
//! input is one. Several sources combine as a cartesian product, the first varying slowest;
//! `:::+` and `::::+` link a source to the one before instead (the Nth item of each together,
//! as many as the shortest has). `--colsep` splits each line into more arguments.
//!
//! With a command, each combination of arguments fills its [template](crate::template). Without
//! one, each item is a whole command, and a JSON object a JSON job ([`crate::input`]).
//!
//! With a single source, jobs are made as its lines arrive; several sources are read whole
//! first (all but the first must be, for the product).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};

use regex::Regex;
use workpool::Priority;

use crate::error::CliError;
use crate::input::{check_command, parse_line, Dialect, JobReader, JobSpec};
use crate::template::Template;

/// The separators of the grammar.
pub const SEPARATORS: [&str; 4] = [":::", "::::", ":::+", "::::+"];

/// One input source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `::: ARGS`: these arguments.
    Args(Vec<String>),
    /// `:::: FILE` or `-a FILE`: the file's lines (`-`: standard input).
    File(PathBuf),
}

impl Source {
    /// The file it reads, unless it is arguments or standard input.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Source::File(path) if path.as_os_str() != "-" => Some(path),
            _ => None,
        }
    }
}

/// The command and the input sources, as the command line gave them.
#[derive(Debug, Clone)]
pub struct Input {
    /// The command template's words, joined by spaces; empty when each item is a command.
    pub command: Option<String>,
    /// The sources, each with `true` if it is linked to the one before (`:::+`, `::::+`).
    pub sources: Vec<(Source, bool)>,
    /// `--colsep`: splits each line into arguments.
    pub colsep: Option<Regex>,
    /// `-0`: items end with NUL.
    pub null: bool,
}

impl Input {
    /// Splits the positional words into the command and the `:::`/`::::` sources; `-a` files
    /// come first. Without any source, standard input is the one.
    ///
    /// # Errors
    ///
    /// [`CliError::Usage`] for a `:::+` with no source before it, or a `::::` without a file.
    pub fn from_words(
        words: Vec<String>,
        arg_files: Vec<PathBuf>,
        colsep: Option<Regex>,
        null: bool,
    ) -> Result<Self, CliError> {
        let mut sources: Vec<(Source, bool)> = arg_files
            .into_iter()
            .map(|path| (Source::File(path), false))
            .collect();
        let mut command = Vec::new();
        let mut current: Option<(&str, Vec<String>)> = None;
        let flush = |sep: &str, items: Vec<String>, sources: &mut Vec<(Source, bool)>| {
            let linked = sep.ends_with('+');
            if linked && sources.is_empty() {
                return Err(CliError::usage(format!(
                    "{sep} links to an input source before it, and there is none"
                )));
            }
            if sep.starts_with("::::") {
                if items.is_empty() {
                    return Err(CliError::usage(format!("{sep} needs at least one file")));
                }
                for (i, path) in items.into_iter().enumerate() {
                    sources.push((Source::File(PathBuf::from(path)), linked && i == 0));
                }
            } else {
                sources.push((Source::Args(items), linked));
            }
            Ok(())
        };
        for word in words {
            if let Some(sep) = SEPARATORS.iter().find(|s| **s == word) {
                if let Some((prev, items)) = current.take() {
                    flush(prev, items, &mut sources)?;
                }
                current = Some((sep, Vec::new()));
            } else if let Some((_, items)) = &mut current {
                items.push(word);
            } else {
                command.push(word);
            }
        }
        if let Some((prev, items)) = current.take() {
            flush(prev, items, &mut sources)?;
        }
        if sources.is_empty() {
            sources.push((Source::File(PathBuf::from("-")), false));
        }
        Ok(Input {
            command: (!command.is_empty()).then(|| command.join(" ")),
            sources,
            colsep,
            null,
        })
    }

    /// The files it reads (not standard input).
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.sources.iter().filter_map(|(s, _)| s.path())
    }

    /// `true` if it reads standard input.
    pub fn reads_stdin(&self) -> bool {
        self.sources
            .iter()
            .any(|(s, _)| matches!(s, Source::File(p) if p.as_os_str() == "-"))
    }

    /// The jobs, one at a time.
    ///
    /// # Errors
    ///
    /// [`CliError::Io`] if a file cannot be opened; reading errors and bad items come as
    /// items of the iterator.
    pub fn jobs(
        self,
        quiet: bool,
    ) -> Result<Box<dyn Iterator<Item = Result<JobSpec, CliError>> + Send>, CliError> {
        if self.reads_stdin() && io::stdin().is_terminal() && !quiet {
            eprintln!(
                "workpool: reading input from the terminal, one item per line; ctrl-d ends it"
            );
        }
        let template = self.command.as_deref().map(Template::parse);
        // A single file (or standard input) is read as it arrives.
        let single = self.sources.len() == 1 && matches!(self.sources[0].0, Source::File(_));
        if single && template.is_none() && self.colsep.is_none() {
            // Whole commands, one per line: JSON jobs allowed.
            let (reader, name) = open(&self.sources[0].0)?;
            return Ok(Box::new(
                JobReader::new(reader, &name).null_separated(self.null),
            ));
        }
        let mut maker = Maker {
            template,
            colsep: self.colsep.clone(),
            seq: 0,
            ids: HashMap::new(),
        };
        if single {
            let (reader, name) = open(&self.sources[0].0)?;
            let lines = Lines::new(reader, name, self.null);
            return Ok(Box::new(lines.map(move |item| {
                let (line, text) = item?;
                let args = maker.split(text);
                maker.make(line, args)
            })));
        }
        let records = self.combine()?;
        Ok(Box::new(
            records
                .into_iter()
                .enumerate()
                .map(move |(i, args)| maker.make(i + 1, args)),
        ))
    }

    /// Every source read whole, split into arguments, linked and multiplied.
    fn combine(&self) -> Result<Vec<Vec<String>>, CliError> {
        // Each group: linked sources, item by item.
        let mut groups: Vec<Vec<Vec<String>>> = Vec::new();
        for (source, linked) in &self.sources {
            let items: Vec<Vec<String>> = match source {
                Source::Args(args) => args.iter().map(|a| vec![a.clone()]).collect(),
                Source::File(_) => {
                    let (reader, name) = open(source)?;
                    let mut items = Vec::new();
                    for item in Lines::new(reader, name, self.null) {
                        let (_, text) = item?;
                        items.push(match &self.colsep {
                            Some(re) => re.split(&text).map(str::to_owned).collect(),
                            None => vec![text],
                        });
                    }
                    items
                }
            };
            match groups.last_mut() {
                Some(group) if *linked => {
                    let n = group.len().min(items.len());
                    group.truncate(n);
                    for (row, item) in group.iter_mut().zip(items) {
                        row.extend(item);
                    }
                }
                _ => groups.push(items),
            }
        }
        let mut records: Vec<Vec<String>> = vec![Vec::new()];
        for group in groups {
            let mut next = Vec::with_capacity(records.len() * group.len());
            for record in &records {
                for item in &group {
                    let mut row = record.clone();
                    row.extend(item.iter().cloned());
                    next.push(row);
                }
            }
            records = next;
        }
        Ok(records)
    }
}

fn open(source: &Source) -> Result<(Box<dyn BufRead + Send>, String), CliError> {
    match source {
        Source::File(path) if path.as_os_str() == "-" => Ok((
            Box::new(BufReader::new(io::stdin())),
            "standard input".to_owned(),
        )),
        Source::File(path) => {
            let file = File::open(path).map_err(|e| CliError::io("cannot open", path, e))?;
            Ok((Box::new(BufReader::new(file)), path.display().to_string()))
        }
        Source::Args(args) => Ok((
            Box::new(io::Cursor::new(args.join("\n").into_bytes())),
            ":::".to_owned(),
        )),
    }
}

/// Makes jobs from arguments.
struct Maker {
    template: Option<Template>,
    colsep: Option<Regex>,
    seq: usize,
    ids: HashMap<String, usize>,
}

impl Maker {
    fn split(&self, text: String) -> Vec<String> {
        match &self.colsep {
            Some(re) => re.split(&text).map(str::to_owned).collect(),
            None => vec![text],
        }
    }

    fn make(&mut self, line: usize, args: Vec<String>) -> Result<JobSpec, CliError> {
        self.seq += 1;
        let seq = self.seq;
        let Some(template) = &self.template else {
            // No command: the item is the command.
            let text = args.join(" ");
            let job = parse_line(line, seq, text.trim(), Dialect::Run)
                .map_err(|message| CliError::input(line, message))?;
            if let Some(first) = self.ids.insert(job.id.clone(), line) {
                return Err(CliError::input(
                    line,
                    format!("duplicate id \"{}\" (first used on item {first})", job.id),
                ));
            }
            return Ok(job);
        };
        let expanded = template.expand(&args, seq, true);
        check_command(&expanded.cmd).map_err(|message| CliError::input(line, message))?;
        Ok(JobSpec {
            line,
            seq,
            id: seq.to_string(),
            cmd: expanded.cmd,
            priority: Priority::NORMAL.level(),
            timeout: None,
            retries: None,
            env: Vec::new(),
            cwd: None,
            args,
            slot_at: expanded.slot_at,
            explicit_id: false,
            queue: None,
            due: None,
        })
    }
}

/// The items of a reader, each with its 1-based number.
struct Lines {
    reader: Box<dyn BufRead + Send>,
    name: String,
    delimiter: u8,
    line: usize,
    done: bool,
}

impl Lines {
    fn new(reader: Box<dyn BufRead + Send>, name: String, null: bool) -> Self {
        Lines {
            reader,
            name,
            delimiter: if null { 0 } else { b'\n' },
            line: 0,
            done: false,
        }
    }
}

impl Iterator for Lines {
    type Item = Result<(usize, String), CliError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut buf = Vec::new();
        let read = self.reader.read_until(self.delimiter, &mut buf);
        let n = match read {
            Ok(n) => n,
            Err(err) => {
                self.done = true;
                return Some(Err(CliError::io("cannot read", self.name.as_ref(), err)));
            }
        };
        if n == 0 {
            self.done = true;
            return None;
        }
        self.line += 1;
        if buf.last() == Some(&self.delimiter) {
            buf.pop();
        }
        match String::from_utf8(buf) {
            Ok(text) => Some(Ok((self.line, text))),
            Err(_) => {
                self.done = true;
                Some(Err(CliError::input(
                    self.line,
                    format!("not valid UTF-8 (in {})", self.name),
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_owned).collect()
    }

    fn cmds(input: Input) -> Vec<String> {
        input.jobs(true).unwrap().map(|j| j.unwrap().cmd).collect()
    }

    #[test]
    fn sources_multiply_and_link() {
        let input = Input::from_words(words("echo ::: a b ::: 1 2"), vec![], None, false).unwrap();
        assert_eq!(
            cmds(input),
            ["echo a 1", "echo a 2", "echo b 1", "echo b 2"]
        );
        let input = Input::from_words(words("echo {2}{1} ::: a b c :::+ 1 2"), vec![], None, false)
            .unwrap();
        assert_eq!(cmds(input), ["echo 1a", "echo 2b"]);
        let input = Input::from_words(words("::: true false"), vec![], None, false).unwrap();
        assert_eq!(input.command, None);
        assert_eq!(cmds(input), ["true", "false"]);
    }

    #[test]
    fn a_link_needs_a_source_before_it() {
        let err = Input::from_words(words("echo :::+ a"), vec![], None, false).unwrap_err();
        assert!(err.to_string().contains(":::+ links to an input source"));
    }
}
