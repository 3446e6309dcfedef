//! What [`Map`](super::Map) and [`MapUnordered`](super::MapUnordered) share: the window of
//! chunks in flight, and where the next chunk runs.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;

use super::chunk::{Feed, Flight, Hub, Results, Source};
use super::DEFAULT_MAX_CHUNK;
use crate::help::{self, Wakeup};
use crate::pool::Pool;
use crate::sync::{spin_until, AtomicBool};

/// How long a chunk of tiny items may run: 100 µs, a few hundred times what a job costs the
/// pool and some twenty times what waking the iterator costs, so that both are paid once
/// for many items while a chunk stays short.
const CHUNK_TARGET_NANOS: u64 = 100_000;

/// The longest a parked iterator waits before it looks again for results that landed
/// without a chunk ending (see the module docs): about a chunk's time.
const HOLD: std::time::Duration = std::time::Duration::from_micros(100);

/// The window of chunks in flight.
pub(super) struct Engine<T> {
    pool: Pool,
    /// `None` once the input is over (and dropped).
    pub(super) feed: Option<Box<dyn Feed<T>>>,
    hub: Arc<Hub>,
    /// In input order.
    pub(super) flights: VecDeque<Flight<T>>,
    pub(super) window: usize,
    pub(super) max_chunk: usize,
    /// The size of the next chunk.
    pub(super) chunk: usize,
    /// Whether a wait watches for a result before it parks: only if the pool has fewer
    /// workers than the machine has cores.
    watch: bool,
    /// Where [`next_completed`](Engine::next_completed) found its last result.
    cursor: usize,
    /// Items pulled whose result has not been handed out.
    pub(super) pending: usize,
}

impl<T> Engine<T> {
    pub(super) fn new<It, F>(pool: &Pool, items: It, f: F) -> Self
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
                wakeup: Wakeup::default(),
                parked: AtomicBool::new(false),
                ticks: pool.shared().ticks.clone(),
            }),
            flights: VecDeque::with_capacity(window),
            window,
            max_chunk: DEFAULT_MAX_CHUNK,
            chunk: 1,
            watch: pool.max_workers() < pool.shared().cores,
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
    pub(super) fn next_in_order(&mut self) -> Option<Results<T>> {
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
            let between = self
                .flights
                .front()
                .is_some_and(Flight::may_publish_before_end);
            self.wait(between, |flights| {
                flights.front().is_none_or(Flight::is_ready)
            });
        }
    }

    #[inline]
    pub(super) fn next_completed(&mut self) -> Option<Results<T>> {
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
            let between = self.flights.iter().any(Flight::may_publish_before_end);
            self.wait(between, |flights| flights.iter().any(Flight::is_ready));
        }
    }

    /// Blocks until `ready` says a result can be taken. `between`: a result awaited may land
    /// without its chunk ending, which wakes nobody, so the wait looks again every [`HOLD`];
    /// otherwise the chunk's end wakes it, and it parks until then.
    fn wait(&self, between: bool, ready: impl Fn(&VecDeque<Flight<T>>) -> bool) {
        // Watching for a result first saves a park and a wake-up, but only where a core is
        // free for the watching (see the module docs).
        if self.watch && spin_until(|| ready(&self.flights)) {
            return;
        }
        let hub = &self.hub;
        let ready = || {
            hub.parked.store(true, SeqCst);
            if ready(&self.flights) {
                hub.parked.store(false, Relaxed);
                Some(())
            } else {
                None
            }
        };
        match between {
            true => help::block_on_within(&hub.wakeup, HOLD, ready),
            false => help::block_on(&hub.wakeup, ready),
        }
    }

    pub(super) fn size_hint(&self) -> (usize, Option<usize>) {
        let (low, high) = self.feed.as_ref().map_or((0, Some(0)), |f| f.size_hint());
        (
            low.saturating_add(self.pending),
            high.and_then(|h| h.checked_add(self.pending)),
        )
    }
}

impl<T> Drop for Engine<T> {
    fn drop(&mut self) {
        for flight in &self.flights {
            flight.stop();
        }
    }
}
