//! The queue's promises, each checked on an SQLite file and on PostgreSQL.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{wait_for, TestDb};
use serde_json::json;
use workpool_queue::{
    CancelResult, Completion, Error, JobId, JobState, NewJob, Outcome, Queue, SCHEMA_VERSION,
};

const LEASE: Duration = Duration::from_secs(30);

fn open(db: &TestDb) -> Queue {
    Queue::open(&db.url).expect("open the queue")
}

fn jobs(queue: &str, n: usize) -> Vec<NewJob> {
    (0..n)
        .map(|i| {
            NewJob::new("noop", json!({"i": i}))
                .unique(format!("job-{i}"))
                .queue(queue)
        })
        .collect()
}

fn migration_from_empty_creates_the_schema(db: &TestDb) {
    let queue = open(db);
    assert_eq!(queue.status("q").expect("status").queued, 0);
    drop(queue);
    // Opening again finds the schema current and changes nothing.
    let queue = open(db);
    queue
        .enqueue(NewJob::new("noop", json!(null)))
        .expect("enqueue");
    assert_eq!(queue.status("default").expect("status").queued, 1);
}

/// Runs `sql` on the test database directly, and gives the first column of its rows as text.
fn sql_rows(db: &TestDb, sql: &str) -> Vec<String> {
    if let Some(path) = db.url.strip_prefix("sqlite:") {
        let conn = rusqlite::Connection::open(path).expect("open");
        let mut statement = conn.prepare(sql).expect("prepare");
        let rows = statement
            .query_map([], |r| r.get::<_, rusqlite::types::Value>(0))
            .expect("query");
        rows.map(|v| match v.expect("row") {
            rusqlite::types::Value::Text(t) => t,
            rusqlite::types::Value::Integer(i) => i.to_string(),
            other => format!("{other:?}"),
        })
        .collect()
    } else {
        db.pg_client()
            .simple_query(sql)
            .expect("query")
            .into_iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            })
            .collect()
    }
}

fn a_version_1_schema_is_migrated_to_the_current_one(db: &TestDb) {
    drop(open(db));
    // Turn the schema back into version 1: its index by state covered available jobs.
    let back = "DELETE FROM workpool_schema WHERE version > 1;
        DROP INDEX workpool_jobs_state;
        CREATE INDEX workpool_jobs_state ON workpool_jobs (queue, state, run_at);
        DROP INDEX workpool_jobs_key;
        CREATE UNIQUE INDEX workpool_jobs_key ON workpool_jobs (queue, unique_key);";
    if let Some(path) = db.url.strip_prefix("sqlite:") {
        rusqlite::Connection::open(path)
            .expect("open")
            .execute_batch(back)
            .expect("back to version 1");
    } else {
        db.pg_client()
            .batch_execute(back)
            .expect("back to version 1");
    }
    let queue = open(db);
    assert_eq!(
        sql_rows(db, "SELECT MAX(version) FROM workpool_schema"),
        vec![SCHEMA_VERSION.to_string()]
    );
    let definition_of = |index: &str| {
        let sql = if db.url.starts_with("sqlite:") {
            format!("SELECT sql FROM sqlite_master WHERE name = '{index}'")
        } else {
            format!("SELECT indexdef FROM pg_indexes WHERE indexname = '{index}' AND schemaname = current_schema()")
        };
        sql_rows(db, &sql).join("")
    };
    let keys = definition_of("workpool_jobs_key");
    assert!(
        keys.contains("unique_key IS NOT NULL"),
        "the index of keys leaves out jobs without one: {keys}"
    );
    let definition = definition_of("workpool_jobs_state");
    assert!(
        definition.contains("'available'") && definition.contains("'running'"),
        "the index by state leaves out available and running jobs: {definition}"
    );
    queue.enqueue_many(jobs("migrated", 3)).expect("enqueue");
    assert_eq!(queue.status("migrated").expect("status").queued, 3);
}

