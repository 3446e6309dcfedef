//! `workpool serve`: the dashboard's page and its JSON, fetched over real HTTP from the
//! running binary, against an SQLite file and PostgreSQL.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::db::{wait_for, TestDb};
use common::{workpool, workpool_process, Scratch};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

/// A `workpool serve` on a free port, and the address it printed.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(db: &TestDb, extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--db", &db.url, "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = workpool_process(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the server");
        // It prints where it listens once the socket is bound.
        let mut line = String::new();
        BufReader::new(child.stderr.take().expect("stderr"))
            .read_line(&mut line)
            .expect("the server's first line");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Server { child, addr }
    }

    /// GET `path`: the status code and the body.
    fn get(&self, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).expect("connect to the server");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .expect("send the request");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("read the response");
        let (head, body) = response
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no header end in {response:?}"));
        let code = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        (code, body.to_owned())
    }

    fn status(&self) -> Value {
        let (code, body) = self.get("/api/status");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).expect("JSON")
    }

    fn stop(mut self) -> i32 {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        kill(pid, Signal::SIGTERM).expect("signal the server");
        let status = self.child.wait().expect("wait for the server");
        status.code().unwrap_or(-1)
    }
}

fn queue_named<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .find(|q| q["queue"] == name)
        .unwrap_or_else(|| panic!("no queue {name} in {status}"))
}

fn the_dashboard_shows_counts_workers_and_failures(db: &TestDb) {
    let scratch = Scratch::new();
    let now = scratch.jobs(
        "now.txt",
        &[
            r#"{"cmd": "true", "id": "ok"}"#.into(),
            r#"{"cmd": "echo '<b>no</b>' >&2; exit 3", "id": "bad"}"#.into(),
        ],
    );
    let later = scratch.jobs(
        "later.txt",
        &[r#"{"cmd": "true", "id": "later", "delay": "1h"}"#.into()],
    );
    let submit = |list: &str| {
        workpool(["submit", "--db", &db.url, "--queue", "dash", "-a", list])
            .assert()
            .success();
    };
    submit(&now);
    workpool([
        "worker",
        "--db",
        &db.url,
        "--queue",
        "dash",
        "--exit-when-empty",
        "--quiet",
    ])
    .assert()
    .code(1);
    // Submitted after the worker ended: --exit-when-empty waits for scheduled jobs too.
    submit(&later);
    workpool(["pause", "--db", &db.url, "--queue", "held"])
        .assert()
        .success();

    let server = Server::start(db, &[]);
    let (code, page) = server.get("/");
    assert_eq!(code, 200);
    assert!(page.contains("<title>workpool queues</title>"), "{page}");
    assert!(page.contains("api/status"), "the page polls the JSON");

    let status = server.status();
    let dash = queue_named(&status, "dash");
    let counts: Vec<u64> = ["queued", "scheduled", "running", "completed", "failed"]
        .iter()
        .map(|k| dash[k].as_u64().unwrap_or(u64::MAX))
        .collect();
    assert_eq!(counts, [0, 1, 0, 1, 1], "{dash}");
    assert_eq!(dash["paused"], false);
    let failures = dash["recent_failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{dash}");
    assert_eq!(failures[0]["key"], "bad");
    assert_eq!(failures[0]["error"], "exit 3");
    assert_eq!(queue_named(&status, "held")["paused"], true);

    // A live worker shows up while it runs (it registers as it starts: polled, with a
    // deadline, since it is another process).
    let worker = workpool_process(["worker", "--db", &db.url, "--queue", "dash", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a worker");
    let workers = wait_for("the worker to show", Duration::from_secs(30), || {
        let status = server.status();
        let workers = queue_named(&status, "dash")["workers"].clone();
        (workers.as_array().is_some_and(|w| w.len() == 1)).then_some(workers)
    });
    assert_eq!(workers[0]["pid"], u64::from(worker.id()));
    let pid = Pid::from_raw(i32::try_from(worker.id()).expect("pid"));
    kill(pid, Signal::SIGTERM).expect("stop the worker");
    let _ = worker.wait_with_output();

    // --queue limits the dashboard to the queues named.
    let only = Server::start(db, &["--queue", "held"]);
    let status = only.status();
    let names: Vec<&str> = status["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .filter_map(|q| q["queue"].as_str())
        .collect();
    assert_eq!(names, ["held"]);
    assert_eq!(only.stop(), 0);

    assert_eq!(server.get("/nothing-here").0, 404);
    assert_eq!(server.stop(), 0, "SIGTERM stops the server cleanly");
}

#[test]
fn the_dashboard_shows_counts_workers_and_failures_sqlite() {
    the_dashboard_shows_counts_workers_and_failures(&TestDb::sqlite());
}

#[test]
fn the_dashboard_shows_counts_workers_and_failures_pg() {
    if let Some(db) = TestDb::pg("cli_serve") {
        the_dashboard_shows_counts_workers_and_failures(&db);
    }
}

#[test]
fn a_bad_listen_address_is_named() {
    let db = TestDb::sqlite();
    let out = workpool(["serve", "--db", &db.url, "--listen", "localhost"])
        .output()
        .expect("run serve");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid value 'localhost' for '--listen <ADDR>': expected HOST:PORT"),
        "{stderr}"
    );
    // An address this machine does not have: the error names it.
    let out = workpool(["serve", "--db", &db.url, "--listen", "192.0.2.1:80"])
        .output()
        .expect("run serve");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("workpool: error: cannot listen on 192.0.2.1:80: "),
        "{stderr}"
    );
}
