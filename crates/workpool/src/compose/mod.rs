//! Composition on top of the pool: jobs that borrow from the caller (`scope`), fork-join
//! (`join`), and the waits they share, which help run the pool's jobs instead of blocking a
//! worker (see `help.rs`).

pub(crate) mod join;
pub(crate) mod scope;
