//! A property test over random sequences of submit, try_submit, cancel, resize and
//! wait_idle, ended by a random shutdown mode: every job is accounted for exactly once.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::{Audit, Ledger, Payload};
use proptest::prelude::*;
use workpool::Pool;

#[derive(Debug, Clone)]
enum Op {
    Submit { panics: bool },
    TrySubmit,
    Cancel(usize),
    Resize(usize, usize),
    WaitIdle,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<bool>().prop_map(|panics| Op::Submit { panics }),
        3 => Just(Op::TrySubmit),
        2 => any::<usize>().prop_map(Op::Cancel),
        1 => (0..3usize, 1..4usize).prop_map(|(a, b)| Op::Resize(a.min(b), b)),
        1 => Just(Op::WaitIdle),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_job_is_accounted_for(
        ops in prop::collection::vec(op(), 1..120),
        capacity in 1..6usize,
        workers in 1..3usize,
        mode in 0..3u8,
    ) {
        common::quiet_panics();
        let ledger = Ledger::new(ops.len());
        let pool = Pool::builder().workers(workers).queue_capacity(capacity).build().unwrap();
        let mut audit = Audit::default();
        for (id, op) in ops.iter().enumerate() {
            let payload = Payload::new(id, &ledger);
            let panics = matches!(op, Op::Submit { panics: true });
            let job = move || {
                payload.ran();
                if panics {
                    panic!("model job fails on purpose");
                }
            };
            match op {
                Op::Submit { .. } => {
                    let task = pool.submit(job).map_err(|_| ()).unwrap();
                    audit.accepted.push((id, task));
                }
                Op::TrySubmit => match pool.try_submit(job) {
                    Ok(task) => audit.accepted.push((id, task)),
                    Err(e) => {
                        prop_assert!(e.is_full());
                        drop(e.into_inner());
                        audit.rejected.push(id);
                    }
                },
                other => {
                    // Ops that submit nothing still account for their id: hand it back.
                    drop(job);
                    audit.rejected.push(id);
                    match other {
                        Op::Cancel(k) if !audit.accepted.is_empty() => {
                            let n = audit.accepted.len();
                            audit.accepted[k % n].1.cancel();
                        }
                        Op::Resize(min, max) => pool.resize(*min, *max),
                        Op::WaitIdle => pool.wait_idle(),
                        _ => {}
                    }
                }
            }
        }
        let first = match mode {
            0 => pool.shutdown(),
            1 => pool.shutdown_now(),
            _ => pool.shutdown_timeout(Duration::from_micros(50)),
        };
        let settled = pool.shutdown();
        prop_assert_eq!(first.submitted, settled.submitted);
        audit.verify(ops.len(), &ledger, &settled);
    }
}
