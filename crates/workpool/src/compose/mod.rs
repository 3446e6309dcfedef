//! Composition on top of the pool: [`Pool::map`](crate::Pool::map) and
//! [`Pool::map_unordered`](crate::Pool::map_unordered) (`map.rs`), [`TaskSet`]
//! (`task_set.rs`) and [`Pipeline`] (`pipeline/`).
//!
//! Everything here is built on the pool's public submission paths (`submit`, `try_submit`,
//! [`Task`](crate::Task) and its cancel), and every blocking wait goes through
//! `help::block_on`, so that a wait on one of the pool's own workers helps run its queue.

mod map;
mod pipeline;
mod slots;
mod task_set;

pub use self::map::{Map, MapUnordered, DEFAULT_MAX_CHUNK};
pub use self::pipeline::{
    Pipeline, PipelineCanceller, PipelineError, PipelineRun, PipelineStats, StageStats,
};
pub use self::task_set::TaskSet;

use crate::pool::Pool;

/// `true` if the calling thread is one of `pool`'s workers.
fn on_worker_of(pool: &Pool) -> bool {
    let shared = pool.shared();
    let inner = shared.inner.lock();
    shared.on_worker_thread(&inner)
}
