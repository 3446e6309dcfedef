//! A bounded worker pool: many jobs on a bounded set of threads, with typed results,
//! backpressure, panic isolation, dynamic sizing, metrics and shutdown that loses nothing.
//!
//! ```
//! use std::time::Duration;
//! use workpool::Pool;
//!
//! let pool = Pool::builder()
//!     .min_workers(2)
//!     .max_workers(8)
//!     .keep_alive(Duration::from_secs(10))
//!     .queue_capacity(1024)
//!     .thread_name("resize")
//!     .build()?;
//!
//! let task = pool.submit(|| 6 * 7)?;          // blocks while the queue is full
//! assert_eq!(task.wait()?, 42);                // Ok(T), or a TaskError that says what happened
//! pool.execute(|| println!("fire and forget"))?;
//! if let Err(e) = pool.try_submit(|| 1) {      // never blocks
//!     let _job = e.into_inner();               // the closure comes back: nothing is lost
//! }
//! println!("{:?}", pool.stats());
//! let report = pool.shutdown_timeout(Duration::from_secs(5));
//! assert!(!report.timeout_hit);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Promises
//!
//! Each promise of the README's table, the module that keeps it, and the test file that
//! checks it (modules under `src/`, tests under `tests/`):
//!
//! | promise | what holds | kept in | checked by |
//! |---|---|---|---|
//! | admission | The queue is bounded ([`DEFAULT_QUEUE_CAPACITY`] by default). [`Pool::submit`] blocks while it is full, [`Pool::try_submit`] hands the job back as `Full(job)`, [`Pool::submit_timeout`] gives up after a duration; after shutdown begins every submission hands the job back as `Closed(job)`. | `shared.rs`, `fast/` | `admission.rs` |
//! | exactly once | An accepted job runs at most once per attempt, and its [`Task`] resolves exactly once. Every [`ShutdownReport`] balances: `submitted = completed + failed + cancelled + timed_out + never_started + still_running + still_queued`, the last two zero once a shutdown has waited for every worker. | `task.rs`, `lifecycle.rs`, `fast/` | `accounting.rs`, `model.rs`, `shuttle.rs`, `fuzz_ops.rs` |
//! | results | [`Task::wait`] gives `Ok(T)` or a [`TaskError`] saying whether the job failed, panicked, was cancelled, timed out, or never ran. | `task.rs`, `error.rs` | `results.rs` |
//! | panics | A panicking job never kills a worker or the pool; the panic becomes its error and is counted. | `worker/`, `unwind.rs` | `panics.rs` |
//! | hostile user code | A result or capture destructor, a `Waker`, a retry predicate, a worker hook or a worker-state constructor that panics or calls back into the pool never kills a worker or the timer, never runs under the pool's lock, and never hangs a shutdown. | `unwind.rs`, `worker/`, `timer.rs`, `worker_hooks.rs`, `worker_state.rs` | `hostile.rs`, `fuzz_ops.rs`, `worker_hooks.rs` |
//! | cancellation | [`Task::cancel`] keeps a job that has not started from running; a running job's handle resolves as cancelled and its [`JobContext`] says so. | `task.rs`, `context.rs` | `results.rs`, `deadline.rs` |
//! | sizing | Between `min` and `max` workers; idle workers above `min` retire after `keep_alive`; [`Pool::resize`] changes the bounds at run time. | `worker_set.rs`, `shared.rs` | `sizing.rs` |
//! | shutdown | [`Pool::shutdown`] drains, [`Pool::shutdown_timeout`] drains until a deadline then cancels, [`Pool::shutdown_now`] hands back everything not started; dropping the last handle shuts down gracefully. | `lifecycle.rs` | `shutdown.rs`, `scheduled_shutdown.rs` |
//! | metrics | [`Pool::stats`]: worker, queue and outcome counts, and latency percentiles. | `metrics.rs`, `stats.rs` | `stats.rs` |
//! | priorities | Higher [`Priority`] runs first, FIFO within a level, starvation bounded by aging ([`AGING_EVERY`]). | `queue/ready.rs`, `queue/fast.rs` | `priority.rs` |
//! | rate limits | A token bucket ([`RateLimit`]) on the pool and per key, decided before a worker takes a job. | `policy/rate.rs`, `worker/` | `rate_limit.rs` |
//! | retries | [`Retry`] policies with back-off, jitter and predicates; the final error carries the attempts. | `policy/retry.rs`, `job/body.rs` | `retry.rs` |
//! | delays and schedules | [`Job::delay`], [`Job::at`] and [`Job::every`] wait in the delay queue and never run early. | `scheduler.rs`, `timer.rs`, `job/body.rs` | `periodic.rs`, `scheduled_shutdown.rs` |
//! | deadlines | [`Job::timeout`] and [`Job::deadline`]: the handle resolves as timed out, a queued job never starts, an overrunning one gets a replacement worker beside it. | `scheduler.rs`, `timer.rs` | `deadline.rs` |
//! | cooperative cancel | [`JobContext::is_cancelled`] and [`JobContext::sleep`] see cancel, deadline and shutdown. | `context.rs` | `deadline.rs` |
//! | time | Every timeout, keep-alive, delay, deadline and rate limit reads the pool's [`Clock`]; a huge duration means "never". | `clock.rs` | every test on a [`ManualClock`], `hostile.rs` |
//! | worker hooks | [`Builder::on_worker_start`] and [`Builder::on_worker_stop`] run exactly once on each worker thread: before its first job, and as it exits (retirement, resize, shutdown), with no pool lock held; a panic in one is counted in [`Stats::hook_panics`]. | `worker_hooks.rs`, `worker/` | `worker_hooks.rs`, `shuttle.rs` |
//! | worker state | [`Builder::worker_state`] gives each worker its own value, built on its thread by the first job that asks ([`Pool::submit_with_state`], [`Pool::execute_with_state`]), lent to its jobs without a lock (never to two at once: a job its worker runs while the state's holder waits gets one of its own), rebuilt after a panic, dropped on that thread as the worker exits; a job for a state type the pool lacks is handed back ([`SubmitError::WrongState`]). | `worker_state.rs` | `worker_hooks.rs`, `shuttle.rs` |
//! | pause | [`Pool::pause`]: running jobs finish, and no job submitted after it returns starts before [`Pool::resume`]; admission goes on to the queue's capacity; [`Stats::paused`]. A graceful or timed shutdown resumes to drain; [`Pool::shutdown_now`] hands back every job not started. | `pause.rs`, `worker/`, `fast/` | `pause.rs`, `shuttle.rs` |
//! | waiting for idle | [`Pool::wait_idle`] returns for every caller waiting when the pool goes idle; [`Pool::wait_idle_timeout`] gives up after a duration. | `shared.rs`, `fast/` | `wait_idle.rs`, `wakeups.rs` |
//! | scoped jobs and join | [`Pool::scope`] returns once every job it spawned has run and been dropped, so jobs may borrow from the caller; a refused or handed-back job runs on the caller's side. [`Pool::join`] returns both results; panics reach the caller after every job ended. | `compose/scope.rs`, `compose/join.rs`, `steal.rs` | `scope.rs`, `shuttle.rs` |
//! | waiting inside the pool | A worker waiting on its own pool ([`Task::wait`], `join`, `scope`) runs the awaited job itself if no worker took it, then other queued jobs, then steals: waiting on your own pool never deadlocks, even on one worker. | `help.rs`, `steal.rs` | `help.rs`, `scope.rs`, `shuttle.rs` |
//! | parallel map | [`Pool::map`] yields one result per item in input order, [`Pool::map_unordered`] in completion order. Lazy: at most [`Map::window`] jobs in flight (default twice the maximum workers), each a chunk of at most [`Map::max_chunk`] items ([`DEFAULT_MAX_CHUNK`]), so at most `window × max_chunk` items are pulled ahead of the results taken. Chunks start at one item and grow only while items prove tiny; a finished item's result waits at most about 0.1 ms for a slow item of its chunk. A panicking item is its own error, an item a shut-down pool never ran is `NotRun`, and dropping the iterator cancels the jobs not started. | `compose/map/`, `compose/slots.rs` | `map.rs`, `compose_accounting.rs` |
//! | task sets | [`TaskSet::join_next`] returns results in the order the jobs ended, however they ended; [`TaskSet::wait_all`] returns the values in spawn order, or the first error after cancelling every job not yet joined; dropping a set cancels its jobs (one not started never runs). | `compose/task_set.rs` | `task_set.rs`, `compose_accounting.rs` |
//! | pipelines | [`Pipeline`] runs named stages, each on a pool of the user's choice, with bounded buffers between them (backpressure back to a source pulled lazily) and output in source or completion order. An item's error comes out with its index and stage ([`PipelineError`]); [`PipelineRun::cancel`], a [`PipelineCanceller`] or dropping the output cancels, and every item pulled is still reported; [`PipelineRun::stats`] gives each stage's counts, busy time and queue wait. No thread is started per stage. | `compose/pipeline/` | `pipeline.rs`, `compose_accounting.rs` |
//!
//! The README's "Guarantees under failure" lists each hostile case. How producers and workers
//! hand jobs over without the pool lock, why neither sleeps while the other has work for it,
//! and why a paused pool starts no job submitted after the pause, is argued in
//! `src/fast/PROTOCOL.md`.
//!
//! `Task<T>` implements [`Future`](std::future::Future), so async code can `.await` pool work
//! with no runtime dependency.
//!
//! On top of single jobs, the composition API takes results as they come:
//!
//! ```
//! use workpool::{Pipeline, Pool, TaskSet};
//!
//! let pool = Pool::new(4);
//! // A function over an iterator, lazily, results in input order (or `map_unordered`).
//! let squares: Vec<u64> = pool.map(0..1000u64, |i| i * i).collect::<Result<_, _>>()?;
//! assert_eq!(squares[3], 9);
//!
//! // Jobs joined in the order they end.
//! let mut set = TaskSet::new(&pool);
//! for id in 0..8u64 {
//!     set.spawn(move || id + 1)?;
//! }
//! let total: u64 = set.wait_all()?.into_iter().sum();
//! assert_eq!(total, 36);
//!
//! // Stages on pools of their own, with bounded buffers between them.
//! let cpu = Pool::new(2);
//! let lengths: Vec<usize> = Pipeline::new(["a", "bb", "ccc"])
//!     .stage("upper", &pool, |s: &str| s.to_uppercase())
//!     .stage("len", &cpu, |s: String| s.len())
//!     .run()
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(lengths, [1, 2, 3]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Unsafe code is denied everywhere but `queue/raw/` (the fast lanes' lock-free ring and the
// small closures stored inline in it; see that module for why each pays), the lifetime
// erasure of scoped jobs in `compose/scope.rs`, the stack jobs of `join` in
// `compose/join.rs` (each module argues its case), and `compose/slots.rs` (the per-item
// result slots of a `map` chunk).
#![deny(unsafe_code)]
#![warn(missing_docs)]
// The lints of the libraries this one learns from (rayon, tokio, crossbeam).
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

mod clock;
mod compose;
mod context;
mod error;
mod fast;
mod help;
mod job;
mod lifecycle;
mod metrics;
mod pause;
mod policy;
mod pool;
mod priority;
mod queue;
mod scheduler;
mod shared;
mod stats;
mod steal;
mod sync;
mod task;
mod timer;
mod unwind;
mod worker;
mod worker_hooks;
mod worker_set;
mod worker_state;

pub use crate::{
    clock::{Clock, ManualClock},
    compose::{
        scope::Scope, Map, MapUnordered, Pipeline, PipelineCanceller, PipelineError, PipelineRun,
        PipelineStats, StageStats, TaskSet, DEFAULT_MAX_CHUNK,
    },
    context::JobContext,
    error::{
        BuildError, SubmitError, SubmitTimeoutError, TaskError, TaskErrorKind, TrySubmitError,
    },
    job::Job,
    lifecycle::ShutdownReport,
    metrics::{Latency, Stats},
    policy::{rate::RateLimit, retry::Retry},
    pool::{Builder, Pool, DEFAULT_KEEP_ALIVE, DEFAULT_QUEUE_CAPACITY},
    priority::Priority,
    queue::AGING_EVERY,
    task::Task,
};
