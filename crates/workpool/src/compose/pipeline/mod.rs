//! [`Pipeline`]: items through named stages, each on a pool of the user's choice, with
//! bounded buffers between stages, ordered or unordered output, per-item errors, per-stage
//! stats and cancellation.
//!
//! No thread is started for it. The output iterator pulls the source on the caller's
//! thread (so the source need not be `Send`), and each stage job, as it ends, moves its item
//! on and queues the next stage's jobs from its own worker (`relay.rs`; the buffers and their
//! bounds are in `flow.rs`). A stage job never blocks on another pool's full queue: it leaves
//! the item in its buffer, and the next job to end, or the iterator, queues it.

mod flow;
mod relay;

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::{TaskError, TaskErrorKind};
use crate::help;
use crate::pool::Pool;

use self::flow::StageLimits;
use self::relay::Core;

/// A value between stages; each stage's own types are checked when the pipeline is built.
type Value = Box<dyn Any + Send>;

/// A stage's function, its types erased.
type StageFn = dyn Fn(Value) -> Result<Value, TaskError> + Send + Sync;

/// One stage as built.
struct Stage {
    name: Arc<str>,
    pool: Pool,
    clock: Clock,
    run: Arc<StageFn>,
}

/// A builder of a pipeline whose items are of type `T` at its current end.
///
/// Each [`stage`](Pipeline::stage) runs a function on every item on a pool of its own
/// choosing (an I/O stage on a wide pool, a CPU stage on a core-sized one, or one pool for
/// all); [`run`](Pipeline::run) starts it and returns the iterator of per-item results.
///
/// # Flow and backpressure
///
/// A stage runs at most as many items at once as its pool has maximum workers (when the
/// pipeline starts). Items a stage has finished wait in a bounded buffer for the next stage:
/// a stage starts an item only when the next buffer has room for it, so a slow stage holds
/// back the ones before it, and the last one waits for the caller to take results. The
/// source is pulled only when the first stage's buffer has room. [`buffer`](Pipeline::buffer)
/// sets the buffers' size (default: twice the maximum workers of the stage that reads the
/// buffer, and of the last stage for the output).
///
/// # Errors and order
///
/// An item whose stage function panics, or returns `Err` from a
/// [`try_stage`](Pipeline::try_stage), leaves the pipeline there: it comes out as a
/// [`PipelineError`] with its index in the source and the stage's name, and later stages
/// never see it. Every item pulled from the source comes out exactly once, as a value or
/// an error. Output is in source order by default ([`ordered`](Pipeline::ordered)), or as
/// items finish ([`unordered`](Pipeline::unordered)).
///
/// # Examples
///
/// ```
/// use workpool::{Pipeline, Pool};
///
/// let io = Pool::new(8);
/// let cpu = Pool::new(2);
/// let run = Pipeline::new(1..=5u64)
///     .try_stage("fetch", &io, |n| if n == 3 { Err("no such page") } else { Ok(n * 100) })
///     .stage("digest", &cpu, |bytes: u64| bytes / 10)
///     .run();
/// let stats = run.stats();
/// let results: Vec<_> = run.collect();
/// assert_eq!(results[0].as_ref().ok(), Some(&10));
/// let error = results[2].as_ref().unwrap_err();
/// assert_eq!((error.index(), error.stage()), (2, "fetch"));
/// assert_eq!(error.error().error_message(), Some("\"no such page\""));
/// assert_eq!(stats.stages.len(), 2);
/// ```
#[must_use = "a pipeline does nothing until run() is called and its output is iterated"]
pub struct Pipeline<T> {
    source: Box<dyn Iterator<Item = Value>>,
    stages: Vec<Stage>,
    ordered: bool,
    buffer: Option<usize>,
    _out: PhantomData<fn() -> T>,
}

