//! The worker loop: take a job, run it with no lock held, record it, look for the next one,
//! and park (or retire after keep-alive) when there is none.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use crate::shared::{Inner, Phase, Shared, WorkerThread};
use crate::sync::{thread, MutexGuard};

impl Shared {
    /// Starts one worker. Called with the pool lock held, so the new thread's bookkeeping is
    /// in place before it can look at the queue.
    pub(crate) fn spawn_worker(
        self: &Arc<Self>,
        inner: &mut MutexGuard<'_, Inner>,
    ) -> io::Result<()> {
        let id = inner.next_worker_id;
        inner.next_worker_id += 1;
        let mut builder = thread::Builder::new().name(format!("{}-{id}", self.threads.name));
        if let Some(size) = self.threads.stack_size {
            builder = builder.stack_size(size);
        }
        let shared = Arc::clone(self);
        let handle = builder.spawn(move || shared.worker_main(id))?;
        inner.workers += 1;
        inner.threads.insert(
            id,
            WorkerThread {
                handle: Some(handle),
                thread: None,
                current: None,
            },
        );
        Ok(())
    }

    fn worker_main(self: Arc<Self>, id: u64) {
        let latencies = self.metrics.register();
        let mut inner = self.inner.lock();
        if let Some(me) = inner.threads.get_mut(&id) {
            me.thread = Some(thread::current().id());
        }
        // When this worker last became idle; keep-alive counts from here, not from each
        // (possibly spurious) wake-up.
        let mut idle_since: Option<Instant> = None;
        let by_shutdown = loop {
            if inner.phase == Phase::Stopped {
                break true;
            }
            if inner.workers > inner.max {
                break false;
            }
            if let Some(entry) = inner.queue.pop_front() {
                idle_since = None;
                inner.running += 1;
                if let Some(me) = inner.threads.get_mut(&id) {
                    me.current = Some(Arc::clone(&entry.job));
                }
                drop(inner);
                // One slot opened: one blocked producer may go on.
                self.space_cv.notify_one();

                let started = self.clock.now();
                entry.job.run(&self.metrics.counters);
                let ended = self.clock.now();
                latencies
                    .lock()
                    .record(started - entry.enqueued, ended - started);
                drop(entry);

                inner = self.inner.lock();
                inner.running -= 1;
                if let Some(me) = inner.threads.get_mut(&id) {
                    me.current = None;
                }
                if inner.running == 0 && inner.queue.is_empty() {
                    self.event_cv.notify_all();
                }
                continue;
            }
            if inner.phase == Phase::Draining {
                break true;
            }
            let now = self.clock.now();
            let since = *idle_since.get_or_insert(now);
            let retire_at = since + inner.keep_alive;
            let above_min = inner.workers > inner.min;
            if above_min && now >= retire_at {
                break false;
            }
            inner.idle += 1;
            if above_min {
                self.clock.wait_until(&self.work_cv, &mut inner, retire_at);
            } else {
                self.work_cv.wait(&mut inner);
            }
            inner.idle -= 1;
            inner.wakeups = inner.wakeups.saturating_sub(1);
        };

        inner.workers -= 1;
        let me = inner.threads.remove(&id);
        if by_shutdown {
            if let Some(handle) = me.and_then(|m| m.handle) {
                inner.exited.push(handle);
            }
        }
        // A retiring worker's handle is dropped: the thread detaches and ends on its own.
        drop(inner);
        self.metrics.retire(&latencies);
        self.event_cv.notify_all();
    }
}
