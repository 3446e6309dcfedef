//! Helpers shared by the behaviour tests of the `workpool` binary.

// Each test file uses its own subset of these.
#![allow(dead_code)]

// The queue crate's database helpers, shared rather than copied.
#[path = "../../../workpool-queue/tests/common/db.rs"]
pub mod db;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use assert_cmd::Command;

/// The real-time cap on anything a test waits for; generous, since it only bounds a failure.
pub const CAP: Duration = Duration::from_secs(60);

/// `workpool` with the given arguments, killed if it runs past [`CAP`].
pub fn workpool<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = Command::new(bin());
    cmd.args(args).timeout(CAP);
    cmd
}

/// `workpool` as a plain process, for tests that signal it while it runs.
pub fn workpool_process<I, S>(args: I) -> StdCommand
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = StdCommand::new(bin());
    cmd.args(args);
    cmd
}

fn bin() -> &'static Path {
    assert_cmd::cargo::cargo_bin!("workpool")
}

/// A scratch directory with a job list in it.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// A path inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The directory as a string, for building shell commands.
    pub fn root(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// Writes `lines` (one job each) to `name` and returns its path as a string.
    pub fn jobs(&self, name: &str, lines: &[String]) -> String {
        let path = self.path(name);
        fs::write(&path, lines.join("\n") + "\n").expect("write the job list");
        path.display().to_string()
    }

    /// The contents of a file, or "" if it does not exist.
    pub fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).unwrap_or_default()
    }
}

/// The job log's header: GNU parallel's columns, then workpool's.
pub const JOBLOG_HEADER: &str = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\tId\tAttempts\tOutcome";

/// The job log's lines after the header, each split into its twelve fields.
pub fn joblog_raw(path: &Path) -> Vec<Vec<String>> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let mut lines = text.lines();
    if let Some(header) = lines.next() {
        assert_eq!(header, JOBLOG_HEADER);
    }
    lines
        .map(|line| line.split('\t').map(str::to_owned).collect())
        .collect()
}

/// The job log's lines after the header, as `id cmd exit signal attempts start duration
/// outcome`.
pub fn joblog(path: &Path) -> Vec<Vec<String>> {
    joblog_raw(path)
        .into_iter()
        .map(|e| {
            assert_eq!(e.len(), 12, "{e:?}");
            [9, 8, 6, 7, 10, 2, 3, 11]
                .iter()
                .map(|&i| e[i].trim().to_owned())
                .collect()
        })
        .collect()
}

/// Polls `ready` until it holds, failing the test after [`CAP`]. Only for files that another
/// process writes (a job's marker, the job log), which offer nothing to block on; process
/// exits go through [`exit_code`]. It never decides an outcome, only how soon a test
/// notices one.
pub fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < CAP, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for `child` to exit and returns its exit code, failing the test (and killing the
/// child) if it runs past [`CAP`]. A blocking wait on the child, not a poll.
pub fn exit_code(child: &mut std::process::Child) -> Option<i32> {
    use wait_timeout::ChildExt;
    match child.wait_timeout(CAP).expect("waiting on workpool") {
        Some(status) => status.code(),
        None => {
            let _ = child.kill();
            panic!("workpool did not exit within {CAP:?}");
        }
    }
}

/// `true` if a process with this pid exists (zombies included), as `kill -0` says.
pub fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

/// `true` if a process with this pid exists and is not a zombie: after `workpool` is killed,
/// its jobs' processes belong to an init that may be slow to reap them.
pub fn running(pid: i32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.trim_start().chars().next());
    matches!(state, Some(s) if s != 'Z' && s != 'X')
}

/// Reads a pid written by a job, waiting until the whole line is there (the shell creates
/// the file before it writes to it).
pub fn pid_in(path: &Path) -> i32 {
    let mut pid = None;
    wait_for("a job to write its pid", || {
        pid = fs::read_to_string(path)
            .ok()
            .filter(|text| text.ends_with('\n'))
            .and_then(|text| text.trim().parse().ok());
        pid.is_some()
    });
    pid.expect("a pid")
}

/// `true` if GNU parallel is installed, to compare with.
pub fn have_parallel() -> bool {
    StdCommand::new("parallel")
        .arg("--version")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("GNU parallel"))
}

/// GNU parallel (citation notice off), killed if it runs past [`CAP`].
pub fn parallel<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = Command::new("parallel");
    cmd.arg("--will-cite").args(args).timeout(CAP);
    cmd
}

/// A list of three jobs for `-j 2`. Job 1 leaves a background child (its pid in `child1`) and
/// job 2 execs a sleep (its pid in `pid2`): both run for ten minutes unless ended. Job 3 would
/// create `ran3`. Returns the list's path.
pub fn two_long_jobs_and_a_third(s: &Scratch) -> String {
    let root = s.root();
    s.jobs(
        "jobs",
        &[
            format!("sleep 600 & echo $! > {root}/child1; wait"),
            format!("echo $$ > {root}/pid2; exec sleep 600"),
            format!("touch {root}/ran3"),
        ],
    )
}

/// Waits until jobs 1 and 2 of [`two_long_jobs_and_a_third`] run.
pub fn wait_for_the_two_long_jobs(s: &Scratch) {
    wait_for("jobs 1 and 2 to start", || {
        s.path("child1").exists() && s.path("pid2").exists()
    });
}

/// Checks that jobs 1 and 2 of [`two_long_jobs_and_a_third`] ended, the background child
/// included, and that job 3 never ran.
pub fn assert_the_two_long_jobs_ended(s: &Scratch) {
    for pid in [pid_in(&s.path("child1")), pid_in(&s.path("pid2"))] {
        assert!(!alive(pid), "process {pid} is gone");
    }
    assert!(!s.path("ran3").exists());
}
