//! Wake-ups on real threads: a job queued just as the workers give up spinning and park is
//! never left waiting. Each worker counts itself a sleeper and then looks at the queues one
//! last time; each producer pushes and then looks for sleepers. The shuttle models check the
//! order of those steps; these tests run them on the machine's own memory model, over many
//! rounds that each queue a job at a different moment of the workers' way to sleep.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use workpool::{Pool, Priority};

const ROUNDS: usize = 3_000;
/// A worker spins for some tens of microseconds before it parks; the rounds spread the next
/// job across that time and past it.
const MAX_PAUSE: Duration = Duration::from_micros(200);
/// Far beyond any round's run: only a job nobody woke a worker for takes this long.
const LOST: Duration = Duration::from_secs(10);

/// Busy-waits for `pause`: this varies when the next job arrives, it waits for no thread.
fn pause(pause: Duration) {
    let start = Instant::now();
    while start.elapsed() < pause {
        std::hint::spin_loop();
    }
}

/// Runs `ROUNDS` rounds: wait for the last job, pause a while, queue the next with `queue`.
fn every_job_is_run(queue: impl Fn(&Pool, usize, mpsc::Sender<usize>)) {
    let pool = Pool::builder().workers(2).build().unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    let max = u64::try_from(MAX_PAUSE.as_nanos()).unwrap();
    for round in 0..ROUNDS {
        let (done, ran) = mpsc::channel();
        pause(Duration::from_nanos(rng.u64(0..=max)));
        queue(&pool, round, done);
        assert_eq!(
            ran.recv_timeout(LOST),
            Ok(round),
            "round {round}: the job was left waiting with every worker parked"
        );
    }
    let report = pool.shutdown();
    assert_eq!(report.submitted, ROUNDS as u64);
    assert_eq!(report.completed, ROUNDS as u64);
}

#[test]
fn an_execute_job_queued_as_the_workers_park_is_run() {
    every_job_is_run(|pool, round, done| {
        pool.execute(move || done.send(round).unwrap()).unwrap();
    });
}

#[test]
fn a_submitted_job_queued_as_the_workers_park_is_run() {
    every_job_is_run(|pool, round, done| {
        let task = pool.submit(move || round).unwrap();
        if let Ok(value) = task.wait_timeout(LOST) {
            done.send(value.unwrap()).unwrap();
        }
    });
}

#[test]
fn a_prioritized_job_queued_as_the_workers_park_is_run() {
    let levels = [Priority::LOW, Priority::NORMAL, Priority::HIGH];
    every_job_is_run(|pool, round, done| {
        pool.execute_with_priority(levels[round % 3], move || done.send(round).unwrap())
            .unwrap();
    });
}
