//! Composition on top of the pool: [`Pool::map`](crate::Pool::map) and
//! [`Pool::map_unordered`](crate::Pool::map_unordered) (`map.rs`) and [`TaskSet`]
//! (`task_set.rs`).
//!
//! Everything here is built on the pool's public submission paths (`submit`, `try_submit`,
//! [`Task`](crate::Task) and its cancel), and every blocking wait goes through
//! `help::block_on`, so that a wait on one of the pool's own workers helps run its queue.

mod map;
mod slots;
mod task_set;

pub use self::map::{Map, MapUnordered, DEFAULT_MAX_CHUNK};
pub use self::task_set::TaskSet;
