//! `--timeout` ends a job and everything it started: no orphan survives.

mod common;

use common::{alive, have_parallel, joblog, joblog_raw, parallel, pid_in, workpool, Scratch};

#[test]
fn a_timeout_ends_the_job_and_its_background_children() {
    let s = Scratch::new();
    let pid_file = s.path("child.pid");
    // The shell starts a child that would outlive it, then waits.
    let file = s.jobs(
        "jobs",
        &[format!(
            "sleep 600 & echo $! > {}; wait",
            pid_file.display()
        )],
    );
    let log = s.path("log");
    workpool([
        "run",
        "-a",
        &file,
        "--timeout",
        "200ms",
        "--kill-grace",
        "5s",
        "--joblog",
        log.to_str().unwrap(),
    ])
    .assert()
    .code(1)
    .stderr(predicates::str::contains("1 timed out"));
    let child = pid_in(&pid_file);
    assert!(!alive(child), "the background child {child} is gone");
    let entry = &joblog(&log)[0];
    assert_eq!((&*entry[2], &*entry[3], &*entry[7]), ("0", "15", "timeout"));
}

#[test]
fn a_child_that_ignores_sigterm_gets_sigkill_after_the_grace() {
    let s = Scratch::new();
    let pid_file = s.path("child.pid");
    let file = s.jobs(
        "jobs",
        &[format!(
            "(trap '' TERM; exec sleep 600) & echo $! > {}; wait",
            pid_file.display()
        )],
    );
    workpool([
        "run",
        "-a",
        &file,
        "--timeout",
        "100ms",
        "--kill-grace",
        "100ms",
    ])
    .assert()
    .code(1);
    let child = pid_in(&pid_file);
    assert!(!alive(child), "the TERM-proof child {child} is gone");
}

#[test]
fn a_jobs_own_timeout_overrides_the_flag_and_fast_jobs_are_untouched() {
    let s = Scratch::new();
    let file = s.jobs(
        "jobs",
        &[
            r#"{"cmd": "sleep 600", "id": "slow", "timeout": "100ms"}"#.to_owned(),
            r#"{"cmd": "echo fast", "id": "fast"}"#.to_owned(),
        ],
    );
    let log = s.path("log");
    workpool([
        "run",
        "-a",
        &file,
        "--timeout",
        "1h",
        "--joblog",
        log.to_str().unwrap(),
    ])
    .assert()
    .code(1)
    .stdout("fast\n");
    let mut outcomes: Vec<(String, String)> = joblog(&log)
        .into_iter()
        .map(|e| (e[0].clone(), e[7].clone()))
        .collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            ("fast".to_owned(), "ok".to_owned()),
            ("slow".to_owned(), "timeout".to_owned())
        ]
    );
}

#[test]
fn timed_out_runs_are_retried_unless_retry_on_excludes_them() {
    let s = Scratch::new();
    let file = s.jobs("jobs", &["sleep 600".to_owned()]);
    let log = s.path("log");
    let log_arg = log.to_str().unwrap();
    let base = [
        "run",
        "-a",
        &file,
        "--timeout",
        "50ms",
        "--kill-grace",
        "1s",
        "--retries",
        "2",
    ];
    let backoff = ["--backoff", "1ms", "--joblog", log_arg];
    workpool(base.iter().chain(&backoff)).assert().code(1);
    assert_eq!(joblog(&log)[0][4], "2", "a timeout is retried");
    workpool(base.iter().chain(&backoff).chain(&["--retry-on", "1"]))
        .assert()
        .code(1);
    assert_eq!(joblog(&log)[0][4], "1", "--retry-on names exit codes only");
}

/// The job log's `Signal` column for each line (GNU parallel's log or workpool's).
fn signals(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| line.split('\t').nth(7).unwrap().to_owned())
        .collect()
}

#[test]
fn a_percentage_timeout_ends_a_job_far_slower_than_the_median_of_the_successes() {
    // Three jobs of 0.2 s set the median; the fourth would sleep ten minutes and is ended at
    // 1000% of it. The first, with no success before it, has no limit at all.
    let s = Scratch::new();
    let log = s.path("log");
    let args = [
        "-j",
        "1",
        "--timeout",
        "1000%",
        "--joblog",
        log.to_str().unwrap(),
        "sleep",
        ":::",
        "0.2",
        "0.2",
        "0.2",
        "600",
    ];
    workpool(["run", "-q"].iter().chain(&args)).assert().code(1);
    let entries = joblog_raw(&log);
    let outcomes: Vec<&str> = entries.iter().map(|e| e[11].as_str()).collect();
    assert_eq!(outcomes, ["ok", "ok", "ok", "timeout"]);
    assert_eq!(signals(&log), ["0", "0", "0", "15"]);
    if have_parallel() {
        std::fs::remove_file(&log).unwrap();
        parallel(args).assert().code(1);
        assert_eq!(signals(&log), ["0", "0", "0", "15"], "GNU parallel");
    }
}

#[test]
fn a_percentage_timeout_limits_nothing_before_the_first_success() {
    // At 1% of the median, every job after the first success is ended at once; the first,
    // and the failures before it, run to their end.
    let s = Scratch::new();
    let log = s.path("log");
    workpool([
        "run",
        "-q",
        "-j",
        "1",
        "--timeout",
        "1%",
        "--joblog",
        log.to_str().unwrap(),
        ":::",
        "sleep 0.3; false",
        "sleep 0.3",
        "sleep 5",
    ])
    .assert()
    .code(1);
    let outcomes: Vec<String> = joblog(&log).into_iter().map(|e| e[7].clone()).collect();
    assert_eq!(outcomes, ["failed", "ok", "timeout"]);
}

#[test]
fn a_bad_percentage_is_refused_with_its_value() {
    for bad in ["0%", "-3%", "ten%"] {
        workpool(["run", &format!("--timeout={bad}"), "true", ":::", "a"])
            .assert()
            .code(2)
            .stderr(predicates::str::contains(format!(
                "invalid timeout \"{bad}\""
            )));
    }
}
