//! How items move through a pipeline's stage pools: tickets, and who queues the jobs.
//!
//! An item waits in its stage's input buffer, then rides a job on the stage's pool. The job
//! holds only a [`Ticket`]; the item itself stays in the flow, parked under the job's id,
//! until the job starts and takes it. So a job a pool refuses, cancels or drops unrun leaves
//! the item where the flow can still report it: a refused job puts it back in its buffer,
//! and a dropped ticket reports it as cancelled or not run.
//!
//! Whoever changes the flow queues the jobs it now allows (`pump`): the iterator after it
//! pulls from the source or takes a result, a stage job after it ends. Jobs are queued with
//! `try_submit` under the lock, so no worker ever blocks on another pool's full queue; a
//! stage that a full queue refused while none of its jobs is in flight would wait for ever,
//! so the iterator queues one of its items with a blocking submission before it parks
//! ([`Core::unstall`]). The pool never runs our code under its own lock, and this lock is
//! never held while user code runs, a value is dropped, or a job is cancelled (dropping a
//! ticket takes the lock): such things are collected as [`Trash`] and dropped after.

use std::sync::Arc;
use std::time::Instant;

use super::flow::{Flow, Outcome, StageLimits, Trash};
use super::{PipelineStats, Stage, Value};
use crate::compose::submit_or_run_here;
use crate::error::{TaskError, TaskErrorKind, TrySubmitError};
use crate::help::Wakeup;
use crate::sync::Mutex;
use crate::unwind;

/// What the iterator, the cancellers and the jobs share.
pub(super) struct Core {
    stages: Vec<Stage>,
    flow: Mutex<Flow>,
    /// Where the iterator parks; woken whenever a result lands or the first buffer drains.
    pub(super) wakeup: Wakeup,
}

impl Core {
    pub(super) fn new(
        stages: Vec<Stage>,
        limits: Vec<StageLimits>,
        output_room: usize,
        ordered: bool,
    ) -> Self {
        let names = stages.iter().map(|stage| Arc::clone(&stage.name));
        let flow = Flow::new(names.zip(limits), output_room, ordered);
        Self {
            stages,
            flow: Mutex::new(flow),
            wakeup: Wakeup::default(),
        }
    }

    pub(super) fn is_cancelled(&self) -> bool {
        self.flow.lock().is_cancelled()
    }

    pub(super) fn stats(&self) -> PipelineStats {
        self.flow.lock().stats()
    }

    /// Now, on the clock of stage `k` (the system clock past the last stage).
    fn now(&self, k: usize) -> Instant {
        self.stages
            .get(k)
            .map_or_else(Instant::now, |stage| stage.clock.now())
    }

    /// Pulls from the source while the first buffer has room. Runs on the iterator's
    /// thread; the source's `next` runs without the lock.
    pub(super) fn feed(self: &Arc<Self>, source: &mut Option<Box<dyn Iterator<Item = Value>>>) {
        let look = |flow: &Flow| (flow.can_pull(), flow.is_cancelled());
        // Then looked at again under the lock that pulls each item. Room only grows
        // meanwhile (only this thread pulls), and an item pulled after a cancel is reported
        // cancelled at once.
        let mut state = look(&self.flow.lock());
        while let Some(items) = source.as_mut() {
            let (room, cancelled) = state;
            if cancelled {
                *source = None;
                return;
            }
            if !room {
                return;
            }
            let Some(value) = items.next() else {
                self.flow.lock().end_source();
                *source = None;
                return;
            };
            let now = self.now(0);
            let mut trash = Trash::new();
            {
                let mut flow = self.flow.lock();
                flow.pull(value, now, &mut trash);
                self.pump(&mut flow, &mut trash);
                state = look(&flow);
            }
            drop(trash);
        }
    }

    /// The next result, if one is ready; `Some(None)` once every item pulled is out and the
    /// source is over (or the pipeline cancelled).
    pub(super) fn take_output(self: &Arc<Self>) -> Option<Option<Outcome>> {
        let mut trash = Trash::new();
        let step = {
            let mut flow = self.flow.lock();
            match flow.take_output() {
                Some(outcome) => {
                    // The output has room again: the last stage may start more.
                    self.pump(&mut flow, &mut trash);
                    Some(Some(outcome))
                }
                None if flow.is_over() => Some(None),
                None => None,
            }
        };
        drop(trash);
        step
    }

