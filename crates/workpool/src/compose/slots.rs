//! Result slots for one `map` chunk: the job that runs the chunk writes one result per item,
//! in order, and the iterator takes each one as soon as it is written.
//!
//! This is the composition API's only unsafe code, there because a benchmark showed it
//! pays. A result must reach the iterator the moment its item returns, even while the next
//! item of the same chunk runs for a long time, so each item publishes its own result. With
//! a lock or a read-modify-write per item that costs 10 to 20 ns on the 2-core machines we
//! measure on (a `parking_lot` lock and unlock took 20 ns, a `fetch_add` 11 ns), several
//! times the work of a tiny item and most of `pool.map`'s budget against rayon
//! (`benches/suite/map_collect.rs`). Here a result costs a plain write and a release store
//! of the count of results written, which is an ordinary store on x86.
//!
//! The soundness argument is short because each side is one value that cannot be cloned:
//! the [`Writer`] alone writes cells, each once, in index order, and publishes `written`
//! after the write; the [`Reader`] alone reads cells, each once, in index order, and only
//! below the `written` it loaded with acquire ordering. Cells below `taken` have been moved
//! out; cells from `taken` to `written` hold values that whoever drops the slots last drops.
//! A loom model (`loom_model` below, built with `--cfg workpool_loom`) checks every
//! interleaving of a writer and a reader under loom's weak memory model; `scripts/test.sh`
//! runs it, and `scripts/sanitize.sh` runs the `map` tests under ThreadSanitizer and
//! AddressSanitizer.
#![allow(unsafe_code)]

use std::mem::MaybeUninit;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use crate::unwind;

#[cfg(workpool_loom)]
use loom::sync::atomic::AtomicUsize;

#[cfg(not(workpool_loom))]
use crate::sync::AtomicUsize;
use crate::sync::UnsafeCell;

struct Inner<T, H> {
    header: H,
    cells: Box<[UnsafeCell<MaybeUninit<T>>]>,
    /// Cells below this hold written values. Stored by the writer only, with release, once
    /// per item; on a line of its own, so that the reader's looks at it do not slow the
    /// writer's reads of the header.
    written: CachePadded<AtomicUsize>,
    /// Cells below this were moved out by the reader. Stored by the reader only, as it drops.
    taken: AtomicUsize,
}

// SAFETY: values move from the writer's thread to the reader's, which `T: Send` allows; no
// cell is reached by two threads at once (the writer touches cells at and above `written`,
// the reader cells below it, and `written` only grows), and no reference to a cell's value
// is handed out, so `T: Sync` is not needed. The header is shared by reference: `H: Sync`.
unsafe impl<T: Send, H: Send> Send for Inner<T, H> {}
// SAFETY: as for `Send`.
unsafe impl<T: Send, H: Sync> Sync for Inner<T, H> {}

impl<T, H> Drop for Inner<T, H> {
    fn drop(&mut self) {
        // Both sides are gone: the last `Arc` drop orders their stores before this.
        let taken = self.taken.load(Ordering::Relaxed);
        let written = self.written.load(Ordering::Relaxed);
        for cell in &self.cells[taken..written] {
            // SAFETY: cells from `taken` to `written` were written and never moved out, and
            // nothing else can reach them now. The value is moved out once, then dropped.
            let value = cell.with_mut(|cell| unsafe { (*cell).assume_init_read() });
            // A result dropped here nobody took (the iterator was dropped): its destructor
            // is user code and may panic, on a worker.
            unwind::drop_quietly(value);
        }
    }
}

/// `len` empty slots sharing `header`: the writing half and the reading half.
pub(crate) fn slots<T, H>(len: usize, header: H) -> (Writer<T, H>, Reader<T, H>) {
    let cells = (0..len)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let inner = Arc::new(Inner {
        header,
        cells,
        written: CachePadded::new(AtomicUsize::new(0)),
        taken: AtomicUsize::new(0),
    });
    let writer = Writer {
        inner: Arc::clone(&inner),
        next: 0,
    };
    let reader = Reader {
        inner,
        taken: 0,
        seen: 0,
    };
    (writer, reader)
}

/// The writing half: the job that runs the chunk.
pub(crate) struct Writer<T, H> {
    inner: Arc<Inner<T, H>>,
    next: usize,
}

impl<T, H> Writer<T, H> {
    /// Writes the next slot's value and publishes it.
    ///
    /// # Panics
    ///
    /// If every slot is written already (a bug of this module's caller).
    pub(crate) fn push(&mut self, value: T) {
        let cell = &self.inner.cells[self.next];
        // SAFETY: this is the only writer, it writes each cell once (`next` only grows), and
        // the reader reads no cell at or above `written`, which is `next` until the store
        // below: nobody else reaches this cell now.
        cell.with_mut(|cell| unsafe { (*cell).write(value) });
        self.next += 1;
        // Publishes the write: a reader that loads the new count with acquire sees the value.
        self.inner.written.store(self.next, Ordering::Release);
    }

