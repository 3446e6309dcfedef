//! A durable job queue for workpool: jobs kept in PostgreSQL (for workers on many machines)
//! or in an embedded SQLite file (no server), claimed under leases and run on a
//! [`workpool::Pool`].
//!
//! ```no_run
//! use serde_json::json;
//! use workpool_queue::{NewJob, Queue, Worker};
//!
//! let queue = Queue::open("postgres://app@db.internal/jobs")?; // or "sqlite:jobs.db"
//! queue.enqueue(NewJob::new("resize", json!({"path": "a.png"})).unique("a.png").priority(5))?;
//! Worker::builder(queue)
//!     .concurrency(16)
//!     .handle("resize", |job, _ctx| {
//!         let args: serde_json::Value = job.args()?;
//!         println!("resizing {}", args["path"]);
//!         Ok::<(), serde_json::Error>(())
//!     })
//!     .build()?
//!     .run_until_signal()?; // Ctrl-C / SIGTERM: drain
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Guarantees
//!
//! - **At least once execution.** A claimed job holds a lease (default 30 s) that its worker
//!   renews every third of it. If the worker dies, hangs or loses the database, the lease
//!   expires and the next claim of any worker takes the job again, as a new attempt. So a job
//!   can run more than once: make handlers idempotent (see below).
//! - **Exactly once recording.** A completion carries its attempt number and is accepted
//!   only while that attempt is still the job's running attempt. Once its lease expired and
//!   the job was rescued or claimed again, a late completion from the old attempt is refused.
//!   Each attempt's outcome is recorded at most once, and a job ends in exactly one final
//!   state.
//! - **Idempotent jobs.** Write results under a key derived from the job (its unique key or
//!   id), with an upsert or a write-then-rename, so that a second run overwrites rather than
//!   duplicates; check for the result before doing expensive work.

#![forbid(unsafe_code)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

mod db;
mod error;
mod job;
mod pg;
mod queue;
mod sqlite;
mod worker;

pub use crate::db::{Backend, SCHEMA_VERSION};
pub use crate::error::{Error, Result};
pub use crate::job::{
    ClaimedJob, Completion, JobId, JobInfo, JobState, NewJob, Outcome, DEFAULT_MAX_ATTEMPTS,
    DEFAULT_PRIORITY, DEFAULT_QUEUE,
};
pub use crate::queue::{
    CancelResult, EnqueueReport, FailedJob, Queue, QueueStatus, Renewal, WorkerId, WorkerInfo,
    ENQUEUE_BATCH,
};
pub use crate::worker::{
    Context, ShutdownHandle, Worker, WorkerBuilder, WorkerReport, DEFAULT_GRACE, DEFAULT_LEASE,
    DEFAULT_POLL, DEFAULT_PREFETCH,
};