impl<T: Send + 'static> Pipeline<T> {
    /// A pipeline over `items`, with no stage yet. The items are pulled lazily, on the
    /// thread that iterates the output.
    pub fn new<I>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: 'static,
    {
        Pipeline {
            source: Box::new(items.into_iter().map(|item| Box::new(item) as Value)),
            stages: Vec::new(),
            ordered: true,
            buffer: None,
            _out: PhantomData,
        }
    }

    /// Adds a stage named `name` that runs `f` on each item, on `pool`.
    ///
    /// A panic in `f` is that item's error ([`TaskErrorKind::Panicked`]).
    pub fn stage<O, F>(self, name: impl Into<String>, pool: &Pool, f: F) -> Pipeline<O>
    where
        F: Fn(T) -> O + Send + Sync + 'static,
        O: Send + 'static,
    {
        self.push_stage(name.into(), pool, move |value| {
            Ok(Box::new(f(downcast(value))))
        })
    }

    /// Adds a stage named `name` that runs the fallible `f` on each item, on `pool`. An
    /// item for which `f` returns `Err` leaves the pipeline as a [`PipelineError`] whose
    /// [`TaskError`] is of kind [`TaskErrorKind::Failed`], with the error's `Debug` text
    /// ([`TaskError::error_message`]) and the error itself ([`TaskError::into_error`]).
    pub fn try_stage<O, E, F>(self, name: impl Into<String>, pool: &Pool, f: F) -> Pipeline<O>
    where
        F: Fn(T) -> Result<O, E> + Send + Sync + 'static,
        O: Send + 'static,
        E: fmt::Debug + Send + 'static,
    {
        self.push_stage(name.into(), pool, move |value| match f(downcast(value)) {
            Ok(out) => Ok(Box::new(out)),
            Err(error) => Err(TaskError::failed(error, 1)),
        })
    }

    fn push_stage<O>(
        mut self,
        name: String,
        pool: &Pool,
        run: impl Fn(Value) -> Result<Value, TaskError> + Send + Sync + 'static,
    ) -> Pipeline<O> {
        self.stages.push(Stage {
            name: name.into(),
            pool: pool.clone(),
            clock: pool.shared().clock.clone(),
            run: Arc::new(run),
        });
        Pipeline {
            source: self.source,
            stages: self.stages,
            ordered: self.ordered,
            buffer: self.buffer,
            _out: PhantomData,
        }
    }

    /// Outputs results in source order (the default): a result waits for those of every
    /// item before it.
    pub fn ordered(mut self) -> Self {
        self.ordered = true;
        self
    }

    /// Outputs results as items leave the pipeline, whatever their order in the source.
    pub fn unordered(mut self) -> Self {
        self.ordered = false;
        self
    }

    /// Sets the size of every buffer: items waiting for a stage, and results waiting for the
    /// caller. Default: twice the maximum workers of the stage that reads the buffer (of the
    /// last stage, for the output).
    ///
    /// # Panics
    ///
    /// If `items` is 0.
    #[track_caller]
    pub fn buffer(mut self, items: usize) -> Self {
        assert!(
            items > 0,
            "the buffers of a pipeline must hold at least 1 item"
        );
        self.buffer = Some(items);
        self
    }

    /// Starts the pipeline: returns the iterator of its results, which also gives its
    /// [stats](PipelineRun::stats) and [cancels](PipelineRun::cancel) it. Nothing is pulled
    /// from the source before the first call to `next`.
    pub fn run(self) -> PipelineRun<T> {
        let limits: Vec<StageLimits> = self
            .stages
            .iter()
            .map(|stage| {
                let concurrency = stage.pool.max_workers();
                StageLimits {
                    concurrency,
                    buffer: self.buffer.unwrap_or(2 * concurrency),
                }
            })
            .collect();
        let output = match limits.last() {
            Some(last) => self.buffer.unwrap_or(2 * last.concurrency),
            None => 1,
        };
        PipelineRun {
            core: Arc::new(Core::new(self.stages, limits, output, self.ordered)),
            source: Some(self.source),
            _out: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Pipeline<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.stages.iter().map(|s| &*s.name).collect();
        f.debug_struct("Pipeline")
            .field("stages", &names)
            .field("ordered", &self.ordered)
            .field("buffer", &self.buffer)
            .finish()
    }
}

fn downcast<T: 'static>(value: Value) -> T {
    match value.downcast::<T>() {
        Ok(value) => *value,
        Err(_) => unreachable!("a stage gets the type the stage before it made"),
    }
}

/// A running [`Pipeline`]: an iterator of one result per item pulled from the source.
///
/// `next` blocks until a result is ready (in source order, or as items finish, as the
/// pipeline was built); on one of a stage pool's own workers, the wait helps run that pool's
/// queued jobs. It owns the source, which it pulls on its own thread, so it is not `Send`;
/// use a [`PipelineCanceller`] to stop it from elsewhere.
///
/// # Cancellation
///
/// [`cancel`](PipelineRun::cancel), a [`PipelineCanceller`] from another thread, or dropping
/// the iterator stops the pipeline: the source is pulled no more, and no item starts a stage
/// any more (jobs queued in the pools are cancelled and never run). Items already running a
/// stage finish it. After a cancel the iterator still yields every item already pulled:
/// those that had left the last stage as values, every other one as a [`PipelineError`] of
/// kind [`TaskErrorKind::Cancelled`] naming the stage it did not run. A pool that shuts down
/// under the pipeline reports the items it never ran the same way, with
/// [`TaskErrorKind::NotRun`].
pub struct PipelineRun<T> {
    core: Arc<Core>,
    /// `None` once the source is over, or the pipeline cancelled.
    source: Option<Box<dyn Iterator<Item = Value>>>,
    _out: PhantomData<fn() -> T>,
}

