//! The pool anyone can write in twenty lines: the floor that a pool with features should
//! stay close to.

use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Sender};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// `N` worker threads over one crossbeam-channel `bounded(capacity)` of boxed closures.
///
/// No results, no panic isolation, no metrics, no resizing: one allocation per job (the
/// `Box`) and one channel hand-off. Dropping it closes the channel, lets the workers drain
/// what is queued, and joins them.
///
/// ```
/// let pool = workpool_benches::HandrolledPool::new(2, 1024);
/// let latch = workpool_benches::Latch::leak(1);
/// pool.execute(move || latch.count_down());
/// latch.wait();
/// ```
#[derive(Debug)]
pub struct HandrolledPool {
    sender: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl HandrolledPool {
    /// Starts `workers` threads sharing a queue of `capacity` jobs (the suite uses 1024,
    /// workpool's default).
    ///
    /// # Panics
    ///
    /// If a thread cannot be started.
    pub fn new(workers: usize, capacity: usize) -> Self {
        let (sender, receiver) = bounded::<Job>(capacity);
        let workers = (0..workers)
            .map(|i| {
                let receiver = receiver.clone();
                std::thread::Builder::new()
                    .name(format!("handrolled-{i}"))
                    .spawn(move || {
                        for job in receiver {
                            job();
                        }
                    })
                    .expect("spawn a handrolled worker")
            })
            .collect();
        Self {
            sender: Some(sender),
            workers,
        }
    }

    /// Queues a job, blocking while the queue is full.
    pub fn execute<F>(&self, job: F)
    where
        F: FnOnce() + Send + 'static,
    {
        if let Some(sender) = &self.sender {
            sender
                .send(Box::new(job))
                .expect("handrolled workers outlive the pool handle");
        }
    }
}

impl Drop for HandrolledPool {
    fn drop(&mut self) {
        drop(self.sender.take());
        for worker in self.workers.drain(..) {
            // A panicking job already printed its message; the pool is going away anyway.
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Latch;

    #[test]
    fn runs_every_job_and_drains_on_drop() {
        let latch = Latch::leak(10_000);
        let pool = HandrolledPool::new(2, 16);
        for _ in 0..10_000 {
            pool.execute(move || latch.count_down());
        }
        drop(pool);
        assert_eq!(latch.remaining(), 0);
    }
}
