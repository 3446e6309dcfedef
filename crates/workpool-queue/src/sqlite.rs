//! The SQLite side of every queue operation. Writes run in `BEGIN IMMEDIATE` transactions,
//! which take the file's write lock at once, so two processes never both read a job as due
//! and both claim it. Time is this machine's clock, passed in as `now`.

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use crate::error::{Error, Result};
use crate::job::{ClaimedJob, Completion, JobId, JobInfo, JobState, NewJob};
use crate::queue::{CancelResult, FailedJob, QueueStatus, Renewal, WorkerId, WorkerInfo};

fn tx<'c>(c: &'c mut Connection, what: &'static str) -> Result<rusqlite::Transaction<'c>> {
    c.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| Error::sqlite(what, e))
}

pub(crate) fn enqueue(c: &mut Connection, jobs: &[NewJob], now: i64) -> Result<Vec<Option<JobId>>> {
    const WHAT: &str = "enqueue jobs";
    let e = |e| Error::sqlite(WHAT, e);
    let tx = tx(c, WHAT)?;
    let mut ids = Vec::with_capacity(jobs.len());
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO workpool_jobs (queue, kind, unique_key, args, priority, state, max_attempts, run_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'available', ?6, ?7, ?8) ON CONFLICT DO NOTHING",
            )
            .map_err(e)?;
        for job in jobs {
            let run_at = job
                .due_ms()
                .unwrap_or_else(|delay| now.saturating_add(delay));
            let added = insert
                .execute(params![
                    job.queue,
                    job.kind,
                    job.unique_key,
                    job.args.to_string(),
                    job.priority,
                    job.max_attempts,
                    run_at,
                    now
                ])
                .map_err(e)?;
            ids.push((added == 1).then(|| JobId(tx.last_insert_rowid())));
        }
    }
    tx.commit().map_err(e)?;
    Ok(ids)
}

pub(crate) fn claim(
    c: &mut Connection,
    queue: &str,
    worker: WorkerId,
    kinds: Option<&[String]>,
    n: i64,
    lease: i64,
    now: i64,
) -> Result<Vec<(ClaimedJob, i64)>> {
    const WHAT: &str = "claim jobs";
    let e = |e| Error::sqlite(WHAT, e);
    let kinds = kinds.map(|k| serde_json::Value::from(k.to_vec()).to_string());
    let tx = tx(c, WHAT)?;
    tx.prepare_cached(RESCUE)
        .map_err(e)?
        .execute(params![queue, now])
        .map_err(e)?;
    let jobs = {
        let mut claim = tx
            .prepare_cached(
                "UPDATE workpool_jobs SET state = 'running', attempt = attempt + 1, lease_until = ?1 + ?2,
                     worker = ?3, started_at = ?1
                 WHERE id IN (
                     SELECT id FROM workpool_jobs
                     WHERE queue = ?4 AND state = 'available' AND run_at <= ?1
                       AND (?5 IS NULL OR kind IN (SELECT value FROM json_each(?5)))
                     ORDER BY priority DESC, run_at, id LIMIT ?6)
                   AND NOT EXISTS (SELECT 1 FROM workpool_queues WHERE name = ?4 AND paused = 1)
                 RETURNING id, queue, kind, unique_key, args, priority, attempt, max_attempts, run_at",
            )
            .map_err(e)?;
        let rows = claim
            .query_map(params![now, lease, worker.0, queue, kinds, n], |r| {
                Ok((claimed(r)?, r.get::<_, i64>(8)?))
            })
            .map_err(e)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(e)?
    };
    tx.commit().map_err(e)?;
    Ok(jobs)
}

/// Jobs whose lease expired become available again at once, or end if they cannot run again.
/// A lost lease is not the job's failure (its worker died or lost the database), so it does
/// not spend the job's attempts; only a job that lost three leases beyond its attempts (one that kills every worker that runs it) is failed.
const RESCUE: &str = "UPDATE workpool_jobs SET
        state = CASE WHEN cancel_requested = 1 THEN 'cancelled'
                     WHEN attempt >= max_attempts + 3 THEN 'failed' ELSE 'available' END,
        finished_at = CASE WHEN cancel_requested = 1 OR attempt >= max_attempts + 3 THEN ?2 END,
        last_error = 'the lease of attempt ' || attempt || ' expired: its worker stopped or lost the database',
        run_at = ?2, lease_until = NULL, worker = NULL
    WHERE queue = ?1 AND state = 'running' AND lease_until < ?2";

fn claimed(r: &Row<'_>) -> rusqlite::Result<ClaimedJob> {
    Ok(ClaimedJob {
        id: JobId(r.get(0)?),
        queue: r.get(1)?,
        kind: r.get(2)?,
        unique_key: r.get(3)?,
        args: parse_json(&r.get::<_, String>(4)?),
        priority: r.get(5)?,
        attempt: r.get(6)?,
        max_attempts: r.get(7)?,
    })
}

