//! Composition on top of the pool: [`Pool::map`](crate::Pool::map) and
//! [`Pool::map_unordered`](crate::Pool::map_unordered) (`map.rs`), [`TaskSet`]
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
