//! `--pipe`: standard input (or the one input file) cut into blocks of whole records, each
//! block the standard input of one job, as GNU parallel does it.
//!
//! A block is read up to `--block` bytes (default 1 MiB) and cut after the last record end
//! in it; what follows starts the next block. A record ends with `--recend` (default a
//! newline) where `--recstart` (default nothing) follows; with both empty, blocks are cut at
//! exactly `--block` bytes. A record longer than the block makes a block of its own (GNU
//! parallel grows the block size for the rest of the run instead, with a warning). The last
//! block is whatever is left, ended or not; empty input runs no job.
//!
//! Each block waits for its job in a temporary file that holds no descriptor (the feeder may
//! be far ahead of the jobs), deleted when the job is over.

use std::fmt;
use std::io::{self, BufRead, Write};
use std::sync::Arc;

use tempfile::TempPath;

use crate::error::CliError;

/// How standard input is cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeSpec {
    /// The size a block is cut at, at least 1.
    pub block: usize,
    /// What ends a record.
    pub recend: Vec<u8>,
    /// What starts a record.
    pub recstart: Vec<u8>,
}

/// A block of input, waiting in a temporary file for its job.
#[derive(Clone)]
pub struct Block(Arc<TempPath>);

impl Block {
    /// The file that holds it.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Block({})", self.0.display())
    }
}

impl PartialEq for Block {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Block {}

/// The blocks of a reader, one at a time, each with its size.
pub struct Blocks<R> {
    reader: R,
    name: String,
    spec: PipeSpec,
    buf: Vec<u8>,
    eof: bool,
    failed: bool,
}

impl<R: BufRead> Blocks<R> {
    /// The blocks of `reader`, named `name` in errors.
    pub fn new(reader: R, name: String, spec: PipeSpec) -> Self {
        Blocks {
            reader,
            name,
            spec,
            buf: Vec::new(),
            eof: false,
            failed: false,
        }
    }

    /// Reads until the buffer holds `want` bytes or the input ends.
    fn fill(&mut self, want: usize) -> io::Result<()> {
        while !self.eof && self.buf.len() < want {
            let available = match self.reader.fill_buf() {
                Ok(data) => data,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                self.eof = true;
                break;
            }
            let n = available.len().min(want - self.buf.len());
            self.buf.extend_from_slice(&available[..n]);
            self.reader.consume(n);
        }
        Ok(())
    }

    /// `true` if a block may end before `at`: a record end before it and a record start
    /// after it (one not yet read counts as absent, unless the input is over).
    fn cuts_at(&self, at: usize) -> bool {
        let (recend, recstart) = (&self.spec.recend, &self.spec.recstart);
        at > 0
            && self.buf[..at].ends_with(recend)
            && (recstart.is_empty() || self.buf[at..].starts_with(recstart))
    }

    /// The next block's bytes, or `None` at the end of the input.
    fn next_block(&mut self) -> io::Result<Option<Vec<u8>>> {
        let block = self.spec.block.max(1);
        let lookahead = self.spec.recstart.len();
        self.fill(block)?;
        if self.buf.is_empty() {
            return Ok(None);
        }
        if self.eof && self.buf.len() <= block {
            return Ok(Some(std::mem::take(&mut self.buf)));
        }
        // The last cut whose record start is within the block too, as GNU parallel cuts.
        let window = block.min(self.buf.len());
        if let Some(at) = (1..=window.saturating_sub(lookahead))
            .rev()
            .find(|&at| self.cuts_at(at))
        {
            return Ok(Some(self.buf.drain(..at).collect()));
        }
        // A record longer than the block: up to its end.
        let mut from = window.saturating_sub(lookahead) + 1;
        loop {
            let until = self.buf.len();
            if let Some(at) = (from..=until.saturating_sub(lookahead)).find(|&at| self.cuts_at(at))
            {
                return Ok(Some(self.buf.drain(..at).collect()));
            }
            if self.eof {
                return Ok(Some(std::mem::take(&mut self.buf)));
            }
            from = until.saturating_sub(lookahead).max(from);
            self.fill(until.saturating_add(block))?;
        }
    }
}

impl<R: BufRead> Iterator for Blocks<R> {
    type Item = Result<Block, CliError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let block = match self.next_block() {
            Ok(Some(data)) => save(&data),
            Ok(None) => return None,
            Err(e) => Err(CliError::io("cannot read", self.name.as_ref(), e)),
        };
        self.failed = block.is_err();
        Some(block)
    }
}

