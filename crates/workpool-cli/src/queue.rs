//! The durable queue's small subcommands: `submit`, `status`, `cancel`, `retry`, `pause` and
//! `resume`. `worker` is in [`crate::worker`].

use std::fs::File;
use std::io::{self, BufReader, Write};

use serde_json::{json, Map, Value};
use workpool_queue::{CancelResult, JobId, JobInfo, NewJob, Queue, QueueStatus};

use crate::cli::{CancelArgs, DbArgs, RetryArgs, StatusArgs, SubmitArgs};
use crate::error::CliError;
use crate::exit::Exit;
use crate::input::{read_jobs_as, Dialect, Due, JobSpec};
use crate::units::fmt_duration;

/// The kind of every job that `submit` adds and `worker` runs.
pub const COMMAND_KIND: &str = "command";

/// Opens the queue database named by `--db`.
pub fn open(db: &DbArgs) -> Result<Queue, CliError> {
    if db.queue.is_empty() {
        return Err(CliError::usage("--queue must not be empty"));
    }
    Ok(Queue::open(&db.url.db)?)
}

/// `workpool submit`.
pub fn submit(args: &SubmitArgs) -> Result<Exit, CliError> {
    let specs = match args.file.as_ref().filter(|p| p.as_os_str() != "-") {
        Some(path) => {
            let file = File::open(path).map_err(|e| CliError::io("cannot open", path, e))?;
            read_jobs_as(
                BufReader::new(file),
                &path.display().to_string(),
                Dialect::Submit,
            )?
        }
        None => read_jobs_as(io::stdin().lock(), "standard input", Dialect::Submit)?,
    };
    let queue = open(&args.db)?;
    let jobs = specs
        .iter()
        .map(|spec| new_job(spec, &args.db.queue, args.retries));
    let report = queue.enqueue_many(jobs)?;
    println!(
        "added {} jobs, {} already there (queue {})",
        report.added, report.existing, args.db.queue
    );
    Ok(Exit::Success)
}

/// A job of the list as a queue job: its command, environment, directory and timeout as
/// arguments; its id (else its command) as unique key.
fn new_job(spec: &JobSpec, queue: &str, retries: u32) -> NewJob {
    let mut job_args = Map::new();
    job_args.insert("cmd".into(), json!(spec.cmd));
    if !spec.env.is_empty() {
        let env: Map<String, Value> = spec
            .env
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        job_args.insert("env".into(), Value::Object(env));
    }
    if let Some(cwd) = &spec.cwd {
        job_args.insert("cwd".into(), json!(cwd.display().to_string()));
    }
    if let Some(timeout) = spec.timeout {
        job_args.insert("timeout_ms".into(), json!(timeout.as_millis() as u64));
    }
    let key = if spec.explicit_id {
        &spec.id
    } else {
        &spec.cmd
    };
    let attempts = spec.retries.unwrap_or(retries).saturating_add(1);
    let job = NewJob::new(COMMAND_KIND, Value::Object(job_args))
        .queue(spec.queue.as_deref().unwrap_or(queue))
        .unique(key.as_str())
        .priority(spec.priority)
        .max_attempts(attempts);
    match spec.due {
        Some(Due::Delay(d)) => job.delay(d),
        Some(Due::At(at)) => job.run_at(at),
        None => job,
    }
}

/// `workpool status`.
pub fn status(args: &StatusArgs) -> Result<Exit, CliError> {
    let queue = open(&args.db)?;
    let status = queue.status(&args.db.queue)?;
    let text = if args.json {
        let mut value = serde_json::to_value(&status).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.insert("database".into(), json!(queue.url()));
        }
        format!("{value}\n")
    } else {
        render_status(&status, &queue.url())
    };
    let mut out = io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    Ok(Exit::Success)
}

fn render_status(s: &QueueStatus, url: &str) -> String {
    let mut text = format!(
        "queue {}{} in {url}\n  queued {}, scheduled {}, running {}, completed {}, failed {}, cancelled {}\n",
        s.queue,
        if s.paused { " (paused)" } else { "" },
        s.queued,
        s.scheduled,
        s.running,
        s.completed,
        s.failed,
        s.cancelled
    );
    if let Some(age) = s.oldest_queued_age_ms {
        let age = std::time::Duration::from_millis(u64::try_from(age).unwrap_or(0));
        text.push_str(&format!(
            "  oldest queued job waiting {}\n",
            fmt_duration(age)
        ));
    }
    text.push_str(&format!(
        "  {:.1} jobs/s over the last minute\n  {} live workers\n",
        s.jobs_per_second,
        s.workers.len()
    ));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    for w in &s.workers {
        let beat =
            std::time::Duration::from_millis(u64::try_from(now - w.last_heartbeat_ms).unwrap_or(0));
        text.push_str(&format!(
            "    {} pid {}: {} running, last heartbeat {} ago\n",
            w.host,
            w.pid,
            w.running,
            fmt_duration(beat)
        ));
    }
    text
}

/// The job named `id` in the queue: by unique key, else by its number in the database.
fn find(queue: &Queue, db: &DbArgs, id: &str) -> Result<JobInfo, CliError> {
    if let Some(job) = queue.find(&db.queue, id)? {
        return Ok(job);
    }
    if let Ok(n) = id.parse::<i64>() {
        if let Some(job) = queue.job(JobId(n))? {
            return Ok(job);
        }
    }
    Err(CliError::usage(format!(
        "no job \"{id}\" in queue \"{}\"",
        db.queue
    )))
}

/// `workpool cancel`.
pub fn cancel(args: &CancelArgs) -> Result<Exit, CliError> {
    let queue = open(&args.db)?;
    let job = find(&queue, &args.db, &args.id)?;
    Ok(match queue.cancel(job.id)? {
        CancelResult::Cancelled => {
            println!("cancelled job {}", args.id);
            Exit::Success
        }
        CancelResult::Requested => {
            println!(
                "job {} is running: its worker ends it within a third of its lease",
                args.id
            );
            Exit::Success
        }
        CancelResult::Finished(state) => {
            println!("job {} had ended already ({state})", args.id);
            Exit::JobsFailed
        }
        CancelResult::NotFound => {
            return Err(CliError::usage(format!(
                "no job \"{}\" in queue \"{}\"",
                args.id, args.db.queue
            )))
        }
    })
}

/// `workpool retry`.
pub fn retry(args: &RetryArgs) -> Result<Exit, CliError> {
    let queue = open(&args.db)?;
    match &args.id {
        Some(id) if !args.failed => {
            let job = find(&queue, &args.db, id)?;
            if queue.retry(job.id)? {
                println!("job {id} is due again");
                Ok(Exit::Success)
            } else {
                println!(
                    "job {id} is {}, not failed or cancelled: nothing to retry",
                    job.state
                );
                Ok(Exit::JobsFailed)
            }
        }
        _ => {
            let n = queue.retry_failed(&args.db.queue)?;
            println!("{n} failed jobs are due again (queue {})", args.db.queue);
            Ok(Exit::Success)
        }
    }
}

/// `workpool pause` and `workpool resume`.
pub fn pause(args: &DbArgs, paused: bool) -> Result<Exit, CliError> {
    let queue = open(args)?;
    queue.set_paused(&args.queue, paused)?;
    if paused {
        println!(
            "queue {} paused: workers claim nothing from it until it is resumed",
            args.queue
        );
    } else {
        println!("queue {} resumed", args.queue);
    }
    Ok(Exit::Success)
}
