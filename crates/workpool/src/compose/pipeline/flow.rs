//! A pipeline's buffers and counts, under one lock: where each item is, which stage may
//! start which item, and the output in source or completion order.
//!
//! Backpressure: a stage starts an item only while it has fewer jobs in flight than its
//! concurrency, and only if the next buffer (or the output) has room for the item once it
//! ends, counting the stage's jobs in flight. In source order, the output cannot let a later
//! item pass the one it waits for, so that item, the head, may start any stage whatever the
//! room: every item ahead of it in a buffer will leave it, so the head always gets through.
//!
//! Items of jobs handed to a pool stay here too, parked under the job's id until the job
//! starts and takes its item (`relay.rs` says why).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{PipelineError, PipelineStats, StageStats, Value};
use crate::error::{TaskError, TaskErrorKind};
use crate::task::Task;

/// A stage's limits, fixed when the pipeline starts.
pub(super) struct StageLimits {
    /// Jobs in flight at once: queued in the stage's pool or running.
    pub(super) concurrency: usize,
    /// Items that may wait in the stage's input buffer.
    pub(super) buffer: usize,
}

pub(super) type Outcome = Result<Value, PipelineError>;

/// What to drop once the lock is released: values (their destructors are user code),
/// refused jobs (a ticket's drop takes the lock) and task handles.
pub(super) type Trash = Vec<Box<dyn Send>>;

/// An item on its way: its index in the source, and since when it waits for its stage.
pub(super) struct Packet {
    pub(super) index: usize,
    pub(super) value: Value,
    pub(super) since: Instant,
}

struct StageState {
    name: Arc<str>,
    limits: StageLimits,
    input: VecDeque<Packet>,
    running: usize,
    items_in: u64,
    items_out: u64,
    failed: u64,
    not_run: u64,
    busy: Duration,
    queue_wait: Duration,
}

/// A job handed to a stage's pool: the item it takes when it starts, and its handle.
struct Job {
    stage: usize,
    packet: Option<Packet>,
    task: Option<Task<()>>,
}

enum Output {
    InOrder(BTreeMap<usize, Outcome>),
    AsDone(VecDeque<Outcome>),
}

impl Output {
    fn len(&self) -> usize {
        match self {
            Self::InOrder(map) => map.len(),
            Self::AsDone(queue) => queue.len(),
        }
    }

    fn insert(&mut self, index: usize, outcome: Outcome) {
        match self {
            Self::InOrder(map) => {
                map.insert(index, outcome);
            }
            Self::AsDone(queue) => queue.push_back(outcome),
        }
    }
}

/// Every buffer and count of a pipeline, under one lock.
pub(super) struct Flow {
    stages: Vec<StageState>,
    output: Output,
    output_room: usize,
    /// In source order, the index of the next result to hand out.
    head: usize,
    pulled: usize,
    delivered: usize,
    source_done: bool,
    cancelled: bool,
    jobs: HashMap<u64, Job>,
    next_job: u64,
}

impl Flow {
    /// The flow of a pipeline whose stages have these names and limits.
    pub(super) fn new(
        stages: impl IntoIterator<Item = (Arc<str>, StageLimits)>,
        output_room: usize,
        ordered: bool,
    ) -> Self {
        let stages = stages
            .into_iter()
            .map(|(name, limits)| StageState {
                name,
                limits,
                input: VecDeque::new(),
                running: 0,
                items_in: 0,
                items_out: 0,
                failed: 0,
                not_run: 0,
                busy: Duration::ZERO,
                queue_wait: Duration::ZERO,
            })
            .collect();
        Self {
            stages,
            output: match ordered {
                true => Output::InOrder(BTreeMap::new()),
                false => Output::AsDone(VecDeque::new()),
            },
            output_room,
            head: 0,
            pulled: 0,
            delivered: 0,
            source_done: false,
            cancelled: false,
            jobs: HashMap::new(),
            next_job: 0,
        }
    }

    pub(super) fn is_cancelled(&self) -> bool {
        self.cancelled
    }

    /// The source has no more items.
    pub(super) fn end_source(&mut self) {
        self.source_done = true;
    }

    pub(super) fn can_pull(&self) -> bool {
        let room = match self.stages.first() {
            Some(first) => first.input.len() < first.limits.buffer,
            None => self.output.len() < self.output_room,
        };
        room && !self.cancelled && !self.source_done
    }

    /// Takes an item pulled from the source; `now` is on the first stage's clock.
    pub(super) fn pull(&mut self, value: Value, now: Instant, trash: &mut Trash) {
        let index = self.pulled;
        self.pulled += 1;
        if self.stages.is_empty() {
            self.output.insert(index, Ok(value));
        } else if self.cancelled {
            self.stop(0, index, value, TaskErrorKind::Cancelled, trash);
        } else {
            let since = now;
            self.stages[0].input.push_back(Packet {
                index,
                value,
                since,
            });
        }
    }

    /// The next item stage `k` may start now, taken from its buffer.
    pub(super) fn take_startable(&mut self, k: usize) -> Option<Packet> {
        let stage = &self.stages[k];
        if stage.running >= stage.limits.concurrency || stage.input.is_empty() {
            return None;
        }
        let (waiting, room) = match self.stages.get(k + 1) {
            Some(next) => (next.input.len(), next.limits.buffer),
            None => (self.output.len(), self.output_room),
        };
        if stage.running + waiting < room {
            return self.stages[k].input.pop_front();
        }
        if let Output::InOrder(_) = self.output {
            let head = self.head;
            let at = self.stages[k].input.iter().position(|p| p.index == head)?;
            return self.stages[k].input.remove(at);
        }
        None
    }

