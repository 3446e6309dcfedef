//! Rate limits: a token bucket decided before a worker takes a job, pool-wide and per key.
//! Time is a manual clock, so each start instant is exact.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::eventually;
use workpool::{Job, JobContext, ManualClock, Pool, RateLimit};

const MS: Duration = Duration::from_millis(1);

/// Spawns a job that records the clock's offset from `t0` when it starts.
fn timed(pool: &Pool, t0: Instant, log: &Arc<Mutex<Vec<Duration>>>, key: Option<&str>) {
    let log = Arc::clone(log);
    let mut job = Job::new(move |ctx: &JobContext| {
        log.lock().unwrap().push(ctx.now() - t0);
        Ok::<_, Infallible>(())
    });
    if let Some(key) = key {
        job = job.rate_key(key);
    }
    drop(pool.spawn(job).unwrap());
}

fn started(log: &Arc<Mutex<Vec<Duration>>>) -> usize {
    log.lock().unwrap().len()
}

#[test]
fn the_pool_limit_follows_the_token_bucket_schedule() {
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .workers(4)
        .rate_limit(RateLimit::per_second(10).burst(3))
        .clock(clock.clone())
        .build()
        .unwrap();
    let t0 = clock.now();
    let log = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..6 {
        timed(&pool, t0, &log, None);
    }
    // The burst of three starts at once; the rest wait for tokens, one per 100 ms.
    eventually("the burst started", || started(&log) == 3);
    // Before time moves: a worker that first looked at the fourth job after the clock had
    // moved would find its token there, and no worker would ever have waited.
    eventually("a worker waits for a token", || {
        pool.stats().rate_limited >= 1
    });
    for n in 4..=6 {
        clock.advance(100 * MS);
        eventually("one more token, one more start", || started(&log) == n);
    }
    pool.wait_idle();
    assert_eq!(
        *log.lock().unwrap(),
        [0, 0, 0, 100, 200, 300].map(|ms| ms * MS)
    );
    // Workers waited for tokens: counted once per token instant a worker saw, which depends
    // on how the steps interleave after the first.
    let waits = pool.stats().rate_limited;
    assert!((1..=3).contains(&waits), "{waits}");
}

#[test]
fn a_key_over_its_limit_does_not_block_other_jobs() {
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .workers(2)
        .rate_limit_per_key(RateLimit::per_second(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    let t0 = clock.now();
    let keyed = Arc::new(Mutex::new(Vec::new()));
    let free = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..3 {
        timed(&pool, t0, &keyed, Some("host-a"));
    }
    for _ in 0..2 {
        timed(&pool, t0, &free, None);
    }
    // Without any time passing, the unlimited jobs and the first keyed job all run.
    eventually("unlimited jobs ran past the limited key", || {
        started(&free) == 2 && started(&keyed) == 1
    });
    eventually("the two held-back jobs wait in the delay queue", || {
        pool.stats().delayed == 2
    });
    assert!(pool.stats().rate_limited >= 2);
    clock.advance(Duration::from_secs(1));
    eventually("second keyed job", || started(&keyed) == 2);
    clock.advance(Duration::from_secs(1));
    eventually("third keyed job", || started(&keyed) == 3);
    assert_eq!(*keyed.lock().unwrap(), [0, 1000, 2000].map(|ms| ms * MS));
}

#[test]
fn a_limit_for_one_key_overrides_the_per_key_default() {
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .workers(2)
        .rate_limit_per_key(RateLimit::per_second(1))
        .rate_limit_for("fast", RateLimit::per_second(1).burst(3))
        .clock(clock.clone())
        .build()
        .unwrap();
    let t0 = clock.now();
    let fast = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..3 {
        timed(&pool, t0, &fast, Some("fast"));
    }
    eventually("the fast key's burst ran", || started(&fast) == 3);
}

#[test]
fn cancelled_jobs_spend_no_token() {
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .workers(1)
        .rate_limit(RateLimit::per_second(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    let t0 = clock.now();
    let log = Arc::new(Mutex::new(Vec::new()));
    timed(&pool, t0, &log, None);
    eventually("the first job took the only token", || started(&log) == 1);
    let doomed = pool
        .spawn(Job::new(|_: &JobContext| Ok::<_, Infallible>(())))
        .unwrap();
    assert!(doomed.cancel());
    timed(&pool, t0, &log, None);
    clock.advance(Duration::from_secs(1));
    eventually("the live job got the next token", || started(&log) == 2);
    assert_eq!(log.lock().unwrap()[1], Duration::from_secs(1));
}

#[test]
fn an_unlimited_pool_limit_never_holds_a_job_back() {
    let pool = Pool::builder()
        .workers(2)
        .rate_limit(RateLimit::unlimited())
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..200u64)
        .map(|i| pool.submit(move || i).unwrap())
        .collect();
    assert_eq!(
        tasks.into_iter().map(|t| t.wait().unwrap()).sum::<u64>(),
        19_900
    );
    let s = pool.stats();
    assert_eq!((s.completed, s.rate_limited), (200, 0));
}

#[test]
fn keyed_jobs_waiting_for_tokens_are_not_re_examined_at_every_start() {
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .workers(1)
        .clock(clock.clone())
        .rate_limit_for("api", RateLimit::per_second(1_000))
        .build()
        .unwrap();
    let jobs = 200;
    let tasks: Vec<_> = (0..jobs)
        .map(|i| {
            pool.spawn(Job::new(move |_: &JobContext| Ok::<_, Infallible>(i)).rate_key("api"))
                .unwrap()
        })
        .collect();
    // One token a millisecond: move time a millisecond at a time, once the job whose token
    // came has run, so that time never runs ahead of the pool.
    eventually("the first job ran", || pool.stats().completed == 1);
    for done in 2..=jobs as u64 {
        clock.advance(Duration::from_millis(1));
        eventually("the next job ran", || pool.stats().completed == done);
    }
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.wait().unwrap(), i);
    }
    // Each waiting job is promised its own token: refused about once, not once per start
    // of every job ahead of it (about 20,000 refusals for 200 jobs).
    let refusals = pool.stats().rate_limited;
    assert!(
        refusals <= 2 * jobs as u64,
        "{refusals} refusals for {jobs} jobs"
    );
}

#[test]
fn a_throttled_worker_past_its_keep_alive_waits_without_holding_the_pool() {
    let clock = ManualClock::new();
    let pool = Pool::builder()
        .min_workers(0)
        .max_workers(1)
        .keep_alive(Duration::ZERO)
        .rate_limit(RateLimit::per_second(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    let a = pool.submit(|| 1).unwrap();
    let b = pool.submit(|| 2).unwrap();
    assert_eq!(a.wait().unwrap(), 1);
    // The worker waits for the next token, a second away; the pool must stay usable.
    let (tx, rx) = std::sync::mpsc::channel();
    let probe = pool.clone();
    std::thread::spawn(move || tx.send(probe.stats().queued).unwrap());
    let queued = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("stats() blocked behind a throttled worker");
    assert_eq!(queued, 1);
    clock.advance(Duration::from_secs(1));
    assert_eq!(b.wait().unwrap(), 2);
}
