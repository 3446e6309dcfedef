//! SIGTERM, SIGHUP, Ctrl-Z, a blocked or closed standard output: each acts at once, and the
//! job log stays complete.

mod common;

use std::io::Read;
use std::process::{Child, Stdio};

use common::{
    assert_the_two_long_jobs_ended, exit_code, joblog, pid_in, two_long_jobs_and_a_third, wait_for,
    wait_for_the_two_long_jobs, workpool_process, Scratch,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn signal(child: &Child, signal: Signal) {
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
}

#[test]
fn sigterm_and_sighup_end_the_jobs_log_them_summarize_and_exit_128_plus_the_signal() {
    for (sig, code) in [(Signal::SIGTERM, 143), (Signal::SIGHUP, 129)] {
        let s = Scratch::new();
        // Two jobs run (one leaves a background child), the third waits for a worker.
        let file = two_long_jobs_and_a_third(&s);
        let log = s.path("log");
        let mut child = workpool_process([
            "run",
            "-j",
            "2",
            "-a",
            &file,
            "--joblog",
            log.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        wait_for_the_two_long_jobs(&s);
        signal(&child, sig);
        assert_eq!(exit_code(&mut child), Some(code), "{sig}");
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(
            stderr.contains(&format!("received {}: ending 2 running jobs", sig.as_str())),
            "{stderr}"
        );
        assert!(
            stderr.contains("3 jobs: 0 ok, 0 failed, 0 timed out, 2 cancelled, 1 not run"),
            "{stderr}"
        );
        let mut entries = joblog(&log);
        entries.sort();
        let outcomes: Vec<(&str, &str, &str)> =
            entries.iter().map(|e| (&*e[0], &*e[3], &*e[7])).collect();
        assert_eq!(
            outcomes,
            [("1", "15", "cancelled"), ("2", "15", "cancelled")]
        );
        assert_the_two_long_jobs_ended(&s);
    }
}

#[test]
fn a_blocked_standard_output_holds_up_neither_the_job_log_nor_a_signal() {
    let s = Scratch::new();
    // Each output is larger than a pipe holds; nobody reads the pipe.
    let jobs: Vec<String> = (0..30)
        .map(|_| "head -c 100000 /dev/zero".to_owned())
        .collect();
    let file = s.jobs("jobs", &jobs);
    let log = s.path("log");
    let mut child = workpool_process([
        "run",
        "-q",
        "-j",
        "4",
        "-a",
        &file,
        "--joblog",
        log.to_str().unwrap(),
    ])
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    wait_for("every job in the log", || joblog(&log).len() == 30);
    signal(&child, Signal::SIGTERM);
    assert_eq!(exit_code(&mut child), Some(143));
    assert!(joblog(&log).iter().all(|e| e[7] == "ok"));
}

#[test]
fn a_closed_standard_output_stops_the_run_with_141() {
    let s = Scratch::new();
    let root = s.root();
    // One at a time: the first job's output fills the pipe, which the test closes after
    // reading a little, as `| head -1` does; the rest would each leave a marker.
    let mut jobs = vec!["seq 100000".to_owned()];
    jobs.extend((0..20).map(|n| format!("touch {root}/ran{n}; seq 100000")));
    let file = s.jobs("jobs", &jobs);
    let mut child = workpool_process(["run", "-q", "-j", "1", "-a", &file])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 2];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    assert_eq!(exit_code(&mut child), Some(141));
    let ran = (0..20)
        .filter(|n| s.path(&format!("ran{n}")).exists())
        .count();
    assert!(ran < 20, "it stopped starting jobs");
}

/// The state letter of a process (`R`, `S`, `T` for stopped ...).
fn state(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')')
        .next()
        .and_then(|rest| rest.trim_start().chars().next())
        .unwrap_or('?')
}

/// The state letters of every process in process group `pgid`.
fn group_states(pgid: i32) -> Vec<char> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter_map(|stat| {
            // After the command's closing parenthesis: state, ppid, pgrp, ...
            let rest = stat.rsplit(')').next()?;
            let mut fields = rest.split_whitespace();
            let state = fields.next()?.chars().next()?;
            let pgrp: i32 = fields.nth(1)?.parse().ok()?;
            (pgrp == pgid).then_some(state)
        })
        .collect()
}

/// `true` if the job's group is stopped: a process of it is stopped and none runs or
/// sleeps. A shell whose child was stopped between its `vfork` and its `exec` (dash forks
/// `sleep` so) stays in uninterruptible sleep, `D`, until the child goes on: it cannot run
/// either, but never shows `T`.
fn group_stopped(pgid: i32) -> bool {
    let states = group_states(pgid);
    states.contains(&'T') && states.iter().all(|&s| s == 'T' || s == 'D')
}

#[test]
fn ctrl_z_stops_the_running_jobs_and_fg_continues_them() {
    let s = Scratch::new();
    let root = s.root();
    let file = s.jobs(
        "jobs",
        &[format!(
            "echo $$ > {root}/pid; while [ ! -e {root}/gate ]; do sleep 0.01; done"
        )],
    );
    let mut child = workpool_process(["run", "-q", "-a", &file])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the job to start", || s.path("pid").exists());
    let pid = pid_in(&s.path("pid"));
    signal(&child, Signal::SIGTSTP);
    // The job's shell leads its own group.
    wait_for("the job to stop", || group_stopped(pid));
    wait_for("workpool to stop", || state(child.id() as i32) == 'T');
    signal(&child, Signal::SIGCONT);
    wait_for("the job to continue", || !group_states(pid).contains(&'T'));
    std::fs::write(s.path("gate"), "").unwrap();
    assert_eq!(exit_code(&mut child), Some(0));
}
