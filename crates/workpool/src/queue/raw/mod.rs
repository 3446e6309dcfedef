//! The queue's unsafe code, each piece there because a benchmark showed it pays:
//!
//! - [`ring`]: the fast lanes' lock-free ring. Its places hold jobs in `UnsafeCell`s, written
//!   and read by the thread that claimed the place. Watching an empty ring costs its
//!   producers nothing, unlike the bounded queues of the crates we looked at (the figures
//!   are in `benches/RESULTS.md`, "Design measurements").
//! - [`light`]: small `execute` closures stored in the ring's places rather than boxed,
//!   through the `smallbox!` macro. It saves an allocation and a free per job.
//! - [`recycle`]: larger `execute` closures in heap blocks that workers give back for
//!   producers to reuse, so a steady stream of them does not go through the global
//!   allocator across threads.
//!
//! `lib.rs` denies unsafe code everywhere else but in three composition modules: one
//! lifetime erasure each in `compose/scope.rs` and `compose/join.rs`, which let scoped jobs
//! borrow from their caller, and `compose/slots.rs`, the per-item result slots of a `map`
//! chunk. `scripts/sanitize.sh` runs the tests under ThreadSanitizer and AddressSanitizer;
//! run it after changing any of them.

pub(crate) mod light;
#[cfg(not(any(workpool_shuttle, workpool_loom)))]
mod recycle;
pub(crate) mod ring;
