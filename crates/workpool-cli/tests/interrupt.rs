//! Ctrl-C: the first stops new starts and waits for running jobs; the second ends them. Either
//! way the exit code is 130 and the job log is complete.

mod common;

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;

use common::{
    assert_the_two_long_jobs_ended, exit_code, joblog, two_long_jobs_and_a_third, wait_for,
    wait_for_the_two_long_jobs, workpool_process, Scratch, CAP,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Starts `workpool` with its standard error read line by line into a channel.
fn start(args: &[&str]) -> (Child, Receiver<String>) {
    let mut child = workpool_process(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines, inbox) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, inbox)
}

/// Waits for a line of standard error containing `text`; returns the lines seen until then.
fn expect_line(inbox: &Receiver<String>, text: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let line = inbox
            .recv_timeout(CAP)
            .unwrap_or_else(|_| panic!("no line with {text:?} in {seen:?}"));
        let found = line.contains(text);
        seen.push(line);
        if found {
            return seen;
        }
    }
}

fn interrupt(child: &Child) {
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
}

#[test]
fn the_first_ctrl_c_starts_nothing_new_and_waits_for_running_jobs() {
    let s = Scratch::new();
    let root = s.root();
    let fifo = s.path("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // One worker: job 1 runs until the test opens and closes the fifo; jobs 2 and 3 queue.
    let file = s.jobs(
        "jobs",
        &[
            format!("touch {root}/started; cat {root}/fifo"),
            format!("touch {root}/ran2"),
            format!("touch {root}/ran3"),
        ],
    );
    let log = s.path("log");
    let (mut child, inbox) = start(&[
        "run",
        "-j",
        "1",
        "-a",
        &file,
        "--joblog",
        log.to_str().unwrap(),
    ]);
    wait_for("job 1 to start", || s.path("started").exists());
    interrupt(&child);
    expect_line(&inbox, "interrupted: starting no more jobs");
    // Let job 1 finish: cat sees the end of the fifo and exits 0.
    drop(OpenOptions::new().write(true).open(&fifo).unwrap());
    assert_eq!(exit_code(&mut child), Some(130));
    let summary = expect_line(&inbox, "jobs:");
    assert!(
        summary
            .last()
            .unwrap()
            .contains("1 ok, 0 failed, 0 timed out, 0 cancelled, 2 not run"),
        "{summary:?}"
    );
    let entries = joblog(&log);
    assert_eq!(entries.len(), 1);
    assert_eq!((&*entries[0][0], &*entries[0][7]), ("1", "ok"));
    assert!(!s.path("ran2").exists() && !s.path("ran3").exists());
}

#[test]
fn the_second_ctrl_c_ends_running_jobs_and_their_process_groups() {
    let s = Scratch::new();
    let file = two_long_jobs_and_a_third(&s);
    let log = s.path("log");
    let (mut child, inbox) = start(&[
        "run",
        "-j",
        "2",
        "-a",
        &file,
        "--joblog",
        log.to_str().unwrap(),
    ]);
    wait_for_the_two_long_jobs(&s);
    interrupt(&child);
    expect_line(&inbox, "interrupted: starting no more jobs");
    interrupt(&child);
    expect_line(&inbox, "interrupted again: ending 2 running jobs");
    assert_eq!(exit_code(&mut child), Some(130));

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
