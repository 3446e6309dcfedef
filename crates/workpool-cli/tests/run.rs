//! `workpool run`: input, outputs, exit codes, logs, retries, rates and the plan.

mod common;

use common::{joblog, workpool, Scratch};
use predicates::str::contains;

fn lines(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn every_job_succeeding_exits_0_and_prints_each_output() {
    let s = Scratch::new();
    let file = s.jobs("jobs", &lines(&["echo one", "", "# a comment", "echo two"]));
    let out = workpool(["run", "-j", "2", "-a", &file]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let mut got: Vec<&str> = stdout.lines().collect();
    got.sort_unstable();
    assert_eq!(got, ["one", "two"]);
}

#[test]
fn a_failed_job_exits_1_and_is_named_in_the_summary() {
    let s = Scratch::new();
    let file = s.jobs("jobs", &lines(&["true", "exit 3", "echo ok"]));
    workpool(["run", "-j", "2", "-a", &file])
        .assert()
        .code(1)
        .stderr(contains(
            "3 jobs: 2 ok, 1 failed, 0 timed out, 0 cancelled, 0 not run, 0 skipped",
        ))
        .stderr(contains("exit 3"));
}

#[test]
fn jobs_come_from_standard_input_without_a_file() {
    workpool(["run", "-j", "1"])
        .write_stdin("echo from-stdin\n")
        .assert()
        .success()
        .stdout("from-stdin\n");
    workpool(["run", "-j", "1", "-a", "-"])
        .write_stdin("echo dash\n")
        .assert()
        .success()
        .stdout("dash\n");
}

#[test]
fn bad_input_lines_exit_2_naming_the_line_and_run_nothing() {
    let s = Scratch::new();
    let marker = s.path("ran");
    let first = format!("touch {}", marker.display());
    let cases = [
        (
            "{\"cmd\": \"x\"",
            "input line 3: invalid JSON: EOF while parsing an object",
        ),
        ("{\"id\": \"a\"}", "input line 3: missing \"cmd\""),
        (
            "{\"cmd\": \"x\", \"priority\": \"urgent\"}",
            "input line 3: \"priority\" must be",
        ),
        (
            "{\"cmd\": \"x\", \"timeout\": \"soon\"}",
            "input line 3: \"timeout\": invalid duration",
        ),
        (
            "{\"cmd\": \"x\", \"color\": 1}",
            "input line 3: unknown field \"color\"",
        ),
    ];
    for (bad, message) in cases {
        let file = s.jobs("jobs", &[first.clone(), "true".to_owned(), bad.to_owned()]);
        workpool(["run", "--check-first", "-a", &file])
            .assert()
            .code(2)
            .stderr(contains(message));
        assert!(!marker.exists(), "nothing runs when the input is bad");
    }
}

#[test]
fn usage_errors_exit_2() {
    let s = Scratch::new();
    let file = s.jobs("jobs", &lines(&["true"]));
    for args in [
        vec!["run", "--min", "3", "--max", "1", "-a", &file],
        vec!["run", "--rate", "0/s", "-a", &file],
        vec!["run", "--rate", "10/fortnight", "-a", &file],
        vec!["run", "--timeout", "soon", "-a", &file],
        vec!["run", "--backoff", "10s..1s", "-a", &file],
        vec!["run", "--resume", "-a", &file],
        vec!["run", "-j", "2", "--max", "4", "-a", &file],
        vec!["run", "--no-such-flag"],
        vec!["frobnicate"],
    ] {
        workpool(&args).assert().code(2);
    }
    workpool(["run", "-a", "/no/such/job/list"])
        .assert()
        .code(2)
        .stderr(contains("cannot open /no/such/job/list"));
    workpool(["--help"])
        .assert()
        .success()
        .stdout(contains("run"));
    workpool(["--version"]).assert().success();
}

#[test]
fn json_lines_set_id_env_and_cwd() {
    let s = Scratch::new();
    let root = s.root();
    let file = s.jobs(
        "jobs",
        &[format!(
            r#"{{"cmd": "echo $GREETING; pwd", "id": "hello", "env": {{"GREETING": "hi"}}, "cwd": "{root}"}}"#
        )],
    );
    let log = s.path("log");
    workpool(["run", "-a", &file, "--joblog", log.to_str().unwrap()])
        .assert()
        .success()
        .stdout(format!("hi\n{root}\n"));
    let entries = joblog(&log);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0][0], "hello");
    assert_eq!(entries[0][7], "ok");
}

