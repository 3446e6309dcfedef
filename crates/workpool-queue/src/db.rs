//! Database URLs, connections (with reconnection for PostgreSQL) and versioned migrations.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{lower_first, Error, Result};

/// The newest schema version this program knows.
pub const SCHEMA_VERSION: i64 = 2;

/// Which database a queue lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file, embedded: no server.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A checked database URL.
#[derive(Debug, Clone)]
pub(crate) enum DbUrl {
    Sqlite(String),
    Postgres {
        config: Box<postgres::Config>,
        shown: String,
    },
}

impl DbUrl {
    pub(crate) fn parse(url: &str) -> Result<Self> {
        let bad = |reason: &str| Error::BadUrl {
            url: redact(url),
            reason: reason.to_owned(),
        };
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(bad("no file path after sqlite:"));
            }
            return Ok(DbUrl::Sqlite(path.to_owned()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut config =
                postgres::Config::from_str(url).map_err(|e| bad(&lower_first(&e.to_string())))?;
            if config.get_connect_timeout().is_none() {
                config.connect_timeout(Duration::from_secs(5));
            }
            if config.get_hosts().is_empty() {
                return Err(bad("no host"));
            }
            return Ok(DbUrl::Postgres {
                config: Box::new(config),
                shown: redact(url),
            });
        }
        Err(bad("expected sqlite:PATH or postgres://USER@HOST/DATABASE"))
    }

    pub(crate) fn shown(&self) -> String {
        match self {
            DbUrl::Sqlite(path) => format!("sqlite:{path}"),
            DbUrl::Postgres { shown, .. } => shown.clone(),
        }
    }
}

/// `url` with any password replaced by `***`: the one after `user:` in the authority, and
/// any `password=` parameter (in a URL's query, or a `key=value` connection string).
pub(crate) fn redact(url: &str) -> String {
    hide_password_parameters(&redact_authority(url))
}

fn redact_authority(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:***{}",
            &url[..scheme_end + 3],
            &authority[..colon],
            &rest[at..]
        ),
        _ => url.to_owned(),
    }
}

