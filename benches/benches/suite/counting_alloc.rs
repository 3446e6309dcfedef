//! A global allocator that forwards to the system allocator and, while switched on,
//! counts what is allocated and freed. Only the memory workload switches it on; the rest
//! of the run pays one relaxed load of a flag per allocation.

#![allow(unsafe_code)] // implementing `GlobalAlloc` is unsafe by definition

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// The suite's global allocator (installed in `main.rs`).
pub struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static ALLOCATED: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

#[inline]
fn note_alloc(bytes: usize) {
    if ON.load(Relaxed) {
        ALLOCATED.fetch_add(bytes as u64, Relaxed);
        ALLOCATIONS.fetch_add(1, Relaxed);
    }
}

#[inline]
fn note_free(bytes: usize) {
    if ON.load(Relaxed) {
        FREED.fetch_add(bytes as u64, Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is `System`'s; the counting touches only atomics and never
// allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract (non-zero size), passed on as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            note_alloc(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            note_alloc(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator (hence from
        // `System`) with this `layout`.
        unsafe { System.dealloc(ptr, layout) };
        note_free(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr`/`layout` came from this allocator and that
        // `new_size` is valid for `layout`'s alignment.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            note_free(layout.size());
            note_alloc(new_size);
        }
        new
    }
}

/// What was allocated while counting was on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Bytes requested (the allocator's own per-block overhead is not included).
    pub allocated: u64,
    /// Bytes given back.
    pub freed: u64,
    /// Allocation calls (a `realloc` counts as one).
    pub allocations: u64,
}

impl Counts {
    /// Bytes still held: allocated minus freed.
    pub fn live(&self) -> i64 {
        self.allocated as i64 - self.freed as i64
    }
}

/// Runs `f` with counting on (for every thread of the process) and returns what it
/// allocated and freed meanwhile.
pub fn count<R>(f: impl FnOnce() -> R) -> (R, Counts) {
    ALLOCATED.store(0, Relaxed);
    FREED.store(0, Relaxed);
    ALLOCATIONS.store(0, Relaxed);
    ON.store(true, Relaxed);
    let out = f();
    ON.store(false, Relaxed);
    let counts = Counts {
        allocated: ALLOCATED.load(Relaxed),
        freed: FREED.load(Relaxed),
        allocations: ALLOCATIONS.load(Relaxed),
    };
    (out, counts)
}
