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
//! missed. Results within a chunk wake nobody: while a result it waits for may land before
//! its chunk ends (more than one is still to come), a parked iterator also wakes on its own
//! every 0.1 ms (`HOLD`) and takes every result that landed meanwhile, so a slow item holds
//! back the finished results of its chunk for at most that long; otherwise it sleeps until
//! the chunk's end wakes it. Waking the iterator for every
//! result cost more than the results: where the workers have every core, each wake took a
//! core from them, and a map of 250 ns items on two workers took as long as one thread
//! doing them all (`benches/suite/map_collect.rs` and the notes in `README.md`).
//!
//! For the same reason the iterator watches for a result before it parks only if the pool
//! has fewer workers than the machine has cores.

mod chunk;
mod engine;

use std::fmt;
use std::iter::FusedIterator;

use crate::error::TaskError;
use crate::pool::Pool;

use self::engine::Engine;

/// The most items one job of a map takes, unless [`Map::max_chunk`] says otherwise: 4096.
pub const DEFAULT_MAX_CHUNK: usize = 4096;

impl Pool {
    /// Runs `f` on every item of `items` on this pool, and yields the results in input
    /// order, as they become available.
    ///
    /// Each item gives exactly one result: `Ok` with `f`'s value, or a [`TaskError`] if `f`
    /// panicked on it ([`TaskErrorKind::Panicked`], the others go on) or if the pool shut
    /// down before it ran ([`TaskErrorKind::NotRun`]; a pool already shut down gives that for
    /// every item).
    ///
    /// [`TaskErrorKind::Panicked`]: crate::TaskErrorKind::Panicked
    /// [`TaskErrorKind::NotRun`]: crate::TaskErrorKind::NotRun
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