/// Replaces the value of every `password=` parameter with `***`; a value ends at `&`, at
/// white space, or at the end.
fn hide_password_parameters(text: &str) -> String {
    const KEY: &str = "password=";
    // ASCII lowering keeps every byte where it is, so its offsets are the text's.
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, _) in lower.match_indices(KEY) {
        let starts_a_key = at == 0 || matches!(text.as_bytes()[at - 1], b'?' | b'&' | b' ' | b'\t');
        if !starts_a_key || at < copied {
            continue;
        }
        let value = at + KEY.len();
        let end = text[value..]
            .find(|c: char| c == '&' || c.is_whitespace())
            .map_or(text.len(), |n| value + n);
        out.push_str(&text[copied..value]);
        out.push_str("***");
        copied = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// A PostgreSQL connection that reconnects on the next use after it is lost.
pub(crate) struct Pg {
    config: postgres::Config,
    shown: String,
    client: Option<postgres::Client>,
    /// Statements prepared on `client`, by their text: the hot statements (claim, complete,
    /// renew) are parsed and planned once per connection instead of once per call, which
    /// also saves the round trip that preparing costs.
    statements: HashMap<&'static str, postgres::Statement>,
    /// Commit without waiting for the disk (claims and renewals; see
    /// [`Queue::relax_durability`](crate::Queue)).
    pub(crate) relaxed: bool,
}

impl Pg {
    pub(crate) fn client(&mut self) -> Result<&mut postgres::Client> {
        if self
            .client
            .as_ref()
            .is_some_and(postgres::Client::is_closed)
        {
            self.drop_client();
        }
        if self.client.is_none() {
            let mut client = self.connect()?;
            if self.relaxed {
                client
                    .batch_execute("SET synchronous_commit = off")
                    .map_err(|e| Error::pg("set up the connection", &e))?;
            }
            self.client = Some(client);
        }
        self.client.as_mut().ok_or_else(|| Error::Connect {
            url: self.shown.clone(),
            reason: "not connected".to_owned(),
        })
    }

    /// Forgets the connection (and what was prepared on it), to connect again next time.
    fn drop_client(&mut self) {
        self.client = None;
        self.statements.clear();
    }

    /// `sql` prepared on the current connection (connecting first if need be), from the
    /// cache after the first time.
    pub(crate) fn prepared(&mut self, sql: &'static str) -> Result<postgres::Statement> {
        self.client()?;
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.run("prepare a statement", |client| client.prepare(sql))?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    pub(crate) fn connect(&self) -> Result<postgres::Client> {
        self.config
            .connect(postgres::NoTls)
            .map_err(|e| Error::Connect {
                url: self.shown.clone(),
                reason: lower_first(&pg_reason(&e)),
            })
    }

    /// Runs `f` on the connection; a lost connection is dropped, to be made again next time.
    pub(crate) fn run<T>(
        &mut self,
        what: &'static str,
        f: impl FnOnce(&mut postgres::Client) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let client = self.client()?;
        match f(client) {
            Ok(value) => Ok(value),
            Err(err) => {
                let error = Error::pg(what, &err);
                if error.is_connection() || client.is_closed() {
                    self.drop_client();
                }
                Err(error)
            }
        }
    }
}

fn pg_reason(err: &postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => {
            // "error connecting to server: Connection refused (os error 111)": the source
            // says the useful part.
            let mut text = err.to_string();
            if let Some(source) = std::error::Error::source(err) {
                let source = source.to_string();
                if !text.contains(&source) {
                    text = format!("{text}: {source}");
                }
            }
            text
        }
    }
}

/// One open connection.
pub(crate) enum Conn {
    Sqlite(rusqlite::Connection),
    Pg(Box<Pg>),
}

/// Opens a connection to `url` without touching the schema.
pub(crate) fn connect(url: &DbUrl) -> Result<Conn> {
    match url {
        DbUrl::Sqlite(path) => {
            let connect = |e: rusqlite::Error| Error::Connect {
                url: url.shown(),
                reason: lower_first(&e.to_string()),
            };
            let conn = rusqlite::Connection::open(path).map_err(connect)?;
            // Several processes share the file: wait for a writer rather than fail at once.
            conn.busy_timeout(Duration::from_secs(10))
                .map_err(connect)?;
            // WAL lets readers go on beside the one writer; NORMAL syncs at checkpoints, which
            // loses nothing when a process dies (only a power cut can lose the last commits).
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
                .map_err(connect)?;
            conn.execute_batch("PRAGMA synchronous = NORMAL")
                .map_err(connect)?;
            Ok(Conn::Sqlite(conn))
        }
        DbUrl::Postgres { config, shown } => {
            let mut pg = Pg {
                config: (**config).clone(),
                shown: shown.clone(),
                client: None,
                statements: HashMap::new(),
                relaxed: false,
            };
            pg.client()?;
            Ok(Conn::Pg(Box::new(pg)))
        }
    }
}

/// A connection of its own to a PostgreSQL URL (for `LISTEN`); `None` for SQLite.
pub(crate) fn pg_client(url: &DbUrl) -> Result<Option<postgres::Client>> {
    match url {
        DbUrl::Sqlite(_) => Ok(None),
        DbUrl::Postgres { config, shown } => {
            let pg = Pg {
                config: (**config).clone(),
                shown: shown.clone(),
                client: None,
                statements: HashMap::new(),
                relaxed: false,
            };
            pg.connect().map(Some)
        }
    }
}

/// Version 2: indexes that a claim and a completion need not write, and that a claim cannot
/// be planned on by mistake.
///
/// - The index by state leaves out available and running jobs. With available jobs in it, a
///   claim on a table whose statistics were not yet gathered (a large batch submitted a moment
///   ago) could be planned on it, reading and sorting every available job of the queue to take
///   the first few: about 25 ms a claim at 40,000 jobs. Now the only index for available jobs
///   is the one in claim order, and running jobs are in the leases index already, so a claim
///   writes one index entry fewer. It is by finish time, for the rate over the last minute
///   and the latest failures.
/// - The unique index of keys leaves out jobs without a key, which never conflict: a job
///   without a key costs no entry there at its claim or its completion.
const V2_INDEXES: &str = r"
DROP INDEX workpool_jobs_state;
CREATE INDEX workpool_jobs_state ON workpool_jobs (queue, state, finished_at)
    WHERE state NOT IN ('available', 'running');
DROP INDEX workpool_jobs_key;
CREATE UNIQUE INDEX workpool_jobs_key ON workpool_jobs (queue, unique_key) WHERE unique_key IS NOT NULL;
";

const SQLITE_MIGRATIONS: [&str; 2] = [
    r"
CREATE TABLE workpool_jobs (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    kind TEXT NOT NULL,
    unique_key TEXT,
    args TEXT NOT NULL,
    priority INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    lease_until INTEGER,
    worker INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    output TEXT
);
CREATE UNIQUE INDEX workpool_jobs_key ON workpool_jobs (queue, unique_key);
CREATE INDEX workpool_jobs_due ON workpool_jobs (queue, priority DESC, run_at, id)
    WHERE state = 'available';
CREATE INDEX workpool_jobs_leases ON workpool_jobs (queue, lease_until) WHERE state = 'running';
CREATE INDEX workpool_jobs_state ON workpool_jobs (queue, state, run_at);
CREATE TABLE workpool_queues (name TEXT PRIMARY KEY, paused INTEGER NOT NULL DEFAULT 0);
CREATE TABLE workpool_workers (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    lease_ms INTEGER NOT NULL,
    running INTEGER NOT NULL DEFAULT 0
);
",
    V2_INDEXES,
];

const PG_MIGRATIONS: [&str; 2] = [
    r"
CREATE TABLE workpool_jobs (
    id BIGSERIAL PRIMARY KEY,
    queue TEXT NOT NULL,
    kind TEXT NOT NULL,
    unique_key TEXT,
    args TEXT NOT NULL,
    priority INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    lease_until BIGINT,
    worker BIGINT,
    cancel_requested BOOLEAN NOT NULL DEFAULT false,
    last_error TEXT,
    output TEXT
);
CREATE UNIQUE INDEX workpool_jobs_key ON workpool_jobs (queue, unique_key);
CREATE INDEX workpool_jobs_due ON workpool_jobs (queue, priority DESC, run_at, id)
    WHERE state = 'available';
CREATE INDEX workpool_jobs_leases ON workpool_jobs (queue, lease_until) WHERE state = 'running';
CREATE INDEX workpool_jobs_state ON workpool_jobs (queue, state, run_at);
CREATE TABLE workpool_queues (name TEXT PRIMARY KEY, paused BOOLEAN NOT NULL DEFAULT false);
CREATE TABLE workpool_workers (
    id BIGSERIAL PRIMARY KEY,
    queue TEXT NOT NULL,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    lease_ms BIGINT NOT NULL,
    running BIGINT NOT NULL DEFAULT 0
);
",
    V2_INDEXES,
];

/// The key of the advisory lock that serializes migrations on one PostgreSQL database.
const MIGRATION_LOCK: i64 = 0x776f_726b_706f_6f6c;

/// Brings the schema up to [`SCHEMA_VERSION`] in one transaction, or refuses a newer one.
/// Returns the version found before.
pub(crate) fn migrate(conn: &mut Conn, now_ms: i64) -> Result<i64> {
    const WHAT: &str = "migrate the schema";
    match conn {
        Conn::Sqlite(c) => {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| Error::sqlite(WHAT, e))?;
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS workpool_schema (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
            )
            .map_err(|e| Error::sqlite(WHAT, e))?;
            let found: i64 = tx
                .query_row(
                    "SELECT COALESCE(MAX(version), 0) FROM workpool_schema",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| Error::sqlite(WHAT, e))?;
            check_version(found)?;
            for (version, sql) in (1..).zip(SQLITE_MIGRATIONS).skip(version_index(found)) {
                tx.execute_batch(sql).map_err(|e| Error::sqlite(WHAT, e))?;
                tx.execute(
                    "INSERT INTO workpool_schema (version, applied_at) VALUES (?1, ?2)",
                    (version, now_ms),
                )
                .map_err(|e| Error::sqlite(WHAT, e))?;
            }
            tx.commit().map_err(|e| Error::sqlite(WHAT, e))?;
            Ok(found)
        }
        Conn::Pg(pg) => {
            let found = pg.run(WHAT, |client| {
                let mut tx = client.transaction()?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
                tx.batch_execute(
                    "CREATE TABLE IF NOT EXISTS workpool_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
                )?;
                let found: i64 = tx
                    .query_one("SELECT COALESCE(MAX(version), 0)::BIGINT FROM workpool_schema", &[])?
                    .get(0);
                if found > SCHEMA_VERSION {
                    return Ok(found);
                }
                for (version, sql) in (1i64..).zip(PG_MIGRATIONS).skip(version_index(found)) {
                    tx.batch_execute(sql)?;
                    tx.execute(
                        "INSERT INTO workpool_schema (version, applied_at) VALUES ($1, $2)",
                        &[&version, &now_ms],
                    )?;
                }
                tx.commit()?;
                Ok(found)
            })?;
            check_version(found)?;
            Ok(found)
        }
    }
}

