//! Where accepted jobs wait: the fast lanes for plain jobs, the scheduler's ready lanes by
//! priority, and the delay queue.

mod delay;
mod fast;
mod raw;
mod ready;

pub(crate) use delay::DelayQueue;
pub(crate) use fast::{FastLanes, Full};
pub(crate) use raw::light::LightJob;
pub(crate) use ready::ReadyQueue;
pub use ready::AGING_EVERY;

use std::sync::Arc;
use std::time::Instant;

use crate::priority::Priority;
use crate::task::Runnable;

/// A job in the fast lane.
pub(crate) enum Work {
    /// A job from [`Pool::execute`](crate::Pool::execute): nobody holds a handle to it, so
    /// it is only its closure, with no result slot to fill, kept in the queue's own slot when
    /// it is small.
    Light(LightJob),
    /// A plain job with a handle.
    Handled(Arc<dyn Runnable>),
}

impl Work {
    /// The job without a handle. Only the path that queued one asks for it back.
    pub(crate) fn into_light(self) -> LightJob {
        match self {
            Work::Light(job) => job,
            Work::Handled(_) => unreachable!("a job without a handle comes back as one"),
        }
    }

    /// The job with a handle. Only the path that queued one asks for it back.
    pub(crate) fn into_handled(self) -> Arc<dyn Runnable> {
        match self {
            Work::Handled(job) => job,
            Work::Light(_) => unreachable!("a job with a handle comes back as one"),
        }
    }
}

/// A job in the fast lane: plain (no key, no delay, no deadline), so it needs nothing but
/// the work and its queue time. Every queued job carries one, so it is kept small: 40 bytes,
/// a closure of up to 16 bytes included.
pub(crate) struct FastEntry {
    pub(crate) work: Work,
    /// When it was queued, in ticks (see `Ticks`); 0 when the pool does not time jobs.
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
