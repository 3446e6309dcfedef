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

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::error::CliError;
use crate::input::{check_command, parse_line, Dialect, JobReader, JobSpec, MAX_COMMAND};
use crate::pipe::{Blocks, PipeSpec};
use crate::template::{Fill, Template};

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
    /// `-X`, `-m`, `-n`, `-N`: several input items per job.
    pub multi: Option<Multi>,
    /// `--pipe`: the input is cut into blocks, each a job's standard input.
    pub pipe: Option<PipeSpec>,
}

/// Several input items per job: `-X`, `-m`, `-n N`, `-N N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Multi {
    /// How `{}` is filled.
    pub fill: Fill,
    /// At most this many items per job (`-n`, `-N`; 0 reads one item and inserts none).
    pub max_items: Option<usize>,
    /// `-X` or `-m`: as many items as the command line takes.
    pub fill_line: bool,
    /// The jobs run at once: when all the input fits one command line, `-X` and `-m` spread
    /// it over this many jobs, as GNU parallel does.
    pub slots: usize,
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
            multi: None,
            pipe: None,
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
        if let Some(spec) = self.pipe.clone() {
            return self.blocks(spec, template);
        }
        if single && template.is_none() && self.colsep.is_none() {
            // Whole commands, one per line: JSON jobs allowed.
            let (reader, name) = open(&self.sources[0].0)?;
            return Ok(Box::new(
                JobReader::new(reader, &name).null_separated(self.null),
            ));
        }
        let mut maker = Maker {
            template: template.clone(),
            seq: 0,
            ids: HashMap::new(),
        };
        let records: Records = if single {
            let (reader, name) = open(&self.sources[0].0)?;
            let colsep = self.colsep.clone();
            Box::new(Lines::new(reader, name, self.null).map(move |item| {
                let (line, text) = item?;
                Ok((line, split(colsep.as_ref(), text)))
            }))
        } else {
            Box::new(
                self.combine()?
                    .into_iter()
                    .enumerate()
                    .map(|(i, args)| Ok((i + 1, args))),
            )
        };
        match (self.multi, template) {
            (Some(multi), Some(template)) => {
                let groups = Grouper::new(records, multi, template);
                Ok(Box::new(groups.map(move |group| {
                    let (line, items) = group?;
                    maker.make_group(line, &items, multi)
                })))
            }
            _ => Ok(Box::new(records.map(move |record| {
                let (line, args) = record?;
                maker.make(line, args)
            }))),
        }
    }

    /// `--pipe`: a job for each block of the one input file (or standard input), the
    /// command the template with no argument.
    fn blocks(
        &self,
        spec: PipeSpec,
        template: Option<Template>,
    ) -> Result<Box<dyn Iterator<Item = Result<JobSpec, CliError>> + Send>, CliError> {
        let (Some(template), [(source @ Source::File(_), _)]) = (template, &self.sources[..])
        else {
            return Err(CliError::usage(
                "--pipe feeds blocks of one input to a COMMAND: give a command, and at most one \
                 input file (-a or ::::), or none for standard input",
            ));
        };
        let (reader, name) = open(source)?;
        let mut seq = 0;
        Ok(Box::new(Blocks::new(reader, name, spec).map(
            move |block| {
                let block = block?;
                seq += 1;
                let expanded = template.expand(&[], seq, true);
                check_command(&expanded.cmd).map_err(|message| CliError::input(seq, message))?;
                Ok(JobSpec {
                    line: seq,
                    seq,
                    id: seq.to_string(),
                    cmd: expanded.cmd,
                    slot_at: expanded.slot_at,
                    stdin: Some(block),
                    ..JobSpec::default()
                })
            },
        )))
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
    seq: usize,
    ids: HashMap<String, usize>,
}

/// A line split into arguments by `--colsep`, or whole.
fn split(colsep: Option<&Regex>, text: String) -> Vec<String> {
    match colsep {
        Some(re) => re.split(&text).map(str::to_owned).collect(),
        None => vec![text],
    }
}

impl Maker {
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
            args,
            slot_at: expanded.slot_at,
            ..JobSpec::default()
        })
    }

    /// The job of several items (`-X`, `-m`, `-n`, `-N`), the first read on `line`.
    fn make_group(
        &mut self,
        line: usize,
        items: &[Vec<String>],
        multi: Multi,
    ) -> Result<JobSpec, CliError> {
        self.seq += 1;
        let seq = self.seq;
        let args: Vec<String> = if multi.max_items == Some(0) {
            Vec::new()
        } else {
            items.concat()
        };
        let expanded = match &self.template {
            Some(template) => template.expand_with(&args, seq, true, multi.fill),
            None => return Err(CliError::input(line, "-X, -m, -n and -N need a command")),
        };
        check_command(&expanded.cmd).map_err(|message| CliError::input(line, message))?;
        Ok(JobSpec {
            line,
            seq,
            id: seq.to_string(),
            cmd: expanded.cmd,
            columns: items.first().map_or(0, Vec::len),
            args,
            slot_at: expanded.slot_at,
            ..JobSpec::default()
        })
    }
}

