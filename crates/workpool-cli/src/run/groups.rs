//! The jobs' process groups, seen from the whole run: which are running (so that Ctrl-Z can
//! stop them and a guard process can end them if `workpool` itself is killed), and which
//! outlived their job (so that their processes, adopted by `workpool` as the subreaper, are
//! reaped when they exit instead of piling up as zombies).
//!
//! **The guard.** `kill -9` gives `workpool` no chance to end its jobs. So that they do not
//! run on, orphaned and never logged (and run again by `--resume`), a small `awk` process
//! started at the beginning of the run keeps the list of running groups, fed through a pipe.
//! When the pipe closes without a goodbye, which happens only when `workpool` dies, it sends
//! SIGTERM to every listed group, then SIGKILL a second later. It runs in a process group of
//! its own, so that a terminal's Ctrl-C, which `workpool` decides about, does not reach it.
//!
//! A job is listed only once its process has started, so a kill in between would miss it.
//! Every job therefore also carries a mark in its environment, `WORKPOOL_RUN`, unique to the
//! run (workpool's pid and a random number), which its descendants inherit: the guard also
//! ends every process whose `/proc/PID/environ` has the mark, whether or not it was listed,
//! and even if it left its job's group. It looks again until none is left (at most five
//! times), so that a child forked while it looked is ended too. The pipe reaches its end
//! only when every copy of its writing end is closed, and a job being started holds one
//! until it runs its shell: by then its mark is in `/proc`.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// The guard's program: `+ PGID` adds a group, `- PGID` removes it, `q` ends the guard
/// quietly; end of input without `q` ends every listed group.
/// The variable `mark` is the run's [`MARK`] value: a process whose environment has it is
/// one of the run's jobs or their descendants.
const GUARD: &str = r#"$1 == "+" { g[$2] = 1; next }
$1 == "-" { delete g[$2]; next }
$1 == "q" { quiet = 1; exit }
END {
    if (quiet) exit
    s = ""
    for (p in g) s = s " -" p
    scan = "grep -lzx 'WORKPOOL_RUN=" mark "' /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3"
    system("p=$(" scan "); kill -TERM" s " $p 2>/dev/null; sleep 1; kill -KILL" s " 2>/dev/null; " \
           "for i in 1 2 3 4 5; do p=$(" scan "); [ -z \"$p\" ] && break; kill -KILL $p 2>/dev/null; done")
}"#;

/// The environment variable that marks a run's jobs, for the guard.
pub const MARK: &str = "WORKPOOL_RUN";

/// Every process group of one run.
#[derive(Debug, Default)]
pub struct Groups {
    running: Mutex<HashSet<i32>>,
    lingering: Mutex<Vec<i32>>,
    guard: Option<Guard>,
}

#[derive(Debug)]
struct Guard {
    child: Mutex<Child>,
    input: File,
    /// The value of [`MARK`] in this run's jobs.
    mark: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Groups {
    /// The groups of a run, with a guard process that ends the running ones if `workpool`
    /// dies; without one (and with a warning) if it cannot start.
    pub fn with_guard() -> Self {
        let mark = format!("{}.{:016x}", std::process::id(), fastrand::u64(..));
        let guard = Command::new("awk")
            .arg("-v")
            .arg(format!("mark={mark}"))
            .arg(GUARD)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .and_then(|mut child| {
                let input = child
                    .stdin
                    .take()
                    .ok_or_else(|| std::io::Error::other("no pipe to the guard"))?;
                Ok(Guard {
                    child: Mutex::new(child),
                    input: File::from(std::os::fd::OwnedFd::from(input)),
                    mark,
                })
            });
        let guard = match guard {
            Ok(guard) => Some(guard),
            Err(err) => {
                eprintln!(
                    "workpool: warning: cannot start the guard process (awk): {err}; jobs will outlive a kill -9 of workpool"
                );
                None
            }
        };
        Groups {
            guard,
            ..Groups::default()
        }
    }

    /// The mark each job of the run carries in its environment as [`MARK`], if a guard
    /// watches the run.
    pub fn mark(&self) -> Option<&str> {
        self.guard.as_ref().map(|g| g.mark.as_str())
    }

    /// Notes a job's group as running (call right after the job's process started).
    pub fn started(&self, pgid: i32) {
        lock(&self.running).insert(pgid);
        self.tell_guard(&format!("+ {pgid}\n"));
    }

    /// Notes a job's group as over: its leader exited and was reaped. If processes of the
    /// group are still alive, it is kept to be reaped later.
    pub fn ended(&self, pgid: i32) {
        lock(&self.running).remove(&pgid);
        self.tell_guard(&format!("- {pgid}\n"));
        reap_group(pgid);
        if !group_is_gone(pgid) {
            lock(&self.lingering).push(pgid);
        }
    }

    /// Reaps whatever of the lingering groups has exited, forgetting the groups now empty.
    pub fn reap(&self) {
        lock(&self.lingering).retain(|&pgid| {
            reap_group(pgid);
            !group_is_gone(pgid)
        });
    }

    /// Sends `signal` to every running group (Ctrl-Z and the continue after it). Besides
    /// the groups noted as running, every child of `workpool` leads a job's group, one
    /// noted or about to be: a job that has just started is reached too.
    pub fn signal_running(&self, signal: Signal) {
        let guard = self
            .guard
            .as_ref()
            .map(|g| i32::try_from(lock(&g.child).id()).unwrap_or(0));
        let mut groups: HashSet<i32> = lock(&self.running).iter().copied().collect();
        groups.extend(children().into_iter().filter(|&pid| Some(pid) != guard));
        for pgid in groups {
            let _ = killpg(Pid::from_raw(pgid), signal);
        }
    }

    /// Ends the guard quietly: the run is over and `workpool` is alive to say so.
    pub fn close(&self) {
        if let Some(guard) = &self.guard {
            self.tell_guard("q\n");
            let _ = lock(&guard.child).wait();
        }
    }

    fn tell_guard(&self, line: &str) {
        if let Some(guard) = &self.guard {
            // Short lines on a pipe are written whole, whichever worker writes.
            let _ = (&guard.input).write_all(line.as_bytes());
        }
    }
}

/// The pids of this process's children, from every thread's `/proc` entry (Linux).
fn children() -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// Reaps the group's processes that have exited and came back to this process (see
/// [`become_subreaper`](super::process::become_subreaper)).
pub fn reap_group(pgid: i32) {
    let group = Pid::from_raw(-pgid);
    while let Ok(status) = waitpid(group, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// `true` once no process is left in the group (zombies count as left).
pub fn group_is_gone(pgid: i32) -> bool {
    killpg(Pid::from_raw(pgid), None) == Err(Errno::ESRCH)
}
