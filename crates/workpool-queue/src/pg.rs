//! The PostgreSQL side of every queue operation. Batches travel as arrays (`unnest`), so one
//! statement covers a whole batch; claims lock with `FOR UPDATE SKIP LOCKED`, so workers on
//! many machines never wait for each other's rows. Time is the server's clock, so that the
//! machines' clocks need not agree.

use postgres::Row;

use crate::db::Pg;
use crate::error::Result;
use crate::job::{ClaimedJob, Completion, JobId, JobInfo, JobState, NewJob};
use crate::queue::{CancelResult, FailedJob, QueueStatus, Renewal, WorkerId, WorkerInfo};
use crate::sqlite::{add_count, empty_status, parse_json};

/// The server's time in unix milliseconds.
macro_rules! now {
    () => {
        "(extract(epoch from clock_timestamp()) * 1000)::bigint"
    };
}

/// The channel on which an enqueue wakes idle workers; the payload is the queue's name.
pub(crate) const CHANNEL: &str = "workpool_jobs";

fn small(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

const ENQUEUE: &str = concat!(
    "INSERT INTO workpool_jobs (queue, kind, unique_key, args, priority, state, max_attempts, run_at, created_at)
     SELECT q, k, u, a, p, 'available', m, COALESCE(t, ", now!(), " + d), ", now!(), "
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::bigint[], $8::bigint[])
       WITH ORDINALITY AS j(q, k, u, a, p, m, t, d, n)
     ORDER BY n
     ON CONFLICT DO NOTHING
     RETURNING id, unique_key, queue"
);

pub(crate) fn enqueue(pg: &mut Pg, jobs: &[NewJob]) -> Result<Vec<Option<JobId>>> {
    let mut queues = Vec::with_capacity(jobs.len());
    let mut kinds = Vec::with_capacity(jobs.len());
    let mut keys = Vec::with_capacity(jobs.len());
    let mut args = Vec::with_capacity(jobs.len());
    let mut priorities = Vec::with_capacity(jobs.len());
    let mut attempts = Vec::with_capacity(jobs.len());
    let mut at = Vec::with_capacity(jobs.len());
    let mut delay = Vec::with_capacity(jobs.len());
    for job in jobs {
        queues.push(job.queue.as_str());
        kinds.push(job.kind.as_str());
        keys.push(job.unique_key.as_deref());
        args.push(job.args.to_string());
        priorities.push(i32::from(job.priority));
        attempts.push(small(job.max_attempts));
        match job.due_ms() {
            Ok(ms) => {
                at.push(Some(ms));
                delay.push(0);
            }
            Err(ms) => {
                at.push(None);
                delay.push(ms);
            }
        }
    }
    let mut distinct: Vec<&str> = queues.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let insert = pg.prepared(ENQUEUE)?;
    pg.run("enqueue jobs", |client| {
        let mut tx = client.transaction()?;
        let rows = tx.query(
            &insert,
            &[
                &queues,
                &kinds,
                &keys,
                &args,
                &priorities,
                &attempts,
                &at,
                &delay,
            ],
        )?;
        if !rows.is_empty() {
            tx.execute(
                "SELECT pg_notify($1, q) FROM unnest($2::text[]) AS q",
                &[&CHANNEL, &distinct],
            )?;
        }
        tx.commit()?;
        Ok(match_ids(jobs, &rows))
    })
}

/// Puts the returned ids back in the order of `jobs` (`None` for those not added).
fn match_ids(jobs: &[NewJob], rows: &[Row]) -> Vec<Option<JobId>> {
    if rows.len() == jobs.len() {
        // Everything was added; RETURNING follows the insertion order (ORDER BY n).
        return rows.iter().map(|r| Some(JobId(r.get(0)))).collect();
    }
    let mut by_key = std::collections::HashMap::new();
    let mut keyless = Vec::new();
    for row in rows {
        let id = JobId(row.get(0));
        match row.get::<_, Option<String>>(1) {
            Some(key) => {
                by_key.insert((row.get::<_, String>(2), key), id);
            }
            None => keyless.push(id),
        }
    }
    let mut keyless = keyless.into_iter();
    jobs.iter()
        .map(|job| match &job.unique_key {
            Some(key) => by_key.remove(&(job.queue.clone(), key.clone())),
            None => keyless.next(),
        })
        .collect()
}