/// Input items, each with its line number (or place among the combinations).
type Records = Box<dyn Iterator<Item = Result<(usize, Vec<String>), CliError>> + Send>;

/// Gathers input items into jobs of several (`-X`, `-m`, `-n`, `-N`): up to the count asked
/// for, and with `-X` and `-m` up to what the kernel takes in one command. When the whole
/// input fits the first job, `-X` and `-m` spread it evenly over the job slots instead, as
/// GNU parallel does (so that `-j 4 -X` on a short list still runs 4 jobs).
struct Grouper {
    records: Records,
    multi: Multi,
    template: Template,
    /// Items read but left for the next job.
    pending: VecDeque<(usize, Vec<String>)>,
    /// Jobs made by spreading, not yet handed out.
    ready: VecDeque<(usize, Vec<Vec<String>>)>,
    /// The error that ended the input, after the job before it.
    failed: Option<CliError>,
    first: bool,
    done: bool,
}

impl Grouper {
    fn new(records: Records, multi: Multi, template: Template) -> Self {
        Grouper {
            records,
            multi,
            template,
            pending: VecDeque::new(),
            ready: VecDeque::new(),
            failed: None,
            first: true,
            done: false,
        }
    }

    fn command_len(&self, items: &[(usize, Vec<String>)]) -> usize {
        let args: Vec<String> = items.iter().flat_map(|(_, a)| a.iter().cloned()).collect();
        self.template
            .expand_with(&args, 1, true, self.multi.fill)
            .cmd
            .len()
    }
}

impl Iterator for Grouper {
    type Item = Result<(usize, Vec<Vec<String>>), CliError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(group) = self.ready.pop_front() {
            return Some(Ok(group));
        }
        let most = self.multi.max_items.map_or(usize::MAX, |n| n.max(1));
        let mut group: Vec<(usize, Vec<String>)> = Vec::new();
        let mut len = 0;
        let mut eof = false;
        while group.len() < most {
            let item = match self.pending.pop_front() {
                Some(item) => item,
                None if self.done => {
                    eof = true;
                    break;
                }
                None => match self.records.next() {
                    None => {
                        self.done = true;
                        eof = true;
                        break;
                    }
                    Some(Err(err)) => {
                        self.done = true;
                        self.failed = Some(err);
                        break;
                    }
                    Some(Ok(item)) => item,
                },
            };
            if self.multi.fill_line {
                len = if group.is_empty() {
                    self.command_len(std::slice::from_ref(&item))
                } else {
                    len + item
                        .1
                        .iter()
                        .map(|a| self.template.cost_of(a, self.multi.fill))
                        .sum::<usize>()
                };
                if len > MAX_COMMAND && !group.is_empty() {
                    self.pending.push_front(item);
                    break;
                }
            }
            group.push(item);
        }
        if self.multi.fill_line {
            // The sum above is close; the command itself decides.
            while group.len() > 1 && self.command_len(&group) > MAX_COMMAND {
                if let Some(last) = group.pop() {
                    self.pending.push_front(last);
                }
                eof = false;
            }
        }
        if group.is_empty() {
            return self.failed.take().map(Err);
        }
        let slots = self.multi.slots.max(1);
        if self.multi.fill_line && self.first && eof && group.len() > 1 && slots > 1 {
            let per_job = group.len().div_ceil(slots);
            let mut chunks = group.chunks(per_job).map(|chunk| {
                let items = chunk.iter().map(|(_, a)| a.clone()).collect();
                (chunk[0].0, items)
            });
            let first = chunks.next();
            self.ready.extend(chunks);
            self.first = false;
            return first.map(Ok);
        }
        self.first = false;
        let line = group[0].0;
        Some(Ok((line, group.into_iter().map(|(_, a)| a).collect())))
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
        // Bytes that are not UTF-8 are carried through (see crate::bytes).
        match crate::bytes::decode(&buf) {
            Ok(text) => Some(Ok((self.line, text.into_owned()))),
            Err(message) => {
                self.done = true;
                Some(Err(CliError::input(
                    self.line,
                    format!("{message} (in {})", self.name),
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
