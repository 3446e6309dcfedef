//! [`Queue`]: one connection to a queue database, and every operation on it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::db::{self, Backend, Conn, DbUrl};
use crate::error::Result;
use crate::job::{unix_ms, ClaimedJob, Completion, JobId, JobInfo, NewJob};
use crate::{pg, sqlite};

/// How many jobs one enqueue transaction carries at most.
pub const ENQUEUE_BATCH: usize = 5000;

/// A worker's registration: the row that `workpool status` shows and leases name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorkerId(pub i64);

/// What [`Queue::enqueue_many`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnqueueReport {
    /// Jobs added.
    pub added: u64,
    /// Jobs not added because a job with the same unique key was in their queue already.
    pub existing: u64,
}

/// What a lease renewal found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renewal {
    /// Jobs whose lease this worker no longer holds (it expired and the job was rescued or
    /// claimed again): their runs must stop, and their completions will be refused.
    pub lost: Vec<JobId>,
    /// Jobs still held whose cancel was asked for: their runs should end.
    pub cancel_requested: Vec<JobId>,
}

/// What [`Queue::cancel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelResult {
    /// The job was waiting; it is `cancelled` now and will not run.
    Cancelled,
    /// The job is running; its worker ends it within a third of its lease.
    Requested,
    /// The job had finished already (the state it is in).
    Finished(crate::JobState),
    /// No such job.
    NotFound,
}

/// A live worker, as `workpool status` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerInfo {
    /// Its registration id.
    pub id: i64,
    /// The host it runs on.
    pub host: String,
    /// Its process id.
    pub pid: i64,
    /// Jobs it holds at its last heartbeat: running, or claimed into its local buffer.
    pub running: i64,
    /// Its last heartbeat, in unix milliseconds.
    pub last_heartbeat_ms: i64,
    /// When it started, in unix milliseconds.
    pub started_ms: i64,
}

/// A queue's counts by state, and who works on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueStatus {
    /// The queue's name.
    pub queue: String,
    /// `true` while paused: workers claim nothing from it.
    pub paused: bool,
    /// Jobs due now and waiting for a worker.
    pub queued: u64,
    /// Jobs due later: delayed, or a retry backing off.
    pub scheduled: u64,
    /// Jobs claimed under a lease.
    pub running: u64,
    /// Jobs that succeeded.
    pub completed: u64,
    /// Jobs that spent their attempts.
    pub failed: u64,
    /// Jobs cancelled.
    pub cancelled: u64,
    /// How long the oldest queued job has been due, in milliseconds.
    pub oldest_queued_age_ms: Option<i64>,
    /// Jobs finished (completed or failed) per second over the last minute.
    pub jobs_per_second: f64,
    /// Workers whose last heartbeat is within their lease.
    pub workers: Vec<WorkerInfo>,
}

/// A job that spent its attempts, as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedJob {
    /// Its id.
    pub id: i64,
    /// Its unique key, if it has one (for `workpool submit`, the line's id).
    pub key: Option<String>,
    /// Its kind.
    pub kind: String,
    /// The attempts it made.
    pub attempt: u32,
    /// Its last error.
    pub error: Option<String>,
    /// When it failed, in unix milliseconds.
    pub finished_ms: Option<i64>,
}

/// A durable job queue in a database: PostgreSQL for many machines, or an SQLite file.
///
/// A `Queue` holds one connection (a PostgreSQL one reconnects on the next call after it is
/// lost); it is `Send` and `Sync`, and its calls take turns on the connection. Many queues,
/// told apart by name, share one database.
///
/// ```
/// use serde_json::json;
/// use workpool_queue::{NewJob, Queue};
///
/// let dir = tempfile::tempdir()?;
/// let queue = Queue::open(&format!("sqlite:{}", dir.path().join("jobs.db").display()))?;
/// let id = queue.enqueue(NewJob::new("resize", json!({"path": "a.png"})).unique("a.png"))?;
/// assert!(id.is_some());
/// // The same key again adds nothing.
/// assert_eq!(queue.enqueue(NewJob::new("resize", json!({})).unique("a.png"))?, None);
/// assert_eq!(queue.status("default")?.queued, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Queue {
    url: DbUrl,
    conn: Arc<Mutex<Conn>>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("url", &self.url()).finish()
    }
}

