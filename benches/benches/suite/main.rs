//! workpool's benchmark suite (issue #4): every workload, every peer, one process, one
//! table.
//!
//! ```text
//! cargo bench -p workpool-benches --bench suite                            # ~10 min on 2 cores
//! WORKPOOL_BENCH_QUICK=1 cargo bench -p workpool-benches --bench suite     # smoke run, ~2 min
//! cargo bench -p workpool-benches --bench suite -- tiny_jobs               # criterion filter
//! ```
//!
//! Each workload lives in its own file and returns one section of the report; `main`
//! runs them in order on one `Criterion`, prints the report, and writes it to
//! `benches/RESULTS.md` (not in test mode, and not when a filter picked part of the
//! suite: then the report is only printed). Run outside `cargo bench` (for example `cargo test --benches`),
//! criterion runs each routine once and the suite shrinks every workload to a handful of
//! jobs, so it finishes in seconds and writes nothing.

#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod blocking;
mod counting_alloc;
mod cpu_bound;
mod feature_cost;
mod fork_join;
mod map_collect;
mod memory;
mod start_latency;
mod tiny_jobs;
mod typed_results;

use std::time::Instant;

use criterion::Criterion;
use workpool_benches::{Machine, Report, Settings};

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

const RESULTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/RESULTS.md");

fn main() {
    // The memory workload re-runs this binary to read a fresh process's peak RSS.
    if memory::run_child_if_requested() {
        return;
    }
    let settings = Settings::from_env();
    let started = Instant::now();
    let mut criterion = Criterion::default().without_plots().configure_from_args();
    let mut report = Report::new(Machine::detect(), settings.mode, settings.workers);

    report
        .sections
        .push(tiny_jobs::run(&mut criterion, &settings));
    report
        .sections
        .push(typed_results::run(&mut criterion, &settings));
    report
        .sections
        .push(start_latency::run(&mut criterion, &settings));
    report
        .sections
        .push(cpu_bound::run(&mut criterion, &settings));
    report
        .sections
        .push(blocking::run(&mut criterion, &settings));
    report.sections.push(memory::run(&settings));
    report
        .sections
        .push(feature_cost::run(&mut criterion, &settings));
    report
        .sections
        .push(fork_join::run(&mut criterion, &settings));
    report
        .sections
        .push(map_collect::run(&mut criterion, &settings));

    criterion.final_summary();
    report.elapsed = Some(started.elapsed());
    if !settings.measuring() {
        return;
    }
    report.sections.retain(|s| !s.rows.is_empty());
    let markdown = report.to_markdown();
    println!("\n{markdown}");
    if let Some(filter) = &settings.filter {
        eprintln!("suite: filter {filter:?} given; {RESULTS} left as it was");
        return;
    }
    match std::fs::write(RESULTS, &markdown) {
        Ok(()) => eprintln!("suite: wrote {RESULTS}"),
        Err(err) => eprintln!("suite: could not write {RESULTS}: {err}"),
    }
}
