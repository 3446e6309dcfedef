//! The pools under test, behind one small trait so every workload runs the same code
//! against each of them.
//!
//! Workloads are generic over [`Subject`] (no boxing or dynamic dispatch added on top of
//! what each pool does itself) and reach the subjects through [`with_subject`], which
//! builds one pool, starts all of its threads, hands it to a [`Visit`], and shuts it down
//! again: only one pool is alive at a time, so idle peers never compete for the 2 cores.

use std::fmt;

use executors::crossbeam_workstealing_pool as ws;
use executors::parker::Parker;
use executors::Executor;

use crate::{HandrolledPool, Latch};

/// A pool that can run a fire-and-forget job.
pub trait Subject: Sync {
    /// Queues `job`; the caller learns of its completion through the latch it counts down.
    fn spawn<F>(&self, job: F)
    where
        F: FnOnce() + Send + 'static;

    /// Stops the pool and joins its threads where the pool offers that.
    fn shutdown(self)
    where
        Self: Sized;
}

/// Which pool: every subject the suite knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `workpool::Pool::execute`.
    Workpool,
    /// `rayon::ThreadPool::spawn`.
    Rayon,
    /// `threadpool::ThreadPool::execute`.
    Threadpool,
    /// `rusty_pool::ThreadPool::execute`, core size = max size.
    RustyPool,
    /// `tokio::runtime::Runtime::spawn_blocking` on a multi-thread runtime whose blocking
    /// pool is capped at the worker count.
    TokioBlocking,
    /// `executors::crossbeam_channel_pool`.
    ExecutorsChannel,
    /// `executors::crossbeam_workstealing_pool` (static parker sized for the thread count).
    ExecutorsWorkstealing,
    /// [`HandrolledPool`]: threads over a crossbeam `bounded` channel of boxed closures.
    Handrolled,
}

impl Kind {
    /// Every subject, workpool first: it is the reference of every ratio.
    pub const ALL: [Kind; 8] = [
        Kind::Workpool,
        Kind::Rayon,
        Kind::Threadpool,
        Kind::RustyPool,
        Kind::TokioBlocking,
        Kind::ExecutorsChannel,
        Kind::ExecutorsWorkstealing,
        Kind::Handrolled,
    ];

    /// A short id, safe in file names and criterion benchmark ids.
    pub fn id(self) -> &'static str {
        match self {
            Kind::Workpool => "workpool",
            Kind::Rayon => "rayon",
            Kind::Threadpool => "threadpool",
            Kind::RustyPool => "rusty_pool",
            Kind::TokioBlocking => "tokio_blocking",
            Kind::ExecutorsChannel => "executors_channel",
            Kind::ExecutorsWorkstealing => "executors_ws",
            Kind::Handrolled => "handrolled",
        }
    }

    /// What the tables call it.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Workpool => "workpool execute",
            Kind::Rayon => "rayon ThreadPool::spawn",
            Kind::Threadpool => "threadpool execute",
            Kind::RustyPool => "rusty_pool execute",
            Kind::TokioBlocking => "tokio spawn_blocking",
            Kind::ExecutorsChannel => "executors crossbeam_channel_pool",
            Kind::ExecutorsWorkstealing => "executors crossbeam_workstealing_pool",
            Kind::Handrolled => "hand-rolled crossbeam bounded",
        }
    }

    /// The kind whose [`id`](Kind::id) is `id`.
    pub fn from_id(id: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.id() == id)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// How to build a subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    /// Worker threads (for tokio: the cap of its blocking pool).
    pub workers: usize,
    /// Queue bound for the pools that have one (workpool, hand-rolled); the others queue
    /// without bound.
    pub queue_capacity: usize,
}

impl Setup {
    /// `workers` threads and workpool's default queue of 1024.
    pub fn workers(workers: usize) -> Self {
        Self {
            workers,
            queue_capacity: workpool::DEFAULT_QUEUE_CAPACITY,
        }
    }

    /// The same with a different queue bound.
    pub fn queue_capacity(self, queue_capacity: usize) -> Self {
        Self {
            queue_capacity,
            ..self
        }
    }
}

/// What a workload does with one subject; generic so the subject's `spawn` is called
/// directly.
pub trait Visit {
    /// What the visit measured.
    type Output;
    /// Runs the workload on `subject`.
    fn visit<S: Subject>(self, kind: Kind, subject: &S) -> Self::Output;
}