pub(crate) fn parse_json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

pub(crate) fn renew(
    c: &mut Connection,
    worker: WorkerId,
    running: &[(JobId, u32)],
    lease: i64,
    now: i64,
) -> Result<Renewal> {
    const WHAT: &str = "renew leases";
    let e = |e| Error::sqlite(WHAT, e);
    let tx = tx(c, WHAT)?;
    let mut renewal = Renewal::default();
    {
        let mut renew = tx
            .prepare_cached(
                "UPDATE workpool_jobs SET lease_until = ?1 + ?2
                 WHERE id = ?3 AND attempt = ?4 AND state = 'running'
                 RETURNING cancel_requested",
            )
            .map_err(e)?;
        for &(id, attempt) in running {
            let cancel: Option<bool> = renew
                .query_row(params![now, lease, id.0, attempt], |r| r.get(0))
                .optional()
                .map_err(e)?;
            match cancel {
                None => renewal.lost.push(id),
                Some(true) => renewal.cancel_requested.push(id),
                Some(false) => {}
            }
        }
        tx.execute(
            "UPDATE workpool_workers SET heartbeat_at = ?1, running = ?2 WHERE id = ?3",
            params![now, running.len() as i64, worker.0],
        )
        .map_err(e)?;
    }
    tx.commit().map_err(e)?;
    Ok(renewal)
}

pub(crate) fn complete(c: &mut Connection, done: &[Completion], now: i64) -> Result<Vec<JobId>> {
    const WHAT: &str = "record completed jobs";
    let e = |e| Error::sqlite(WHAT, e);
    let tx = tx(c, WHAT)?;
    let mut accepted = Vec::with_capacity(done.len());
    {
        let mut update = tx
            .prepare_cached(
                "UPDATE workpool_jobs SET
                     state = CASE WHEN cancel_requested = 1 AND ?3 = 'available' THEN 'cancelled' ELSE ?3 END,
                     finished_at = CASE WHEN ?3 = 'available' AND cancel_requested = 0 THEN NULL ELSE ?7 END,
                     run_at = CASE WHEN ?3 = 'available' THEN ?7 + ?6 ELSE run_at END,
                     last_error = COALESCE(?4, last_error),
                     output = COALESCE(?5, output),
                     attempt = attempt - ?8,
                     lease_until = NULL, worker = NULL
                 WHERE id = ?1 AND attempt = ?2 AND state = 'running'",
            )
            .map_err(e)?;
        for completion in done {
            let (state, error, output, delay, uncount) = completion.columns();
            let n = update
                .execute(params![
                    completion.id.0,
                    completion.attempt,
                    state,
                    error,
                    output,
                    delay,
                    now,
                    uncount
                ])
                .map_err(e)?;
            if n == 1 {
                accepted.push(completion.id);
            }
        }
    }
    tx.commit().map_err(e)?;
    Ok(accepted)
}

pub(crate) fn cancel(c: &mut Connection, id: JobId, now: i64) -> Result<CancelResult> {
    const WHAT: &str = "cancel the job";
    let e = |e| Error::sqlite(WHAT, e);
    let tx = tx(c, WHAT)?;
    let result = if tx
        .execute(
            "UPDATE workpool_jobs SET state = 'cancelled', finished_at = ?2 WHERE id = ?1 AND state = 'available'",
            params![id.0, now],
        )
        .map_err(e)?
        == 1
    {
        CancelResult::Cancelled
    } else if tx
        .execute(
            "UPDATE workpool_jobs SET cancel_requested = 1 WHERE id = ?1 AND state = 'running'",
            params![id.0],
        )
        .map_err(e)?
        == 1
    {
        CancelResult::Requested
    } else {
        let state: Option<String> = tx
            .query_row(
                "SELECT state FROM workpool_jobs WHERE id = ?1",
                params![id.0],
                |r| r.get(0),
            )
            .optional()
            .map_err(e)?;
        match state.as_deref().and_then(JobState::parse) {
            Some(state) => CancelResult::Finished(state),
            None => CancelResult::NotFound,
        }
    };
    tx.commit().map_err(e)?;
    Ok(result)
}

pub(crate) fn retry(
    c: &mut Connection,
    id: Option<JobId>,
    queue: Option<&str>,
    now: i64,
) -> Result<u64> {
    const WHAT: &str = "retry jobs";
    let n = c
        .execute(
            "UPDATE workpool_jobs SET state = 'available', attempt = 0, run_at = ?3, finished_at = NULL,
                 cancel_requested = 0
             WHERE (id = ?1 AND state IN ('failed', 'cancelled')) OR (queue = ?2 AND state = 'failed')",
            params![id.map(|id| id.0), queue, now],
        )
        .map_err(|e| Error::sqlite(WHAT, e))?;
    Ok(n as u64)
}