    /// Registers a job of stage `k` for `packet`; returns its id.
    pub(super) fn park(&mut self, k: usize, packet: Packet) -> u64 {
        let id = self.next_job;
        self.next_job += 1;
        self.jobs.insert(
            id,
            Job {
                stage: k,
                packet: Some(packet),
                task: None,
            },
        );
        self.stages[k].running += 1;
        id
    }

    /// Forgets a job that never started; returns its stage and item, if it still had one.
    pub(super) fn unpark(&mut self, id: u64, trash: &mut Trash) -> Option<(usize, Packet)> {
        let job = self.jobs.remove(&id)?;
        self.stages[job.stage].running -= 1;
        if let Some(task) = job.task {
            trash.push(Box::new(task));
        }
        Some((job.stage, job.packet?))
    }

    /// A job starts: hands it its item, and counts it in.
    pub(super) fn start(&mut self, id: u64, now: Instant) -> Option<Packet> {
        let job = self.jobs.get_mut(&id)?;
        let packet = job.packet.take()?;
        let stage = &mut self.stages[job.stage];
        stage.items_in += 1;
        stage.queue_wait += now.saturating_duration_since(packet.since);
        Some(packet)
    }

    /// A job of stage `k` ended with `result` for item `index`: moves the item on.
    /// `next_since` is now, on the next stage's clock.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish(
        &mut self,
        next_since: Instant,
        id: u64,
        k: usize,
        index: usize,
        result: Result<Value, TaskError>,
        busy: Duration,
        trash: &mut Trash,
    ) {
        if let Some(task) = self.jobs.remove(&id).and_then(|job| job.task) {
            trash.push(Box::new(task));
        }
        let stage = &mut self.stages[k];
        stage.running -= 1;
        stage.busy += busy;
        match result {
            Ok(value) => {
                stage.items_out += 1;
                if k + 1 == self.stages.len() {
                    self.output.insert(index, Ok(value));
                } else if self.cancelled {
                    self.stop(k + 1, index, value, TaskErrorKind::Cancelled, trash);
                } else {
                    self.stages[k + 1].input.push_back(Packet {
                        index,
                        value,
                        since: next_since,
                    });
                }
            }
            Err(error) => {
                stage.failed += 1;
                let stage = Arc::clone(&stage.name);
                self.output.insert(
                    index,
                    Err(PipelineError {
                        index,
                        stage,
                        error,
                    }),
                );
            }
        }
    }

    /// Item `index` will not run stage `k`: reports it with `kind`.
    pub(super) fn stop(
        &mut self,
        k: usize,
        index: usize,
        value: Value,
        kind: TaskErrorKind,
        trash: &mut Trash,
    ) {
        trash.push(Box::new(value));
        let stage = &mut self.stages[k];
        stage.not_run += 1;
        let error = PipelineError {
            index,
            stage: Arc::clone(&stage.name),
            error: TaskError::new(kind),
        };
        self.output.insert(index, Err(error));
    }

    pub(super) fn take_output(&mut self) -> Option<Outcome> {
        let outcome = match &mut self.output {
            Output::InOrder(map) => {
                let outcome = map.remove(&self.head)?;
                self.head += 1;
                outcome
            }
            Output::AsDone(queue) => queue.pop_front()?,
        };
        self.delivered += 1;
        Some(outcome)
    }

    pub(super) fn is_over(&self) -> bool {
        (self.source_done || self.cancelled) && self.delivered == self.pulled
    }

    /// Hands a queued job its handle; gives the handle back if the job is gone already (it
    /// ran) or the pipeline was cancelled meanwhile (the cancel did not see it).
    pub(super) fn set_task(&mut self, id: u64, task: Task<()>) -> Option<Task<()>> {
        match self.jobs.get_mut(&id) {
            Some(job) if !self.cancelled => {
                job.task = Some(task);
                None
            }
            _ => Some(task),
        }
    }

    /// Puts back an item whose job a full queue refused, first in its buffer.
    pub(super) fn requeue(&mut self, k: usize, packet: Packet) {
        self.stages[k].input.push_front(packet);
    }

    /// An item a stage with no job in flight may start, taken from its buffer.
    pub(super) fn take_stalled(&mut self) -> Option<(usize, Packet)> {
        if self.cancelled {
            return None;
        }
        for k in 0..self.stages.len() {
            if self.stages[k].running == 0 {
                if let Some(packet) = self.take_startable(k) {
                    return Some((k, packet));
                }
            }
        }
        None
    }

    /// Cancels: reports every item waiting in a buffer, and returns the handles of the jobs
    /// in flight, for the caller to cancel once the lock is released. `None` if the
    /// pipeline was cancelled already.
    pub(super) fn cancel(&mut self, trash: &mut Trash) -> Option<Vec<Task<()>>> {
        if self.cancelled {
            return None;
        }
        self.cancelled = true;
        for k in 0..self.stages.len() {
            while let Some(packet) = self.stages[k].input.pop_front() {
                let kind = TaskErrorKind::Cancelled;
                self.stop(k, packet.index, packet.value, kind, trash);
            }
        }
        Some(
            self.jobs
                .values_mut()
                .filter_map(|job| job.task.take())
                .collect(),
        )
    }

    pub(super) fn stats(&self) -> PipelineStats {
        PipelineStats {
            stages: self
                .stages
                .iter()
                .map(|s| StageStats {
                    name: s.name.to_string(),
                    items_in: s.items_in,
                    items_out: s.items_out,
                    failed: s.failed,
                    not_run: s.not_run,
                    busy: s.busy,
                    queue_wait: s.queue_wait,
                })
                .collect(),
            pulled: self.pulled as u64,
            delivered: self.delivered as u64,
        }
    }
}