fn a_newer_schema_is_refused(db: &TestDb) {
    drop(open(db));
    let newer = SCHEMA_VERSION + 1;
    if db.url.starts_with("sqlite:") {
        let conn = rusqlite::Connection::open(db.url.trim_start_matches("sqlite:")).expect("open");
        conn.execute(
            "INSERT INTO workpool_schema (version, applied_at) VALUES (?1, 0)",
            [newer],
        )
        .expect("insert");
    } else {
        db.pg_client()
            .execute(
                "INSERT INTO workpool_schema (version, applied_at) VALUES ($1, 0)",
                &[&newer],
            )
            .expect("insert");
    }
    let err = Queue::open(&db.url).expect_err("a newer schema");
    assert!(
        matches!(err, Error::SchemaTooNew { found, .. } if found == newer),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("database schema version {newer} is newer than this program knows ({SCHEMA_VERSION}): upgrade workpool")
    );
}

fn resubmitting_the_same_keys_adds_nothing(db: &TestDb) {
    let queue = open(db);
    let report = queue.enqueue_many(jobs("resubmit", 120)).expect("enqueue");
    assert_eq!((report.added, report.existing), (120, 0));
    let report = queue
        .enqueue_many(jobs("resubmit", 150))
        .expect("enqueue again");
    assert_eq!((report.added, report.existing), (30, 120));
    // The same key in another queue is another job.
    let report = queue
        .enqueue_many(jobs("other", 10))
        .expect("enqueue elsewhere");
    assert_eq!((report.added, report.existing), (10, 0));
    assert_eq!(queue.status("resubmit").expect("status").queued, 150);
    // A key repeated within one batch is added once.
    let twice = vec![
        NewJob::new("noop", json!(1)).unique("k").queue("dup"),
        NewJob::new("noop", json!(2)).unique("k").queue("dup"),
    ];
    let report = queue.enqueue_many(twice).expect("enqueue");
    assert_eq!((report.added, report.existing), (1, 1));
    let job = queue.find("dup", "k").expect("find").expect("the job");
    assert_eq!(job.args, json!(1));
}

fn claims_are_exclusive(db: &TestDb) {
    let queue = open(db);
    queue.enqueue_many(jobs("exclusive", 400)).expect("enqueue");
    let threads = 4;
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let q = queue.connect_again().expect("connect");
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let me = q.register_worker("exclusive", LEASE).expect("register");
                start.wait();
                let mut mine = Vec::new();
                loop {
                    let got = q.claim("exclusive", me, None, 7, LEASE).expect("claim");
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|j| j.id));
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut total = 0;
    for handle in handles {
        for id in handle.join().expect("claimer") {
            total += 1;
            assert!(seen.insert(id), "job {id} claimed twice");
        }
    }
    assert_eq!(total, 400);
    assert_eq!(queue.status("exclusive").expect("status").running, 400);
}

fn claims_take_the_highest_priority_then_the_oldest(db: &TestDb) {
    let queue = open(db);
    for (key, priority) in [("a", 1), ("b", 9), ("c", 5), ("d", 9), ("e", 1)] {
        queue
            .enqueue(
                NewJob::new("noop", json!(key))
                    .unique(key)
                    .priority(priority)
                    .queue("prio"),
            )
            .expect("enqueue");
    }
    let me = queue.register_worker("prio", LEASE).expect("register");
    let first = queue.claim("prio", me, None, 3, LEASE).expect("claim");
    let keys: Vec<_> = first
        .iter()
        .map(|j| j.unique_key.clone().unwrap_or_default())
        .collect();
    assert_eq!(keys, ["b", "d", "c"]);
    let rest = queue.claim("prio", me, None, 10, LEASE).expect("claim");
    let keys: Vec<_> = rest
        .iter()
        .map(|j| j.unique_key.clone().unwrap_or_default())
        .collect();
    assert_eq!(keys, ["a", "e"]);
    // Kinds not asked for stay.
    queue
        .enqueue(NewJob::new("other", json!(0)).queue("prio"))
        .expect("enqueue");
    assert!(queue
        .claim("prio", me, Some(&["noop".to_owned()]), 10, LEASE)
        .expect("claim")
        .is_empty());
    assert_eq!(
        queue
            .claim("prio", me, None, 10, LEASE)
            .expect("claim")
            .len(),
        1
    );
}