/// Builds the pool `kind` with `setup`, starts every one of its workers, runs `visit` on
/// it, then shuts it down.
///
/// # Panics
///
/// If the pool cannot be built.
pub fn with_subject<V: Visit>(kind: Kind, setup: Setup, visit: V) -> V::Output {
    match kind {
        Kind::Workpool => run(kind, setup, WorkpoolSubject::build(setup), visit),
        Kind::Rayon => run(kind, setup, RayonSubject::build(setup), visit),
        Kind::Threadpool => run(kind, setup, ThreadpoolSubject::build(setup), visit),
        Kind::RustyPool => run(kind, setup, RustyPoolSubject::build(setup), visit),
        Kind::TokioBlocking => run(kind, setup, TokioSubject::build(setup), visit),
        Kind::ExecutorsChannel => run(kind, setup, ExecutorsChannelSubject::build(setup), visit),
        Kind::ExecutorsWorkstealing => {
            if setup.workers <= executors::parker::SmallThreadData::MAX_THREADS {
                let pool = ws::small_pool(setup.workers);
                run(kind, setup, ExecutorsWsSubject(pool), visit)
            } else if setup.workers <= executors::parker::LargeThreadData::MAX_THREADS {
                let pool = ws::large_pool(setup.workers);
                run(kind, setup, ExecutorsWsSubject(pool), visit)
            } else {
                let pool = ws::dyn_pool(setup.workers);
                run(kind, setup, ExecutorsWsSubject(pool), visit)
            }
        }
        Kind::Handrolled => run(kind, setup, HandrolledSubject::build(setup), visit),
    }
}

fn run<S: Subject, V: Visit>(kind: Kind, setup: Setup, subject: S, visit: V) -> V::Output {
    start_all_workers(&subject, setup.workers);
    let out = visit.visit(kind, &subject);
    subject.shutdown();
    out
}

/// Runs `workers` jobs that each wait until all of them are running, which needs every
/// worker at once: pools that start threads lazily (tokio's blocking pool) start them
/// all now, and every worker's stack is touched, before anything is measured.
pub fn start_all_workers<S: Subject>(subject: &S, workers: usize) {
    let arrived = Latch::leak(workers);
    let done = Latch::leak(workers);
    for _ in 0..workers {
        subject.spawn(move || {
            arrived.count_down();
            arrived.wait();
            done.count_down();
        });
    }
    done.wait();
}

/// workpool, the reference.
#[derive(Debug)]
pub struct WorkpoolSubject(pub workpool::Pool);

impl WorkpoolSubject {
    /// A fixed pool of `setup.workers` with a queue of `setup.queue_capacity`.
    pub fn build(setup: Setup) -> Self {
        let pool = workpool::Pool::builder()
            .workers(setup.workers)
            .queue_capacity(setup.queue_capacity)
            .build()
            .expect("build a workpool");
        Self(pool)
    }
}

impl Subject for WorkpoolSubject {
    #[inline]
    fn spawn<F>(&self, job: F)
    where
        F: FnOnce() + Send + 'static,
    {
        if self.0.execute(job).is_err() {
            panic!("workpool refused a job: the pool is shut down");
        }
    }

    fn shutdown(self) {
        self.0.shutdown();
    }
}

/// rayon's `ThreadPool::spawn`.
#[derive(Debug)]
pub struct RayonSubject(pub rayon::ThreadPool);

impl RayonSubject {
    /// A pool of `setup.workers` threads.
    pub fn build(setup: Setup) -> Self {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(setup.workers)
            .thread_name(|i| format!("rayon-{i}"))
            .build()
            .expect("build a rayon pool");
        Self(pool)
    }
}

impl Subject for RayonSubject {
    #[inline]
    fn spawn<F>(&self, job: F)
    where
        F: FnOnce() + Send + 'static,
    {
        self.0.spawn(job);
    }

    fn shutdown(self) {
        // Dropping a rayon pool stops its threads asynchronously; it has no join.
    }
}

/// The `threadpool` crate.
#[derive(Debug)]
pub struct ThreadpoolSubject(pub threadpool::ThreadPool);

impl ThreadpoolSubject {
    /// A pool of `setup.workers` threads.
    pub fn build(setup: Setup) -> Self {
        let pool = threadpool::Builder::new()
            .num_threads(setup.workers)
            .thread_name("threadpool".to_owned())
            .build();
        Self(pool)
    }
}

impl Subject for ThreadpoolSubject {
    #[inline]
    fn spawn<F>(&self, job: F)
    where
        F: FnOnce() + Send + 'static,
    {
        self.0.execute(job);
    }

    fn shutdown(self) {
        self.0.join();
    }
}

