//! [`TaskSet`]: jobs of one pool, joined in the order they finish.
//!
//! Each task is polled once, as it is spawned, with a waker that records the task's slot in
//! a shared ready list and wakes the set's waiter. However the task ends (a value, a panic,
//! a cancel, a shutdown), its handle resolves and its waker fires, so the ready list is the
//! completion order, and a join looks only at tasks that have ended.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::error::{SubmitError, TaskError};
use crate::help::{self, Wakeup};
use crate::pool::Pool;
use crate::sync::Mutex;
use crate::task::Task;

/// A set of jobs on one pool whose results are taken as the jobs finish.
///
/// [`spawn`](TaskSet::spawn) queues a job; [`join_next`](TaskSet::join_next) returns the
/// result of a job that has ended, in completion order, blocking until one has;
/// [`wait_all`](TaskSet::wait_all) collects every value and stops at the first error.
///
/// # Cancellation
///
/// [`cancel_all`](TaskSet::cancel_all), [`wait_all`](TaskSet::wait_all) at its first error,
/// and dropping the set cancel every job of the set that has not been joined, as
/// [`Task::cancel`] does: a job that has not started never runs; a running job cannot be
/// pre-empted, so it runs to its end, but its handle resolves as cancelled and its result is
/// dropped.
///
/// # Examples
///
/// ```
/// use workpool::{Pool, TaskSet};
///
/// let pool = Pool::new(4);
/// let mut set = TaskSet::new(&pool);
/// for id in 0..10u64 {
///     set.spawn(move || id * 10)?;
/// }
/// let mut total = 0;
/// while let Some(result) = set.join_next() {
///     total += result?; // in the order the jobs finished
/// }
/// assert_eq!(total, 450);
///
/// // All at once, in spawn order; the first error cancels what has not started.
/// let mut set = TaskSet::new(&pool);
/// for id in 0..3u64 {
///     set.spawn(move || id)?;
/// }
/// assert_eq!(set.wait_all()?, [0, 1, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TaskSet<T> {
    pool: Pool,
    /// Tasks not yet joined; the index of a task's slot is what its waker records.
    slots: Vec<Option<Task<T>>>,
    free: Vec<usize>,
    /// Results that were ready when their task was first polled, with the job's id.
    early: VecDeque<(u64, Result<T, TaskError>)>,
    ready: Arc<ReadyList>,
    len: usize,
}

/// The slots of tasks that have ended, in the order they ended.
struct ReadyList {
    slots: Mutex<VecDeque<usize>>,
    wakeup: Wakeup,
}

/// A task's waker: records its slot and wakes the set's waiter.
struct SlotWaker {
    slot: usize,
    list: Arc<ReadyList>,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.list.slots.lock().push_back(self.slot);
        Wakeup::wake(&self.list.wakeup);
    }
}