    /// Queues every job the flow allows now. Called with the lock held.
    fn pump(self: &Arc<Self>, flow: &mut Flow, trash: &mut Trash) {
        if flow.is_cancelled() {
            return;
        }
        // The last stage first: what it starts makes room for the stages before it.
        for k in (0..self.stages.len()).rev() {
            while let Some(packet) = flow.take_startable(k) {
                let id = flow.park(k, packet);
                let ticket = Ticket::new(self, id, k);
                match self.stages[k].pool.try_submit(move || ticket.run()) {
                    Ok(task) => {
                        if let Some(task) = flow.set_task(id, task) {
                            trash.push(Box::new(task));
                        }
                    }
                    Err(TrySubmitError::Full(job)) => {
                        // Back to the front of its buffer; a job that ends, or the iterator,
                        // tries again.
                        if let Some((_, packet)) = flow.unpark(id, trash) {
                            flow.requeue(k, packet);
                        }
                        trash.push(Box::new(job));
                        break;
                    }
                    Err(TrySubmitError::Closed(job)) => {
                        if let Some((_, packet)) = flow.unpark(id, trash) {
                            let kind = TaskErrorKind::NotRun;
                            flow.stop(k, packet.index, packet.value, kind, trash);
                        }
                        trash.push(Box::new(job));
                    }
                }
            }
        }
    }

    /// Before the iterator parks: if a stage has an item it could start but no job in
    /// flight (its pool's full queue refused the last one, and no job of it will end to try
    /// again), queues that item with a blocking submission, which waits for room.
    pub(super) fn unstall(self: &Arc<Self>) {
        let (k, id, ticket) = {
            let mut flow = self.flow.lock();
            let Some((k, packet)) = flow.take_stalled() else {
                return;
            };
            let id = flow.park(k, packet);
            (k, id, Ticket::new(self, id, k))
        };
        // Run here or dropped unrun, its ticket reports the item.
        let Some(task) = submit_or_run_here(&self.stages[k].pool, move || ticket.run()) else {
            return;
        };
        let left = self.flow.lock().set_task(id, task);
        if let Some(task) = left {
            // Cancelled meanwhile (or over already, when this does nothing).
            task.cancel();
        }
    }

    /// Cancels the pipeline: nothing more is pulled or started; queued jobs are cancelled
    /// (their tickets report their items), items in buffers are reported at once.
    pub(super) fn cancel(self: &Arc<Self>) {
        let mut trash = Trash::new();
        let tasks = self.flow.lock().cancel(&mut trash);
        drop(trash);
        for task in tasks.iter().flatten() {
            // A queued job's closure is dropped here, and its ticket reports the item.
            task.cancel();
        }
        drop(tasks);
        self.wakeup.wake();
    }
}

/// What a stage job carries: the id under which its item waits in the flow.
struct Ticket {
    core: Arc<Core>,
    id: u64,
    stage: usize,
    /// Set once the job runs; a ticket dropped unset was dropped unrun.
    ran: bool,
}

impl Ticket {
    fn new(core: &Arc<Core>, id: u64, stage: usize) -> Self {
        Self {
            core: Arc::clone(core),
            id,
            stage,
            ran: false,
        }
    }

    /// Runs the stage on the item, then moves the item on and queues what that allows.
    fn run(mut self) {
        self.ran = true;
        let (core, id, k) = (&self.core, self.id, self.stage);
        let spec = &core.stages[k];
        let started = spec.clock.now();
        let Some(packet) = core.flow.lock().start(id, started) else {
            return;
        };
        let index = packet.index;
        let result = unwind::catch(|| (spec.run)(packet.value)).unwrap_or_else(|payload| {
            let error = TaskError::panicked(&*payload);
            unwind::forget_payload(payload);
            Err(error)
        });
        let busy = spec.clock.now().saturating_duration_since(started);
        let next_since = core.now(k + 1);
        let mut trash = Trash::new();
        {
            let mut flow = core.flow.lock();
            flow.finish(next_since, id, k, index, result, busy, &mut trash);
            core.pump(&mut flow, &mut trash);
        }
        drop(trash);
        core.wakeup.wake();
    }
}

impl Drop for Ticket {
    /// A ticket dropped unrun: the pipeline cancelled its job, or the pool shut down before
    /// running it (or refused it, and the item went back to its buffer already).
    fn drop(&mut self) {
        if self.ran {
            return;
        }
        let mut trash = Trash::new();
        {
            let mut flow = self.core.flow.lock();
            if let Some((k, packet)) = flow.unpark(self.id, &mut trash) {
                let kind = match flow.is_cancelled() {
                    true => TaskErrorKind::Cancelled,
                    false => TaskErrorKind::NotRun,
                };
                flow.stop(k, packet.index, packet.value, kind, &mut trash);
                self.core.pump(&mut flow, &mut trash);
            }
        }
        drop(trash);
        self.core.wakeup.wake();
    }
}
