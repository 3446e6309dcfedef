//! One run of one command: `sh -c CMD` in its own process group, its output captured in
//! anonymous temporary files, watched until it exits, times out or is cancelled.
//!
//! Why files and not pipes: a command that leaves a background process behind would hold a
//! pipe open and make a reader wait for it; a file never blocks the child, needs no reader
//! thread, and its size tells at once whether the results file must cut it.
//!
//! Why a process group: a timeout or a second Ctrl-C must end the command *and* everything it
//! started. SIGTERM goes to the whole group, then SIGKILL after the grace period, and the run
//! is over only when the group is empty. On Linux the `workpool` process is also a child
//! subreaper (see [`become_subreaper`]), so that the orphans of a killed shell come back to it
//! and are reaped here rather than left as zombies of an init that may not reap.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use workpool::JobContext;

use crate::input::JobSpec;
use crate::run::groups::{group_is_gone, reap_group, Groups};
use crate::run::timeout::Timeout;

/// Output up to this size is read into memory; larger output stays in its file until printed.
const INLINE_OUTPUT: u64 = 64 * 1024;
/// The shell every command runs in, by absolute path: a `PATH` search would cost a failed
/// `execve` per directory before it, for every job.
const SHELL: &str = "/bin/sh";
/// The longest wait before the job context, the kill flag and the deadline are looked at
/// again, which bounds how late a second Ctrl-C is noticed.
const MAX_POLL: Duration = Duration::from_millis(10);
/// Without a pidfd (kernels before 5.3), the child's exit is polled; the pause grows with the
/// child's age (an eighth of it), so a 1 ms command is seen within about 0.1 ms of its exit.
const MIN_POLL: Duration = Duration::from_micros(20);
/// How often a group that is being ended is looked at.
const END_POLL: Duration = Duration::from_millis(5);
/// How long to wait for a SIGKILLed group to disappear before giving up on it.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Makes this process the reaper of its descendants' orphans (Linux only; elsewhere a no-op).
pub fn become_subreaper() {
    #[cfg(target_os = "linux")]
    {
        // Without it, the jobs' orphans are reaped by init, as usual; nothing else changes.
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The command exited on its own (with any status).
    Exited,
    /// It ran past its timeout and was ended.
    TimedOut,
    /// It was ended by a second Ctrl-C or a cancelled job context.
    Cancelled,
}

/// The command's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// It exited with this code.
    Code(i32),
    /// It was ended by this signal.
    Signal(i32),
    /// It could not be started (or waited for); the message says why.
    Error(String),
}

impl Status {
    /// The exit code, if the command exited.
    pub fn code(&self) -> Option<i32> {
        match self {
            Status::Code(code) => Some(*code),
            _ => None,
        }
    }

    /// The signal that ended the command, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self {
            Status::Signal(sig) => Some(*sig),
            _ => None,
        }
    }

    fn of(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => Status::Code(code),
            (None, Some(sig)) => Status::Signal(sig),
            (None, None) => Status::Error("unknown exit status".to_owned()),
        }
    }
}

/// One captured output stream.
#[derive(Debug, Default)]
pub enum Captured {
    /// Nothing was written.
    #[default]
    Empty,
    /// Small output, read into memory.
    Memory(Vec<u8>),
    /// Large output, moved to a named temporary file that is deleted when this is dropped.
    /// It holds no file descriptor, so that any number of outputs can wait to be printed
    /// (`--keep-order` behind a slow job) without running out of them.
    File {
        /// The file's path.
        path: tempfile::TempPath,
        /// Its length.
        len: u64,
    },
}