impl<T: 'static> PipelineRun<T> {
    /// A snapshot of every stage's counts and times, in stage order.
    pub fn stats(&self) -> PipelineStats {
        self.core.stats()
    }

    /// Cancels the pipeline (see [Cancellation](PipelineRun#cancellation)); keep iterating
    /// to receive what was in it. Calling it again does nothing.
    pub fn cancel(&self) {
        self.core.cancel();
    }

    /// A handle that cancels this pipeline from any thread.
    pub fn canceller(&self) -> PipelineCanceller {
        PipelineCanceller {
            core: Arc::clone(&self.core),
        }
    }

    /// `true` once the pipeline has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.core.is_cancelled()
    }

    /// The next result if one is ready now, after pulling what the source may give;
    /// `Some(None)` once every item is out.
    fn poll_next(&mut self) -> Option<Option<Result<T, PipelineError>>> {
        self.core.feed(&mut self.source);
        let outcome = self.core.take_output()?;
        Some(outcome.map(|result| result.map(downcast)))
    }
}

impl<T: 'static> Iterator for PipelineRun<T> {
    type Item = Result<T, PipelineError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(step) = self.poll_next() {
            return step;
        }
        let core = Arc::clone(&self.core);
        help::block_on(&core.wakeup, || {
            let step = self.poll_next();
            if step.is_none() {
                // About to park: make sure nothing waits on a queue that refused it.
                self.core.unstall();
            }
            step
        })
    }
}

impl<T> Drop for PipelineRun<T> {
    fn drop(&mut self) {
        self.core.cancel();
    }
}

impl<T> fmt::Debug for PipelineRun<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineRun")
            .field("stats", &self.core.stats())
            .field("cancelled", &self.core.is_cancelled())
            .finish()
    }
}

/// Cancels a running pipeline from any thread; see
/// [Cancellation](PipelineRun#cancellation).
#[derive(Clone)]
pub struct PipelineCanceller {
    core: Arc<Core>,
}

impl PipelineCanceller {
    /// Cancels the pipeline. Calling it again, or after the pipeline ended, does nothing.
    pub fn cancel(&self) {
        self.core.cancel();
    }

    /// `true` once the pipeline has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.core.is_cancelled()
    }
}

impl fmt::Debug for PipelineCanceller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineCanceller")
            .field("cancelled", &self.core.is_cancelled())
            .finish()
    }
}

/// An item that did not come out of a pipeline as a value: which item (its index in the
/// source, from 0), at which stage, and why.
#[derive(Debug)]
pub struct PipelineError {
    index: usize,
    stage: Arc<str>,
    error: TaskError,
}

impl PipelineError {
    /// The item's index in the source, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The name of the stage where the item stopped: the one that failed, or the one it
    /// never ran because the pipeline was cancelled or the stage's pool shut down.
    pub fn stage(&self) -> &str {
        &self.stage
    }

    /// Why: the stage failed ([`TaskErrorKind::Failed`]) or panicked, or the item never
    /// ran it ([`TaskErrorKind::Cancelled`], [`TaskErrorKind::NotRun`]).
    pub fn error(&self) -> &TaskError {
        &self.error
    }

    /// Which way the item stopped: the [`kind`](TaskError::kind) of [`error`](Self::error).
    pub fn kind(&self) -> TaskErrorKind {
        self.error.kind()
    }

    /// The [`TaskError`], for its [`into_error`](TaskError::into_error).
    pub fn into_error(self) -> TaskError {
        self.error
    }
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "item {} at stage \"{}\": {}",
            self.index, self.stage, self.error
        )
    }
}

impl Error for PipelineError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.error)
    }
}

/// The counts and times of one stage, from [`PipelineRun::stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageStats {
    /// The stage's name.
    pub name: String,
    /// Items that started the stage.
    pub items_in: u64,
    /// Items the stage finished with a value.
    pub items_out: u64,
    /// Items the stage failed or panicked on.
    pub failed: u64,
    /// Items that stopped before this stage: the pipeline was cancelled, or the stage's
    /// pool shut down, before they started it.
    pub not_run: u64,
    /// Time spent in the stage's function, summed over items.
    pub busy: Duration,
    /// Time items waited for the stage, summed over items: from entering its buffer (or
    /// leaving the source) to starting the stage, time in the pool's queue included.
    pub queue_wait: Duration,
}

/// Every stage's [`StageStats`], in stage order, from [`PipelineRun::stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PipelineStats {
    /// One entry per stage, in order.
    pub stages: Vec<StageStats>,
    /// Items pulled from the source so far.
    pub pulled: u64,
    /// Results the iterator has returned so far.
    pub delivered: u64,
}
