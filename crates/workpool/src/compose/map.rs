//! [`Pool::map`] and [`Pool::map_unordered`]: a function over an iterator, on the pool,
//! lazily, with a bounded number of jobs in flight.
//!
//! The iterator pulls input only when it has room in its window. Items go out in chunks:
//! one job runs a chunk's items in order and writes each result into the chunk's own slot
//! as it returns (`slots.rs`), so the iterator hands a result out while later items of the
//! same chunk still run. Chunks start at one item. Each chunk that runs to its end reports
//! how long it took; while the items prove tiny (a chunk twice the size would still take
//! under [`CHUNK_TARGET_NANOS`]), the next chunk is twice the size, up to `max_chunk`, and a
//! chunk that took far longer makes the next one smaller again.
//!
//! Waking the iterator. A chunk's end wakes the iterator if it is parked: the end is a
//! `SeqCst` store of `finished` followed by a `SeqCst` swap of the hub's `parked` flag, and
//! the iterator stores `parked` (`SeqCst`) before its last look, so that wake is never
//! missed. Results within a chunk wake nobody: a parked iterator also wakes on its own every
//! [`HOLD`], and takes every result that landed meanwhile, so a slow item holds back the
//! finished results of its chunk for at most that long. Waking the iterator for every
//! result cost more than the results: where the workers have every core, each wake took a
//! core from them, and a map of 250 ns items on two workers took as long as one thread
//! doing them all (`benches/suite/map_collect.rs` and the notes in `README.md`).
//!
//! For the same reason the iterator watches for a result before it parks only if the pool
//! has fewer workers than the machine has cores.

use std::collections::VecDeque;
use std::fmt;
use std::iter::FusedIterator;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;

use crate::clock::Ticks;
use crate::compose::slots::{slots, Reader, Writer};
use crate::error::{SubmitError, TaskError, TaskErrorKind};
use crate::help::{self, Wakeup};
use crate::pool::Pool;
use crate::sync::{spin_until, AtomicBool, AtomicU64, OnceLock};
use crate::task::Task;
use crate::unwind;

/// The most items one job of a map takes, unless [`Map::max_chunk`] says otherwise: 4096.
pub const DEFAULT_MAX_CHUNK: usize = 4096;

/// How long a chunk of tiny items may run: 100 µs, a few hundred times what a job costs the
/// pool and some twenty times what waking the iterator costs, so that both are paid once
/// for many items while a chunk stays short.
const CHUNK_TARGET_NANOS: u64 = 100_000;

/// The longest a parked iterator waits before it looks again for results that landed
/// without a chunk ending (see the module docs): about a chunk's time.
const HOLD: std::time::Duration = std::time::Duration::from_micros(100);

/// A chunk's run time before it has been measured.
const UNMEASURED: u64 = u64::MAX;