impl Captured {
    fn from_file(mut file: File) -> Self {
        let read = |file: &mut File| -> io::Result<Captured> {
            let len = file.metadata()?.len();
            file.seek(SeekFrom::Start(0))?;
            if len == 0 {
                Ok(Captured::Empty)
            } else if len <= INLINE_OUTPUT {
                let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                file.read_to_end(&mut data)?;
                Ok(Captured::Memory(data))
            } else {
                let mut named = tempfile::NamedTempFile::new()?;
                io::copy(file, named.as_file_mut())?;
                Ok(Captured::File {
                    path: named.into_temp_path(),
                    len,
                })
            }
        };
        read(&mut file).unwrap_or_else(|err| {
            Captured::Memory(
                format!("workpool: cannot read the captured output: {err}\n").into_bytes(),
            )
        })
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Captured::Empty => 0,
            Captured::Memory(data) => data.len() as u64,
            Captured::File { len, .. } => *len,
        }
    }

    /// `true` if nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies all of it to `out`.
    ///
    /// # Errors
    ///
    /// Any error reading the capture or writing `out`.
    pub fn write_to(&mut self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Captured::Empty => Ok(()),
            Captured::Memory(data) => out.write_all(data),
            Captured::File { path, .. } => {
                let mut file = File::open(&**path)?;
                io::copy(&mut file, out).map(drop)
            }
        }
    }

    /// Its first `limit` bytes as text (invalid UTF-8 replaced), and whether it was cut.
    pub fn head(&mut self, limit: u64) -> (String, bool) {
        let cut = self.len() > limit;
        let bytes = match self {
            Captured::Empty => Vec::new(),
            Captured::Memory(data) => {
                data[..data.len().min(usize::try_from(limit).unwrap_or(usize::MAX))].to_vec()
            }
            Captured::File { path, .. } => {
                let mut data = Vec::new();
                let read =
                    File::open(&**path).and_then(|file| file.take(limit).read_to_end(&mut data));
                if let Err(err) = read {
                    data = format!("workpool: cannot read the captured output: {err}").into_bytes();
                }
                data
            }
        };
        (String::from_utf8_lossy(&bytes).into_owned(), cut)
    }
}

/// What one run did.
#[derive(Debug)]
pub struct Attempt {
    /// When it started (monotonic).
    pub started_at: Instant,
    /// How long it ran.
    pub elapsed: Duration,
    /// How it ended.
    pub ending: Ending,
    /// The command's status.
    pub status: Status,
    /// Its standard output.
    pub stdout: Captured,
    /// Its standard error.
    pub stderr: Captured,
    /// `--line-buffer`: its output was printed line by line as it ran, all of it.
    pub streamed: bool,
}

impl Attempt {
    /// `true` if the command exited 0 on its own.
    pub fn succeeded(&self) -> bool {
        self.ending == Ending::Exited && self.status == Status::Code(0)
    }
}

/// How runs are watched and ended.
#[derive(Debug, Clone)]
pub struct Supervision {
    /// The per-run timeout, if any.
    pub timeout: Option<Timeout>,
    /// Time between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// `--ungroup`: the job writes straight to workpool's stdout and stderr, uncaptured.
    pub ungroup: bool,
}

/// `--line-buffer`: takes a running job's new complete lines of standard output and of
/// standard error as they are written.
pub trait Live: Sync {
    /// `false` while the job's lines must wait: with `-k`, until every job before it has
    /// been printed. Its lines are then taken from the start.
    fn ready(&self) -> bool;
    /// Takes lines.
    fn lines(&self, stdout: Vec<u8>, stderr: Vec<u8>);
}

/// Follows a running job's capture files and hands their complete lines to a [`Live`]
/// sink. The files are read at an offset of their own, so the capture stays whole for the
/// job log and the results; the job never waits for this reader.
struct Tail<'a> {
    files: [(&'a File, u64, Vec<u8>); 2],
    live: &'a dyn Live,
}

impl<'a> Tail<'a> {
    fn new(out: &'a File, err: &'a File, live: &'a dyn Live) -> Self {
        Tail {
            files: [(out, 0, Vec::new()), (err, 0, Vec::new())],
            live,
        }
    }

    /// Hands over the complete lines written since the last call; at the `end`, the last
    /// line without a newline too. Returns `false` if the sink was not ready (nothing read).
    fn poll(&mut self, end: bool) -> bool {
        use std::os::unix::fs::FileExt;
        if !self.live.ready() {
            return false;
        }
        let mut chunks: [Vec<u8>; 2] = Default::default();
        let mut buf = [0u8; 16 * 1024];
        for ((file, pos, partial), chunk) in self.files.iter_mut().zip(&mut chunks) {
            while let Ok(n) = file.read_at(&mut buf, *pos) {
                if n == 0 {
                    break;
                }
                *pos += n as u64;
                partial.extend_from_slice(&buf[..n]);
            }
            let cut = if end {
                partial.len()
            } else {
                partial
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |newline| newline + 1)
            };
            *chunk = partial.drain(..cut).collect();
        }
        let [out, err] = chunks;
        // Even with nothing new: the first call lets `-v` print the command.
        self.live.lines(out, err);
        true
    }
}

