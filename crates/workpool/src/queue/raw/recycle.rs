//! Heap blocks for `execute` closures too large for the queue slot, recycled across threads.
//!
//! A closure that does not fit the slot was boxed on the producer and freed on the worker.
//! A steady stream of such jobs then goes through the global allocator across threads: the
//! producer's thread cache is always empty and the worker's always full, so every
//! allocation and every free takes the allocator's slow path, and in a profile of 24-byte
//! closures from one producer the producer spent a fifth of its time in `_int_malloc`.
//!
//! Here such a closure goes into a block of a size class instead (32 to 512 bytes), and the
//! worker that runs it gives the block back for the next producer to take. Each thread
//! keeps the blocks it was given back in a cache of its own, per class, and takes from it:
//! a thread that only gives back (a worker) moves them on to a bin shared by the process
//! [`BATCH`] at a time, and a thread that only takes (a producer) takes them from there a
//! batch at a time. So a steady stream allocates nothing, and the shared bins are reached
//! once per [`BATCH`] jobs rather than on every one: a first version gave every block back
//! through a lock-free ring per class, and the ring's looks and updates, on lines both
//! sides write, took as long as the queue's own push and pop.
//!
//! What is kept is bounded: under 2 × [`BATCH`] blocks per class in each thread's cache,
//! and [`BIN_BATCHES`] batches per class in the bins (with every class full, under 0.3 MiB
//! in the bins and about 62 KB per thread). A block given back beyond that is freed, and a
//! thread that finds no block allocates one. A thread's cache goes back to the bins, or to
//! the allocator, when the thread exits.
//!
//! The shuttle and loom builds do not recycle: their primitives cannot live in a static.
#![allow(unsafe_code)]

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::cell::RefCell;
use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::sync::Mutex;

/// The block sizes, in bytes. A closure larger than the last is boxed as before.
const CLASSES: [usize; 5] = [32, 64, 128, 256, 512];
/// Every block's alignment; a closure that needs more is boxed as before.
const ALIGN: usize = 16;
/// Blocks moved between a thread's cache and the bins at once.
const BATCH: usize = 32;
/// Batches a class's bin keeps: enough to cover a full queue's worth of jobs in flight
/// between giving back and taking, few enough that idle bins hold little.
const BIN_BATCHES: usize = 8;

/// A free block of one class.
struct Block(NonNull<u8>);

// SAFETY: a free block is plain memory that no one reads or writes; whoever holds the
// `Block` owns it, on any thread.
unsafe impl Send for Block {}

/// Full batches of free blocks, per class.
static BINS: [Mutex<Vec<Vec<Block>>>; CLASSES.len()] =
    [const { Mutex::new(Vec::new()) }; CLASSES.len()];

/// A thread's free blocks, per class.
struct Cache([Vec<Block>; CLASSES.len()]);

impl Drop for Cache {
    fn drop(&mut self) {
        for (class, free) in self.0.iter_mut().enumerate() {
            while !free.is_empty() {
                let at = free.len().saturating_sub(BATCH);
                send_to_bin(class, free.split_off(at));
            }
        }
    }
}

crate::sync::thread_local! {
    static CACHE: RefCell<Cache> = const { RefCell::new(Cache([const { Vec::new() }; CLASSES.len()])) };
}

/// The class of a `T`, if it has one.
const fn class_of<T>() -> Option<usize> {
    if std::mem::align_of::<T>() > ALIGN || std::mem::size_of::<T>() == 0 {
        return None;
    }
    let mut class = 0;
    while class < CLASSES.len() {
        if std::mem::size_of::<T>() <= CLASSES[class] {
            return Some(class);
        }
        class += 1;
    }
    None
}

fn layout(class: usize) -> Layout {
    match Layout::from_size_align(CLASSES[class], ALIGN) {
        Ok(layout) => layout,
        Err(_) => unreachable!("the classes are valid layouts"),
    }
}

/// A block of `class`: from this thread's cache, refilled from the bin when empty, or a new
/// one.
fn take(class: usize) -> NonNull<u8> {
    let cached = CACHE.try_with(|cache| {
        let free = &mut cache.borrow_mut().0[class];
        if free.is_empty() {
            if let Some(batch) = BINS[class].lock().pop() {
                *free = batch;
            }
        }
        free.pop()
    });
    if let Ok(Some(Block(block))) = cached {
        return block;
    }
    let layout = layout(class);
    // SAFETY: every class's layout has a non-zero size.
    let block = unsafe { alloc(layout) };
    NonNull::new(block).unwrap_or_else(|| handle_alloc_error(layout))
}

/// Gives `block` of `class` back: to this thread's cache, which passes a batch on to the
/// bin once it holds two; freed if the thread is exiting.
fn give_back(class: usize, block: NonNull<u8>) {
    let kept = CACHE.try_with(|cache| {
        let free = &mut cache.borrow_mut().0[class];
        free.push(Block(block));
        if free.len() >= 2 * BATCH {
            let batch = free.split_off(free.len() - BATCH);
            send_to_bin(class, batch);
        }
    });
    if kept.is_err() {
        free_block(class, block);
    }
}

/// Puts `batch` in its class's bin, or frees its blocks if the bin is full.
fn send_to_bin(class: usize, batch: Vec<Block>) {
    let refused = {
        let mut bin = BINS[class].lock();
        if bin.len() < BIN_BATCHES {
            bin.push(batch);
            return;
        }
        batch
    };
    for Block(block) in refused {
        free_block(class, block);
    }
}

