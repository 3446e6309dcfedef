//! `workpool demo`: events, status lines and stats, run fast with `--speed`.

mod common;

use common::workpool;
use predicates::prelude::*;
use predicates::str::contains;

#[test]
fn the_demo_prints_events_status_lines_and_stats() {
    workpool([
        "demo",
        "--workers",
        "2",
        "--jobs",
        "4",
        "--min-ms",
        "200",
        "--max-ms",
        "300",
        "--arrival-ms",
        "100",
        "--seed",
        "7",
        "--speed",
        "100",
    ])
    .assert()
    .success()
    .stdout(contains(
        "demo: 4 jobs of 200-300ms arriving every 100ms, 2 workers; seed 7, 100x speed",
    ))
    .stdout(contains("job 1 arrived (normal"))
    .stdout(predicate::str::is_match(r"worker [12] started job 1\n").unwrap())
    .stdout(predicate::str::is_match(r"worker [12] finished job 4 in ").unwrap())
    .stdout(contains("status: queued "))
    .stdout(contains("done in "))
    .stdout(contains("4 jobs, 4 completed, 0 failed"))
    .stdout(contains("run time: p50"));
}

#[test]
fn the_demo_shows_priorities_rates_retries_and_dynamic_sizing() {
    workpool([
        "demo",
        "--min",
        "1",
        "--max",
        "3",
        "--jobs",
        "6",
        "--priority-mix",
        "--rate",
        "50/s",
        "--fail-rate",
        "1",
        "--retries",
        "2",
        "--seed",
        "3",
        "--speed",
        "200",
    ])
    .assert()
    .success()
    .stdout(contains("1-3 workers"))
    .stdout(predicate::str::is_match(r"job \d arrived \((low|normal|high)").unwrap())
    .stdout(contains("(attempt 3)"))
    .stdout(contains(", will retry"))
    .stdout(contains("gave up after 3 attempts"))
    .stdout(contains("6 jobs, 0 completed, 6 failed, 12 retries"));
}

#[test]
fn bad_demo_settings_exit_2() {
    for args in [
        &["demo", "--min-ms", "500", "--max-ms", "100"][..],
        &["demo", "--fail-rate", "1.5"],
        &["demo", "--speed", "0"],
        &["demo", "--workers", "0"],
        &["demo", "--min", "4", "--max", "2"],
    ] {
        workpool(args).assert().code(2);
    }
}

/// A job count too large to hold is refused with exit 2, not an out-of-memory abort (it once
/// tried to set aside 137 GB for 4294967295 handles and aborted with a backtrace).
#[test]
fn a_job_count_too_large_is_refused() {
    workpool(["demo", "--jobs", "4294967295"])
        .assert()
        .code(2)
        .stderr(contains("--jobs").and(contains("0..=1000000")));
}
