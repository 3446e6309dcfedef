//! [`Priority`]: the order jobs start in.

use std::fmt;

/// A job's priority: higher runs first, FIFO within a level.
///
/// Any level from 0 to 255 works; [`LOW`](Priority::LOW), [`NORMAL`](Priority::NORMAL) (the
/// default) and [`HIGH`](Priority::HIGH) name three. Starvation is bounded: see
/// [`Pool`](crate::Pool#priorities).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(u8);

impl Priority {
    /// The lowest level, 0.
    pub const LOW: Priority = Priority(0);
    /// The default level, 128.
    pub const NORMAL: Priority = Priority(128);
    /// The highest level, 255.
    pub const HIGH: Priority = Priority(255);

    /// A priority at `level`; higher runs first.
    pub const fn new(level: u8) -> Self {
        Priority(level)
    }

    /// This priority's level.
    pub const fn level(self) -> u8 {
        self.0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Priority::NORMAL
    }
}

impl fmt::Debug for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Priority::LOW => f.write_str("LOW"),
            Priority::NORMAL => f.write_str("NORMAL"),
            Priority::HIGH => f.write_str("HIGH"),
            Priority(n) => write!(f, "Priority({n})"),
        }
    }
}
