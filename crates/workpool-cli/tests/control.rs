//! Control of a run as GNU parallel gives it: --halt and --delay.

mod common;

use common::{joblog, workpool, Scratch};
use predicates::str::contains;

/// Two jobs at once: the first starts a long job, the second waits until it runs and then
/// exits with `code`.
fn long_and_second(s: &Scratch, code: i32) -> String {
    let root = s.root();
    s.jobs(
        "jobs",
        &[
            format!("touch {root}/started1; exec sleep 600"),
            format!("while [ ! -e {root}/started1 ]; do sleep 0.01; done; exit {code}"),
            format!("touch {root}/ran3"),
        ],
    )
}

#[test]
fn halt_now_on_a_failure_ends_the_running_jobs_and_starts_no_more() {
    let s = Scratch::new();
    let file = long_and_second(&s, 3);
    let log = s.path("log");
    workpool([
        "run",
        "-j",
        "2",
        "--halt",
        "now,fail=1",
        "-a",
        &file,
        "--joblog",
        log.to_str().unwrap(),
    ])
    .assert()
    .code(1)
    .stderr(contains("--halt: 1 jobs did not succeed: ending"));
    let mut entries = joblog(&log);
    entries.sort();
    let outcomes: Vec<(&str, &str)> = entries.iter().map(|e| (&*e[0], &*e[7])).collect();
    assert_eq!(outcomes, [("1", "cancelled"), ("2", "failed")]);
    assert!(!s.path("ran3").exists());
}

#[test]
fn halt_now_on_a_success_exits_0() {
    let s = Scratch::new();
    let file = long_and_second(&s, 0);
    workpool(["run", "-j", "2", "--halt", "now,success=1", "-a", &file])
        .assert()
        .code(0)
        .stderr(contains(
            "1 ok, 0 failed, 0 timed out, 1 cancelled, 1 not run",
        ));
}

#[test]
fn halt_soon_lets_the_running_jobs_finish() {
    let s = Scratch::new();
    let root = s.root();
    // The first job ends once the second has failed and the third could have started.
    let file = s.jobs(
        "jobs",
        &[
            format!("touch {root}/started1; while [ ! -e {root}/failed2 ]; do sleep 0.01; done; sleep 0.2"),
            format!("while [ ! -e {root}/started1 ]; do sleep 0.01; done; touch {root}/failed2; exit 1"),
            format!("touch {root}/ran3"),
        ],
    );
    workpool(["run", "-j", "2", "--halt", "soon,fail=1", "-a", &file])
        .assert()
        .code(1)
        .stderr(contains(
            "1 ok, 1 failed, 0 timed out, 0 cancelled, 1 not run",
        ));
    assert!(!s.path("ran3").exists());
}

#[test]
fn bad_halt_values_are_usage_errors() {
    for bad in ["now", "later,fail=1", "now,fail=0", "now,oops=2"] {
        workpool(["run", "--halt", bad, "true", ":::", "1"])
            .assert()
            .code(2)
            .stderr(contains("invalid --halt"));
    }
}

#[test]
fn delay_spaces_the_starts() {
    let s = Scratch::new();
    let log = s.path("log");
    workpool([
        "run",
        "-j",
        "3",
        "--delay",
        "100ms",
        "--joblog",
        log.to_str().unwrap(),
        "true",
        ":::",
        "1",
        "2",
        "3",
    ])
    .assert()
    .success();
    let mut starts: Vec<f64> = joblog(&log).iter().map(|e| e[5].parse().unwrap()).collect();
    starts.sort_by(f64::total_cmp);
    // Three starts 100 ms apart span at least 200 ms, less what the first start's own
    // delay could hide; without the delay they would start together.
    assert!(starts[2] - starts[0] >= 0.1, "{starts:?}");
}

#[test]
fn ungroup_lets_a_job_write_before_it_ends() {
    let s = Scratch::new();
    let root = s.root();
    // The job prints, then waits until the test has seen the print: only an uncaptured
    // output can be seen before the job ends.
    let mut child = common::workpool_process([
        "run",
        "-q",
        "--ungroup",
        &format!("echo early; while [ ! -e {root}/seen ]; do sleep 0.01; done; echo late"),
        ":::",
        "x",
    ])
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "early\n");
    std::fs::write(s.path("seen"), "").unwrap();
    assert_eq!(common::exit_code(&mut child), Some(0));
}