/// Writes a block to a temporary file.
fn save(data: &[u8]) -> Result<Block, CliError> {
    let dir = std::env::temp_dir();
    let mut file = tempfile::NamedTempFile::new()
        .map_err(|e| CliError::io("cannot create a file for a --pipe block in", &dir, e))?;
    file.write_all(data)
        .map_err(|e| CliError::io("cannot write a --pipe block in", &dir, e))?;
    Ok(Block(Arc::new(file.into_temp_path())))
}

/// `--recend` and `--recstart` as GNU parallel reads them: `\n`, `\t`, `\r`, `\0`, `\'`,
/// `\"` and `\\` stand for those characters (so that `--recend '\n'` means a newline); any
/// other backslash stays.
pub fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'r') => out.push(b'\r'),
            Some(b'0') => out.push(0),
            Some(quoted @ (b'\'' | b'"' | b'\\')) => out.push(quoted),
            Some(other) => out.extend([b'\\', other]),
            None => out.push(b'\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(input: &str, block: usize, recend: &str, recstart: &str) -> Vec<String> {
        let spec = PipeSpec {
            block,
            recend: recend.as_bytes().to_vec(),
            recstart: recstart.as_bytes().to_vec(),
        };
        Blocks::new(input.as_bytes(), "test".to_owned(), spec)
            .map(|b| std::fs::read_to_string(b.unwrap().path()).unwrap())
            .collect()
    }

    #[test]
    fn blocks_end_after_the_last_record_that_fits() {
        let input = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n";
        assert_eq!(
            blocks(input, 5, "\n", ""),
            ["1\n2\n", "3\n4\n", "5\n6\n", "7\n8\n", "9\n10\n", "11\n", "12\n"]
        );
        assert_eq!(blocks("a;b;c;d;", 3, ";", ""), ["a;", "b;", "c;", "d;"]);
        assert_eq!(blocks("a\nb", 100, "\n", ""), ["a\nb"]);
        assert!(blocks("", 5, "\n", "").is_empty());
    }

    #[test]
    fn a_record_start_decides_with_the_record_end() {
        let input = ">a\n1\n>b\n2\n>c\n3\n";
        assert_eq!(
            blocks(input, 4, "\n", ">"),
            [">a\n1\n", ">b\n2\n", ">c\n3\n"]
        );
        assert_eq!(blocks(input, 12, "\n", ">"), [">a\n1\n>b\n2\n", ">c\n3\n"]);
        // The next record's start must be within the block for a cut before it.
        assert_eq!(
            blocks(input, 10, "\n", ">"),
            [">a\n1\n", ">b\n2\n", ">c\n3\n"]
        );
        assert_eq!(blocks(input, 4, "", ">"), [">a\n1\n", ">b\n2\n", ">c\n3\n"]);
    }

    #[test]
    fn a_long_record_is_a_block_of_its_own_and_empty_separators_cut_anywhere() {
        assert_eq!(
            blocks("aaaaaaaaaa\nb\nc\n", 3, "\n", ""),
            ["aaaaaaaaaa\n", "b\n", "c\n"]
        );
        assert_eq!(blocks("abcdefg", 3, "", ""), ["abc", "def", "g"]);
        assert_eq!(blocks("xxxxxxxx", 3, "\n", ""), ["xxxxxxxx"]);
    }

    #[test]
    fn separators_take_backslash_escapes() {
        assert_eq!(unescape("\\n"), b"\n");
        assert_eq!(unescape("a\\tb\\\\"), b"a\tb\\");
        assert_eq!(unescape(";"), b";");
        assert_eq!(unescape("\\x\\'"), b"\\x'");
    }
}