    /// What both halves share.
    pub(crate) fn header(&self) -> &H {
        &self.inner.header
    }
}

/// The reading half: the iterator.
pub(crate) struct Reader<T, H> {
    inner: Arc<Inner<T, H>>,
    /// Cells below this were moved out.
    taken: usize,
    /// The last `written` loaded: cells below it can be taken without another load.
    seen: usize,
}

impl<T, H> Reader<T, H> {
    /// Takes the next written value, if the writer has published one the reader has not
    /// taken.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.taken == self.seen {
            self.seen = self.inner.written.load(Ordering::Acquire);
            if self.taken == self.seen {
                return None;
            }
        }
        let cell = &self.inner.cells[self.taken];
        // SAFETY: `taken < seen`, a count of cells the writer wrote before its release store
        // of it, which the acquire load above synchronizes with; the writer never touches
        // them again, and this reader takes each cell once (`taken` only grows).
        let value = cell.with(|cell| unsafe { (*cell).assume_init_read() });
        self.taken += 1;
        Some(value)
    }

    /// Like [`pop`](Reader::pop), but only among the values the last look at the writer's
    /// count saw: no atomic access, for the iterator's fast path.
    #[inline]
    pub(crate) fn pop_seen(&mut self) -> Option<T> {
        if self.taken == self.seen {
            return None;
        }
        let cell = &self.inner.cells[self.taken];
        // SAFETY: as in `pop`: `taken < seen`, a count loaded with acquire ordering.
        let value = cell.with(|cell| unsafe { (*cell).assume_init_read() });
        self.taken += 1;
        Some(value)
    }

    /// `true` if a written value waits to be taken. A fresh look at the writer's count.
    pub(crate) fn has_value(&self) -> bool {
        self.taken < self.inner.written.load(Ordering::Acquire)
    }

    /// How many values were taken.
    pub(crate) fn taken(&self) -> usize {
        self.taken
    }

    /// How many slots there are.
    pub(crate) fn len(&self) -> usize {
        self.inner.cells.len()
    }

    /// What both halves share.
    pub(crate) fn header(&self) -> &H {
        &self.inner.header
    }
}

impl<T, H> Drop for Reader<T, H> {
    fn drop(&mut self) {
        // For `Inner::drop`, which the last `Arc` drop orders after this store.
        self.inner.taken.store(self.taken, Ordering::Relaxed);
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // tests may use std directly
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as StdAtomic;

    struct Counted(Arc<StdAtomic>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn values_arrive_in_order_across_threads() {
        let (mut writer, mut reader) = slots::<u64, ()>(1000, ());
        let producer = std::thread::spawn(move || {
            for i in 0..1000 {
                writer.push(i);
            }
        });
        let mut next = 0;
        while next < 1000 {
            if let Some(v) = reader.pop() {
                assert_eq!(v, next);
                next += 1;
            }
        }
        producer.join().unwrap();
        assert!(reader.pop().is_none());
        assert_eq!(reader.taken(), reader.len());
    }

    #[test]
    fn values_nobody_took_are_dropped_once() {
        let drops = Arc::new(StdAtomic::new(0));
        let (mut writer, mut reader) = slots::<Counted, ()>(5, ());
        for _ in 0..3 {
            writer.push(Counted(Arc::clone(&drops)));
        }
        drop(reader.pop());
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop(reader);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "the writer still holds the slots"
        );
        drop(writer);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            3,
            "the two untaken values, once each"
        );
    }
}

/// The loom model: a writer publishing three values while the reader takes what it sees,
/// every interleaving (up to loom's preemption bound) under its weak memory model. Each
/// value is taken once, in order, never before its write is visible, and the values nobody
/// took are dropped once. Weakening the release store in `push` to `Relaxed` makes loom
/// report the read of an unwritten cell.
#[cfg(all(test, workpool_loom))]
mod loom_model {
    use super::slots;
    use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use loom::thread;
    use std::sync::Arc;

    struct Counted(u32, Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.1.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn a_value_is_read_only_after_its_write_and_every_value_drops_once() {
        let mut model = loom::model::Builder::new();
        model.preemption_bound = Some(2);
        model.check(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let (mut writer, mut reader) = slots::<Counted, ()>(3, ());
            let writer = {
                let drops = Arc::clone(&drops);
                thread::spawn(move || {
                    for i in 0..3 {
                        writer.push(Counted(i, Arc::clone(&drops)));
                    }
                })
            };
            // Two looks while the writer may be anywhere, then the rest is left unread.
            let mut taken = Vec::new();
            for _ in 0..2 {
                if let Some(value) = reader.pop() {
                    taken.push(value.0);
                }
            }
            writer.join().unwrap();
            assert!(taken.iter().copied().eq(0..taken.len() as u32), "{taken:?}");
            drop(reader);
            assert_eq!(drops.load(SeqCst), 3);
        });
    }
}
