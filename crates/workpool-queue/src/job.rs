//! Jobs as they go in ([`NewJob`]), as a worker gets them ([`ClaimedJob`]), as they are
//! stored ([`JobInfo`]), and how a run ends ([`Outcome`]).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};

/// The queue a job goes to when none is named: `default`.
pub const DEFAULT_QUEUE: &str = "default";
/// A job's priority when none is given: 128, as `workpool::Priority::NORMAL`.
pub const DEFAULT_PRIORITY: u8 = 128;
/// How many runs a job gets when none is given: 1 (no retries).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 1;

/// A job's id: the row's number in the jobs table, unique across queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub i64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// When a new job first becomes due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// This long after the database receives it (zero: at once).
    After(Duration),
    /// At this time (the submitting machine's clock).
    At(SystemTime),
}

/// A job to enqueue: a kind (which handler runs it) and JSON arguments, with options.
///
/// ```
/// use std::time::Duration;
/// use serde_json::json;
/// use workpool_queue::NewJob;
///
/// let job = NewJob::new("resize", json!({"path": "a.png"}))
///     .unique("a.png")            // a second job with this key in the queue is not added
///     .priority(200)              // higher runs first; default 128
///     .delay(Duration::from_secs(5))
///     .max_attempts(3)            // two retries, with exponential backoff
///     .queue("thumbnails");
/// assert_eq!(job.kind(), "resize");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub(crate) queue: String,
    pub(crate) kind: String,
    pub(crate) args: Value,
    pub(crate) unique_key: Option<String>,
    pub(crate) priority: u8,
    pub(crate) due: Due,
    pub(crate) max_attempts: u32,
}

impl NewJob {
    /// A job of `kind` with `args`, due at once, priority 128, one attempt, in the queue
    /// `default`.
    pub fn new(kind: impl Into<String>, args: Value) -> Self {
        NewJob {
            queue: DEFAULT_QUEUE.to_owned(),
            kind: kind.into(),
            args,
            unique_key: None,
            priority: DEFAULT_PRIORITY,
            due: Due::After(Duration::ZERO),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// Its queue. Default: `default`.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    /// A key unique within its queue: while a job with this key is in the queue (in any
    /// state, finished ones included), enqueueing another adds nothing. Default: none.
    pub fn unique(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    /// Its priority, 0-255: higher is claimed first, oldest first within a level. Default 128.
    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    /// Due this long after the database receives it. Default: at once.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.due = Due::After(delay);
        self
    }

    /// Due at `at` (read on this machine's clock). Default: at once.
    pub fn run_at(mut self, at: SystemTime) -> Self {
        self.due = Due::At(at);
        self
    }

    /// Runs at most this many times (at least 1): a failed run is retried with backoff until
    /// they are spent. Default 1.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Its kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Its unique key, if it has one.
    pub fn unique_key(&self) -> Option<&str> {
        self.unique_key.as_deref()
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.kind.is_empty() {
            return Err(Error::InvalidJob("the kind is empty".to_owned()));
        }
        if self.queue.is_empty() {
            return Err(Error::InvalidJob("the queue name is empty".to_owned()));
        }
        Ok(())
    }

    /// Milliseconds after "now" (`Err`) or an absolute time in unix milliseconds (`Ok`).
    pub(crate) fn due_ms(&self) -> std::result::Result<i64, i64> {
        match self.due {
            Due::After(d) => Err(millis(d)),
            Due::At(at) => Ok(unix_ms(at)),
        }
    }
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

/// A time in unix milliseconds (times before 1970 count as 0).
pub(crate) fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, millis)
}

/// A job a worker has claimed: its lease is held until it is completed, released or lost.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    /// Its id.
    pub id: JobId,
    /// Its queue.
    pub queue: String,
    /// Its kind.
    pub kind: String,
    /// Its unique key, if it has one.
    pub unique_key: Option<String>,
    /// Its arguments.
    pub args: Value,
    /// Its priority.
    pub priority: u8,
    /// Which run this is: 1 for the first. A completion must carry it.
    pub attempt: u32,
    /// How many runs it gets in all.
    pub max_attempts: u32,
}