fn check_version(found: i64) -> Result<()> {
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    Ok(())
}

fn version_index(found: i64) -> usize {
    usize::try_from(found).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_passwords_hidden() {
        assert!(matches!(DbUrl::parse("sqlite:a.db"), Ok(DbUrl::Sqlite(p)) if p == "a.db"));
        assert!(
            matches!(DbUrl::parse("sqlite:///tmp/a.db"), Ok(DbUrl::Sqlite(p)) if p == "/tmp/a.db")
        );
        assert!(DbUrl::parse("postgres://u@localhost/db").is_ok());
        for bad in [
            "",
            "sqlite:",
            "mysql://x/y",
            "a.db",
            "postgres://u@h:notaport/db",
        ] {
            let err = DbUrl::parse(bad).expect_err(bad);
            assert!(
                err.to_string().starts_with("invalid database url"),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            redact("postgres://app:secret@db/jobs"),
            "postgres://app:***@db/jobs"
        );
        assert_eq!(redact("postgres://app@db/jobs"), "postgres://app@db/jobs");
        assert_eq!(
            redact("postgres://app@db/jobs?password=secret&sslmode=disable"),
            "postgres://app@db/jobs?password=***&sslmode=disable"
        );
        assert_eq!(
            redact("host=db user=app PASSWORD=secret dbname=jobs"),
            "host=db user=app PASSWORD=*** dbname=jobs"
        );
        assert_eq!(
            redact("postgres://db/jobs?oldpassword=x"),
            "postgres://db/jobs?oldpassword=x"
        );
        let err = DbUrl::parse("mysql://app:secret@db/jobs").expect_err("mysql");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
