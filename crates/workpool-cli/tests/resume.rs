//! The job log and `--resume`: a rerun after a kill loses nothing and repeats nothing that
//! succeeded.

mod common;

use std::collections::HashMap;
use std::process::Stdio;

use common::{joblog, pid_in, wait_for, workpool, workpool_process, Scratch};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

#[test]
fn a_run_killed_with_sigkill_resumes_without_losing_or_repeating_a_job() {
    let s = Scratch::new();
    let root = s.root();
    // Jobs 1-6 succeed at once; 7-10 block until the gate file exists (they write their
    // process group first, so that the test can clean up after the kill). Every success
    // appends a line to the job's marker file.
    let jobs: Vec<String> = (1..=10)
        .map(|n| {
            if n <= 6 {
                format!("echo ok >> {root}/m{n}")
            } else {
                format!(
                    "if [ -e {root}/gate ]; then echo ok >> {root}/m{n}; \
                     else echo $$ > {root}/pg{n}; exec sleep 600; fi"
                )
            }
        })
        .collect();
    let file = s.jobs("jobs", &jobs);
    let log = s.path("log");
    let log_arg = log.to_str().unwrap();

    let mut first = workpool_process(["run", "-j", "2", "--quiet", &file, "--joblog", log_arg])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Six successes logged, and both workers stuck in jobs 7 and 8.
    wait_for("six logged successes", || joblog(&log).len() == 6);
    wait_for("jobs 7 and 8 to block", || {
        s.path("pg7").exists() && s.path("pg8").exists()
    });
    kill(Pid::from_raw(first.id() as i32), Signal::SIGKILL).unwrap();
    first.wait().unwrap();
    for n in [7, 8] {
        let pgid = pid_in(&s.path(&format!("pg{n}")));
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
    assert!(joblog(&log).iter().all(|e| e[7] == "ok"));

    std::fs::write(s.path("gate"), "").unwrap();
    workpool(["run", "-j", "2", "--resume", &file, "--joblog", log_arg])
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "4 ok, 0 failed, 0 timed out, 0 cancelled, 0 not run, 6 skipped",
        ));

    for n in 1..=10 {
        assert_eq!(
            s.read(&format!("m{n}")),
            "ok\n",
            "job {n} succeeded exactly once"
        );
    }
    let mut successes: HashMap<String, usize> = HashMap::new();
    for entry in joblog(&log) {
        assert_eq!(entry[7], "ok");
        *successes.entry(entry[0].clone()).or_default() += 1;
    }
    assert_eq!(successes.len(), 10);
    assert!(successes.values().all(|&n| n == 1), "{successes:?}");
}

#[test]
fn resume_skips_finished_jobs_and_resume_failed_reruns_failures() {
    let s = Scratch::new();
    let root = s.root();
    let file = s.jobs(
        "jobs",
        &[
            format!(r#"{{"cmd": "echo x >> {root}/a", "id": "a"}}"#),
            format!(r#"{{"cmd": "echo x >> {root}/b; exit 1", "id": "b"}}"#),
            format!("echo x >> {root}/c"),
        ],
    );
    let log = s.path("log");
    let log_arg = log.to_str().unwrap();
    workpool(["run", &file, "--joblog", log_arg])
        .assert()
        .code(1);
    assert_eq!(joblog(&log).len(), 3);

    // Every job finished (one failed): --resume runs nothing.
    workpool(["run", &file, "--joblog", log_arg, "--resume"])
        .assert()
        .success()
        .stderr(predicates::str::contains("3 skipped"));
    assert_eq!(
        (s.read("a"), s.read("b"), s.read("c")),
        ("x\n".into(), "x\n".into(), "x\n".into())
    );

    // --resume-failed runs the failed one again, and only it.
    workpool(["run", &file, "--joblog", log_arg, "--resume-failed"])
        .assert()
        .code(1);
    assert_eq!(
        (s.read("a"), s.read("b"), s.read("c")),
        ("x\n".into(), "x\nx\n".into(), "x\n".into())
    );
    assert_eq!(joblog(&log).len(), 4, "appended, header kept once");

    // The plan shows what a resume would run.
    workpool([
        "run",
        &file,
        "--joblog",
        log_arg,
        "--resume-failed",
        "--dry-run",
    ])
    .assert()
    .success()
    .stdout(format!("b\tnormal\t-\t0\techo x >> {root}/b; exit 1\n"));

    // Without --resume the log starts afresh.
    workpool(["run", &file, "--joblog", log_arg])
        .assert()
        .code(1);
    assert_eq!(joblog(&log).len(), 3);
}
