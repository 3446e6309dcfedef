//! Every public error type.
//!
//! Submission errors give the job back (`into_inner`), so nothing a caller hands the pool is
//! lost. None of them requires the job to implement `Debug`: they print `Full(..)`.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::io;

use crate::sync::ValueLock;

/// Why a blocking submission ([`Pool::submit`](crate::Pool::submit),
/// [`Pool::execute`](crate::Pool::execute), [`Pool::spawn`](crate::Pool::spawn)) did not
/// accept a job; the job comes back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum SubmitError<J> {
    /// The pool has shut down.
    Closed(J),
    /// The queue is full and the caller is one of the pool's own workers, as is every other
    /// worker that could make room: waiting would never end, so the job comes back instead.
    WouldDeadlock(J),
    /// The job takes a worker state ([`Pool::submit_with_state`](crate::Pool::submit_with_state))
    /// of a type the pool's workers do not hold: the pool was built without
    /// [`Builder::worker_state`](crate::Builder::worker_state), or with a state of another type.
    WrongState(J),
}

impl<J> SubmitError<J> {
    /// Returns the job that was not accepted.
    pub fn into_inner(self) -> J {
        match self {
            Self::Closed(job) | Self::WouldDeadlock(job) | Self::WrongState(job) => job,
        }
    }

    /// `true` if the pool has shut down.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }

    /// `true` if the queue was full and waiting for room would have deadlocked.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::WouldDeadlock(_))
    }

    /// `true` if the job takes a worker state the pool's workers do not hold.
    pub fn is_wrong_state(&self) -> bool {
        matches!(self, Self::WrongState(_))
    }
}

impl<J> fmt::Debug for SubmitError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed(_) => f.write_str("Closed(..)"),
            Self::WouldDeadlock(_) => f.write_str("WouldDeadlock(..)"),
            Self::WrongState(_) => f.write_str("WrongState(..)"),
        }
    }
}

impl<J> fmt::Display for SubmitError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed(_) => f.write_str("cannot submit: the pool is shut down"),
            Self::WouldDeadlock(_) => f.write_str(
                "cannot submit: the queue is full and every worker that could make room is \
                 waiting to submit, this one included",
            ),
            Self::WrongState(_) => f.write_str(
                "cannot submit: the pool's workers hold no state of the type this job takes",
            ),
        }
    }
}

impl<J> Error for SubmitError<J> {}

/// Why [`Pool::try_submit`](crate::Pool::try_submit) did not accept a job; the job comes back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySubmitError<J> {
    /// The queue is at capacity.
    Full(J),
    /// The pool has shut down.
    Closed(J),
}

impl<J> TrySubmitError<J> {
    /// Returns the job that was not accepted.
    pub fn into_inner(self) -> J {
        match self {
            Self::Full(job) | Self::Closed(job) => job,
        }
    }

    /// `true` if the queue was full.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// `true` if the pool was shut down.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }
}

impl<J> fmt::Debug for TrySubmitError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<J> fmt::Display for TrySubmitError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("cannot submit: the queue is full"),
            Self::Closed(_) => f.write_str("cannot submit: the pool is shut down"),
        }
    }
}

impl<J> Error for TrySubmitError<J> {}

/// `WrongState` becomes `Closed`: this pool will never accept that job.
impl<J> From<SubmitError<J>> for TrySubmitError<J> {
    fn from(err: SubmitError<J>) -> Self {
        match err {
            SubmitError::Closed(job) | SubmitError::WrongState(job) => Self::Closed(job),
            SubmitError::WouldDeadlock(job) => Self::Full(job),
        }
    }
}

/// Why [`Pool::submit_timeout`](crate::Pool::submit_timeout) did not accept a job; the job
/// comes back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum SubmitTimeoutError<J> {
    /// The queue stayed full for the whole timeout.
    Timeout(J),
    /// The pool has shut down.
    Closed(J),
}

impl<J> SubmitTimeoutError<J> {
    /// Returns the job that was not accepted.
    pub fn into_inner(self) -> J {
        match self {
            Self::Timeout(job) | Self::Closed(job) => job,
        }
    }

    /// `true` if the queue stayed full until the timeout.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }

    /// `true` if the queue stayed full until the timeout (same as [`is_full`](Self::is_full)).
    pub fn is_timeout(&self) -> bool {
        self.is_full()
    }

    /// `true` if the pool was shut down.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }
}

