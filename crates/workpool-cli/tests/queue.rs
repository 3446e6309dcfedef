//! The durable queue through the `workpool` binary: submit, worker, status, cancel, retry,
//! against real SQLite files and the PostgreSQL server of this machine.

mod common;

use std::collections::HashMap;
use std::fs;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::db::{wait_for, TestDb};
use common::{workpool, workpool_process, Scratch};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use workpool_queue::{JobState, Queue};

const LONG: Duration = Duration::from_secs(60);

fn submit(db: &TestDb, queue: &str, file: &str) -> String {
    let out = workpool(["submit", "--db", &db.url, "--queue", queue, "-a", file])
        .output()
        .expect("run submit");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn start_worker(db: &TestDb, queue: &str, extra: &[&str]) -> Child {
    start_tagged_worker(db, queue, extra, "")
}

/// A worker whose jobs see `tag` in `$WORKER_TAG`.
fn start_tagged_worker(db: &TestDb, queue: &str, extra: &[&str], tag: &str) -> Child {
    let mut args = vec!["worker", "--db", &db.url, "--queue", queue, "--quiet"];
    args.extend_from_slice(extra);
    workpool_process(args)
        .env("WORKER_TAG", tag)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a worker")
}

fn signal(child: &Child, sig: Signal) {
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    kill(pid, sig).expect("signal the worker");
}

fn finish(child: Child) -> (i32, String) {
    let out = child.wait_with_output().expect("wait for the worker");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn submitting_a_list_again_adds_only_what_is_new() {
    let db = TestDb::sqlite();
    let scratch = Scratch::new();
    let lines: Vec<String> = vec![
        "echo a".into(),
        r#"{"cmd": "echo b", "id": "b"}"#.into(),
        r#"{"cmd": "echo c", "id": "c", "delay": "1h"}"#.into(),
    ];
    let file = scratch.jobs("jobs.txt", &lines);
    assert_eq!(
        submit(&db, "default", &file),
        "added 3 jobs, 0 already there (queue default)\n"
    );
    assert_eq!(
        submit(&db, "default", &file),
        "added 0 jobs, 3 already there (queue default)\n"
    );
    let mut more = lines.clone();
    more.push(r#"{"cmd": "echo d", "id": "d", "queue": "elsewhere"}"#.into());
    let file = scratch.jobs("more.txt", &more);
    assert_eq!(
        submit(&db, "default", &file),
        "added 1 jobs, 3 already there (queue default)\n"
    );
    let queue = Queue::open(&db.url).expect("open");
    let status = queue.status("default").expect("status");
    assert_eq!((status.queued, status.scheduled), (2, 1));
    assert_eq!(queue.status("elsewhere").expect("status").queued, 1);
}

#[test]
fn bad_urls_unreachable_servers_and_newer_schemas_exit_2() {
    let scratch = Scratch::new();
    let newer = format!("sqlite:{}", scratch.path("newer.db").display());
    drop(Queue::open(&newer).expect("create"));
    rusqlite::Connection::open(scratch.path("newer.db"))
        .expect("open")
        .execute(
            "INSERT INTO workpool_schema (version, applied_at) VALUES (99, 0)",
            [],
        )
        .expect("insert a newer version");
    for (url, message) in [
        ("mysql://app@db/jobs", "workpool: error: invalid database url \"mysql://app@db/jobs\""),
        ("postgres://postgres@127.0.0.1:1/test", "workpool: error: cannot open database postgres://postgres@127.0.0.1:1/test: "),
        (newer.as_str(), "workpool: error: database schema version 99 is newer than this program knows (2): upgrade workpool"),
    ] {
        for sub in ["status", "worker", "submit"] {
            let out = workpool([sub, "--db", url])
                .write_stdin("true\n")
                .output()
                .expect("run");
            assert_eq!(out.status.code(), Some(2), "{sub} {url}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.starts_with(message), "{sub} {url}: {stderr}");
        }
    }
}

fn status_json_reports_known_states(db: &TestDb) {
    let scratch = Scratch::new();
    let first = scratch.jobs(
        "first.txt",
        &[
            r#"{"cmd": "echo hi", "id": "ok"}"#.into(),
            r#"{"cmd": "echo oops >&2; exit 3", "id": "bad"}"#.into(),
        ],
    );
    submit(db, "known", &first);
    let worker = start_worker(db, "known", &["-j", "2", "--exit-when-empty"]);
    let (code, stderr) = finish(worker);
    assert_eq!(code, 1, "a job failed: {stderr}");
    let second = scratch.jobs(
        "second.txt",
        &[
            r#"{"cmd": "true", "id": "later", "delay": "1h"}"#.into(),
            r#"{"cmd": "true", "id": "waiting"}"#.into(),
            r#"{"cmd": "true", "id": "dropped"}"#.into(),
        ],
    );
    submit(db, "known", &second);
    let out = workpool(["cancel", "--db", &db.url, "--queue", "known", "dropped"])
        .output()
        .expect("cancel");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "cancelled job dropped\n"
    );
    let out = workpool(["status", "--db", &db.url, "--queue", "known", "--json"])
        .output()
        .expect("status");
    assert!(out.status.success());
    let status: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let counts: Vec<u64> = [
        "queued",
        "scheduled",
        "running",
        "completed",
        "failed",
        "cancelled",
    ]
    .iter()
    .map(|k| status[k].as_u64().unwrap_or(u64::MAX))
    .collect();
    assert_eq!(counts, [1, 1, 0, 1, 1, 1], "{status}");
    assert_eq!(status["workers"], Value::Array(Vec::new()));
    assert!(status["oldest_queued_age_ms"].is_u64(), "{status}");
    // The outputs are in the jobs' records.
    let queue = Queue::open(&db.url).expect("open");
    let ok = queue.find("known", "ok").expect("find").expect("the job");
    assert_eq!(
        ok.output.as_ref().map(|o| o["stdout"].clone()),
        Some(Value::from("hi\n"))
    );
    let bad = queue.find("known", "bad").expect("find").expect("the job");
    assert_eq!(bad.last_error.as_deref(), Some("exit 3"));
    assert_eq!(
        bad.output.as_ref().map(|o| o["stderr"].clone()),
        Some(Value::from("oops\n"))
    );
    // retry makes it due again.
    let out = workpool(["retry", "--db", &db.url, "--queue", "known", "--failed"])
        .output()
        .expect("retry");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1 failed jobs are due again (queue known)\n"
    );
}

#[test]
fn the_worker_summary_has_the_duration_percentiles_of_run() {
    let db = TestDb::sqlite();
    let scratch = Scratch::new();
    // Each job takes at least 10 ms, so the percentiles can be checked against that.
    let lines: Vec<String> = (0..20)
        .map(|i| format!(r#"{{"cmd": "sleep 0.01", "id": "{i}"}}"#))
        .collect();
    let list = scratch.jobs("jobs.txt", &lines);
    submit(&db, "summary", &list);
    let out = workpool([
        "worker",
        "--db",
        &db.url,
        "--queue",
        "summary",
        "-j",
        "2",
        "--exit-when-empty",
    ])
    .output()
    .expect("run the worker");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("workpool: worker: 20 runs in "), "{stderr}");
    // The same line as `workpool run` prints, with three durations in order.
    let line = stderr
        .lines()
        .find(|l| l.starts_with("job durations: p50 "))
        .unwrap_or_else(|| panic!("no percentiles in {stderr}"));
    let parts: Vec<&str> = line
        .trim_start_matches("job durations: ")
        .split(", ")
        .collect();
    assert_eq!(parts.len(), 3, "{line}");
    for (part, name) in parts.iter().zip(["p50 ", "p90 ", "p99 "]) {
        assert!(part.starts_with(name), "{line}");
        // Every job slept 10 ms: no percentile can be below that (they once read "2us").
        let value = part.trim_start_matches(name);
        let millis = if let Some(ms) = value.strip_suffix("ms") {
            ms.parse::<f64>().ok()
        } else if value.ends_with("us") || value.ends_with("µs") {
            Some(0.0)
        } else {
            value
                .strip_suffix('s')
                .and_then(|s| s.parse::<f64>().ok())
                .map(|s| s * 1000.0)
        };
        assert!(millis.is_some_and(|ms| ms >= 9.5), "{line}");
    }
    let run = workpool(["run", "-j", "2", "-a", &list])
        .output()
        .expect("run the list");
    let run_stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run_stderr
            .lines()
            .any(|l| l.starts_with("job durations: p50 ")),
        "{run_stderr}"
    );
}

#[test]
fn status_json_reports_known_states_sqlite() {
    status_json_reports_known_states(&TestDb::sqlite());
}

#[test]
fn status_json_reports_known_states_pg() {
    if let Some(db) = TestDb::pg("cli_status") {
        status_json_reports_known_states(&db);
    }
}

/// Runs `jobs` jobs on `workers` worker processes; SIGKILLs a worker (and starts another in
/// its place) at each of `kills` (counts of completed jobs). Checks that every job is
/// completed, that each ran at most once per attempt, and that only jobs that a killed
/// worker ran (and could not record) ran again.
fn run_on_many_workers(db: &TestDb, queue_name: &str, jobs: usize, workers: usize, kills: &[u64]) {
    let scratch = Scratch::new();
    let log = scratch.path("runs.log");
    // Each run logs its job and the worker that ran it: a tag in the environment the worker
    // passes on. Not $PPID: a job of a killed worker can start its shell after the worker
    // died, and its $PPID is then 1 (it was reparented), which looked like a survivor.
    let lines: Vec<String> = (0..jobs)
        .map(|i| {
            format!(
                r#"{{"cmd": "echo {i} $WORKER_TAG >> {}", "id": "{i}"}}"#,
                log.display()
            )
        })
        .collect();
    submit(db, queue_name, &scratch.jobs("jobs.txt", &lines));
    let queue = Queue::open(&db.url).expect("open");
    let args = ["-j", "2", "--lease", "5s", "--exit-when-empty"];
    let mut started = 0;
    let mut start = || {
        started += 1;
        let tag = format!("w{started}");
        (start_tagged_worker(db, queue_name, &args, &tag), tag)
    };
    let mut running: Vec<(Child, String)> = (0..workers).map(|_| start()).collect();
    let mut killed = Vec::new();
    for (i, &at) in kills.iter().enumerate() {
        wait_for("jobs to complete", LONG, || {
            let done = queue.status(queue_name).expect("status").completed;
            (done >= at).then_some(())
        });
        let (victim, tag) = running.remove(i % running.len());
        signal(&victim, Signal::SIGKILL);
        killed.push(tag);
        let _ = finish(victim);
        running.push(start());
    }
    for (worker, _) in running {
        let (code, stderr) = finish(worker);
        assert_eq!(code, 0, "{stderr}");
    }
    let status = queue.status(queue_name).expect("status");
    assert_eq!(status.completed, jobs as u64, "{status:?}");
    let mut runs: HashMap<usize, Vec<String>> = HashMap::new();
    for line in fs::read_to_string(&log).expect("the log").lines() {
        let (job, worker) = line.split_once(' ').expect("job and worker");
        runs.entry(job.parse().expect("a job number"))
            .or_default()
            .push(worker.to_owned());
    }
    assert_eq!(runs.len(), jobs, "every job ran");
    for i in 0..jobs {
        let job = queue
            .find(queue_name, &i.to_string())
            .expect("find")
            .expect("the job");
        assert_eq!(job.state, JobState::Completed);
        let by = &runs[&i];
        assert!(
            by.len() <= job.attempt as usize,
            "job {i} ran {} times in {} attempts",
            by.len(),
            job.attempt
        );
        let by_survivors = by.iter().filter(|w| !killed.contains(w)).count();
        assert!(
            by_survivors <= 1,
            "job {i} ran {by_survivors} times on workers that were not killed ({by:?}, killed {killed:?}): {job:?}"
        );
    }
}

#[test]
fn many_worker_processes_record_every_job_once_through_kills_pg() {
    if let Some(db) = TestDb::pg("cli_many") {
        run_on_many_workers(&db, "many", 1000, 4, &[200, 500]);
    }
}

#[test]
fn many_worker_processes_record_every_job_once_sqlite() {
    run_on_many_workers(&TestDb::sqlite(), "many", 400, 3, &[150]);
}

fn a_dead_workers_job_is_finished_by_another(db: &TestDb) {
    let scratch = Scratch::new();
    let marker = scratch.path("started");
    let job = format!(
        r#"{{"cmd": "[ -e {m} ] && exit 0; touch {m}; sleep 5", "id": "victim"}}"#,
        m = marker.display()
    );
    submit(db, "rescue", &scratch.jobs("jobs.txt", &[job]));
    let first = start_worker(db, "rescue", &["--lease", "1s"]);
    wait_for("the first run to start", LONG, || {
        marker.exists().then_some(())
    });
    signal(&first, Signal::SIGKILL);
    let _ = finish(first);
    let second = start_worker(db, "rescue", &["--exit-when-empty"]);
    let (code, stderr) = finish(second);
    assert_eq!(code, 0, "{stderr}");
    let queue = Queue::open(&db.url).expect("open");
    let job = queue
        .find("rescue", "victim")
        .expect("find")
        .expect("the job");
    assert_eq!((job.state, job.attempt), (JobState::Completed, 2));
}

#[test]
fn a_dead_workers_job_is_finished_by_another_sqlite() {
    a_dead_workers_job_is_finished_by_another(&TestDb::sqlite());
}

#[test]
fn a_dead_workers_job_is_finished_by_another_pg() {
    if let Some(db) = TestDb::pg("cli_rescue") {
        a_dead_workers_job_is_finished_by_another(&db);
    }
}

#[test]
fn a_stalled_workers_late_completion_is_refused() {
    let Some(db) = TestDb::pg("cli_stalled") else {
        return;
    };
    let scratch = Scratch::new();
    let marker = scratch.path("started");
    let job = format!(
        r#"{{"cmd": "[ -e {m} ] && echo second && exit 0; touch {m}; sleep 1; echo first", "id": "slow"}}"#,
        m = marker.display()
    );
    submit(&db, "stalled", &scratch.jobs("jobs.txt", &[job]));
    let queue = Queue::open(&db.url).expect("open");
    // Stop the worker while its job runs: the job's process group lives on and exits, but
    // the worker cannot record it.
    let stalled = workpool_process([
        "worker", "--db", &db.url, "--queue", "stalled", "--lease", "1s", "-j", "1",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start");
    wait_for("the first run to start", LONG, || {
        marker.exists().then_some(())
    });
    signal(&stalled, Signal::SIGSTOP);
    let rescuer = start_worker(&db, "stalled", &["--exit-when-empty"]);
    let (code, stderr) = finish(rescuer);
    assert_eq!(code, 0, "{stderr}");
    let job = queue
        .find("stalled", "slow")
        .expect("find")
        .expect("the job");
    assert_eq!((job.state, job.attempt), (JobState::Completed, 2));
    signal(&stalled, Signal::SIGCONT);
    signal(&stalled, Signal::SIGTERM);
    let (code, stderr) = finish(stalled);
    // 128 + SIGTERM, as `workpool run` ends (it was 130, as if by Ctrl-C).
    assert_eq!(code, 143, "{stderr}");
    assert!(stderr.contains("1 refused (lease lost)"), "{stderr}");
    let job = queue
        .find("stalled", "slow")
        .expect("find")
        .expect("the job");
    assert_eq!(
        job.output.as_ref().map(|o| o["stdout"].clone()),
        Some(Value::from("second\n"))
    );
}