#[test]
fn a_job_that_cannot_start_fails_with_a_message() {
    // The directory exists when the list is read and checked, and is gone when the second
    // job starts.
    let s = Scratch::new();
    let dir = s.path("dir");
    std::fs::create_dir(&dir).unwrap();
    let file = s.jobs(
        "jobs",
        &[
            format!("rmdir {}", dir.display()),
            format!(r#"{{"cmd": "true", "cwd": "{}"}}"#, dir.display()),
        ],
    );
    workpool(["run", "-j", "1", "--check-first", "-a", &file])
        .assert()
        .code(1)
        .stderr(contains(format!(
            "cannot start the command in {}",
            dir.display()
        )));
}

#[test]
fn a_missing_cwd_a_nul_or_a_command_too_long_is_refused_before_anything_runs() {
    let s = Scratch::new();
    let marker = s.path("ran");
    let long = format!(r#"{{"cmd": "echo {}"}}"#, "x".repeat(200_000));
    for (bad, message) in [
        (
            r#"{"cmd": "true", "cwd": "/no/such/dir"}"#.to_owned(),
            "input line 2: \"cwd\": no such directory /no/such/dir",
        ),
        (
            r#"{"cmd": "a\u0000b"}"#.to_owned(),
            "input line 2: a NUL character",
        ),
        (long, "input line 2: the command is 200005 bytes"),
    ] {
        let file = s.jobs("jobs", &[format!("touch {}", marker.display()), bad]);
        workpool(["run", "--check-first", "-a", &file])
            .assert()
            .code(2)
            .stderr(contains(message));
        assert!(!marker.exists(), "nothing runs");
    }
}

#[test]
fn keep_order_prints_in_input_order_whatever_finishes_first() {
    let s = Scratch::new();
    let file = s.jobs(
        "jobs",
        &lines(&[
            "sleep 0.3; echo a",
            "sleep 0.1; echo b",
            "echo c",
            "echo d >&2",
        ]),
    );
    workpool(["run", "-j", "4", "--keep-order", "-a", &file])
        .assert()
        .success()
        .stdout("a\nb\nc\n");
}

#[test]
fn one_jobs_output_is_never_interleaved_with_anothers() {
    let s = Scratch::new();
    let jobs: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|c| format!("for i in $(seq 300); do echo {c}$i; done"))
        .collect();
    let file = s.jobs("jobs", &jobs);
    let out = workpool(["run", "-j", "4", "-a", &file]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let got: Vec<&str> = stdout.lines().collect();
    assert_eq!(got.len(), 1200);
    // Four blocks of 300 lines, each one job's lines in its own order.
    let mut letters: Vec<char> = got.iter().filter_map(|l| l.chars().next()).collect();
    letters.dedup();
    assert_eq!(letters.len(), 4, "each job's lines form one block");
    for block in got.chunks(300) {
        let letter = &block[0][..1];
        let expected: Vec<String> = (1..=300).map(|i| format!("{letter}{i}")).collect();
        assert_eq!(block, expected);
    }
}

#[test]
fn the_joblog_has_a_line_per_job_with_every_field() {
    let s = Scratch::new();
    let file = s.jobs("jobs", &lines(&["true", "exit 4", "kill -TERM $$"]));
    let log = s.path("log");
    workpool([
        "run",
        "-j",
        "1",
        "-a",
        &file,
        "--joblog",
        log.to_str().unwrap(),
    ])
    .assert()
    .code(1);
    let mut entries = joblog(&log);
    entries.sort();
    assert_eq!(entries.len(), 3);
    let fields: Vec<(&str, &str, &str, &str, &str, &str)> = entries
        .iter()
        .map(|e| {
            assert_eq!(e.len(), 8);
            assert!(
                e[5].parse::<f64>().unwrap() > 1.6e9,
                "start is unix seconds"
            );
            assert!(e[6].parse::<f64>().unwrap() >= 0.0, "duration is seconds");
            (&*e[0], &*e[1], &*e[2], &*e[3], &*e[4], &*e[7])
        })
        .collect();
    assert_eq!(
        fields,
        [
            ("1", "true", "0", "0", "1", "ok"),
            ("2", "exit 4", "4", "0", "1", "failed"),
            // As GNU parallel writes it: exit value 0, and the signal.
            ("3", "kill -TERM $$", "0", "15", "1", "failed"),
        ]
    );
}

#[test]
fn the_results_file_has_outputs_cut_at_max_output() {
    let s = Scratch::new();
    let file = s.jobs(
        "jobs",
        &lines(&[
            r#"{"cmd": "printf 0123456789abcdef; echo err >&2", "id": "long"}"#,
            r#"{"cmd": "printf short; exit 2", "id": "short"}"#,
        ]),
    );
    let results = s.path("results.jsonl");
    let out = workpool([
        "run",
        "-j",
        "1",
        "-a",
        &file,
        "--results",
        results.to_str().unwrap(),
        "--max-output",
        "10",
    ])
    .assert()
    .code(1);
    // The printed output is whole; only the results file is cut.
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("0123456789abcdef"));
    let text = s.read("results.jsonl");
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(records.len(), 2);
    let long = records.iter().find(|r| r["id"] == "long").unwrap();
    assert_eq!(long["cmd"], "printf 0123456789abcdef; echo err >&2");
    assert_eq!(long["exit"], 0);
    assert_eq!(long["stdout"], "0123456789");
    assert_eq!(long["stderr"], "err\n");
    assert_eq!(long["truncated"], true);
    let short = records.iter().find(|r| r["id"] == "short").unwrap();
    assert_eq!(short["exit"], 2);
    assert_eq!(short["stdout"], "short");
    assert_eq!(short["truncated"], false);
    assert_eq!(short["outcome"], "failed");
}

#[test]
fn dry_run_prints_the_plan_and_runs_nothing() {
    let s = Scratch::new();
    let marker = s.path("ran");
    let file = s.jobs(
        "jobs",
        &[
            format!("touch {}", marker.display()),
            r#"{"cmd": "make", "id": "build", "priority": "high", "timeout": "500ms", "retries": 3}"#
                .to_owned(),
        ],
    );
    workpool([
        "run",
        "--dry-run",
        "--timeout",
        "30s",
        "--retries",
        "2",
        "-a",
        &file,
    ])
    .assert()
    .success()
    .stdout(format!(
        "1\tnormal\t30s\t1\ttouch {}\nbuild\thigh\t500ms\t3\tmake\n",
        marker.display()
    ));
    assert!(!marker.exists());
}

#[test]
fn quiet_prints_no_summary_and_no_progress_off_a_terminal() {
    let s = Scratch::new();
    let file = s.jobs("jobs", &lines(&["echo out", "true"]));
    workpool(["run", "--quiet", "-a", &file])
        .assert()
        .success()
        .stdout("out\n")
        .stderr("");
    // Not a terminal: the summary only, no progress lines.
    let out = workpool(["run", "-a", &file]).assert().success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.starts_with("workpool: 2 jobs: 2 ok"), "{stderr}");
    assert!(stderr.contains("job durations: p50"));
    assert!(stderr.contains("slowest:"));
    assert!(!stderr.contains('\r'), "no progress bar redraws");
    assert!(!stderr.contains("eta"), "no progress lines");
}

