//! `workpool bench`: the table, the recommendation and the plot.

mod common;

use common::{workpool, Scratch};
use predicates::prelude::*;
use predicates::str::contains;

#[test]
fn the_bench_prints_a_table_recommends_a_size_and_writes_the_plot() {
    let s = Scratch::new();
    let svg = s.path("plot.svg");
    workpool([
        "bench",
        "--sizes",
        "1,2",
        "--count",
        "20",
        "--work",
        "sleep:1ms",
        "--svg",
        svg.to_str().unwrap(),
    ])
    .assert()
    .success()
    .stdout(contains("bench: 20 jobs of sleep:1ms"))
    .stdout(predicate::str::is_match(r"(?m)^\s+size\s+wall\s+throughput\s+p99 latency$").unwrap())
    .stdout(predicate::str::is_match(r"(?m)^\s+1\s+\S+\s+\d+ jobs/s\s+\S+$").unwrap())
    .stdout(predicate::str::is_match(r"(?m)^\s+2\s+\S+\s+\d+ jobs/s\s+\S+$").unwrap())
    .stdout(predicate::str::is_match(r"recommended: [12] workers").unwrap());
    let plot = std::fs::read_to_string(&svg).expect("the plot was written");
    assert!(plot.starts_with("<svg"));
    assert!(plot.trim_end().ends_with("</svg>"));
    assert_eq!(plot.matches("<polyline").count(), 2);
}

#[test]
fn cpu_and_mixed_work_run_too() {
    let s = Scratch::new();
    for work in ["cpu:50us", "mix"] {
        let svg = s.path(&format!("{work}.svg").replace(':', "-"));
        workpool([
            "bench",
            "--sizes",
            "2",
            "--count",
            "10",
            "--work",
            work,
            "--svg",
            svg.to_str().unwrap(),
        ])
        .assert()
        .success()
        .stdout(contains("recommended: 2 workers"));
        assert!(svg.exists());
    }
}

#[test]
fn bad_bench_settings_exit_2() {
    workpool(["bench", "--work", "disk:1ms"])
        .assert()
        .code(2)
        .stderr(contains("invalid work \"disk:1ms\""));
    workpool(["bench", "--sizes", "0"]).assert().code(2);
    workpool(["bench", "--count", "0"]).assert().code(2);
}

/// A job count too large to hold is refused with exit 2, not an out-of-memory abort.
#[test]
fn a_job_count_too_large_is_refused() {
    workpool(["bench", "--count", "4294967295", "--sizes", "1"])
        .assert()
        .code(2)
        .stderr(
            predicates::str::contains("--count").and(predicates::str::contains("1..=10000000")),
        );
}
