//! Where accepted jobs wait: the ready lanes by priority, and the delay queue.

mod delay;
mod ready;

pub(crate) use delay::DelayQueue;
pub(crate) use ready::ReadyQueue;
pub use ready::AGING_EVERY;

use std::sync::Arc;
use std::time::Instant;

use crate::job::Priority;
use crate::task::Runnable;

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