/// `rusty_pool` with core size = max size.
pub struct RustyPoolSubject(pub rusty_pool::ThreadPool);

impl fmt::Debug for RustyPoolSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RustyPoolSubject")
            .field("workers", &self.0.get_current_worker_count())
            .finish_non_exhaustive()
    }
}

impl RustyPoolSubject {
    /// A pool of exactly `setup.workers` threads, all started now.
    pub fn build(setup: Setup) -> Self {
        let pool = rusty_pool::Builder::new()
            .name("rusty_pool".to_owned())
            .core_size(setup.workers)
            .max_size(setup.workers)
            .build();
        pool.start_core_threads();
        Self(pool)
    }
}

impl Subject for RustyPoolSubject {
    #[inline]
    fn spawn<F>(&self, job: F)
    where
        F: FnOnce() + Send + 'static,
    {
        self.0.execute(job);
    }

    fn shutdown(self) {
        self.0.shutdown_join();
    }
}

/// tokio's blocking pool, the place tokio users send blocking work.
#[derive(Debug)]
pub struct TokioSubject(pub tokio::runtime::Runtime);

impl TokioSubject {
    /// A multi-thread runtime with one (idle) async worker and a blocking pool capped at
    /// `setup.workers` threads.
    pub fn build(setup: Setup) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(setup.workers)
            .thread_name("tokio")
            .build()
            .expect("build a tokio runtime");
        Self(runtime)
    }
}

impl Subject for TokioSubject {
    #[inline]
    fn spawn<F>(&self, job: F)
    where
        F: FnOnce() + Send + 'static,
    {
        drop(self.0.spawn_blocking(job));
    }

    fn shutdown(self) {
        // Dropping the runtime waits for its blocking threads to finish their tasks.
    }
}

/// `executors::crossbeam_channel_pool`.
#[derive(Debug)]
pub struct ExecutorsChannelSubject(pub executors::crossbeam_channel_pool::ThreadPool);

impl ExecutorsChannelSubject {
    /// A pool of `setup.workers` threads.
    pub fn build(setup: Setup) -> Self {
        Self(executors::crossbeam_channel_pool::ThreadPool::new(
            setup.workers,
        ))
    }
}

impl Subject for ExecutorsChannelSubject {
    #[inline]
    fn spawn<F>(&self, job: F)
    where
        F: FnOnce() + Send + 'static,
    {
        self.0.execute(job);
    }

    fn shutdown(self) {
        self.0
            .shutdown()
            .expect("shut down executors crossbeam_channel_pool");
    }
}

/// `executors::crossbeam_workstealing_pool`, generic over its parker.
#[derive(Debug)]
pub struct ExecutorsWsSubject<P: Parker + Clone + 'static>(pub ws::ThreadPool<P>);

impl<P> Subject for ExecutorsWsSubject<P>
where
    P: Parker + Clone + 'static,
    ws::ThreadPool<P>: Sync,
{
    #[inline]
    fn spawn<F>(&self, job: F)
    where
        F: FnOnce() + Send + 'static,
    {
        self.0.execute(job);
    }

    fn shutdown(self) {
        self.0
            .shutdown()
            .expect("shut down executors crossbeam_workstealing_pool");
    }
}

/// The [`HandrolledPool`].
#[derive(Debug)]
pub struct HandrolledSubject(pub HandrolledPool);

impl HandrolledSubject {
    /// `setup.workers` threads over `bounded(setup.queue_capacity)`.
    pub fn build(setup: Setup) -> Self {
        Self(HandrolledPool::new(setup.workers, setup.queue_capacity))
    }
}

impl Subject for HandrolledSubject {
    #[inline]
    fn spawn<F>(&self, job: F)
    where
        F: FnOnce() + Send + 'static,
    {
        self.0.execute(job);
    }

    fn shutdown(self) {
        drop(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct RunsJobs;

    impl Visit for RunsJobs {
        type Output = usize;
        fn visit<S: Subject>(self, _kind: Kind, subject: &S) -> usize {
            let latch = Latch::leak(1_000);
            for _ in 0..1_000 {
                subject.spawn(move || latch.count_down());
            }
            latch.wait();
            1_000 - latch.remaining()
        }
    }

    #[test]
    fn every_subject_runs_every_job() {
        for kind in Kind::ALL {
            assert_eq!(
                with_subject(kind, Setup::workers(2), RunsJobs),
                1_000,
                "{kind}"
            );
            assert_eq!(Kind::from_id(kind.id()), Some(kind));
        }
    }
}