impl<T: Send + 'static> TaskSet<T> {
    /// An empty set whose jobs run on `pool`.
    pub fn new(pool: &Pool) -> Self {
        Self {
            pool: pool.clone(),
            slots: Vec::new(),
            free: Vec::new(),
            early: VecDeque::new(),
            ready: Arc::new(ReadyList {
                slots: Mutex::new(VecDeque::new()),
                wakeup: Wakeup::default(),
            }),
            len: 0,
        }
    }

    /// Queues `job` on the set's pool, blocking while its queue is full, as
    /// [`Pool::submit`] does. Returns the job's id ([`Task::id`]), which
    /// [`join_next_with_id`](TaskSet::join_next_with_id) gives back with its result.
    ///
    /// # Errors
    ///
    /// As [`Pool::submit`]: [`SubmitError::Closed`] with the job if the pool has shut down,
    /// [`SubmitError::WouldDeadlock`] if the caller is one of the pool's own workers, the
    /// queue is full, and every other worker is waiting to submit too. The set is unchanged.
    pub fn spawn<F>(&mut self, job: F) -> Result<u64, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let mut task = self.pool.submit(job)?;
        let id = task.id();
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        let waker = Waker::from(Arc::new(SlotWaker {
            slot,
            list: Arc::clone(&self.ready),
        }));
        match Pin::new(&mut task).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(result) => {
                self.free.push(slot);
                self.early.push_back((id, result));
            }
            Poll::Pending => self.slots[slot] = Some(task),
        }
        self.len += 1;
        Ok(id)
    }

    /// Waits for a job of the set to end and returns its result; `None` if the set is
    /// empty. Results come in the order the jobs ended, however they ended: a value, a
    /// panic, a cancel or a shutdown each resolve a job.
    ///
    /// On one of the pool's own workers, the wait helps run the pool's queued jobs.
    pub fn join_next(&mut self) -> Option<Result<T, TaskError>> {
        self.join_next_with_id().map(|(_, result)| result)
    }

    /// Like [`join_next`](TaskSet::join_next), with the id [`spawn`](TaskSet::spawn)
    /// returned for the job.
    pub fn join_next_with_id(&mut self) -> Option<(u64, Result<T, TaskError>)> {
        if self.len == 0 {
            return None;
        }
        if let Some(found) = self.try_join() {
            return Some(found);
        }
        let ready = Arc::clone(&self.ready);
        Some(help::block_on(&ready.wakeup, || self.try_join()))
    }

    /// The result of a job that has ended, if there is one.
    fn try_join(&mut self) -> Option<(u64, Result<T, TaskError>)> {
        if let Some(found) = self.early.pop_front() {
            self.len -= 1;
            return Some(found);
        }
        loop {
            let slot = self.ready.slots.lock().pop_front()?;
            let Some(task) = self.slots[slot].as_mut() else {
                continue;
            };
            // Its waker fired, so it has ended; the check keeps a poll from ever replacing
            // the recording waker with one that records nothing.
            if !task.is_finished() {
                continue;
            }
            let Poll::Ready(result) = Pin::new(task).poll(&mut Context::from_waker(Waker::noop()))
            else {
                continue;
            };
            let task = self.slots[slot].take().expect("the slot holds the task");
            self.free.push(slot);
            self.len -= 1;
            return Some((task.id(), result));
        }
    }

    /// Waits for every job and returns their values in the order they were spawned, or the
    /// first error in the order the jobs ended. At that error every job of the set not yet
    /// joined is cancelled (see [Cancellation](TaskSet#cancellation)) and the call returns
    /// without waiting for running jobs.
    ///
    /// # Errors
    ///
    /// The first [`TaskError`] of a job of the set: it panicked, was cancelled, timed out, or
    /// never ran because the pool shut down.
    pub fn wait_all(mut self) -> Result<Vec<T>, TaskError> {
        let mut values = Vec::with_capacity(self.len);
        while let Some((id, result)) = self.join_next_with_id() {
            match result {
                Ok(value) => values.push((id, value)),
                Err(error) => {
                    self.cancel_all();
                    return Err(error);
                }
            }
        }
        // Ids grow in submission order.
        values.sort_unstable_by_key(|&(id, _)| id);
        Ok(values.into_iter().map(|(_, value)| value).collect())
    }
}

impl<T> TaskSet<T> {
    /// How many jobs were spawned and not yet joined (running, queued, or ended).
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` if every job spawned has been joined.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Cancels every job of the set not yet joined (see
    /// [Cancellation](TaskSet#cancellation)). The jobs stay in the set: each one that had not
    /// ended joins as cancelled ([`TaskError::is_cancelled`]).
    pub fn cancel_all(&self) {
        for task in self.slots.iter().flatten() {
            task.cancel();
        }
    }
}

impl<T> Drop for TaskSet<T> {
    /// Cancels every job not yet joined: one that has not started never runs.
    fn drop(&mut self) {
        self.cancel_all();
    }
}

impl<T> fmt::Debug for TaskSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskSet")
            .field("len", &self.len)
            .field("pool", &self.pool)
            .finish()
    }
}
