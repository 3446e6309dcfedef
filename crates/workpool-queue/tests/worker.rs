//! The worker: every job run and recorded, retries, shutdown hand-backs, cancels.

mod common;

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::TestDb;
use serde_json::json;
use workpool_queue::{
    CancelResult, JobState, NewJob, Queue, ShutdownHandle, Worker, WorkerBuilder, WorkerReport,
};

fn every_job_runs_and_is_recorded_once(db: &TestDb) {
    let queue = Queue::open(&db.url).expect("open");
    let jobs = (0..300).map(|i| NewJob::new("count", json!({"i": i})).queue("once"));
    queue.enqueue_many(jobs).expect("enqueue");
    let runs = Arc::new(Mutex::new(HashMap::<i64, u32>::new()));
    let seen = Arc::clone(&runs);
    let report = Worker::builder(queue.connect_again().expect("connect"))
        .queue("once")
        .concurrency(4)
        .exit_when_empty(true)
        .handle("count", move |job, ctx| {
            *seen.lock().expect("lock").entry(job.id.0).or_default() += 1;
            ctx.set_output(json!({"seen": job.args["i"]}));
            Ok::<(), String>(())
        })
        .build()
        .expect("build")
        .run()
        .expect("run");
    assert_eq!(report.completed, 300);
    assert_eq!(report.claimed, 300);
    let runs = runs.lock().expect("lock");
    assert_eq!(runs.len(), 300);
    assert!(runs.values().all(|&n| n == 1));
    let status = queue.status("once").expect("status");
    assert_eq!(
        (status.completed, status.queued, status.running),
        (300, 0, 0)
    );
    assert!(status.workers.is_empty(), "the worker deregisters");
}

fn failures_are_retried_with_backoff_then_fail(db: &TestDb) {
    let queue = Queue::open(&db.url).expect("open");
    let flaky = queue
        .enqueue(
            NewJob::new("flaky", json!(0))
                .queue("retries")
                .max_attempts(3),
        )
        .expect("enqueue")
        .expect("added");
    let broken = queue
        .enqueue(
            NewJob::new("broken", json!(0))
                .queue("retries")
                .max_attempts(2),
        )
        .expect("enqueue")
        .expect("added");
    let panics = queue
        .enqueue(NewJob::new("panics", json!(0)).queue("retries"))
        .expect("enqueue")
        .expect("added");
    let report = Worker::builder(queue.connect_again().expect("connect"))
        .queue("retries")
        .concurrency(2)
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .exit_when_empty(true)
        .handle("flaky", |job, _ctx| {
            if job.attempt < 3 {
                Err(format!("attempt {} failed", job.attempt))
            } else {
                Ok(())
            }
        })
        .handle("broken", |_job, _ctx| Err("always"))
        .handle("panics", |_job, _ctx| -> Result<(), String> {
            panic!("oh no")
        })
        .build()
        .expect("build")
        .run()
        .expect("run");
    assert_eq!((report.completed, report.failed, report.retried), (1, 2, 3));
    let flaky = queue.job(flaky).expect("job").expect("exists");
    assert_eq!((flaky.state, flaky.attempt), (JobState::Completed, 3));
    let broken = queue.job(broken).expect("job").expect("exists");
    assert_eq!((broken.state, broken.attempt), (JobState::Failed, 2));
    assert_eq!(broken.last_error.as_deref(), Some("always"));
    let panics = queue.job(panics).expect("job").expect("exists");
    assert_eq!(panics.state, JobState::Failed);
    assert_eq!(
        panics.last_error.as_deref(),
        Some("the handler panicked: oh no")
    );
}

/// Queues `jobs` "wait" jobs on `name` and starts a worker of two whose handler runs until
/// its run is cancelled; returns once both of its runs have started.
fn two_endless_runs(
    queue: &Queue,
    name: &str,
    jobs: i64,
) -> (
    ShutdownHandle,
    thread::JoinHandle<workpool_queue::Result<WorkerReport>>,
) {
    let batch = (0..jobs).map(|i| NewJob::new("wait", json!(i)).queue(name));
    queue.enqueue_many(batch).expect("enqueue");
    start_two_endless(Worker::builder(queue.connect_again().expect("connect")).queue(name))
}