impl ClaimedJob {
    /// Its arguments, deserialized.
    ///
    /// # Errors
    ///
    /// serde_json's error if they do not fit `T`.
    pub fn args<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.args)
    }

    /// `true` if this is its last attempt: a failure now is final.
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting to be claimed: due now (queued) or later (scheduled, or a retry backing off).
    Available,
    /// Claimed by a worker under a lease.
    Running,
    /// Ran and succeeded.
    Completed,
    /// Spent its attempts; its last error is kept.
    Failed,
    /// Cancelled before it could finish.
    Cancelled,
}

impl JobState {
    /// Its name in the database and in `workpool status`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Available => "available",
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "available" => JobState::Available,
            "running" => JobState::Running,
            "completed" => JobState::Completed,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job's stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct JobInfo {
    /// Its id.
    pub id: JobId,
    /// Its queue.
    pub queue: String,
    /// Its kind.
    pub kind: String,
    /// Its unique key.
    pub unique_key: Option<String>,
    /// Its arguments.
    pub args: Value,
    /// Its state.
    pub state: JobState,
    /// Its priority.
    pub priority: u8,
    /// Runs claimed so far.
    pub attempt: u32,
    /// Runs it gets in all.
    pub max_attempts: u32,
    /// When it is (or was) due, in unix milliseconds.
    pub run_at_ms: i64,
    /// The worker holding its lease, while running.
    pub worker: Option<i64>,
    /// `true` once a cancel was asked for while it ran.
    pub cancel_requested: bool,
    /// The last run's error.
    pub last_error: Option<String>,
    /// The last run's output, as its handler recorded it.
    pub output: Option<Value>,
}

/// How one attempt ended, as a worker reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It succeeded: the job is `completed`.
    Completed {
        /// What the handler recorded.
        output: Option<Value>,
    },
    /// It failed and runs again after `delay` (the job is `available` with `run_at` moved).
    Retry {
        /// The error.
        error: String,
        /// What the handler recorded.
        output: Option<Value>,
        /// How long it waits first.
        delay: Duration,
    },
    /// It failed for good: the job is `failed`.
    Failed {
        /// The error.
        error: String,
        /// What the handler recorded.
        output: Option<Value>,
    },
    /// It was ended by a cancel: the job is `cancelled`.
    Cancelled {
        /// Why.
        error: String,
        /// What the handler recorded.
        output: Option<Value>,
    },
    /// The worker hands the job back (shutting down): it is `available` again, due at once.
    /// With `started: false` the attempt is not counted.
    Release {
        /// Whether the attempt began running (then it counts).
        started: bool,
    },
}

/// A finished attempt to record: the job, the attempt that ran, and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The job.
    pub id: JobId,
    /// The attempt number from its claim: a completion from an attempt that lost its lease is refused.
    pub attempt: u32,
    /// How it ended.
    pub outcome: Outcome,
}

impl Completion {
    /// Its columns: state, error, output (JSON text), delay in ms, attempts to uncount.
    pub(crate) fn columns(&self) -> (&'static str, Option<String>, Option<String>, i64, i32) {
        let json = |v: &Option<Value>| v.as_ref().map(Value::to_string);
        match &self.outcome {
            Outcome::Completed { output } => ("completed", None, json(output), 0, 0),
            Outcome::Retry {
                error,
                output,
                delay,
            } => (
                "available",
                Some(error.clone()),
                json(output),
                millis(*delay),
                0,
            ),
            Outcome::Failed { error, output } => {
                ("failed", Some(error.clone()), json(output), 0, 0)
            }
            Outcome::Cancelled { error, output } => {
                ("cancelled", Some(error.clone()), json(output), 0, 0)
            }
            Outcome::Release { started } => ("available", None, None, 0, i32::from(!started)),
        }
    }
}