#[test]
fn retries_rerun_a_failing_job_until_it_succeeds() {
    let s = Scratch::new();
    let count = s.path("count");
    // Fails on its first two runs, succeeds on the third.
    let flaky = format!(
        "n=$(($(cat {c} 2>/dev/null || echo 0) + 1)); echo $n > {c}; [ $n -ge 3 ]",
        c = count.display()
    );
    let file = s.jobs("jobs", &[flaky]);
    let log = s.path("log");
    let log_arg = log.to_str().unwrap();
    workpool([
        "run",
        "-a",
        &file,
        // Three runs in all, as GNU parallel counts them.
        "--retries",
        "3",
        "--backoff",
        "1ms..5ms",
        "--joblog",
        log_arg,
    ])
    .assert()
    .success();
    assert_eq!(joblog(&log)[0][4], "3", "three attempts");

    std::fs::remove_file(&count).unwrap();
    workpool([
        "run",
        "-a",
        &file,
        "--retries",
        "2",
        "--backoff",
        "1ms",
        "--joblog",
        log_arg,
    ])
    .assert()
    .code(1);
    let entry = &joblog(&log)[0];
    assert_eq!((&*entry[2], &*entry[4], &*entry[7]), ("1", "2", "failed"));
}

#[test]
fn retry_on_retries_only_the_listed_exit_codes() {
    let s = Scratch::new();
    let file = s.jobs(
        "jobs",
        &lines(&[
            r#"{"cmd": "exit 75", "id": "temporary"}"#,
            r#"{"cmd": "exit 3", "id": "permanent"}"#,
            r#"{"cmd": "exit 75", "id": "own", "retries": 1}"#,
        ]),
    );
    let log = s.path("log");
    workpool([
        "run",
        "-a",
        &file,
        "--retries",
        "4",
        "--backoff",
        "1ms..2ms",
        "--retry-on",
        "1,2,75",
        "--joblog",
        log.to_str().unwrap(),
    ])
    .assert()
    .code(1);
    let mut attempts: Vec<(String, String)> = joblog(&log)
        .into_iter()
        .map(|e| (e[0].clone(), e[4].clone()))
        .collect();
    attempts.sort();
    assert_eq!(
        attempts,
        [
            ("own".to_owned(), "2".to_owned()),
            ("permanent".to_owned(), "1".to_owned()),
            ("temporary".to_owned(), "4".to_owned()),
        ]
    );
}

