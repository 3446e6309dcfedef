//! What the machine can give: a huge `-j`, few file descriptors, processes that outlive
//! their job, an unusable temporary directory.

mod common;

use common::{workpool, Scratch};
use predicates::str::contains;

#[test]
fn a_huge_job_count_never_panics_and_starts_what_the_jobs_can_use() {
    let args: Vec<String> = (1..=50).map(|n| n.to_string()).collect();
    for flags in [
        &["-j", "100000"][..],
        &["-j", "20000"],
        &["--min", "100000"],
        &["--max", "100000"],
        &["-j", "0"],
    ] {
        let mut argv = vec!["run", "-q"];
        argv.extend_from_slice(flags);
        argv.extend(["true", ":::"]);
        argv.extend(args.iter().map(String::as_str));
        workpool(&argv).assert().success();
    }
    workpool(["run", "-j", "99999999999", "true", ":::", "1"])
        .assert()
        .code(2)
        .stderr(contains("is too large"));
    workpool(["run", "-j", "100000", "true", ":::", "1"])
        .assert()
        .success()
        .stderr(contains(
            "warning: -j 100000 is more jobs at once than this machine allows",
        ));
}

#[test]
fn keep_order_behind_a_slow_job_holds_no_file_descriptors() {
    let s = Scratch::new();
    let root = s.root();
    // The first job waits for the last: with --keep-order, every output in between is held,
    // each too large to be held in memory.
    let mut jobs = vec![format!(
        "while [ ! -e {root}/gate ]; do sleep 0.01; done; echo first"
    )];
    jobs.extend((0..150).map(|_| "head -c 70000 /dev/zero".to_owned()));
    jobs.push(format!("touch {root}/gate"));
    let file = s.jobs("jobs", &jobs);
    let bin = assert_cmd::cargo::cargo_bin!("workpool");
    let script = format!(
        "ulimit -n 64; exec {} run -q -k -j 4 -a {file}",
        bin.display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), "first\n".len() + 150 * 70000);
    assert!(out.stdout.starts_with(b"first\n"));
}

#[test]
fn processes_that_outlive_their_job_are_reaped() {
    let s = Scratch::new();
    let root = s.root();
    // Each job leaves a short-lived background process; it exits after its job, adopted by
    // workpool. The last job waits until they all have, then counts workpool's zombies until
    // none is left (or gives up after ten seconds and prints the count).
    let mut jobs: Vec<String> = (0..20)
        .map(|n| format!("(sleep 0.05; touch {root}/bg{n}) & echo started"))
        .collect();
    jobs.push(format!(
        "while [ $(ls {root} | grep -c '^bg') -lt 20 ]; do sleep 0.01; done; \
         for i in $(seq 1000); do \
           z=$(ps -o stat= --ppid $PPID | grep -c '^Z'); \
           [ $z -eq 0 ] && break; sleep 0.01; \
         done; echo zombies=$z"
    ));
    let file = s.jobs("jobs", &jobs);
    let out = workpool(["run", "-q", "-k", "-j", "1", "-a", &file])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.ends_with("zombies=0\n"), "{stdout}");
}

#[test]
fn an_unusable_temporary_directory_is_an_error_before_anything_runs() {
    let s = Scratch::new();
    let marker = s.path("ran");
    workpool(["run", "-q", "touch", marker.to_str().unwrap(), ":::", "x"])
        .env("TMPDIR", "/no/such/dir")
        .assert()
        .code(2)
        .stderr(contains(
            "cannot create the files that capture outputs in /no/such/dir",
        ));
    assert!(!marker.exists());
}
