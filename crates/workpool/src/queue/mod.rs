//! Where accepted jobs wait: the fast lanes for plain jobs, the scheduler's ready lanes by
//! priority, and the delay queue.

mod delay;
mod fast;
mod ready;

pub(crate) use delay::DelayQueue;
pub(crate) use fast::FastLanes;
pub(crate) use ready::ReadyQueue;
pub use ready::AGING_EVERY;

use std::sync::Arc;
use std::time::Instant;

use crate::job::Priority;
use crate::task::Runnable;

/// A job in the fast lane.
pub(crate) enum Work {
    /// A job from [`Pool::execute`](crate::Pool::execute): nobody holds a handle to it, so
    /// it is only its closure, with no result slot to fill.
    Light(Box<dyn FnOnce() + Send>),
    /// A plain job with a handle.
    Cell(Arc<dyn Runnable>),
}

/// A job in the fast lane: plain (normal priority, no key, no delay, no deadline), so it
/// needs nothing but the work and its queue time. Every queued job carries one, so it is
/// kept small: 32 bytes.
pub(crate) struct FastEntry {
    pub(crate) work: Work,
    /// When it was queued, in nanoseconds since the pool's epoch (see `Shared::stamp`).
    pub(crate) enqueued: u64,
}

/// A job waiting for a worker, with what the scheduler needs to know about it.
pub(crate) struct Entry {
    pub(crate) job: Arc<dyn Runnable>,
    /// When it entered the ready queue (for queue-wait latency).
    pub(crate) enqueued: Instant,
    /// Admission order, for FIFO within a priority and for aging across priorities.
    pub(crate) seq: u64,
    pub(crate) priority: Priority,
    pub(crate) rate_key: Option<Arc<str>>,
}