pub(crate) fn set_paused(c: &mut Connection, queue: &str, paused: bool) -> Result<()> {
    c.execute(
        "INSERT INTO workpool_queues (name, paused) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET paused = excluded.paused",
        params![queue, paused],
    )
    .map_err(|e| Error::sqlite("pause or resume the queue", e))?;
    Ok(())
}

/// A statement written for PostgreSQL (`$1`) with SQLite's numbered parameters (`?1`):
/// SQLite takes `$1` as a name, numbered in the order the names first appear.
fn numbered(sql: &str) -> String {
    sql.replace('$', "?")
}

/// A queue's counts by state (and, for available jobs, due later or not), each part through
/// the index that holds that state.
pub(crate) const COUNTS: &str = "
    SELECT state, run_at > $2, COUNT(*) FROM workpool_jobs
        WHERE queue = $1 AND state = 'available' GROUP BY 1, 2
    UNION ALL
    SELECT 'running', false, COUNT(*) FROM workpool_jobs WHERE queue = $1 AND state = 'running'
    UNION ALL
    SELECT state, false, COUNT(*) FROM workpool_jobs
        WHERE queue = $1 AND state NOT IN ('available', 'running') GROUP BY 1";

pub(crate) fn status(c: &mut Connection, queue: &str, now: i64) -> Result<QueueStatus> {
    const WHAT: &str = "read the queue's status";
    let e = |e| Error::sqlite(WHAT, e);
    let tx = c.transaction().map_err(e)?;
    let mut status = empty_status(queue);
    {
        let mut counts = tx.prepare(&numbered(COUNTS)).map_err(e)?;
        let rows = counts
            .query_map(params![queue, now], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(e)?;
        for row in rows {
            let (state, later, n) = row.map_err(e)?;
            add_count(&mut status, &state, later, n);
        }
        let oldest: Option<i64> = tx
            .query_row(
                "SELECT MIN(run_at) FROM workpool_jobs WHERE queue = ?1 AND state = 'available' AND run_at <= ?2",
                params![queue, now],
                |r| r.get(0),
            )
            .map_err(e)?;
        status.oldest_queued_age_ms = oldest.map(|t| (now - t).max(0));
        let finished: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM workpool_jobs WHERE queue = ?1 AND state IN ('completed', 'failed')
                   AND finished_at >= ?2",
                params![queue, now - 60_000],
                |r| r.get(0),
            )
            .map_err(e)?;
        status.jobs_per_second = finished as f64 / 60.0;
        status.paused = tx
            .query_row(
                "SELECT paused FROM workpool_queues WHERE name = ?1",
                params![queue],
                |r| r.get(0),
            )
            .optional()
            .map_err(e)?
            .unwrap_or(false);
        let mut workers = tx
            .prepare(
                "SELECT id, host, pid, running, heartbeat_at, started_at FROM workpool_workers
                 WHERE queue = ?1 AND heartbeat_at + lease_ms >= ?2 ORDER BY id",
            )
            .map_err(e)?;
        let rows = workers
            .query_map(params![queue, now], |r| {
                Ok(WorkerInfo {
                    id: r.get(0)?,
                    host: r.get(1)?,
                    pid: r.get(2)?,
                    running: r.get(3)?,
                    last_heartbeat_ms: r.get(4)?,
                    started_ms: r.get(5)?,
                })
            })
            .map_err(e)?;
        status.workers = rows.collect::<rusqlite::Result<_>>().map_err(e)?;
    }
    tx.commit().map_err(e)?;
    Ok(status)
}

pub(crate) fn empty_status(queue: &str) -> QueueStatus {
    QueueStatus {
        queue: queue.to_owned(),
        paused: false,
        queued: 0,
        scheduled: 0,
        running: 0,
        completed: 0,
        failed: 0,
        cancelled: 0,
        oldest_queued_age_ms: None,
        jobs_per_second: 0.0,
        workers: Vec::new(),
    }
}

pub(crate) fn add_count(status: &mut QueueStatus, state: &str, later: bool, n: i64) {
    let n = u64::try_from(n).unwrap_or(0);
    match (JobState::parse(state), later) {
        (Some(JobState::Available), false) => status.queued += n,
        (Some(JobState::Available), true) => status.scheduled += n,
        (Some(JobState::Running), _) => status.running += n,
        (Some(JobState::Completed), _) => status.completed += n,
        (Some(JobState::Failed), _) => status.failed += n,
        (Some(JobState::Cancelled), _) => status.cancelled += n,
        (None, _) => {}
    }
}