/// Builds `builder` into a worker of two whose "wait" handler runs until its run is
/// cancelled, starts it, and returns once two "wait" runs have started.
fn start_two_endless(
    builder: WorkerBuilder,
) -> (
    ShutdownHandle,
    thread::JoinHandle<workpool_queue::Result<WorkerReport>>,
) {
    let (started, starts) = mpsc::channel();
    let worker = builder
        .concurrency(2)
        .grace(Duration::ZERO)
        .handle("wait", move |_job, ctx| {
            let _ = started.send(());
            // Runs until cancelled.
            while ctx.sleep(Duration::from_secs(60)) {}
            Err("ended")
        })
        .build()
        .expect("build");
    let stop = worker.shutdown_handle();
    let run = thread::spawn(move || worker.run());
    for _ in 0..2 {
        starts.recv().expect("a job started");
    }
    (stop, run)
}

fn shutdown_past_the_grace_ends_and_hands_back_running_jobs(db: &TestDb) {
    let queue = Queue::open(&db.url).expect("open");
    let (stop, run) = two_endless_runs(&queue, "grace", 2);
    stop.stop();
    let report = run.join().expect("worker thread").expect("run");
    assert_eq!(
        (report.released, report.completed, report.failed),
        (2, 0, 0)
    );
    let status = queue.status("grace").expect("status");
    assert_eq!((status.queued, status.running), (2, 0));
}

fn a_cancel_reaches_the_running_job(db: &TestDb) {
    let queue = Queue::open(&db.url).expect("open");
    let id = queue
        .enqueue(
            NewJob::new("wait", json!(0))
                .queue("cancel-run")
                .max_attempts(5),
        )
        .expect("enqueue")
        .expect("added");
    let (started, starts) = mpsc::channel();
    let worker = Worker::builder(queue.connect_again().expect("connect"))
        .queue("cancel-run")
        .concurrency(1)
        .lease(Duration::from_millis(600))
        .exit_when_empty(true)
        .handle("wait", move |_job, ctx| {
            let _ = started.send(());
            while ctx.sleep(Duration::from_secs(60)) {}
            Err("stopped")
        })
        .build()
        .expect("build");
    let run = thread::spawn(move || worker.run());
    starts.recv().expect("the job started");
    assert_eq!(queue.cancel(id).expect("cancel"), CancelResult::Requested);
    let report = run.join().expect("worker thread").expect("run");
    assert_eq!(report.cancelled, 1);
    // The worker has returned, so what it recorded is in the database.
    let job = queue.job(id).expect("job").expect("the job");
    assert_eq!(job.state, JobState::Cancelled);
    assert_eq!(job.attempt, 1);
}

fn a_job_whose_lease_is_lost_is_stopped_and_not_recorded(db: &TestDb) {
    let queue = Queue::open(&db.url).expect("open");
    let id = queue
        .enqueue(NewJob::new("wait", json!(0)).queue("lost").max_attempts(5))
        .expect("enqueue")
        .expect("added");
    let (started, starts) = mpsc::channel();
    let (ended, ends) = mpsc::channel();
    let worker = Worker::builder(queue.connect_again().expect("connect"))
        .queue("lost")
        .concurrency(1)
        .lease(Duration::from_millis(900))
        .grace(Duration::ZERO)
        .handle("wait", move |_job, ctx| {
            let _ = started.send(());
            while ctx.sleep(Duration::from_secs(60)) {}
            let _ = ended.send(());
            Ok::<(), String>(())
        })
        .build()
        .expect("build");
    let stop = worker.shutdown_handle();
    let run = thread::spawn(move || worker.run());
    starts.recv().expect("the job started");
    // Another worker takes the job over, as if this worker's lease had expired.
    if db.url.starts_with("sqlite:") {
        let conn = rusqlite::Connection::open(db.url.trim_start_matches("sqlite:")).expect("open");
        conn.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        conn.execute(
            "UPDATE workpool_jobs SET attempt = attempt + 1 WHERE id = ?1",
            [id.0],
        )
        .expect("update");
    } else {
        db.pg_client()
            .execute(
                "UPDATE workpool_jobs SET attempt = attempt + 1 WHERE id = $1",
                &[&id.0],
            )
            .expect("update");
    }
    // The next renewal finds the lease lost and cancels the run; its completion is refused.
    ends.recv().expect("the lost run ended");
    stop.stop();
    let report = run.join().expect("worker thread").expect("run");
    assert_eq!((report.completed, report.refused), (0, 1));
    let job = queue.job(id).expect("job").expect("exists");
    assert_ne!(job.state, JobState::Completed);
}

