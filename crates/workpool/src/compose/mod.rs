//! Composition on top of the pool: [`Pool::map`](crate::Pool::map) and
//! [`Pool::map_unordered`](crate::Pool::map_unordered) (`map/`), [`TaskSet`]
//! (`task_set.rs`), [`Pipeline`] (`pipeline/`), jobs that borrow from the caller
//! ([`Pool::scope`](crate::Pool::scope), `scope.rs`) and fork-join
//! ([`Pool::join`](crate::Pool::join), `join.rs`).
//!
//! Every blocking wait here goes through `help::block_on`, so that a wait on one of the
//! pool's own workers helps run its queue instead of blocking it.

pub(crate) mod join;
mod map;
mod pipeline;
pub(crate) mod scope;
mod slots;
mod task_set;
pub use self::map::{Map, MapUnordered, DEFAULT_MAX_CHUNK};
pub use self::pipeline::{
    Pipeline, PipelineCanceller, PipelineError, PipelineRun, PipelineStats, StageStats,
};
pub use self::task_set::TaskSet;

use crate::error::SubmitError;
use crate::pool::Pool;
use crate::task::Task;

/// Submits `job`, a job that a composition queues for its own items, with a blocking
/// submission. `None` if the pool did not take it: then it has run here, if every other
/// worker of the pool waits to submit too (the queue will not drain, and a worker waiting
/// here would wait for ever), or it was dropped unrun, if the pool has shut down. A
/// composition's job reports its items however it ends, so either way they are accounted
/// for. (A plain submission is never refused for its state type.)
fn submit_or_run_here(pool: &Pool, job: impl FnOnce() + Send + 'static) -> Option<Task<()>> {
    match pool.submit(job) {
        Ok(task) => Some(task),
        Err(SubmitError::WouldDeadlock(job)) => {
            job();
            None
        }
        Err(SubmitError::Closed(job) | SubmitError::WrongState(job)) => {
            drop(job);
            None
        }
    }
}
