//! A `map` chunk: the job that runs a run of items on a worker and writes each result into
//! the chunk's slots (`slots.rs`), and the iterator's side of it ([`Flight`]). See the
//! parent module's docs for how chunks are sized and how the iterator is woken.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;

use crate::clock::Ticks;
use crate::compose::slots::{slots, Reader, Writer};
use crate::compose::submit_or_run_here;
use crate::error::{TaskError, TaskErrorKind};
use crate::help::Wakeup;
use crate::pool::Pool;
use crate::sync::{AtomicBool, AtomicU64};
use crate::task::Task;
use crate::unwind;

/// A chunk's run time before it has been measured.
const UNMEASURED: u64 = u64::MAX;

/// What the iterator and the chunk jobs share: where the iterator parks.
pub(super) struct Hub {
    pub(super) wakeup: Wakeup,
    /// Set by the iterator before its last look for a result, when it is about to park;
    /// cleared by the chunk end that wakes it.
    pub(super) parked: AtomicBool,
    pub(super) ticks: Ticks,
}

impl Hub {
    /// A chunk has ended (its `finished` store is `SeqCst`, before this): wakes the iterator
    /// if it waits. The iterator stores `parked` (`SeqCst`) before it loads `finished`
    /// (`SeqCst`), so either it sees the end or this sees it parked.
    fn chunk_done(&self) {
        if self.parked.swap(false, SeqCst) {
            self.wakeup.wake();
        }
    }
}

/// The header of a chunk's slots.
struct ChunkCtl {
    /// The job is over: it ran to its end, stopped, or was dropped without running. Every
    /// result it will ever write is written.
    finished: AtomicBool,
    /// Set when the iterator is dropped: the job stops before its next item.
    stop: AtomicBool,
    /// How long the run took, in nanoseconds, or [`UNMEASURED`]. Stored before the last
    /// result is published.
    nanos: AtomicU64,
}

pub(super) type Results<T> = Result<T, TaskError>;

/// The job's side of a chunk. Its drop ends the chunk, however the job ends: run, stopped,
/// or dropped by a pool that shut down before running it.
struct ChunkEnd<T> {
    writer: Writer<Results<T>, ChunkCtl>,
    hub: Arc<Hub>,
}

impl<T> Drop for ChunkEnd<T> {
    fn drop(&mut self) {
        self.writer.header().finished.store(true, SeqCst);
        self.hub.chunk_done();
    }
}

/// Runs one chunk on a worker.
fn run_chunk<I, T>(items: Vec<I>, f: &impl Fn(I) -> T, mut end: ChunkEnd<T>) {
    let ticks = &end.hub.ticks;
    let start = ticks.now();
    let mut items = items.into_iter();
    while let Some(item) = items.next() {
        let result = unwind::catch(|| f(item)).map_err(|payload| {
            let error = TaskError::panicked(&*payload);
            unwind::forget_payload(payload);
            error
        });
        if items.len() == 0 {
            // Stored before the last result is published, so the iterator, having taken
            // that result, sees the time too.
            let nanos = ticks.nanos_between(start, ticks.now());
            end.writer.header().nanos.store(nanos, Relaxed);
        }
        end.writer.push(result);
        if end.writer.header().stop.load(Relaxed) {
            return;
        }
    }
}

/// The iterator's side of a chunk.
pub(super) struct Flight<T> {
    reader: Reader<Results<T>, ChunkCtl>,
    /// `None` if the chunk never reached the queue (it ran on this thread, or the pool had
    /// shut down).
    task: Option<Task<()>>,
    /// Results handed out: taken from the slots, or made up for items that never ran.
    given: usize,
}

impl<T> Flight<T> {
    /// The next result of this chunk, if it is ready.
    #[inline]
    pub(super) fn take(&mut self) -> Option<Results<T>> {
        if let Some(result) = self.reader.pop() {
            self.given += 1;
            return Some(result);
        }
        self.take_after_end()
    }

    /// The next result if it is known to be published and is not the chunk's last (whose
    /// taking retires the chunk): the iterator's fast path, with no atomic access.
    #[inline]
    pub(super) fn take_seen(&mut self) -> Option<Results<T>> {
        if self.given + 1 >= self.len() {
            return None;
        }
        let result = self.reader.pop_seen()?;
        self.given += 1;
        Some(result)
    }

    /// Past the published results: once the job is over, the items it never ran (the pool
    /// shut down before it started) each get their error.
    fn take_after_end(&mut self) -> Option<Results<T>> {
        if self.given == self.len() || !self.reader.header().finished.load(SeqCst) {
            return None;
        }
        self.given += 1;
        // Every write is published now; a last one may have landed since the look above.
        Some(
            self.reader
                .pop()
                .unwrap_or_else(|| Err(TaskError::new(TaskErrorKind::NotRun))),
        )
    }

    /// `true` if a result of this chunk may be published before the chunk ends: more than
    /// one is still to come. (The last one is published just before the end, which wakes
    /// the iterator.)
    pub(super) fn may_publish_before_end(&self) -> bool {
        self.len() - self.given >= 2
    }

    /// Stops the chunk: a queued job never runs (its items and closure are dropped), and a
    /// running one stops before its next item.
    pub(super) fn stop(&self) {
        self.reader.header().stop.store(true, Relaxed);
        if let Some(task) = &self.task {
            task.cancel();
        }
    }

    pub(super) fn len(&self) -> usize {
        self.reader.len()
    }

    pub(super) fn is_spent(&self) -> bool {
        self.given == self.len()
    }

    /// `true` if [`take`](Flight::take) would give a result.
    pub(super) fn is_ready(&self) -> bool {
        self.reader.has_value() || self.reader.header().finished.load(SeqCst)
    }

    /// Nanoseconds per item, if the chunk ran to its end and its every result was taken.
    pub(super) fn nanos_per_item(&self) -> Option<u64> {
        if self.reader.taken() < self.len() {
            return None;
        }
        match self.reader.header().nanos.load(Relaxed) {
            UNMEASURED => None,
            nanos => Some(nanos / self.len() as u64),
        }
    }
}

/// The input and the function, with their types erased, so that [`Map`] names only `T`.
pub(super) trait Feed<T> {
    /// Pulls up to `n` items and sends them out as one job; `None` once the input is over.
    fn launch(&mut self, pool: &Pool, hub: &Arc<Hub>, n: usize) -> Option<Flight<T>>;
    fn size_hint(&self) -> (usize, Option<usize>);
}

pub(super) struct Source<It, F> {
    pub(super) items: It,
    pub(super) f: Arc<F>,
}

impl<It, F, T> Feed<T> for Source<It, F>
where
    It: Iterator,
    It::Item: Send + 'static,
    F: Fn(It::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    fn launch(&mut self, pool: &Pool, hub: &Arc<Hub>, n: usize) -> Option<Flight<T>> {
        let mut batch = Vec::with_capacity(n);
        batch.extend(self.items.by_ref().take(n));
        if batch.is_empty() {
            return None;
        }
        let ctl = ChunkCtl {
            finished: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            nanos: AtomicU64::new(UNMEASURED),
        };
        let (writer, reader) = slots(batch.len(), ctl);
        let end = ChunkEnd {
            writer,
            hub: Arc::clone(hub),
        };
        let f = Arc::clone(&self.f);
        let job = move || run_chunk(batch, &*f, end);
        // Dropped unrun, the job's end marks the chunk over, and its items give `NotRun`.
        let task = submit_or_run_here(pool, job);
        Some(Flight {
            reader,
            task,
            given: 0,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.items.size_hint()
    }
}