fn free_block(class: usize, block: NonNull<u8>) {
    // SAFETY: every block came from `alloc` with its class's layout (`take`), and its owner
    // gave it up: nothing uses it any more.
    unsafe { dealloc(block.as_ptr(), layout(class)) };
}

/// A value of type `T` in a recycled block: one pointer, which the queue's slot holds.
pub(super) struct Recycled<T> {
    block: NonNull<T>,
    _owns: PhantomData<T>,
}

// SAFETY: it owns its `T` as a `Box<T>` would, so it may go to another thread if `T` may.
unsafe impl<T: Send> Send for Recycled<T> {}

impl<T> Recycled<T> {
    /// `value` in a block, or `value` back if no class fits it.
    pub(super) fn new(value: T) -> Result<Self, T> {
        let Some(class) = class_of::<T>() else {
            return Err(value);
        };
        let block = take(class).cast::<T>();
        // SAFETY: the block is at least `size_of::<T>()` bytes, aligned to `ALIGN`, which
        // is at least `T`'s alignment (`class_of`), and owned by this thread alone.
        unsafe { block.as_ptr().write(value) };
        Ok(Self {
            block,
            _owns: PhantomData,
        })
    }

    /// The value, out of its block, which goes back to its bin.
    pub(super) fn into_inner(self) -> T {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `new` wrote a `T` here and nothing has moved it out: `into_inner` takes
        // `self`, and `Drop` does not run for `this`.
        let value = unsafe { this.block.as_ptr().read() };
        this.release();
        value
    }

    fn release(&self) {
        let Some(class) = class_of::<T>() else {
            unreachable!("a recycled value has a class");
        };
        give_back(class, self.block.cast());
    }
}

impl<T> Drop for Recycled<T> {
    fn drop(&mut self) {
        // SAFETY: the block holds the `T` that `new` wrote; it is dropped once, here, and
        // the block is not read again before it is given back.
        unsafe { self.block.as_ptr().drop_in_place() };
        self.release();
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // tests may use std directly
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn values_fit_the_smallest_class_that_holds_them() {
        assert_eq!(class_of::<[u64; 3]>(), Some(0));
        assert_eq!(class_of::<[u8; 33]>(), Some(1));
        assert_eq!(class_of::<[u64; 64]>(), Some(4));
        assert_eq!(class_of::<[u64; 65]>(), None);
        assert_eq!(class_of::<()>(), None);
        #[repr(align(32))]
        struct Aligned(u8);
        assert_eq!(class_of::<Aligned>(), None);
        let _ = Aligned(0).0;
    }

    #[test]
    fn a_block_is_reused_and_its_value_dropped_exactly_once() {
        let held = Arc::new(());
        let first = Recycled::new([Arc::clone(&held), Arc::clone(&held), Arc::clone(&held)])
            .unwrap_or_else(|_| unreachable!());
        let at = first.block.cast::<u8>();
        drop(first);
        assert_eq!(Arc::strong_count(&held), 1);
        let again = Recycled::new([Arc::clone(&held), Arc::clone(&held), Arc::clone(&held)])
            .unwrap_or_else(|_| unreachable!());
        // Other tests may take blocks of this class meanwhile; usually this one comes back.
        let _maybe_same = again.block.cast::<u8>() == at;
        let values = again.into_inner();
        assert_eq!(Arc::strong_count(&held), 4);
        drop(values);
        assert_eq!(Arc::strong_count(&held), 1);
    }

    /// The blocks an exiting thread kept go to the bins, where other threads take them,
    /// rather than being lost to the allocator. (Class 4, 512 bytes: no other test here
    /// uses it.)
    #[test]
    fn a_thread_that_exits_leaves_its_blocks_in_the_bin() {
        type Big = [u64; 64];
        assert_eq!(class_of::<Big>(), Some(4));
        let before: usize = BINS[4].lock().iter().map(Vec::len).sum();
        let kept = std::thread::spawn(|| {
            let values: Vec<_> = (0..40u64)
                .map(|i| Recycled::new([i; 64]).unwrap_or_else(|_| unreachable!()))
                .collect();
            let sum: u64 = values.into_iter().map(|v| v.into_inner()[63]).sum();
            assert_eq!(sum, (0..40).sum::<u64>());
            // Fewer than two batches: all 40 are in this thread's cache.
            CACHE.with(|cache| cache.borrow().0[4].len())
        })
        .join()
        .unwrap();
        assert_eq!(kept, 40);
        let after: usize = BINS[4].lock().iter().map(Vec::len).sum();
        assert_eq!(
            after,
            before + 40,
            "the exiting thread's blocks went to the bin"
        );
    }

    #[test]
    fn blocks_move_between_threads() {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Recycled<[u64; 8]>>(64);
        let consumer = std::thread::spawn(move || rx.iter().map(|r| r.into_inner()[7]).sum());
        for i in 0..10_000u64 {
            tx.send(Recycled::new([i; 8]).unwrap_or_else(|_| unreachable!()))
                .unwrap();
        }
        drop(tx);
        let sum: u64 = consumer.join().unwrap();
        assert_eq!(sum, (0..10_000).sum::<u64>());
    }
}