impl<J> fmt::Debug for SubmitTimeoutError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(_) => f.write_str("Timeout(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<J> fmt::Display for SubmitTimeoutError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(_) => {
                f.write_str("cannot submit: the queue stayed full until the timeout")
            }
            Self::Closed(_) => f.write_str("cannot submit: the pool is shut down"),
        }
    }
}

impl<J> Error for SubmitTimeoutError<J> {}

/// `WrongState` becomes `Closed`: this pool will never accept that job.
impl<J> From<SubmitError<J>> for SubmitTimeoutError<J> {
    fn from(err: SubmitError<J>) -> Self {
        match err {
            SubmitError::Closed(job) | SubmitError::WrongState(job) => Self::Closed(job),
            SubmitError::WouldDeadlock(job) => Self::Timeout(job),
        }
    }
}

/// Which way a job ended without a value; see [`TaskError::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskErrorKind {
    /// The job returned an error.
    Failed,
    /// The job panicked.
    Panicked,
    /// The job's deadline passed.
    TimedOut,
    /// The job was cancelled through its [`Task`](crate::Task) or by a shutdown.
    Cancelled,
    /// The pool shut down before the job started; it never ran.
    NotRun,
}

/// How a job ended, when it did not produce a value.
///
/// [`Task::wait`](crate::Task::wait) returns it. `Display` names the outcome and, for a panic,
/// carries the panic message.
///
/// It is two words: every task's result slot has room for one, so the rarely needed message
/// and error value are boxed.
pub struct TaskError {
    kind: TaskErrorKind,
    attempts: u32,
    detail: Option<Box<Detail>>,
}

/// What a panic or a failure says beyond its kind.
struct Detail {
    message: String,
    /// The job's own error value, for [`TaskError::into_error`]. Behind a mutex only so that
    /// `TaskError` is `Sync` without asking the same of the job's error type.
    error: Option<ValueLock<Box<dyn Any + Send>>>,
}

impl TaskError {
    pub(crate) fn new(kind: TaskErrorKind) -> Self {
        Self {
            kind,
            attempts: 0,
            detail: None,
        }
    }

    fn with_detail(
        kind: TaskErrorKind,
        attempts: u32,
        message: String,
        error: Option<Box<dyn Any + Send>>,
    ) -> Self {
        Self {
            kind,
            attempts,
            detail: Some(Box::new(Detail {
                message,
                error: error.map(ValueLock::new),
            })),
        }
    }

    pub(crate) fn panicked(payload: &(dyn Any + Send)) -> Self {
        Self::with_detail(TaskErrorKind::Panicked, 1, panic_message(payload), None)
    }

