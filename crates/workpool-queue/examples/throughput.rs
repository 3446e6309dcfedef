//! No-op jobs per second through the library, enqueue and processing timed apart.
//!
//! ```sh
//! cargo run --release -p workpool-queue --example throughput -- URL QUEUE JOBS CONCURRENCY MODE
//! ```
//!
//! MODE is `enqueue` (add JOBS no-op jobs to QUEUE), `process` (run QUEUE's jobs until it is
//! empty) or `both`. Each prints one line: `enqueue|process N jobs in S s: R jobs/s`.
//! `benches/queue-throughput.sh` runs it beside `workpool worker` and graphile-worker.

use std::time::Instant;

use serde_json::json;
use workpool_queue::{NewJob, Queue, Worker};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, queue_name, jobs, concurrency, mode] = args.as_slice() else {
        return Err("usage: throughput URL QUEUE JOBS CONCURRENCY enqueue|process|both".into());
    };
    let jobs: u64 = jobs.parse()?;
    let concurrency: usize = concurrency.parse()?;
    let queue = Queue::open(url)?;
    if mode == "enqueue" || mode == "both" {
        let start = Instant::now();
        let report = queue.enqueue_many(
            (0..jobs).map(|i| NewJob::new("noop", json!({"i": i})).queue(queue_name.as_str())),
        )?;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "enqueue {} jobs in {secs:.2} s: {:.0} jobs/s",
            report.added,
            report.added as f64 / secs
        );
    }
    if mode == "process" || mode == "both" {
        let start = Instant::now();
        let report = Worker::builder(queue)
            .queue(queue_name.as_str())
            .concurrency(concurrency)
            .exit_when_empty(true)
            .handle("noop", |_job, _ctx| Ok::<(), String>(()))
            .build()?
            .run()?;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "process {} jobs in {secs:.2} s: {:.0} jobs/s",
            report.completed,
            report.completed as f64 / secs
        );
    }
    Ok(())
}