/// The rescue runs in the same statement as the claim; the jobs it makes available are
/// claimable by the next claim (a statement sees the rows as they were when it began).
const CLAIM: &str = concat!(
    "WITH rescued AS (
        UPDATE workpool_jobs SET
            state = CASE WHEN cancel_requested THEN 'cancelled'
                         WHEN attempt >= max_attempts + 3 THEN 'failed' ELSE 'available' END,
            finished_at = CASE WHEN cancel_requested OR attempt >= max_attempts + 3 THEN ", now!(), " END,
            last_error = 'the lease of attempt ' || attempt || ' expired: its worker stopped or lost the database',
            run_at = ", now!(), ", lease_until = NULL, worker = NULL
        WHERE queue = $1 AND state = 'running' AND lease_until < ", now!(), "
    ), picked AS (
        SELECT id FROM workpool_jobs
        WHERE queue = $1 AND state = 'available' AND run_at <= ", now!(), "
          AND ($2::text[] IS NULL OR kind = ANY($2))
          AND NOT EXISTS (SELECT 1 FROM workpool_queues WHERE name = $1 AND paused)
        ORDER BY priority DESC, run_at, id
        LIMIT $3
        FOR UPDATE SKIP LOCKED
    )
    UPDATE workpool_jobs j SET state = 'running', attempt = j.attempt + 1,
        lease_until = ", now!(), " + $4, worker = $5, started_at = ", now!(), "
    FROM picked WHERE j.id = picked.id
    RETURNING j.id, j.queue, j.kind, j.unique_key, j.args, j.priority, j.attempt, j.max_attempts, j.run_at"
);

pub(crate) fn claim(
    pg: &mut Pg,
    queue: &str,
    worker: WorkerId,
    kinds: Option<&[String]>,
    n: i64,
    lease: i64,
) -> Result<Vec<(ClaimedJob, i64)>> {
    let statement = pg.prepared(CLAIM)?;
    pg.run("claim jobs", |client| {
        let rows = client.query(&statement, &[&queue, &kinds, &n, &lease, &worker.0])?;
        Ok(rows
            .iter()
            .map(|r| (claimed(r), r.get::<_, i64>(8)))
            .collect())
    })
}

fn claimed(r: &Row) -> ClaimedJob {
    ClaimedJob {
        id: JobId(r.get(0)),
        queue: r.get(1),
        kind: r.get(2),
        unique_key: r.get(3),
        args: parse_json(r.get(4)),
        priority: u8::try_from(r.get::<_, i32>(5)).unwrap_or(u8::MAX),
        attempt: u32::try_from(r.get::<_, i32>(6)).unwrap_or(0),
        max_attempts: u32::try_from(r.get::<_, i32>(7)).unwrap_or(1),
    }
}

const RENEW: &str = concat!(
    "WITH beat AS (
        UPDATE workpool_workers SET heartbeat_at = ",
    now!(),
    ", running = $4 WHERE id = $5
    )
    UPDATE workpool_jobs j SET lease_until = ",
    now!(),
    " + $1
    FROM unnest($2::bigint[], $3::int[]) AS r(id, attempt)
    WHERE j.id = r.id AND j.attempt = r.attempt AND j.state = 'running'
    RETURNING j.id, j.cancel_requested"
);

pub(crate) fn renew(
    pg: &mut Pg,
    worker: WorkerId,
    running: &[(JobId, u32)],
    lease: i64,
) -> Result<Renewal> {
    let ids: Vec<i64> = running.iter().map(|(id, _)| id.0).collect();
    let attempts: Vec<i32> = running.iter().map(|&(_, a)| small(a)).collect();
    let count = running.len() as i64;
    let statement = pg.prepared(RENEW)?;
    pg.run("renew leases", |client| {
        let rows = client.query(&statement, &[&lease, &ids, &attempts, &count, &worker.0])?;
        let mut renewal = Renewal::default();
        let mut held = std::collections::HashSet::new();
        for row in &rows {
            let id = JobId(row.get(0));
            held.insert(id);
            if row.get::<_, bool>(1) {
                renewal.cancel_requested.push(id);
            }
        }
        renewal.lost = running
            .iter()
            .map(|&(id, _)| id)
            .filter(|id| !held.contains(id))
            .collect();
        Ok(renewal)
    })
}

const COMPLETE: &str = concat!(
    "UPDATE workpool_jobs j SET
        state = CASE WHEN j.cancel_requested AND c.state = 'available' THEN 'cancelled' ELSE c.state END,
        finished_at = CASE WHEN c.state = 'available' AND NOT j.cancel_requested THEN NULL ELSE ", now!(), " END,
        run_at = CASE WHEN c.state = 'available' THEN ", now!(), " + c.delay ELSE j.run_at END,
        last_error = COALESCE(c.error, j.last_error),
        output = COALESCE(c.output, j.output),
        attempt = j.attempt - c.uncount,
        lease_until = NULL, worker = NULL
    FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::int[])
        AS c(id, attempt, state, error, output, delay, uncount)
    WHERE j.id = c.id AND j.attempt = c.attempt AND j.state = 'running'
    RETURNING j.id"
);

