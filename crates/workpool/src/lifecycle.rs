//! The pool's life: its phases, how it shuts down, and what a shutdown reports.

/// Where the pool is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Accepting jobs.
    Open,
    /// Intake stopped; workers drain the queue, then exit.
    Draining,
    /// Intake stopped, queue handed back; workers exit after their current job.
    Stopped,
}

/// How to shut down.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    Graceful,
    Timeout(std::time::Duration),
    Now,
}

/// The lifecycle's state, guarded by the pool lock.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    pub(crate) phase: Phase,
    /// Set once a shutdown has waited out every producer that was pushing to the fast lane:
    /// from then on the fast lane only shrinks, and workers may exit when it is empty.
    pub(crate) sealed: bool,
    /// Moves each time the pool is seen idle while `wait_idle` callers wait.
    pub(crate) idle_epoch: u64,
}

impl Lifecycle {
    pub(crate) fn new() -> Self {
        Self {
            phase: Phase::Open,
            sealed: false,
            idle_epoch: 0,
        }
    }
}