fn delayed_jobs_wait_until_due(db: &TestDb) {
    let queue = open(db);
    queue
        .enqueue(
            NewJob::new("noop", json!(0))
                .delay(Duration::from_secs(3600))
                .queue("later"),
        )
        .expect("enqueue");
    let status = queue.status("later").expect("status");
    assert_eq!((status.queued, status.scheduled), (0, 1));
    let me = queue.register_worker("later", LEASE).expect("register");
    assert!(queue
        .claim("later", me, None, 10, LEASE)
        .expect("claim")
        .is_empty());
}

fn an_expired_lease_is_claimed_again_and_the_late_completion_refused(db: &TestDb) {
    let queue = open(db);
    let id = queue
        .enqueue(NewJob::new("noop", json!(0)).queue("lease").max_attempts(3))
        .expect("enqueue")
        .expect("added");
    let (one, two) = (
        queue.register_worker("lease", LEASE).expect("register"),
        queue.register_worker("lease", LEASE).expect("register"),
    );
    let short = Duration::from_millis(300);
    let first = queue.claim("lease", one, None, 1, short).expect("claim");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].attempt, 1);
    // The first claimer goes quiet; another worker's claims take the job once the lease is
    // gone.
    let again = wait_for(
        "the job to be claimed again",
        Duration::from_secs(20),
        || {
            let got = queue.claim("lease", two, None, 1, LEASE).expect("claim");
            got.into_iter().next()
        },
    );
    assert_eq!((again.id, again.attempt), (id, 2));
    let late = Completion {
        id,
        attempt: 1,
        outcome: Outcome::Completed {
            output: Some(json!("late")),
        },
    };
    assert!(
        queue.complete(&[late]).expect("complete").is_empty(),
        "late completion accepted"
    );
    let renewal = queue.renew(one, &[(id, 1)], LEASE).expect("renew");
    assert_eq!(renewal.lost, [id]);
    let done = Completion {
        id,
        attempt: 2,
        outcome: Outcome::Completed {
            output: Some(json!("on time")),
        },
    };
    assert_eq!(
        queue
            .complete(std::slice::from_ref(&done))
            .expect("complete"),
        [id]
    );
    // Recorded once: the same completion again is refused.
    assert!(queue.complete(&[done]).expect("complete").is_empty());
    let job = queue.job(id).expect("job").expect("exists");
    assert_eq!(
        (job.state, job.attempt, job.output),
        (JobState::Completed, 2, Some(json!("on time")))
    );
}

fn failed_jobs_retry_until_their_attempts_are_spent(db: &TestDb) {
    let queue = open(db);
    let id = queue
        .enqueue(NewJob::new("noop", json!(0)).queue("retry").max_attempts(2))
        .expect("enqueue")
        .expect("added");
    let me = queue.register_worker("retry", LEASE).expect("register");
    let job = queue
        .claim("retry", me, None, 1, LEASE)
        .expect("claim")
        .remove(0);
    let retry = Completion {
        id,
        attempt: job.attempt,
        outcome: Outcome::Retry {
            error: "boom 1".into(),
            output: None,
            delay: Duration::ZERO,
        },
    };
    assert_eq!(queue.complete(&[retry]).expect("complete"), [id]);
    let job = queue
        .claim("retry", me, None, 1, LEASE)
        .expect("claim")
        .remove(0);
    assert_eq!(job.attempt, 2);
    assert!(job.is_last_attempt());
    let fail = Completion {
        id,
        attempt: 2,
        outcome: Outcome::Failed {
            error: "boom 2".into(),
            output: Some(json!({"exit": 1})),
        },
    };
    assert_eq!(queue.complete(&[fail]).expect("complete"), [id]);
    let info = queue.job(id).expect("job").expect("exists");
    assert_eq!(info.state, JobState::Failed);
    assert_eq!(info.last_error.as_deref(), Some("boom 2"));
    assert_eq!(queue.status("retry").expect("status").failed, 1);
    let failures = queue.recent_failures("retry", 10).expect("failures");
    assert_eq!(failures.len(), 1);
    assert_eq!(
        (
            failures[0].id,
            failures[0].attempt,
            failures[0].error.as_deref()
        ),
        (id.0, 2, Some("boom 2"))
    );
    assert!(failures[0].finished_ms.is_some());
    assert!(queue
        .recent_failures("other", 10)
        .expect("failures")
        .is_empty());
    // A retry in the future is scheduled, not queued.
    assert_eq!(queue.retry_failed("retry").expect("retry"), 1);
    let info = queue.job(id).expect("job").expect("exists");
    assert_eq!((info.state, info.attempt), (JobState::Available, 0));
}