#[test]
fn priorities_order_the_queue() {
    let s = Scratch::new();
    // One worker, busy with the first job while the rest queue up behind it: they then run
    // highest priority first. (The first job's sleep is the submitter's head start; queueing
    // three lines takes microseconds.)
    let file = s.jobs(
        "jobs",
        &lines(&[
            "sleep 0.3",
            r#"{"cmd": "echo low", "priority": "low"}"#,
            r#"{"cmd": "echo normal"}"#,
            r#"{"cmd": "echo high", "priority": 255}"#,
        ]),
    );
    workpool(["run", "-j", "1", "-a", &file])
        .assert()
        .success()
        .stdout("high\nnormal\nlow\n");
}

#[test]
fn a_rate_limit_spaces_the_starts() {
    let s = Scratch::new();
    let file = s.jobs("jobs", &lines(&["true", "true", "true", "true", "true"]));
    let log = s.path("log");
    workpool([
        "run",
        "-j",
        "5",
        "--rate",
        "20/s",
        "--burst",
        "1",
        "-a",
        &file,
        "--joblog",
        log.to_str().unwrap(),
    ])
    .assert()
    .success();
    let starts: Vec<f64> = joblog(&log).iter().map(|e| e[5].parse().unwrap()).collect();
    let span = starts.iter().cloned().fold(f64::MIN, f64::max)
        - starts.iter().cloned().fold(f64::MAX, f64::min);
    // Five starts at 20/s are at least four intervals (200 ms) apart, less what the first
    // start's own delay could hide; a limiter that let them through at once would show ~0.
    assert!(span >= 0.1, "starts spread over {span}s");
}

#[test]
fn dynamic_sizing_runs_every_job() {
    let s = Scratch::new();
    let jobs: Vec<String> = (0..12).map(|i| format!("echo {i}")).collect();
    let file = s.jobs("jobs", &jobs);
    let out = workpool(["run", "--min", "1", "--max", "3", "-a", &file])
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout)
            .lines()
            .count(),
        12
    );
    workpool(["run", "--max", "2", "-a", &file])
        .assert()
        .success();
}

#[test]
fn an_empty_job_list_succeeds() {
    workpool(["run"])
        .write_stdin("\n# nothing\n")
        .assert()
        .success()
        .stdout("")
        .stderr(contains("0 jobs"));
}

#[test]
fn output_files_that_are_an_input_or_each_other_are_refused() {
    let s = Scratch::new();
    let file = s.jobs("jobs.txt", &lines(&["echo hi"]));
    let before = s.read("jobs.txt");
    workpool(["run", "-a", &file, "--joblog", &file])
        .assert()
        .code(2)
        .stderr(contains("--joblog"))
        .stderr(contains("is also an input file"));
    workpool(["run", "--results", &file, "cat", "::::", &file])
        .assert()
        .code(2)
        .stderr(contains("is also an input file"));
    assert_eq!(s.read("jobs.txt"), before, "the job list is untouched");
    let x = s.path("x");
    workpool([
        "run",
        "-a",
        &file,
        "--joblog",
        x.to_str().unwrap(),
        "--results",
        x.to_str().unwrap(),
    ])
    .assert()
    .code(2)
    .stderr(contains("--joblog and --results are the same file"));
}

#[test]
fn a_shell_group_is_a_command_and_a_zero_json_timeout_is_none() {
    let s = Scratch::new();
    let out = s.path("out");
    let file = s.jobs(
        "jobs",
        &[
            format!("{{ echo a; echo b; }} > {}", out.display()),
            r#"{"cmd": "sleep 0.3; echo slow", "timeout": "0s"}"#.to_owned(),
        ],
    );
    workpool(["run", "-q", "--timeout", "100ms", "-a", &file])
        .assert()
        .success()
        .stdout("slow\n");
    assert_eq!(s.read("out"), "a\nb\n");
}

#[test]
fn a_bad_line_met_while_jobs_run_stops_new_starts_and_exits_2() {
    let s = Scratch::new();
    let file = s.jobs(
        "jobs",
        &lines(&["echo before", r#"{"cmd": "x", "color": 1}"#, "echo after"]),
    );
    workpool(["run", "-j", "1", "-a", &file])
        .assert()
        .code(2)
        .stdout("before\n")
        .stderr(contains("input line 2: unknown field \"color\""));
}
