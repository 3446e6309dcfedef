//! The fast lanes' intake gate: producers count themselves in while they push without the
//! pool lock, and a shutdown closes the gate and waits them out, so that nothing enters the
//! fast lanes after it and the count of accepted jobs is final.
//!
//! One counter shared by every producer cost two contended read-modify-writes per job with
//! several producers. The gate is split into shards on their own cache lines instead, and a
//! thread always uses the same shard, so producers on different threads rarely share one. A
//! shard's count and its closed bit live in one atomic word, so a producer either enters
//! before the close (and the shutdown waits for it) or sees the bit and stays out.
//!
//! The same word counts the jobs admitted through the shard that drew no id (handle-less
//! jobs in the first queue need none): the producer leaves and counts its job in one
//! read-modify-write, and the pool's count of accepted jobs adds these up. The argument is
//! `PROTOCOL.md`'s P5.

use std::cell::Cell;
use std::sync::atomic::Ordering;

use crossbeam_utils::CachePadded;

use crate::sync::{thread, AtomicU64};

/// Shards of the gate: enough that a few producer threads each get their own.
const SHARDS: usize = 8;

/// A shard's word: bit 0 is set once the gate closes; bits 1 to 16 count the producers
/// inside, in steps of [`INSIDE`]; the bits above count jobs admitted without an id, in
/// steps of [`ADMITTED`].
const CLOSED: u64 = 1;
const INSIDE: u64 = 2;
const ADMITTED: u64 = 1 << 17;
const INSIDE_BITS: u64 = ADMITTED - INSIDE;

pub(crate) struct Intake {
    shards: [CachePadded<AtomicU64>; SHARDS],
}

/// A producer inside the gate; it leaves when this drops.
pub(crate) struct Inside<'a> {
    shard: &'a AtomicU64,
    /// What leaving subtracts or adds: set by [`Inside::admitted_without_id`].
    leave: u64,
}

impl Inside<'_> {
    /// Counts the producer's job, which drew no id, as admitted when it leaves.
    pub(crate) fn admitted_without_id(&mut self) {
        self.leave = ADMITTED - INSIDE;
    }
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        match self.leave {
            0 => self.shard.fetch_sub(INSIDE, Ordering::SeqCst),
            add => self.shard.fetch_add(add, Ordering::SeqCst),
        };
    }
}

impl Intake {
    pub(crate) fn new() -> Self {
        Self {
            shards: std::array::from_fn(|_| CachePadded::new(AtomicU64::new(0))),
        }
    }

    /// Counts the calling thread in, or `None` if the gate has closed.
    pub(crate) fn enter(&self) -> Option<Inside<'_>> {
        let shard = &*self.shards[this_threads_shard()];
        if shard.fetch_add(INSIDE, Ordering::SeqCst) & CLOSED != 0 {
            shard.fetch_sub(INSIDE, Ordering::SeqCst);
            return None;
        }
        Some(Inside { shard, leave: 0 })
    }

    /// Closes the gate and waits until every producer inside has left.
    pub(crate) fn seal(&self) {
        for shard in &self.shards {
            shard.fetch_or(CLOSED, Ordering::SeqCst);
        }
        for shard in &self.shards {
            while shard.load(Ordering::SeqCst) & INSIDE_BITS != 0 {
                thread::yield_now();
            }
        }
    }

    /// Jobs admitted without an id, through every shard.
    pub(crate) fn admitted_without_id(&self) -> u64 {
        self.shards
            .iter()
            .map(|shard| shard.load(Ordering::SeqCst) / ADMITTED)
            .sum()
    }
}

/// The shard the calling thread uses, given out round robin on its first use.
fn this_threads_shard() -> usize {
    // Only spreads threads over the shards: no protocol of the pool reads it, and shuttle's
    // atomics cannot be built in a static.
    #[allow(clippy::disallowed_types)]
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    thread_local! {
        static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
    }
    SHARD.with(|shard| {
        *shard.get().get_or_insert_with(|| {
            let next = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
            shard.set(Some(next));
            next
        })
    })
}

#[cfg(all(test, not(workpool_shuttle)))]
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // tests may use std directly
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::{mpsc, Arc};

    #[test]
    fn seal_closes_the_gate_and_returns_only_once_every_producer_left() {
        let intake = Arc::new(Intake::new());
        let left = Arc::new(AtomicBool::new(false));
        let (entered_tx, entered) = mpsc::channel();
        let (leave, leave_rx) = mpsc::channel::<()>();
        let producer = {
            let (intake, left) = (Arc::clone(&intake), Arc::clone(&left));
            std::thread::spawn(move || {
                let inside = intake.enter().expect("the gate is open");
                entered_tx.send(()).unwrap();
                leave_rx.recv().unwrap();
                left.store(true, Ordering::SeqCst);
                drop(inside);
            })
        };
        entered.recv().unwrap();
        let sealer = {
            let (intake, left) = (Arc::clone(&intake), Arc::clone(&left));
            std::thread::spawn(move || {
                intake.seal();
                left.load(Ordering::SeqCst)
            })
        };
        // Once the gate turns this thread away, the seal has closed it and is waiting.
        while let Some(inside) = intake.enter() {
            drop(inside);
            std::thread::yield_now();
        }
        leave.send(()).unwrap();
        producer.join().unwrap();
        assert!(
            sealer.join().unwrap(),
            "seal returned while a producer was inside"
        );
        assert!(intake.enter().is_none(), "a sealed gate stays closed");
    }

    #[test]
    fn jobs_admitted_without_an_id_are_counted_when_their_producer_leaves() {
        let intake = Intake::new();
        for admitted in [true, false, true] {
            let mut inside = intake.enter().expect("the gate is open");
            if admitted {
                inside.admitted_without_id();
            }
        }
        assert_eq!(intake.admitted_without_id(), 2);
        // Nobody is inside: the seal returns at once.
        intake.seal();
        assert_eq!(intake.admitted_without_id(), 2);
    }
}

/// A crate-internal shuttle model of the seal: producers enter, push and leave while a
/// shutdown seals the gate. Once `seal` returns, no producer is inside and none gets in, so
/// what was pushed is final; and every job admitted without an id is counted. Letting
/// `enter` skip its check of the closed bit fails it.
#[cfg(all(test, workpool_shuttle))]
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // tests may use std directly
mod shuttle_model {
    use super::*;
    use crate::sync::Mutex;
    use std::sync::Arc;

    #[test]
    fn nothing_enters_after_the_seal_and_every_admission_is_counted() {
        shuttle::check_random(
            || {
                let gate = Arc::new(Intake::new());
                let pushed = Arc::new(Mutex::new(Vec::new()));
                let producers: Vec<_> = (0..2)
                    .map(|p| {
                        let (gate, pushed) = (Arc::clone(&gate), Arc::clone(&pushed));
                        shuttle::thread::spawn(move || {
                            for job in 0..2 {
                                if let Some(mut inside) = gate.enter() {
                                    pushed.lock().push((p, job));
                                    if job == 0 {
                                        inside.admitted_without_id();
                                    }
                                }
                            }
                        })
                    })
                    .collect();
                gate.seal();
                let at_seal = pushed.lock().len();
                let counted_at_seal = gate.admitted_without_id();
                for producer in producers {
                    producer.join().unwrap();
                }
                let pushed = pushed.lock();
                assert_eq!(pushed.len(), at_seal, "a producer got in after the seal");
                let without_id = pushed.iter().filter(|(_, job)| *job == 0).count() as u64;
                assert_eq!(counted_at_seal, without_id);
                assert!(gate.enter().is_none());
            },
            2000,
        );
    }
}