/// Runs `job` once in job slot `slot` (its `{%}`): starts it, waits for it while watching
/// `ctx` and `kill`, and ends its whole process group on timeout or cancel. With `live`
/// (`--line-buffer`), its complete lines go there as they are written, whenever the sink is
/// ready; the attempt says whether all of them went.
pub fn run_once(
    job: &JobSpec,
    watch: &Supervision,
    ctx: &JobContext,
    kill: &AtomicBool,
    groups: &Groups,
    slot: usize,
    live: Option<&dyn Live>,
) -> Attempt {
    let started_at = Instant::now();
    let attempt = |ending, status, stdout, stderr| Attempt {
        started_at,
        elapsed: started_at.elapsed(),
        ending,
        status,
        stdout,
        stderr,
        streamed: false,
    };
    let files = tempfile::tempfile().and_then(|out| Ok((out, tempfile::tempfile()?)));
    let (out, err) = match files {
        Ok(files) => files,
        Err(e) => {
            let status = Status::Error(format!("cannot create a capture file: {e}"));
            return attempt(Ending::Exited, status, Captured::Empty, Captured::Empty);
        }
    };
    let spawned = spawn(
        job,
        &job.command_in_slot(slot),
        (&out, &err),
        watch.ungroup,
        groups.mark(),
    );
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let message = match &job.cwd {
                Some(dir) => format!("cannot start the command in {}: {e}", dir.display()),
                None => format!("cannot start the command: {e}"),
            };
            let stderr = format!("workpool: {message}\n").into_bytes();
            let streamed = live.is_some_and(|live| {
                let ready = live.ready();
                if ready {
                    live.lines(Vec::new(), stderr.clone());
                }
                ready
            });
            let stderr = Captured::Memory(stderr);
            let mut attempt = attempt(
                Ending::Exited,
                Status::Error(message),
                Captured::Empty,
                stderr,
            );
            attempt.streamed = streamed;
            return attempt;
        }
    };
    // A job's own timeout overrides the flag; zero means none.
    let timeout = match job.timeout {
        Some(own) if own.is_zero() => None,
        Some(own) => Some(Timeout::Fixed(own)),
        None => watch.timeout.clone(),
    };
    let pgid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    groups.started(pgid);
    let mut tail = live.map(|live| Tail::new(&out, &err, live));
    let mut tick = || {
        if let Some(tail) = &mut tail {
            let _ = tail.poll(false);
        }
    };
    let (ending, status) = supervise(&mut child, timeout, watch.kill_grace, ctx, kill, &mut tick);
    groups.ended(pgid);
    let streamed = tail.as_mut().is_some_and(|tail| tail.poll(true));
    drop(tail);
    let mut attempt = attempt(
        ending,
        status,
        Captured::from_file(out),
        Captured::from_file(err),
    );
    attempt.streamed = streamed;
    attempt
}