impl Pool {
    /// Runs `f` on every item of `items` on this pool, and yields the results in input
    /// order, as they become available.
    ///
    /// Each item gives exactly one result: `Ok` with `f`'s value, or a [`TaskError`] if `f`
    /// panicked on it ([`TaskErrorKind::Panicked`], the others go on) or if the pool shut
    /// down before it ran ([`TaskErrorKind::NotRun`]; a pool already shut down gives that for
    /// every item).
    ///
    /// # Laziness and the window
    ///
    /// The input is pulled on the calling thread, only as results are taken: at most
    /// [`window`](Map::window) jobs are in flight (default: twice the pool's maximum
    /// workers), and a job counts until every result of it has been taken. A job takes a
    /// chunk of at most [`max_chunk`](Map::max_chunk) items ([`DEFAULT_MAX_CHUNK`]), so at
    /// most `window × max_chunk` items are pulled ahead of the results taken. Chunks start at
    /// one item and grow only while items prove tiny (so that a job's cost is shared by many
    /// of them). An item that finished is handed out even while a slow one of the same
    /// chunk still runs: at the latest about 0.1 ms later, when the waiting iterator looks
    /// again (a chunk's end wakes it at once; single results do not, since waking it for
    /// each cost more than the results). A slow item holds back, besides itself, only the
    /// items queued behind it in its chunk, and in input order the results after it.
    ///
    /// Dropping the iterator cancels every job that has not started; a running job stops
    /// after its current item. The pool's [`Stats`](crate::Stats) count jobs (chunks), not
    /// items.
    ///
    /// The input is pulled on the calling thread, so it need not be `Send` (and the
    /// iterator returned is not, since it owns the input). It holds a handle of the pool.
    /// Waiting for a result goes through the pool's waiting path: on one of the pool's own
    /// workers it helps run the pool's queued jobs.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = workpool::Pool::new(4);
    /// let squares: Vec<u64> = pool.map(0..1000u64, |i| i * i).collect::<Result<_, _>>()?;
    /// assert_eq!(squares[999], 998_001);
    ///
    /// // Lazy: an endless input is fine.
    /// let first: Vec<u64> = pool.map(0u64.., |i| i + 1).take(3).map(Result::unwrap).collect();
    /// assert_eq!(first, [1, 2, 3]);
    /// # Ok::<(), workpool::TaskError>(())
    /// ```
    pub fn map<I, F, T>(&self, items: I, f: F) -> Map<T>
    where
        I: IntoIterator,
        I::IntoIter: 'static,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        Map {
            engine: Engine::new(self, items.into_iter(), f),
        }
    }

    /// Like [`map`](Pool::map), but yields each result as soon as it is ready (within about
    /// 0.1 ms, as for `map`), in completion order, so a slow item holds back nothing but
    /// itself and the items behind it in its chunk.
    ///
    /// Laziness, the window, chunking, panics and cancellation are as for
    /// [`map`](Pool::map).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = workpool::Pool::new(4);
    /// let mut lengths: Vec<usize> = pool
    ///     .map_unordered(["a", "bb", "ccc"], |s| s.len())
    ///     .collect::<Result<_, _>>()?;
    /// lengths.sort();
    /// assert_eq!(lengths, [1, 2, 3]);
    /// # Ok::<(), workpool::TaskError>(())
    /// ```
    pub fn map_unordered<I, F, T>(&self, items: I, f: F) -> MapUnordered<T>
    where
        I: IntoIterator,
        I::IntoIter: 'static,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        MapUnordered {
            engine: Engine::new(self, items.into_iter(), f),
        }
    }
}

/// The results of [`Pool::map`], in input order.
///
/// An iterator of `Result<T, TaskError>`: one result per input item. See [`Pool::map`] for
/// what the window counts and how lazy it is. Dropping it cancels every job not started.
#[must_use = "a map pulls no input and runs nothing until it is iterated"]
pub struct Map<T> {
    engine: Engine<T>,
}

/// The results of [`Pool::map_unordered`], in completion order.
///
/// An iterator of `Result<T, TaskError>`: one result per input item. See [`Pool::map`] for
/// what the window counts and how lazy it is. Dropping it cancels every job not started.
#[must_use = "a map pulls no input and runs nothing until it is iterated"]
pub struct MapUnordered<T> {
    engine: Engine<T>,
}

macro_rules! settings {
    ($name:ident) => {
        impl<T> $name<T> {
            /// Sets how many jobs may be in flight: queued, running, or holding results not
            /// yet taken. Default: twice the pool's maximum workers when the map was made.
            /// A larger window keeps the workers busier behind a slow item; a smaller one
            /// pulls less input ahead. Takes effect from the next input pulled.
            ///
            /// # Panics
            ///
            /// If `jobs` is 0.
            #[track_caller]
            pub fn window(mut self, jobs: usize) -> Self {
                assert!(jobs > 0, "the window of a map must be at least 1 job");
                self.engine.window = jobs;
                self
            }

            /// Sets the most items one job takes. Default: [`DEFAULT_MAX_CHUNK`]. Use 1 to
            /// give every item a job of its own. Takes effect from the next input pulled.
            ///
            /// # Panics
            ///
            /// If `items` is 0.
            #[track_caller]
            pub fn max_chunk(mut self, items: usize) -> Self {
                assert!(items > 0, "the chunks of a map must hold at least 1 item");
                self.engine.max_chunk = items;
                self.engine.chunk = self.engine.chunk.min(items);
                self
            }
        }

        impl<T> FusedIterator for $name<T> {}

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("window", &self.engine.window)
                    .field("max_chunk", &self.engine.max_chunk)
                    .field("jobs_in_flight", &self.engine.flights.len())
                    .field("items_in_flight", &self.engine.pending)
                    .field("input_done", &self.engine.feed.is_none())
                    .finish()
            }
        }
    };
}