fn cancel_ends_waiting_jobs_and_asks_running_ones(db: &TestDb) {
    let queue = open(db);
    let waiting = queue
        .enqueue(NewJob::new("noop", json!(0)).queue("cancel").priority(1))
        .expect("enqueue")
        .expect("added");
    let running = queue
        .enqueue(NewJob::new("noop", json!(1)).queue("cancel").priority(9))
        .expect("enqueue")
        .expect("added");
    let me = queue.register_worker("cancel", LEASE).expect("register");
    let job = queue
        .claim("cancel", me, None, 1, LEASE)
        .expect("claim")
        .remove(0);
    assert_eq!(job.id, running);
    assert_eq!(
        queue.cancel(waiting).expect("cancel"),
        CancelResult::Cancelled
    );
    assert_eq!(
        queue.cancel(running).expect("cancel"),
        CancelResult::Requested
    );
    assert_eq!(
        queue.cancel(JobId(i64::MAX)).expect("cancel"),
        CancelResult::NotFound
    );
    let renewal = queue.renew(me, &[(running, 1)], LEASE).expect("renew");
    assert_eq!(renewal.cancel_requested, [running]);
    // Its failure is recorded as a cancel, not a retry.
    let ended = Completion {
        id: running,
        attempt: 1,
        outcome: Outcome::Retry {
            error: "killed".into(),
            output: None,
            delay: Duration::ZERO,
        },
    };
    assert_eq!(queue.complete(&[ended]).expect("complete"), [running]);
    let status = queue.status("cancel").expect("status");
    assert_eq!((status.cancelled, status.queued, status.running), (2, 0, 0));
    assert_eq!(
        queue.cancel(waiting).expect("cancel"),
        CancelResult::Finished(JobState::Cancelled)
    );
}

fn the_queues_of_a_database_are_listed(db: &TestDb) {
    let queue = open(db);
    assert!(queue.queues().expect("queues").is_empty());
    queue.enqueue_many(jobs("b", 3)).expect("enqueue");
    queue.enqueue_many(jobs("a", 2)).expect("enqueue");
    queue.set_paused("c", true).expect("pause");
    let me = queue.register_worker("d", LEASE).expect("register");
    assert_eq!(queue.queues().expect("queues"), ["a", "b", "c", "d"]);
    queue.deregister_worker(me).expect("deregister");
}

fn a_paused_queue_gives_nothing_until_resumed(db: &TestDb) {
    let queue = open(db);
    queue.enqueue_many(jobs("paused", 3)).expect("enqueue");
    let me = queue.register_worker("paused", LEASE).expect("register");
    queue.set_paused("paused", true).expect("pause");
    assert!(queue
        .claim("paused", me, None, 10, LEASE)
        .expect("claim")
        .is_empty());
    assert!(queue.status("paused").expect("status").paused);
    queue.set_paused("paused", false).expect("resume");
    assert_eq!(
        queue
            .claim("paused", me, None, 10, LEASE)
            .expect("claim")
            .len(),
        3
    );
}

fn releasing_an_unstarted_claim_does_not_count_the_attempt(db: &TestDb) {
    let queue = open(db);
    let id = queue
        .enqueue(NewJob::new("noop", json!(0)).queue("release"))
        .expect("enqueue")
        .expect("added");
    let me = queue.register_worker("release", LEASE).expect("register");
    let job = queue
        .claim("release", me, None, 1, LEASE)
        .expect("claim")
        .remove(0);
    let release = Completion {
        id,
        attempt: job.attempt,
        outcome: Outcome::Release { started: false },
    };
    assert_eq!(queue.complete(&[release]).expect("release"), [id]);
    let info = queue.job(id).expect("job").expect("exists");
    assert_eq!((info.state, info.attempt), (JobState::Available, 0));
}

