//! Handle-less jobs stored in the queue slot itself.
//!
//! A job from [`Pool::execute`](crate::Pool::execute) is only its closure. Boxing each one
//! cost a heap allocation on the producer and a free on the worker, the two largest items
//! in a profile of tiny jobs (workload 1 of the benchmark suite). A [`LightJob`] keeps a
//! closure of up to 16 bytes inline (the common case: a job that captures an `Arc` or a
//! reference and an index) and boxes only larger ones.
//!
//! The `smallbox!` macro turns the closure into a trait object without a `Box`, which stable
//! Rust cannot do safely; that is why this module lives with the crate's other unsafe code.

use std::any::Any;

use smallbox::space::S2;
use smallbox::{smallbox, SmallBox};

#[cfg(not(any(workpool_shuttle, workpool_loom)))]
use super::recycle::Recycled;

/// A closure that runs once through a reference: `Option<F>`, taken by the first call.
trait CallOnce: Send {
    fn run(&mut self);
    fn as_any(&mut self) -> &mut dyn Any;
}

impl<F: FnOnce() + Send + 'static> CallOnce for Option<F> {
    fn run(&mut self) {
        if let Some(job) = self.take() {
            job();
        }
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// The bytes a closure may take in the slot (with its `Option`), smallbox's `S2`.
#[cfg(not(any(workpool_shuttle, workpool_loom)))]
const INLINE: usize = 16;

/// A closure in a recycled block, run once: the block goes back before the closure runs.
#[cfg(not(any(workpool_shuttle, workpool_loom)))]
struct Pooled<F>(Option<Recycled<F>>);

#[cfg(not(any(workpool_shuttle, workpool_loom)))]
impl<F: FnOnce() + Send + 'static> CallOnce for Pooled<F> {
    fn run(&mut self) {
        if let Some(job) = self.0.take() {
            (job.into_inner())();
        }
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// A job with no handle: a closure run once, inline when it is at most 16 bytes, in a
/// recycled block up to 512 bytes, boxed beyond.
pub(crate) struct LightJob(SmallBox<dyn CallOnce, S2>);

impl LightJob {
    /// Wraps `job`. A trait object can only be called through a reference, so the closure
    /// sits in an `Option` that the first call takes.
    pub(crate) fn new<F>(job: F) -> Self
    where
        F: FnOnce() + Send + 'static,
    {
        // A closure too large for the slot goes into a recycled block (see `recycle`), whose
        // pointer the slot holds; one too large for the blocks is boxed by `smallbox!`.
        #[cfg(not(any(workpool_shuttle, workpool_loom)))]
        let job = match std::mem::size_of::<Option<F>>() > INLINE {
            true => match Recycled::new(job) {
                Ok(recycled) => {
                    let pooled = Pooled(Some(recycled));
                    // SAFETY: as below.
                    return Self(smallbox!(pooled));
                }
                Err(job) => job,
            },
            false => job,
        };
        let once: Option<F> = Some(job);
        // SAFETY: inside the macro; it stores `once` with the metadata of a pointer to it,
        // which is `once`'s own, so the trait object it builds describes the value it holds.
        Self(smallbox!(once))
    }

    /// Runs the job; its captures are dropped before this returns, also when it panics. A
    /// second call does nothing.
    pub(crate) fn run(&mut self) {
        self.0.run();
    }

    /// The closure back, if it is an `F` that has not run: how a job the pool refuses after
    /// wrapping it returns to its caller.
    pub(crate) fn take<F: FnOnce() + Send + 'static>(mut self) -> Option<F> {
        let any = self.0.as_any();
        #[cfg(not(any(workpool_shuttle, workpool_loom)))]
        if let Some(pooled) = any.downcast_mut::<Pooled<F>>() {
            return pooled.0.take().map(Recycled::into_inner);
        }
        any.downcast_mut::<Option<F>>()?.take()
    }

    /// `true` if the closure did not fit inline and lives on the heap.
    #[cfg(test)]
    fn is_boxed(&self) -> bool {
        self.0.is_heap()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // tests may use std directly
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn small_closures_are_inline_larger_ones_recycled_and_huge_ones_boxed() {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let counter: &'static AtomicUsize = &RUNS;
        let mut small = LightJob::new(move || {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        assert!(!small.is_boxed());
        let big = [7u64; 8];
        let mut large = LightJob::new(move || {
            counter.fetch_add(
                usize::try_from(big.iter().sum::<u64>()).unwrap(),
                Ordering::Relaxed,
            );
        });
        // Its slot holds the recycled block's pointer.
        assert!(!large.is_boxed());
        let huge = [1u64; 100];
        let mut boxed = LightJob::new(move || {
            counter.fetch_add(
                usize::try_from(huge.iter().sum::<u64>()).unwrap(),
                Ordering::Relaxed,
            );
        });
        assert!(boxed.is_boxed());
        for _ in 0..2 {
            // A second call is a no-op: the closure ran once.
            small.run();
            large.run();
            boxed.run();
        }
        assert_eq!(RUNS.load(Ordering::Relaxed), 1 + 56 + 100);
    }

    #[test]
    fn a_refused_large_job_gives_its_closure_back() {
        let (tx, rx) = std::sync::mpsc::channel();
        let words = [3u64; 6];
        let back = wrapped_and_taken_back(move || tx.send(words.iter().sum::<u64>()).unwrap());
        back.expect("the closure comes back")();
        assert_eq!(rx.recv(), Ok(18));
    }

    #[test]
    fn captures_are_dropped_by_the_run_or_by_dropping_the_job() {
        let held = Arc::new(());
        let ran = {
            let held = Arc::clone(&held);
            LightJob::new(move || drop(held))
        };
        let unrun = {
            let held = Arc::clone(&held);
            LightJob::new(move || drop(held))
        };
        assert_eq!(Arc::strong_count(&held), 3);
        let mut ran = ran;
        ran.run();
        assert_eq!(Arc::strong_count(&held), 2);
        drop(unrun);
        assert_eq!(Arc::strong_count(&held), 1);
        drop(ran);
    }

    fn wrapped_and_taken_back<F: FnOnce() + Send + 'static>(job: F) -> Option<F> {
        LightJob::new(job).take::<F>()
    }

    #[test]
    fn a_refused_job_gives_its_closure_back() {
        let job = LightJob::new(|| drop(7u8.to_string()));
        assert!(
            job.take::<fn()>().is_none(),
            "a closure of another type is not taken"
        );
        let (tx, rx) = std::sync::mpsc::channel();
        let back = wrapped_and_taken_back(move || tx.send(41).unwrap());
        back.expect("the closure comes back")();
        assert_eq!(rx.recv(), Ok(41));
        let noop: fn() = || ();
        assert!(LightJob::new(noop).take::<fn()>().is_some());
        let mut ran = LightJob::new(noop);
        ran.run();
        assert!(
            ran.take::<fn()>().is_none(),
            "a job that ran has nothing to give back"
        );
    }

    #[test]
    fn a_panicking_job_drops_its_captures_while_unwinding() {
        let held = Arc::new(());
        let mut job = {
            let held = Arc::clone(&held);
            LightJob::new(move || {
                let _held = held;
                panic!("job panics");
            })
        };
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run()));
        assert!(caught.is_err());
        assert_eq!(Arc::strong_count(&held), 1);
    }
}