settings!(Map);
settings!(MapUnordered);

impl<T> Iterator for Map<T> {
    type Item = Result<T, TaskError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.engine.next_in_order()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.engine.size_hint()
    }
}

impl<T> Iterator for MapUnordered<T> {
    type Item = Result<T, TaskError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.engine.next_completed()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.engine.size_hint()
    }
}

/// What the iterator and the chunk jobs share: where the iterator parks.
struct Hub {
    wakeup: Arc<Wakeup>,
    /// Set by the iterator before its last look for a result, when it is about to park;
    /// cleared by the chunk end that wakes it.
    parked: AtomicBool,
    ticks: Ticks,
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

type Results<T> = Result<T, TaskError>;

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
struct Flight<T> {
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
    fn take(&mut self) -> Option<Results<T>> {
        if let Some(result) = self.reader.pop() {
            self.given += 1;
            return Some(result);
        }
        self.take_after_end()
    }

    /// The next result if it is known to be published and is not the chunk's last (whose
    /// taking retires the chunk): the iterator's fast path, with no atomic access.
    #[inline]
    fn take_seen(&mut self) -> Option<Results<T>> {
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

    fn len(&self) -> usize {
        self.reader.len()
    }

    fn is_spent(&self) -> bool {
        self.given == self.len()
    }

    /// `true` if [`take`](Flight::take) would give a result.
    fn is_ready(&self) -> bool {
        self.reader.has_value() || self.reader.header().finished.load(SeqCst)
    }

    /// Nanoseconds per item, if the chunk ran to its end and its every result was taken.
    fn nanos_per_item(&self) -> Option<u64> {
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
trait Feed<T> {
    /// Pulls up to `n` items and sends them out as one job; `None` once the input is over.
    fn launch(&mut self, pool: &Pool, hub: &Arc<Hub>, n: usize) -> Option<Flight<T>>;
    fn size_hint(&self) -> (usize, Option<usize>);
}

struct Source<It, F> {
    items: It,
    f: Arc<F>,
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
        let task = match pool.submit(job) {
            Ok(task) => Some(task),
            // Every other worker waits to submit too, so the queue will not drain: this
            // thread runs the chunk itself instead of waiting for ever.
            Err(SubmitError::WouldDeadlock(job)) => {
                job();
                None
            }
            // Dropped unrun: its end marks the chunk over, and its items give `NotRun`. (A
            // plain submission is never refused for its state type.)
            Err(SubmitError::Closed(job) | SubmitError::WrongState(job)) => {
                drop(job);
                None
            }
        };
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

/// What [`Map`] and [`MapUnordered`] share: the window of chunks in flight.
struct Engine<T> {
    pool: Pool,
    /// `None` once the input is over (and dropped).
    feed: Option<Box<dyn Feed<T>>>,
    hub: Arc<Hub>,
    /// In input order.
    flights: VecDeque<Flight<T>>,
    window: usize,
    max_chunk: usize,
    /// The size of the next chunk.
    chunk: usize,
    /// Whether a wait watches for a result before it parks: only if the pool has fewer
    /// workers than the machine has cores.
    watch: bool,
    /// Where [`next_completed`](Engine::next_completed) found its last result.
    cursor: usize,
    /// Items pulled whose result has not been handed out.
    pending: usize,
}

impl<T> Engine<T> {
    fn new<It, F>(pool: &Pool, items: It, f: F) -> Self
    where
        It: Iterator + 'static,
        It::Item: Send + 'static,
        F: Fn(It::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        let window = 2 * pool.max_workers();
        Self {
            pool: pool.clone(),
            feed: Some(Box::new(Source {
                items,
                f: Arc::new(f),
            })),
            hub: Arc::new(Hub {
                wakeup: Wakeup::new(),
                parked: AtomicBool::new(false),
                ticks: pool.shared().ticks.clone(),
            }),
            flights: VecDeque::with_capacity(window),
            window,
            max_chunk: DEFAULT_MAX_CHUNK,
            chunk: 1,
            watch: pool.max_workers() < cores(),
            cursor: 0,
            pending: 0,
        }
    }

    /// Sends out chunks while the window has room and the input has items.
    #[inline]
    fn refill(&mut self) {
        while self.flights.len() < self.window {
            let Some(feed) = self.feed.as_mut() else {
                return;
            };
            match feed.launch(&self.pool, &self.hub, self.chunk) {
                Some(flight) => {
                    self.pending += flight.len();
                    self.flights.push_back(flight);
                }
                None => self.feed = None,
            }
        }
    }

    /// A chunk's every result was handed out: sizes the next chunk by how long it took.
    fn retire(&mut self, flight: Flight<T>) {
        let Some(per_item) = flight.nanos_per_item() else {
            return;
        };
        let chunk = self.chunk as u64;
        if per_item.saturating_mul(2 * chunk) <= CHUNK_TARGET_NANOS {
            self.chunk = (self.chunk * 2).min(self.max_chunk);
        } else if per_item.saturating_mul(chunk) > 4 * CHUNK_TARGET_NANOS {
            let fits = (CHUNK_TARGET_NANOS / per_item.max(1)) as usize;
            self.chunk = fits.clamp(1, self.chunk);
        }
    }

    #[inline]
    fn next_in_order(&mut self) -> Option<Results<T>> {
        if let Some(result) = self.flights.front_mut().and_then(Flight::take_seen) {
            self.pending -= 1;
            return Some(result);
        }
        self.next_in_order_slow()
    }

    #[inline(never)]
    fn next_in_order_slow(&mut self) -> Option<Results<T>> {
        loop {
            self.refill();
            let head = self.flights.front_mut()?;
            if let Some(result) = head.take() {
                if head.is_spent() {
                    let spent = self.flights.pop_front().expect("the head is there");
                    self.retire(spent);
                    // A place in the window is free: fill it now, so that the workers
                    // have it while the caller takes the results already there.
                    self.refill();
                }
                self.pending -= 1;
                return Some(result);
            }
            self.wait(|flights| flights.front().is_none_or(Flight::is_ready));
        }
    }

    #[inline]
    fn next_completed(&mut self) -> Option<Results<T>> {
        if let Some(flight) = self.flights.get_mut(self.cursor) {
            if let Some(result) = flight.take_seen() {
                self.pending -= 1;
                return Some(result);
            }
        }
        self.next_completed_slow()
    }

    #[inline(never)]
    fn next_completed_slow(&mut self) -> Option<Results<T>> {
        loop {
            self.refill();
            let n = self.flights.len();
            if n == 0 {
                return None;
            }
            for k in 0..n {
                let i = (self.cursor + k) % n;
                let Some(result) = self.flights[i].take() else {
                    continue;
                };
                self.cursor = i;
                if self.flights[i].is_spent() {
                    let spent = self.flights.swap_remove_back(i).expect("index in range");
                    self.retire(spent);
                    self.refill();
                }
                self.pending -= 1;
                return Some(result);
            }
            self.wait(|flights| flights.iter().any(Flight::is_ready));
        }
    }

    /// Blocks until `ready` says a result can be taken.
    fn wait(&self, ready: impl Fn(&VecDeque<Flight<T>>) -> bool) {
        // Watching for a result first saves a park and a wake-up, but only where a core is
        // free for the watching (see the module docs).
        if self.watch && spin_until(|| ready(&self.flights)) {
            return;
        }
        let hub = &self.hub;
        help::block_on_within(&hub.wakeup, HOLD, || {
            hub.parked.store(true, SeqCst);
            if ready(&self.flights) {
                hub.parked.store(false, Relaxed);
                Some(())
            } else {
                None
            }
        });
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (low, high) = self.feed.as_ref().map_or((0, Some(0)), |f| f.size_hint());
        (
            low.saturating_add(self.pending),
            high.and_then(|h| h.checked_add(self.pending)),
        )
    }
}

/// The cores this process may run on, looked up once.
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

impl<T> Drop for Engine<T> {
    fn drop(&mut self) {
        for flight in &self.flights {
            flight.reader.header().stop.store(true, Relaxed);
            if let Some(task) = &flight.task {
                // A queued chunk never runs; its items and closure are dropped here.
                task.cancel();
            }
        }
    }
}
