//! Shared pieces of workpool's benchmark suite: the pools under test, the one completion
//! signal they all use, the job bodies, and the table that the suite prints and writes to
//! `benches/RESULTS.md`.
//!
//! The suite itself is the `suite` bench target (`benches/suite/`, one file per
//! workload); run it with
//!
//! ```text
//! cargo bench -p workpool-benches --bench suite
//! WORKPOOL_BENCH_QUICK=1 cargo bench -p workpool-benches --bench suite   # smoke run
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bodies;
mod handrolled;
mod harness;
mod latch;
mod report;
mod subjects;

pub use crate::{
    bodies::{burn, calibrate_burn, tiny, typed},
    handrolled::HandrolledPool,
    harness::{bench, Mode, Samples, Settings, Summary},
    latch::Latch,
    report::{fmt_bytes, fmt_duration, fmt_rate, Machine, Report, Section, TimingRow},
    subjects::{
        start_all_workers, with_subject, ExecutorsChannelSubject, ExecutorsWsSubject,
        HandrolledSubject, Kind, RayonSubject, RustyPoolSubject, Setup, Subject, ThreadpoolSubject,
        TokioSubject, Visit, WorkpoolSubject,
    },
};
