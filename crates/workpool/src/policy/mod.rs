//! Policies the pool consults before and after running a job: rate limits and retries.

pub(crate) mod rate;
pub(crate) mod retry;