impl Queue {
    /// Opens the queue database at `url` (`sqlite:PATH` or `postgres://...`), creating or
    /// migrating its schema in one transaction.
    ///
    /// # Errors
    ///
    /// [`Error::BadUrl`](crate::Error::BadUrl), [`Error::Connect`](crate::Error::Connect), or
    /// [`Error::SchemaTooNew`](crate::Error::SchemaTooNew) when the database was migrated by
    /// a newer program.
    pub fn open(url: &str) -> Result<Queue> {
        let url = DbUrl::parse(url)?;
        let mut conn = db::connect(&url)?;
        db::migrate(&mut conn, now_ms())?;
        Ok(Queue {
            url,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// A second handle on the same database (the schema is not checked again): a new
    /// connection for PostgreSQL. For SQLite the handles share this connection: SQLite lets
    /// one writer in at a time anyway, and two connections of one process would make each
    /// other wait in SQLite's busy handler, which sleeps for milliseconds.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`](crate::Error::Connect).
    pub fn connect_again(&self) -> Result<Queue> {
        let conn = match self.url {
            DbUrl::Sqlite(_) => Arc::clone(&self.conn),
            DbUrl::Postgres { .. } => Arc::new(Mutex::new(db::connect(&self.url)?)),
        };
        Ok(Queue {
            url: self.url.clone(),
            conn,
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self.url {
            DbUrl::Sqlite(_) => Backend::Sqlite,
            DbUrl::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The database URL, with any password hidden.
    pub fn url(&self) -> String {
        self.url.shown()
    }

    pub(crate) fn db_url(&self) -> &DbUrl {
        &self.url
    }

    /// Makes this connection's commits on PostgreSQL return without waiting for the disk
    /// (`synchronous_commit = off`). The worker does this for the connections that claim and
    /// renew: a claim or renewal lost in a server crash only means that the job runs again,
    /// which at-least-once execution allows; enqueues and completions keep waiting for the
    /// disk. Without it every claim would wait for an fsync.
    pub(crate) fn relax_durability(&self) -> Result<()> {
        if let Conn::Pg(pg) = &mut *self.conn() {
            pg.relaxed = true;
            pg.run("set up the connection", |client| {
                client.batch_execute("SET synchronous_commit = off")
            })?;
        }
        Ok(())
    }

    fn conn(&self) -> MutexGuard<'_, Conn> {
        // A panic while holding the connection leaves no half-done transaction behind (the
        // driver rolls back on drop), so the connection is still fit to use.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds one job. Returns its id, or `None` if a job with its unique key is in its queue
    /// already.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidJob`](crate::Error::InvalidJob) or a database error.
    pub fn enqueue(&self, job: NewJob) -> Result<Option<JobId>> {
        job.check()?;
        let ids = match &mut *self.conn() {
            Conn::Sqlite(c) => sqlite::enqueue(c, std::slice::from_ref(&job), now_ms())?,
            Conn::Pg(p) => pg::enqueue(p, std::slice::from_ref(&job))?,
        };
        Ok(ids.into_iter().next().flatten())
    }

    /// Adds many jobs, [`ENQUEUE_BATCH`] to a transaction. Jobs whose unique key is in their
    /// queue already (or earlier in `jobs`) are counted as existing and not added.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidJob`](crate::Error::InvalidJob) (before anything is added) or a
    /// database error (the batches before it are added).
    pub fn enqueue_many(&self, jobs: impl IntoIterator<Item = NewJob>) -> Result<EnqueueReport> {
        let jobs: Vec<NewJob> = jobs.into_iter().collect();
        for job in &jobs {
            job.check()?;
        }
        let mut report = EnqueueReport::default();
        for batch in jobs.chunks(ENQUEUE_BATCH) {
            let ids = match &mut *self.conn() {
                Conn::Sqlite(c) => sqlite::enqueue(c, batch, now_ms())?,
                Conn::Pg(p) => pg::enqueue(p, batch)?,
            };
            let added = ids.iter().filter(|id| id.is_some()).count() as u64;
            report.added += added;
            report.existing += batch.len() as u64 - added;
        }
        Ok(report)
    }

    /// Claims up to `n` due jobs of `queue` in one statement, highest priority first and
    /// oldest first within a priority, under a lease of `lease` for `worker`. Each claim
    /// counts an attempt. `kinds` limits the claim to those kinds (`None`: any kind). Jobs
    /// whose lease expired become claimable again first (or `failed` if that was their last
    /// attempt, `cancelled` if a cancel was asked for). A paused queue gives nothing.
    ///
    /// # Errors
    ///
    /// A database error.
    pub fn claim(
        &self,
        queue: &str,
        worker: WorkerId,
        kinds: Option<&[String]>,
        n: usize,
        lease: Duration,
    ) -> Result<Vec<ClaimedJob>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let lease = crate::job::millis(lease);
        let mut jobs = match &mut *self.conn() {
            Conn::Sqlite(c) => sqlite::claim(c, queue, worker, kinds, n, lease, now_ms())?,
            Conn::Pg(p) => pg::claim(p, queue, worker, kinds, n, lease)?,
        };
        // RETURNING gives no order; the pool should start them in claim order.
        jobs.sort_by_key(|(job, run_at)| (std::cmp::Reverse(job.priority), *run_at, job.id));
        Ok(jobs.into_iter().map(|(job, _)| job).collect())
    }

    /// Renews the leases of `running` (job and attempt) held by `worker`, in one statement,
    /// and records the worker's heartbeat.
    ///
    /// # Errors
    ///
    /// A database error.
    pub fn renew(
        &self,
        worker: WorkerId,
        running: &[(JobId, u32)],
        lease: Duration,
    ) -> Result<Renewal> {
        let lease = crate::job::millis(lease);
        match &mut *self.conn() {
            Conn::Sqlite(c) => sqlite::renew(c, worker, running, lease, now_ms()),
            Conn::Pg(p) => pg::renew(p, worker, running, lease),
        }
    }

    /// Records finished attempts, all in one transaction. A completion is accepted only if
    /// its job is still running under the same attempt (not rescued or claimed again after
    /// its lease expired); returns the jobs whose completion was accepted (the others were
    /// refused).
    ///
    /// A failure of a job whose cancel was asked for records it `cancelled`.
    ///
    /// # Errors
    ///
    /// A database error (then nothing was recorded).
    pub fn complete(&self, completions: &[Completion]) -> Result<Vec<JobId>> {
        if completions.is_empty() {
            return Ok(Vec::new());
        }
        match &mut *self.conn() {
            Conn::Sqlite(c) => sqlite::complete(c, completions, now_ms()),
            Conn::Pg(p) => pg::complete(p, completions),
        }
    }

    /// Cancels a job: a waiting one at once; a running one through its worker, which ends it
    /// within a third of its lease.
    ///
    /// # Errors
    ///
    /// A database error.
    pub fn cancel(&self, id: JobId) -> Result<CancelResult> {
        match &mut *self.conn() {
            Conn::Sqlite(c) => sqlite::cancel(c, id, now_ms()),
            Conn::Pg(p) => pg::cancel(p, id),
        }
    }

    /// Makes a failed or cancelled job due again at once, with all its attempts. Returns
    /// `false` if it is in another state (or does not exist).
    ///
    /// # Errors
    ///
    /// A database error.
    pub fn retry(&self, id: JobId) -> Result<bool> {
        let n = match &mut *self.conn() {
            Conn::Sqlite(c) => sqlite::retry(c, Some(id), None, now_ms())?,
            Conn::Pg(p) => pg::retry(p, Some(id), None)?,
        };
        Ok(n > 0)
    }

    /// Makes every failed job of `queue` due again at once. Returns how many.
    ///
    /// # Errors
    ///
    /// A database error.
    pub fn retry_failed(&self, queue: &str) -> Result<u64> {
        match &mut *self.conn() {
            Conn::Sqlite(c) => sqlite::retry(c, None, Some(queue), now_ms()),
            Conn::Pg(p) => pg::retry(p, None, Some(queue)),
        }
    }

    /// Pauses or resumes `queue`: workers claim nothing from a paused queue (they notice
    /// within one poll interval) and finish what they run.
    ///
    /// # Errors
    ///
    /// A database error.
    pub fn set_paused(&self, queue: &str, paused: bool) -> Result<()> {
        match &mut *self.conn() {
            Conn::Sqlite(c) => sqlite::set_paused(c, queue, paused),
            Conn::Pg(p) => pg::set_paused(p, queue, paused),
        }
    }

    /// Counts by state, the oldest queued job's age, the rate over the last minute and the
    /// live workers of `queue`.
    ///
    /// # Errors
    ///
    /// A database error.
    pub fn status(&self, queue: &str) -> Result<QueueStatus> {
        match &mut *self.conn() {
            Conn::Sqlite(c) => sqlite::status(c, queue, now_ms()),
            Conn::Pg(p) => pg::status(p, queue),
        }
    }

    /// The names of the queues this database knows: those with jobs, paused or resumed
    /// queues, and those with registered workers, in order.
    ///
    /// # Errors
    ///
    /// A database error.
    pub fn queues(&self) -> Result<Vec<String>> {
        match &mut *self.conn() {
            Conn::Sqlite(c) => sqlite::queues(c),
            Conn::Pg(p) => pg::queues(p),
        }
    }

    /// The `limit` jobs of `queue` that failed last, the latest first.
    ///
    /// # Errors
    ///
    /// A database error.
    pub fn recent_failures(&self, queue: &str, limit: usize) -> Result<Vec<FailedJob>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        match &mut *self.conn() {
            Conn::Sqlite(c) => sqlite::recent_failures(c, queue, limit),
            Conn::Pg(p) => pg::recent_failures(p, queue, limit),
        }
    }

    /// `true` while `queue` has a job that may still run: waiting (now or later) or running.
    ///
    /// # Errors
    ///
    /// A database error.
    pub fn has_unfinished(&self, queue: &str) -> Result<bool> {
        match &mut *self.conn() {
            Conn::Sqlite(c) => sqlite::has_unfinished(c, queue),
            Conn::Pg(p) => pg::has_unfinished(p, queue),
        }
    }

    /// A job's record.
    ///
    /// # Errors
    ///
    /// A database error.
    pub fn job(&self, id: JobId) -> Result<Option<JobInfo>> {
        match &mut *self.conn() {
            Conn::Sqlite(c) => sqlite::job(c, Some(id), None),
            Conn::Pg(p) => pg::job(p, Some(id), None),
        }
    }

    /// The record of the job with unique key `key` in `queue`.
    ///
    /// # Errors
    ///
    /// A database error.
    pub fn find(&self, queue: &str, key: &str) -> Result<Option<JobInfo>> {
        match &mut *self.conn() {
            Conn::Sqlite(c) => sqlite::job(c, None, Some((queue, key))),
            Conn::Pg(p) => pg::job(p, None, Some((queue, key))),
        }
    }

    /// Registers a worker of `queue` on this host and process; its heartbeat is due within
    /// `lease`.
    ///
    /// # Errors
    ///
    /// A database error.
    pub fn register_worker(&self, queue: &str, lease: Duration) -> Result<WorkerId> {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "unknown".to_owned());
        let pid = i64::from(std::process::id());
        let lease = crate::job::millis(lease);
        match &mut *self.conn() {
            Conn::Sqlite(c) => sqlite::register(c, queue, &host, pid, lease, now_ms()),
            Conn::Pg(p) => pg::register(p, queue, &host, pid, lease),
        }
    }

    /// Removes a worker's registration.
    ///
    /// # Errors
    ///
    /// A database error.
    pub fn deregister_worker(&self, worker: WorkerId) -> Result<()> {
        match &mut *self.conn() {
            Conn::Sqlite(c) => sqlite::deregister(c, worker),
            Conn::Pg(p) => pg::deregister(p, worker),
        }
    }
}

/// Now, in unix milliseconds, on this machine's clock (SQLite's time: one machine).
pub(crate) fn now_ms() -> i64 {
    unix_ms(SystemTime::now())
}