/// The queues a database knows. The jobs' queues are found by skipping through the index
/// that leads with the queue (one probe per queue), not by reading every job.
pub(crate) const QUEUES: &str = "
    WITH RECURSIVE names(name) AS (
        SELECT (SELECT MIN(queue) FROM workpool_jobs)
        UNION ALL
        SELECT (SELECT MIN(queue) FROM workpool_jobs WHERE queue > names.name)
        FROM names WHERE names.name IS NOT NULL
    )
    SELECT name FROM names WHERE name IS NOT NULL
    UNION SELECT name FROM workpool_queues
    UNION SELECT queue FROM workpool_workers
    ORDER BY 1";

/// The jobs of a queue that failed last.
pub(crate) const RECENT_FAILURES: &str = "
    SELECT id, unique_key, kind, attempt, last_error, finished_at FROM workpool_jobs
    WHERE queue = $1 AND state = 'failed' ORDER BY finished_at DESC, id DESC LIMIT $2";

pub(crate) fn queues(c: &mut Connection) -> Result<Vec<String>> {
    const WHAT: &str = "list the queues";
    let e = |e| Error::sqlite(WHAT, e);
    let mut statement = c.prepare_cached(QUEUES).map_err(e)?;
    let rows = statement.query_map([], |r| r.get(0)).map_err(e)?;
    rows.collect::<rusqlite::Result<_>>().map_err(e)
}

pub(crate) fn recent_failures(
    c: &mut Connection,
    queue: &str,
    limit: i64,
) -> Result<Vec<FailedJob>> {
    const WHAT: &str = "read the failed jobs";
    let e = |e| Error::sqlite(WHAT, e);
    let mut statement = c.prepare_cached(&numbered(RECENT_FAILURES)).map_err(e)?;
    let rows = statement
        .query_map(params![queue, limit], |r| {
            Ok(FailedJob {
                id: r.get(0)?,
                key: r.get(1)?,
                kind: r.get(2)?,
                attempt: r.get(3)?,
                error: r.get(4)?,
                finished_ms: r.get(5)?,
            })
        })
        .map_err(e)?;
    rows.collect::<rusqlite::Result<_>>().map_err(e)
}

pub(crate) fn has_unfinished(c: &mut Connection, queue: &str) -> Result<bool> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM workpool_jobs WHERE queue = ?1 AND state IN ('available', 'running'))",
        params![queue],
        |r| r.get(0),
    )
    .map_err(|e| Error::sqlite("read the queue's status", e))
}

pub(crate) fn job(
    c: &mut Connection,
    id: Option<JobId>,
    key: Option<(&str, &str)>,
) -> Result<Option<JobInfo>> {
    let (queue, key) = key.unzip();
    c.query_row(
        "SELECT id, queue, kind, unique_key, args, state, priority, attempt, max_attempts, run_at,
                worker, cancel_requested, last_error, output
         FROM workpool_jobs WHERE id = ?1 OR (queue = ?2 AND unique_key = ?3)",
        params![id.map(|id| id.0), queue, key],
        |r| {
            Ok(JobInfo {
                id: JobId(r.get(0)?),
                queue: r.get(1)?,
                kind: r.get(2)?,
                unique_key: r.get(3)?,
                args: parse_json(&r.get::<_, String>(4)?),
                state: JobState::parse(&r.get::<_, String>(5)?).unwrap_or(JobState::Failed),
                priority: r.get(6)?,
                attempt: r.get(7)?,
                max_attempts: r.get(8)?,
                run_at_ms: r.get(9)?,
                worker: r.get(10)?,
                cancel_requested: r.get(11)?,
                last_error: r.get(12)?,
                output: r.get::<_, Option<String>>(13)?.map(|t| parse_json(&t)),
            })
        },
    )
    .optional()
    .map_err(|e| Error::sqlite("read the job", e))
}

pub(crate) fn register(
    c: &mut Connection,
    queue: &str,
    host: &str,
    pid: i64,
    lease: i64,
    now: i64,
) -> Result<WorkerId> {
    const WHAT: &str = "register the worker";
    let e = |e| Error::sqlite(WHAT, e);
    // Registrations of workers dead for a day are of no use to anyone.
    c.execute(
        "DELETE FROM workpool_workers WHERE heartbeat_at < ?1",
        params![now - 86_400_000],
    )
    .map_err(e)?;
    c.execute(
        "INSERT INTO workpool_workers (queue, host, pid, started_at, heartbeat_at, lease_ms)
         VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
        params![queue, host, pid, now, lease],
    )
    .map_err(e)?;
    Ok(WorkerId(c.last_insert_rowid()))
}

pub(crate) fn deregister(c: &mut Connection, worker: WorkerId) -> Result<()> {
    c.execute(
        "DELETE FROM workpool_workers WHERE id = ?1",
        params![worker.0],
    )
    .map_err(|e| Error::sqlite("deregister the worker", e))?;
    Ok(())
}