    /// The job returned `error` on its last run, `attempts` runs in all.
    pub(crate) fn failed<E: fmt::Debug + Send + 'static>(error: E, attempts: u32) -> Self {
        let message = format!("{error:?}");
        Self::with_detail(
            TaskErrorKind::Failed,
            attempts,
            message,
            Some(Box::new(error)),
        )
    }

    /// A failure known only by its message (the value went with an earlier run).
    pub(crate) fn failed_with_message(message: String, attempts: u32) -> Self {
        Self::with_detail(TaskErrorKind::Failed, attempts, message, None)
    }

    /// The worker state's constructor panicked before the job could start: the job's error,
    /// a panic with the constructor's message, after no run of the job itself.
    pub(crate) fn state_panicked(payload: &(dyn Any + Send)) -> Self {
        let message = format!(
            "worker state constructor panicked: {}",
            panic_message(payload)
        );
        Self::with_detail(TaskErrorKind::Panicked, 0, message, None)
    }

    fn message(&self) -> Option<&str> {
        self.detail.as_ref().map(|detail| detail.message.as_str())
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// Which way the job ended.
    pub fn kind(&self) -> TaskErrorKind {
        self.kind
    }

    /// `true` if the job panicked.
    pub fn is_panic(&self) -> bool {
        self.kind == TaskErrorKind::Panicked
    }

    /// The panic message, if the job panicked with a `&str` or `String` payload.
    ///
    /// Other payload types give `Some("<non-string panic payload>")`.
    pub fn panic_message(&self) -> Option<&str> {
        match self.kind {
            TaskErrorKind::Panicked => self.message(),
            _ => None,
        }
    }

    /// The job's last error, as its `Debug` text, if the job failed.
    pub fn error_message(&self) -> Option<&str> {
        match self.kind {
            TaskErrorKind::Failed => self.message(),
            _ => None,
        }
    }

    /// The job's own error value, if the job failed with an error of type `E`.
    ///
    /// # Examples
    ///
    /// ```
    /// use workpool::{Job, JobContext, Pool};
    ///
    /// let pool = Pool::new(1);
    /// let task = pool.spawn(Job::new(|_: &JobContext| Err::<(), _>(404u16)))?;
    /// let err = task.wait().unwrap_err();
    /// assert_eq!(err.error_message(), Some("404"));
    /// assert_eq!(err.into_error::<u16>(), Some(404));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_error<E: 'static>(self) -> Option<E> {
        let boxed = self
            .detail?
            .error?
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        boxed.downcast::<E>().ok().map(|e| *e)
    }

    /// `true` if the job was cancelled (by [`Task::cancel`](crate::Task::cancel) or a
    /// shutdown that cancels running jobs).
    pub fn is_cancelled(&self) -> bool {
        self.kind == TaskErrorKind::Cancelled
    }

    /// `true` if the job's deadline passed.
    pub fn is_timeout(&self) -> bool {
        self.kind == TaskErrorKind::TimedOut
    }

    /// `true` if the pool shut down before the job started.
    pub fn is_not_run(&self) -> bool {
        self.kind == TaskErrorKind::NotRun
    }

    /// How many times the job ran (0 if it never started).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("TaskError");
        s.field("kind", &self.kind);
        if let Some(message) = self.message() {
            s.field("message", &message);
        }
        s.field("attempts", &self.attempts).finish()
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TaskErrorKind::Failed if self.attempts > 1 => {
                write!(f, "job failed after {} attempts", self.attempts)?
            }
            TaskErrorKind::Failed => f.write_str("job failed")?,
            TaskErrorKind::Panicked => f.write_str("job panicked")?,
            TaskErrorKind::TimedOut => f.write_str("job timed out")?,
            TaskErrorKind::Cancelled => f.write_str("job was cancelled")?,
            TaskErrorKind::NotRun => f.write_str("job never ran: the pool shut down")?,
        }
        if let Some(message) = self.message() {
            write!(f, ": {message}")?;
        }
        if self.attempts > 1 && self.kind != TaskErrorKind::Failed {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

impl Error for TaskError {}

/// Extracts a readable message from a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// A pool could not be built: the configuration was invalid or a worker thread could not
/// start. `Display` names what was wrong.
pub struct BuildError {
    kind: BuildErrorKind,
}

enum BuildErrorKind {
    Invalid(String),
    Spawn(io::Error),
}

impl BuildError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: BuildErrorKind::Invalid(message.into()),
        }
    }

    pub(crate) fn spawn(err: io::Error) -> Self {
        Self {
            kind: BuildErrorKind::Spawn(err),
        }
    }

    /// `true` if the configuration was invalid (for example `min_workers > max_workers`).
    pub fn is_invalid_config(&self) -> bool {
        matches!(self.kind, BuildErrorKind::Invalid(_))
    }
}

impl fmt::Debug for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BuildErrorKind::Invalid(msg) => {
                f.debug_tuple("BuildError::Invalid").field(msg).finish()
            }
            BuildErrorKind::Spawn(err) => f.debug_tuple("BuildError::Spawn").field(err).finish(),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BuildErrorKind::Invalid(msg) => write!(f, "invalid pool configuration: {msg}"),
            BuildErrorKind::Spawn(err) => write!(f, "failed to start a worker thread: {err}"),
        }
    }
}

impl Error for BuildError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.kind {
            BuildErrorKind::Invalid(_) => None,
            BuildErrorKind::Spawn(err) => Some(err),
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // tests may use std directly
mod tests {
    use super::*;

    #[test]
    fn a_task_error_is_two_words_so_result_slots_stay_small() {
        assert_eq!(std::mem::size_of::<TaskError>(), 16);
        assert_eq!(std::mem::size_of::<Result<u64, TaskError>>(), 16);
    }

    #[test]
    fn details_survive_the_box() {
        let failed = TaskError::failed(404u16, 3);
        assert_eq!(failed.error_message(), Some("404"));
        assert_eq!(failed.panic_message(), None);
        assert_eq!(failed.to_string(), "job failed after 3 attempts: 404");
        assert_eq!(failed.into_error::<u16>(), Some(404));

        let panicked = TaskError::panicked(&"boom");
        assert_eq!(panicked.panic_message(), Some("boom"));
        assert_eq!(panicked.attempts(), 1);

        let not_run = TaskError::new(TaskErrorKind::NotRun);
        assert_eq!(not_run.panic_message(), None);
        assert_eq!(not_run.into_error::<u16>(), None);
    }
}