fn spawn(
    job: &JobSpec,
    command: &str,
    (out, err): (&File, &File),
    ungroup: bool,
    mark: Option<&str>,
) -> io::Result<Child> {
    let (stdout, stderr) = if ungroup {
        (Stdio::inherit(), Stdio::inherit())
    } else {
        (out.try_clone()?.into(), err.try_clone()?.into())
    };
    let stdin = match &job.stdin {
        Some(block) => File::open(block.path())?.into(),
        None => Stdio::null(),
    };
    let mut cmd = Command::new(SHELL);
    cmd.arg("-c")
        // The exact bytes of the input (see crate::bytes).
        .arg(crate::bytes::encode_os(command))
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr)
        // Its own process group: a terminal's Ctrl-C reaches only workpool, which decides,
        // and killpg reaches everything the command started.
        .process_group(0);
    for (name, value) in &job.env {
        cmd.env(name, value);
    }
    // After the job's own variables, which must not unmark it.
    if let Some(mark) = mark {
        cmd.env(crate::run::groups::MARK, mark);
    }
    if let Some(dir) = &job.cwd {
        cmd.current_dir(dir);
    }
    cmd.spawn()
}

/// Waits for `child`, ending its group at the timeout or on cancel.
fn supervise(
    child: &mut Child,
    timeout: Option<Timeout>,
    grace: Duration,
    ctx: &JobContext,
    kill: &AtomicBool,
    tick: &mut dyn FnMut(),
) -> (Ending, Status) {
    let start = Instant::now();
    let pgid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    // Readable once the child exits: one poll per wait, woken by the exit itself.
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_child(child),
        rustix::process::PidfdFlags::empty(),
    )
    .ok();
    loop {
        tick();
        match child.try_wait() {
            Ok(Some(status)) => {
                return (Ending::Exited, Status::of(status));
            }
            Ok(None) => {}
            Err(e) => {
                let status = end_group(child, pgid, grace);
                return (
                    Ending::Exited,
                    status.unwrap_or(Status::Error(format!("cannot wait for the command: {e}"))),
                );
            }
        }
        let now = Instant::now();
        if kill.load(Ordering::Relaxed) || ctx.is_cancelled() {
            let status = end_group(child, pgid, grace);
            return (
                Ending::Cancelled,
                status.unwrap_or(Status::Signal(Signal::SIGKILL as i32)),
            );
        }
        let mut pause = match pidfd {
            Some(_) => MAX_POLL,
            None => ((now - start) / 8).clamp(MIN_POLL, MAX_POLL),
        };
        // Looked at on every turn: a percentage's limit moves as jobs succeed.
        if let Some(deadline) = timeout.as_ref().and_then(Timeout::limit).map(|t| start + t) {
            if now >= deadline {
                let status = end_group(child, pgid, grace);
                return (
                    Ending::TimedOut,
                    status.unwrap_or(Status::Signal(Signal::SIGKILL as i32)),
                );
            }
            pause = pause.min(deadline - now);
        }
        match &pidfd {
            Some(fd) => wait_readable(fd, pause),
            None => {
                ctx.sleep(pause);
            }
        }
    }
}

/// Ends a process group: SIGTERM, then SIGKILL after `grace` if anything is left, then waits
/// until the group is empty. Returns the leader's status.
fn end_group(child: &mut Child, pgid: Pid, grace: Duration) -> Option<Status> {
    let _ = killpg(pgid, Signal::SIGTERM);
    let until = Instant::now() + grace;
    let mut status = None;
    loop {
        if status.is_none() {
            status = child.try_wait().ok().flatten();
        }
        // The leader is reaped before the rest of the group, or waitpid(-pgid) could take it.
        if status.is_some() {
            reap_group(pgid.as_raw());
            if group_is_gone(pgid.as_raw()) {
                return status.map(Status::of);
            }
        }
        let now = Instant::now();
        if now >= until {
            break;
        }
        thread::sleep(END_POLL.min(until - now));
    }
    let _ = killpg(pgid, Signal::SIGKILL);
    let status = match status {
        Some(status) => Some(status),
        None => child.wait().ok(),
    };
    let until = Instant::now() + KILL_WAIT;
    loop {
        reap_group(pgid.as_raw());
        if group_is_gone(pgid.as_raw()) || Instant::now() >= until {
            return status.map(Status::of);
        }
        thread::sleep(END_POLL);
    }
}

/// Waits until `fd` is readable or `timeout` passes (an interrupted wait just returns early).
fn wait_readable(fd: &OwnedFd, timeout: Duration) {
    let timeout = Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    let _ = poll(&mut fds, Some(&timeout));
}