fn status_counts_every_state_and_live_workers(db: &TestDb) {
    let queue = open(db);
    queue.enqueue_many(jobs("status", 6)).expect("enqueue");
    queue
        .enqueue(
            NewJob::new("noop", json!(0))
                .queue("status")
                .delay(Duration::from_secs(3600)),
        )
        .expect("enqueue");
    let me = queue.register_worker("status", LEASE).expect("register");
    let claimed = queue.claim("status", me, None, 4, LEASE).expect("claim");
    let outcomes = [
        Outcome::Completed { output: None },
        Outcome::Failed {
            error: "x".into(),
            output: None,
        },
    ];
    let done: Vec<Completion> = claimed[..2]
        .iter()
        .zip(outcomes)
        .map(|(j, outcome)| Completion {
            id: j.id,
            attempt: j.attempt,
            outcome,
        })
        .collect();
    queue.complete(&done).expect("complete");
    let waiting = queue
        .find("status", "job-5")
        .expect("find")
        .expect("exists");
    queue.cancel(waiting.id).expect("cancel");
    let status = queue.status("status").expect("status");
    assert_eq!(
        (
            status.queued,
            status.scheduled,
            status.running,
            status.completed,
            status.failed,
            status.cancelled
        ),
        (1, 1, 2, 1, 1, 1)
    );
    assert!(status.oldest_queued_age_ms.is_some());
    assert_eq!(status.workers.len(), 1);
    assert_eq!(status.workers[0].pid, i64::from(std::process::id()));
    queue.deregister_worker(me).expect("deregister");
    assert!(queue.status("status").expect("status").workers.is_empty());
}

on_both!(
    migration_from_empty_creates_the_schema,
    a_version_1_schema_is_migrated_to_the_current_one,
    a_newer_schema_is_refused,
    resubmitting_the_same_keys_adds_nothing,
    claims_are_exclusive,
    claims_take_the_highest_priority_then_the_oldest,
    delayed_jobs_wait_until_due,
    an_expired_lease_is_claimed_again_and_the_late_completion_refused,
    failed_jobs_retry_until_their_attempts_are_spent,
    cancel_ends_waiting_jobs_and_asks_running_ones,
    a_paused_queue_gives_nothing_until_resumed,
    the_queues_of_a_database_are_listed,
    releasing_an_unstarted_claim_does_not_count_the_attempt,
    status_counts_every_state_and_live_workers,
);

#[test]
fn bad_urls_and_unreachable_servers_are_named() {
    for (url, expected) in [
        (
            "mysql://app@db/jobs",
            "invalid database url \"mysql://app@db/jobs\": expected sqlite:PATH or postgres://",
        ),
        (
            "sqlite:",
            "invalid database url \"sqlite:\": no file path after sqlite:",
        ),
        ("jobs.db", "invalid database url \"jobs.db\""),
        (
            "postgres://app:pw@127.0.0.1:1/jobs",
            "cannot open database postgres://app:***@127.0.0.1:1/jobs: ",
        ),
        (
            "sqlite:/nonexistent-dir/x/jobs.db",
            "cannot open database sqlite:/nonexistent-dir/x/jobs.db: ",
        ),
    ] {
        let err = Queue::open(url).expect_err(url);
        let text = err.to_string();
        assert!(text.starts_with(expected), "{url}: {text}");
        assert!(!text.contains("pw@"), "{text}");
    }
    if TestDb::pg("bad_urls").is_none() {
        return;
    }
    let missing_db = format!(
        "{}_missing_database_{}",
        common::pg_url(),
        std::process::id()
    );
    let err = Queue::open(&missing_db).expect_err("no such database");
    assert!(err.to_string().contains("does not exist"), "{err}");
}
