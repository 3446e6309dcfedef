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
//! - **Placement.** The queue is bounded ([`DEFAULT_QUEUE_CAPACITY`] by default).
//!   [`Pool::submit`] blocks while it is full, [`Pool::try_submit`] hands the job back as
//!   `Full(job)`, [`Pool::submit_timeout`] gives up after a duration. After shutdown begins,
//!   every submission hands the job back as `Closed(job)`.
//! - **Exactly once.** An accepted job runs at most once, and its [`Task`] resolves exactly
//!   once: to its value, or to a [`TaskError`] saying it panicked, was cancelled, or never ran
//!   because the pool shut down. Every [`ShutdownReport`] balances:
//!   `submitted = completed + failed + cancelled + timed_out + never_started + still_running
//!   + still_queued`, the last two being zero once a shutdown has waited for every worker.
//! - **Hostile user code.** A job, a result or capture destructor, a `Waker` or a retry
//!   predicate that panics or calls back into the pool never kills a worker or the timer,
//!   never runs under the pool's lock, and never hangs a shutdown; a huge duration means
//!   "never". The README's "Guarantees under failure" lists each case; `tests/hostile.rs`
//!   checks them.
//! - **Panics.** A panicking job never kills a worker or the pool; the panic message becomes
//!   the job's error and is counted.
//! - **Shutdown.** [`Pool::shutdown`] drains, [`Pool::shutdown_timeout`] drains until a
//!   deadline then cancels, [`Pool::shutdown_now`] hands back everything not started; each
//!   returns a [`ShutdownReport`]. Dropping the last handle shuts down gracefully.
//! - **Sizing.** Between `min` and `max` workers: one starts when a job waits and none is
//!   idle; idle workers above `min` retire after `keep_alive`; [`Pool::resize`] changes the
//!   bounds at run time.
//! - **Time.** Every timeout and keep-alive reads a [`Clock`], which tests can replace with a
//!   [`ManualClock`].
//!
//! `Task<T>` implements [`Future`](std::future::Future), so async code can `.await` pool work
//! with no runtime dependency.

// Unsafe code is denied everywhere but `queue/raw/`: the fast lanes' lock-free ring and the
// small closures stored inline in it. See that module for why each pays.
#![deny(unsafe_code)]
#![warn(missing_docs)]
// The lints of the libraries this one learns from (rayon, tokio, crossbeam).
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

mod clock;
mod context;
mod error;
mod fast;
mod job;
mod lifecycle;
mod metrics;
mod policy;
mod pool;
mod priority;
mod queue;
mod scheduler;
mod shared;
mod stats;
mod sync;
mod task;
mod timer;
mod unwind;
mod worker;
mod worker_set;

pub use crate::{
    clock::{Clock, ManualClock},
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