pub(crate) fn complete(pg: &mut Pg, done: &[Completion]) -> Result<Vec<JobId>> {
    let mut ids = Vec::with_capacity(done.len());
    let mut attempts = Vec::with_capacity(done.len());
    let mut states = Vec::with_capacity(done.len());
    let mut errors = Vec::with_capacity(done.len());
    let mut outputs = Vec::with_capacity(done.len());
    let mut delays = Vec::with_capacity(done.len());
    let mut uncounts = Vec::with_capacity(done.len());
    for completion in done {
        let (state, error, output, delay, uncount) = completion.columns();
        ids.push(completion.id.0);
        attempts.push(small(completion.attempt));
        states.push(state);
        errors.push(error);
        outputs.push(output);
        delays.push(delay);
        uncounts.push(uncount);
    }
    let statement = pg.prepared(COMPLETE)?;
    pg.run("record completed jobs", |client| {
        let rows = client.query(
            &statement,
            &[
                &ids, &attempts, &states, &errors, &outputs, &delays, &uncounts,
            ],
        )?;
        Ok(rows.iter().map(|r| JobId(r.get(0))).collect())
    })
}

pub(crate) fn cancel(pg: &mut Pg, id: JobId) -> Result<CancelResult> {
    pg.run("cancel the job", |client| {
        let mut tx = client.transaction()?;
        let result = if tx.execute(
            concat!(
                "UPDATE workpool_jobs SET state = 'cancelled', finished_at = ",
                now!(),
                " WHERE id = $1 AND state = 'available'"
            ),
            &[&id.0],
        )? == 1
        {
            CancelResult::Cancelled
        } else if tx.execute(
            "UPDATE workpool_jobs SET cancel_requested = true WHERE id = $1 AND state = 'running'",
            &[&id.0],
        )? == 1
        {
            CancelResult::Requested
        } else {
            let row = tx.query_opt("SELECT state FROM workpool_jobs WHERE id = $1", &[&id.0])?;
            match row.and_then(|r| JobState::parse(r.get(0))) {
                Some(state) => CancelResult::Finished(state),
                None => CancelResult::NotFound,
            }
        };
        tx.commit()?;
        Ok(result)
    })
}

pub(crate) fn retry(pg: &mut Pg, id: Option<JobId>, queue: Option<&str>) -> Result<u64> {
    let id = id.map(|id| id.0);
    pg.run("retry jobs", |client| {
        client.execute(
            concat!(
                "UPDATE workpool_jobs SET state = 'available', attempt = 0, run_at = ", now!(), ",
                     finished_at = NULL, cancel_requested = false
                 WHERE (id = $1 AND state IN ('failed', 'cancelled')) OR (queue = $2 AND state = 'failed')"
            ),
            &[&id, &queue],
        )
    })
}

pub(crate) fn set_paused(pg: &mut Pg, queue: &str, paused: bool) -> Result<()> {
    pg.run("pause or resume the queue", |client| {
        client.execute(
            "INSERT INTO workpool_queues (name, paused) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET paused = excluded.paused",
            &[&queue, &paused],
        )?;
        if !paused {
            client.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &queue])?;
        }
        Ok(())
    })
}

pub(crate) fn status(pg: &mut Pg, queue: &str) -> Result<QueueStatus> {
    pg.run("read the queue's status", |client| {
        let mut tx = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let now: i64 = tx.query_one(concat!("SELECT ", now!()), &[])?.get(0);
        let mut status = empty_status(queue);
        for row in tx.query(
            crate::sqlite::COUNTS,
            &[&queue, &now],
        )? {
            add_count(&mut status, row.get(0), row.get(1), row.get(2));
        }
        let oldest: Option<i64> = tx
            .query_one(
                "SELECT MIN(run_at) FROM workpool_jobs WHERE queue = $1 AND state = 'available' AND run_at <= $2",
                &[&queue, &now],
            )?
            .get(0);
        status.oldest_queued_age_ms = oldest.map(|t| (now - t).max(0));
        let finished: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM workpool_jobs WHERE queue = $1 AND state IN ('completed', 'failed')
                   AND finished_at >= $2",
                &[&queue, &(now - 60_000)],
            )?
            .get(0);
        status.jobs_per_second = finished as f64 / 60.0;
        status.paused = tx
            .query_opt("SELECT paused FROM workpool_queues WHERE name = $1", &[&queue])?
            .is_some_and(|r| r.get(0));
        status.workers = tx
            .query(
                "SELECT id, host, pid, running, heartbeat_at, started_at FROM workpool_workers
                 WHERE queue = $1 AND heartbeat_at + lease_ms >= $2 ORDER BY id",
                &[&queue, &now],
            )?
            .iter()
            .map(|r| WorkerInfo {
                id: r.get(0),
                host: r.get(1),
                pid: r.get(2),
                running: r.get(3),
                last_heartbeat_ms: r.get(4),
                started_ms: r.get(5),
            })
            .collect();
        tx.commit()?;
        Ok(status)
    })
}