/// The attempt numbers of the jobs among `ids` that wait to run.
fn waiting_attempts(queue: &Queue, ids: &[i64]) -> Vec<u32> {
    ids.iter()
        .filter_map(|&id| queue.job(workpool_queue::JobId(id)).expect("job"))
        .filter(|j| j.state == JobState::Available)
        .map(|j| j.attempt)
        .collect()
}

fn a_pool_of_slow_jobs_claims_no_more_than_it_runs(db: &TestDb) {
    let queue = Queue::open(&db.url).expect("open");
    let (stop, run) = two_endless_runs(&queue, "slow", 10);
    // No job has finished, so the worker has no rate to size a buffer by: it holds exactly
    // what its pool runs (the buffer is only for jobs that finish within milliseconds).
    let status = queue.status("slow").expect("status");
    assert_eq!((status.running, status.queued), (2, 8));
    stop.stop();
    let report = run.join().expect("worker thread").expect("run");
    assert_eq!((report.claimed, report.released), (2, 2));
    assert_eq!(queue.status("slow").expect("status").queued, 10);
}

fn buffered_jobs_stay_within_the_prefetch_and_are_handed_back_at_shutdown(db: &TestDb) {
    let queue = Queue::open(&db.url).expect("open");
    // Quick jobs first (higher priority) give the worker a high rate, so that it claims the
    // slow ones into its buffer; the slow ones then block the pool.
    let quick = (0..500).map(|i| NewJob::new("quick", json!(i)).queue("buffer").priority(9));
    queue.enqueue_many(quick).expect("enqueue");
    let slow: Vec<i64> = (0..100)
        .map(|i| {
            queue
                .enqueue(NewJob::new("wait", json!(i)).queue("buffer").priority(1))
                .expect("enqueue")
                .expect("added")
                .0
        })
        .collect();
    let (stop, run) = start_two_endless(
        Worker::builder(queue.connect_again().expect("connect"))
            .queue("buffer")
            .prefetch(20)
            .handle("quick", |_job, _ctx| Ok::<(), String>(())),
    );
    // Slow jobs do not finish before the shutdown, so every one claimed is held: running or
    // buffered. (The database's running count would also take in quick jobs that finished
    // but whose completions wait for the next group commit.)
    let held = slow
        .iter()
        .filter(|&&id| {
            queue
                .job(workpool_queue::JobId(id))
                .expect("job")
                .expect("exists")
                .state
                == JobState::Running
        })
        .count();
    assert!(
        (2..=2 + 20).contains(&held),
        "holds {held} slow jobs with 2 workers and a prefetch of 20"
    );
    stop.stop();
    let report = run.join().expect("worker thread").expect("run");
    assert_eq!(report.completed, 500);
    assert_eq!(report.released, report.claimed - 500);
    let status = queue.status("buffer").expect("status");
    assert_eq!(
        (status.completed, status.queued, status.running),
        (500, 100, 0)
    );
    // The two that ran spent an attempt; the buffered ones that never started did not.
    let mut attempts = waiting_attempts(&queue, &slow);
    attempts.sort_unstable();
    assert_eq!(attempts.len(), 100);
    assert_eq!(
        attempts.iter().filter(|&&a| a == 1).count(),
        2,
        "{attempts:?}"
    );
    assert!(attempts.iter().all(|&a| a <= 1), "{attempts:?}");
}

on_both!(
    every_job_runs_and_is_recorded_once,
    a_pool_of_slow_jobs_claims_no_more_than_it_runs,
    buffered_jobs_stay_within_the_prefetch_and_are_handed_back_at_shutdown,
    failures_are_retried_with_backoff_then_fail,
    shutdown_past_the_grace_ends_and_hands_back_running_jobs,
    a_cancel_reaches_the_running_job,
    a_job_whose_lease_is_lost_is_stopped_and_not_recorded,
);
