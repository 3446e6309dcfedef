//! Real databases for the tests: an SQLite file in a temporary directory, or a schema of its
//! own on the PostgreSQL server of this machine (`WORKPOOL_PG_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`), so that tests run in parallel.

use std::time::{Duration, Instant};

/// The PostgreSQL server the tests use.
pub fn pg_url() -> String {
    std::env::var("WORKPOOL_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A database that lives as long as the test.
pub struct TestDb {
    /// Its URL, for `Queue::open` or `--db`.
    pub url: String,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh SQLite file.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite:{}", dir.path().join("queue.db").display());
        TestDb {
            url,
            schema: None,
            _dir: Some(dir),
        }
    }

    /// A fresh schema named after the test on the PostgreSQL server; `None` (the test is
    /// skipped, with a line on standard error) when no server answers, except under CI (`CI`
    /// set), where `.ci/run` has checked the server and a missing one fails the test.
    pub fn pg(name: &str) -> Option<TestDb> {
        let schema = format!("wpq_{name}_{}", std::process::id());
        let mut client = match postgres::Client::connect(&pg_url(), postgres::NoTls) {
            Ok(client) => client,
            Err(err) if std::env::var_os("CI").is_none() => {
                eprintln!("skipping {name}: no PostgreSQL at {} ({err})", pg_url());
                return None;
            }
            Err(err) => {
                panic!("PostgreSQL at WORKPOOL_PG_URL (or 127.0.0.1:5432, database test): {err}")
            }
        };
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .expect("create the test schema");
        let base = pg_url();
        let sep = if base.contains('?') { '&' } else { '?' };
        Some(TestDb {
            url: format!("{base}{sep}options=-csearch_path%3D{schema}"),
            schema: Some(schema),
            _dir: None,
        })
    }

    /// A plain client on the same database (and schema), to look at or change it directly.
    pub fn pg_client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(schema) = &self.schema {
            if let Ok(mut client) = postgres::Client::connect(&pg_url(), postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

/// Polls `check` until it gives `Some`, failing the test after `limit` (a bound on a hang,
/// not a measurement). Only for what another process writes to the database, or for the
/// database's own clock (a lease running out): a thread of the test itself reports through
/// a channel instead.
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < until, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