pub(crate) fn queues(pg: &mut Pg) -> Result<Vec<String>> {
    let statement = pg.prepared(crate::sqlite::QUEUES)?;
    pg.run("list the queues", |client| {
        Ok(client
            .query(&statement, &[])?
            .iter()
            .map(|r| r.get(0))
            .collect())
    })
}

pub(crate) fn recent_failures(pg: &mut Pg, queue: &str, limit: i64) -> Result<Vec<FailedJob>> {
    let statement = pg.prepared(crate::sqlite::RECENT_FAILURES)?;
    pg.run("read the failed jobs", |client| {
        Ok(client
            .query(&statement, &[&queue, &limit])?
            .iter()
            .map(|r| FailedJob {
                id: r.get(0),
                key: r.get(1),
                kind: r.get(2),
                attempt: u32::try_from(r.get::<_, i32>(3)).unwrap_or(0),
                error: r.get(4),
                finished_ms: r.get(5),
            })
            .collect())
    })
}

const HAS_UNFINISHED: &str = "SELECT EXISTS (SELECT 1 FROM workpool_jobs WHERE queue = $1 AND state IN ('available', 'running'))";

pub(crate) fn has_unfinished(pg: &mut Pg, queue: &str) -> Result<bool> {
    let statement = pg.prepared(HAS_UNFINISHED)?;
    pg.run("read the queue's status", |client| {
        Ok(client.query_one(&statement, &[&queue])?.get(0))
    })
}

pub(crate) fn job(
    pg: &mut Pg,
    id: Option<JobId>,
    key: Option<(&str, &str)>,
) -> Result<Option<JobInfo>> {
    let id = id.map(|id| id.0);
    let (queue, key) = key.unzip();
    pg.run("read the job", |client| {
        let row = client.query_opt(
            "SELECT id, queue, kind, unique_key, args, state, priority, attempt, max_attempts, run_at,
                    worker, cancel_requested, last_error, output
             FROM workpool_jobs WHERE id = $1 OR (queue = $2 AND unique_key = $3)",
            &[&id, &queue, &key],
        )?;
        Ok(row.map(|r| JobInfo {
            id: JobId(r.get(0)),
            queue: r.get(1),
            kind: r.get(2),
            unique_key: r.get(3),
            args: parse_json(r.get(4)),
            state: JobState::parse(r.get(5)).unwrap_or(JobState::Failed),
            priority: u8::try_from(r.get::<_, i32>(6)).unwrap_or(u8::MAX),
            attempt: u32::try_from(r.get::<_, i32>(7)).unwrap_or(0),
            max_attempts: u32::try_from(r.get::<_, i32>(8)).unwrap_or(1),
            run_at_ms: r.get(9),
            worker: r.get(10),
            cancel_requested: r.get(11),
            last_error: r.get(12),
            output: r.get::<_, Option<&str>>(13).map(parse_json),
        }))
    })
}

pub(crate) fn register(
    pg: &mut Pg,
    queue: &str,
    host: &str,
    pid: i64,
    lease: i64,
) -> Result<WorkerId> {
    pg.run("register the worker", |client| {
        client.execute(
            concat!(
                "DELETE FROM workpool_workers WHERE heartbeat_at < ",
                now!(),
                " - 86400000"
            ),
            &[],
        )?;
        let row = client.query_one(
            concat!(
                "INSERT INTO workpool_workers (queue, host, pid, started_at, heartbeat_at, lease_ms)
                 VALUES ($1, $2, $3, ", now!(), ", ", now!(), ", $4) RETURNING id"
            ),
            &[&queue, &host, &pid, &lease],
        )?;
        Ok(WorkerId(row.get(0)))
    })
}

pub(crate) fn deregister(pg: &mut Pg, worker: WorkerId) -> Result<()> {
    pg.run("deregister the worker", |client| {
        client.execute("DELETE FROM workpool_workers WHERE id = $1", &[&worker.0])?;
        Ok(())
    })
}
