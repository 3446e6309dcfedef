//! The printer: a thread of its own that writes finished jobs' outputs to standard output and
//! standard error, each job's in one piece (in input order with `--keep-order`).
//!
//! It is apart from the thread that writes the job log so that a standard output that blocks
//! (a slow reader, a pipe nobody reads) delays only the printing: every job is still logged
//! the moment it ends, and signals still act at once. Outputs waiting for their turn hold no
//! file descriptor (see [`Captured`]).

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread;

use crate::error::CliError;
use crate::run::process::Captured;
use crate::run::progress::Progress;
use crate::run::slot::Event;

/// One job's output, ready to print.
#[derive(Debug, Default)]
pub struct Output {
    /// The job's place among the jobs started, from 0 (for `--keep-order`).
    pub index: usize,
    /// With `-v`: the command, printed on standard output before its output.
    pub command: Option<String>,
    /// With `--tag` or `--tagstring`: the prefix of each line.
    pub tag: Option<String>,
    /// Its standard output.
    pub stdout: Captured,
    /// Its standard error.
    pub stderr: Captured,
    /// `--line-buffer`: lines of a job still running, printed at once; its final `Output`
    /// comes later.
    pub chunk: bool,
}

/// The printer thread and the way to it.
#[derive(Debug)]
pub struct Printer {
    /// Where outputs go; dropping it lets the printer finish, which it tells `events` with
    /// [`Event::Printed`]. The thread itself is not joined: after a signal, `workpool` may
    /// exit while a blocked write holds it.
    pub sender: Sender<Output>,
}

impl Printer {
    /// Starts the printer. When standard output turns out closed (`| head -1`), it tells
    /// `events` once with [`Event::StdoutClosed`] and drops the standard output from then on.
    ///
    /// # Errors
    ///
    /// [`CliError::Usage`] if the thread cannot start.
    pub fn spawn(
        keep_order: bool,
        head: Option<Arc<AtomicUsize>>,
        progress: Progress,
        events: Sender<Event>,
    ) -> Result<Self, CliError> {
        let (sender, inbox) = mpsc::channel::<Output>();
        thread::Builder::new()
            .name("workpool-print".to_owned())
            .spawn(move || {
                let mut state = State {
                    progress,
                    events,
                    stdout_closed: false,
                };
                let mut next = 0;
                let mut waiting = BTreeMap::new();
                for output in inbox {
                    // A chunk is sent only while its job's output may go (see `head`).
                    if !keep_order || output.chunk {
                        state.print(output);
                        continue;
                    }
                    waiting.insert(output.index, output);
                    while let Some(output) = waiting.remove(&next) {
                        next += 1;
                        state.print(output);
                    }
                    if let Some(head) = &head {
                        head.store(next, Ordering::SeqCst);
                    }
                }
                // Only jobs that never reported leave gaps (a run cut short): print the rest.
                for (_, output) in waiting {
                    state.print(output);
                }
                let _ = state.events.send(Event::Printed);
            })
            .map_err(|e| CliError::usage(format!("cannot start the printing thread: {e}")))?;
        Ok(Printer { sender })
    }
}

struct State {
    progress: Progress,
    events: Sender<Event>,
    stdout_closed: bool,
}

impl State {
    fn print(&mut self, mut output: Output) {
        if output.command.is_none() && output.stdout.is_empty() && output.stderr.is_empty() {
            return;
        }
        let tag = output.tag.take();
        self.progress.suspend(|| {
            if !self.stdout_closed {
                let mut out = io::stdout().lock();
                let written = output
                    .command
                    .as_ref()
                    .map_or(Ok(()), |cmd| {
                        out.write_all(&crate::bytes::encode(cmd))
                            .and_then(|()| out.write_all(b"\n"))
                    })
                    .and_then(|()| write_stream(&mut output.stdout, tag.as_deref(), &mut out))
                    .and_then(|()| out.flush());
                if let Err(err) = written {
                    if err.kind() == io::ErrorKind::BrokenPipe {
                        self.stdout_closed = true;
                        let _ = self.events.send(Event::StdoutClosed);
                    }
                }
            }
            let mut err = io::stderr().lock();
            let _ = write_stream(&mut output.stderr, tag.as_deref(), &mut err)
                .and_then(|()| err.flush());
        });
    }
}

/// Writes a captured stream, each line prefixed with `tag` if there is one.
fn write_stream(stream: &mut Captured, tag: Option<&str>, out: &mut dyn Write) -> io::Result<()> {
    let Some(tag) = tag else {
        return stream.write_to(out);
    };
    if stream.is_empty() {
        return Ok(());
    }
    let mut data = Vec::new();
    stream.write_to(&mut data)?;
    write_tagged(&data[..], tag, out)
}

/// Copies `input` to `out`, each line prefixed with `tag` (a last line without a newline
/// keeps none).
pub fn write_tagged(input: impl Read, tag: &str, out: &mut dyn Write) -> io::Result<()> {
    let mut reader = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        out.write_all(&crate::bytes::encode(tag))?;
        out.write_all(&line)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_lines_each_get_the_prefix() {
        let mut out = Vec::new();
        write_tagged(&b"a\nb\nc"[..], "x\t", &mut out).unwrap();
        assert_eq!(out, b"x\ta\nx\tb\nx\tc");
    }
}
