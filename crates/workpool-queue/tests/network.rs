//! A worker whose connections to PostgreSQL are cut mid-run: it reconnects with backoff and
//! every job still ends completed.

mod common;

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{pg_url, TestDb};
use serde_json::json;
use workpool_queue::{NewJob, Queue, Worker};

/// A TCP proxy to PostgreSQL that can cut every connection through it.
struct Proxy {
    port: u16,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let open = Arc::new(Mutex::new(Vec::new()));
        let conns = Arc::clone(&open);
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut list = conns.lock().expect("lock");
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (mut from, mut to) = (
                        from.try_clone().expect("clone"),
                        to.try_clone().expect("clone"),
                    );
                    thread::spawn(move || {
                        let _ = io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
                list.push(client);
                list.push(server);
            }
        });
        Proxy { port, open }
    }

    /// Cuts every connection made so far.
    fn cut(&self) {
        for stream in self.open.lock().expect("lock").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

#[test]
fn a_worker_survives_its_connections_being_cut() {
    let Some(db) = TestDb::pg("network_cut") else {
        return;
    };
    let base = pg_url();
    // The server's host and port, from the test URL (default 127.0.0.1:5432).
    let config: postgres::Config = base.parse().expect("the test URL");
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let proxy = Proxy::start(format!("{host}:{port}"));
    let proxied = db.url.replacen(
        &format!("{host}:{port}"),
        &format!("127.0.0.1:{}", proxy.port),
        1,
    );
    assert_ne!(proxied, db.url, "the test URL names its host and port");

    let direct = Queue::open(&db.url).expect("open");
    let jobs = (0..100).map(|i| NewJob::new("tick", json!(i)).queue("cut").max_attempts(3));
    direct.enqueue_many(jobs).expect("enqueue");
    let errors = Arc::new(AtomicUsize::new(0));
    // Each run reports itself, so the test cuts the connection mid-run by waiting on runs.
    let (ran, runs) = mpsc::channel();
    let seen = Arc::clone(&errors);
    let worker = Worker::builder(Queue::open(&proxied).expect("open through the proxy"))
        .queue("cut")
        .concurrency(2)
        .lease(Duration::from_secs(1))
        .exit_when_empty(true)
        .on_error(move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
        })
        .handle("tick", move |_job, ctx| {
            ctx.sleep(Duration::from_millis(2));
            let _ = ran.send(());
            Ok::<(), String>(())
        })
        .build()
        .expect("build");
    let run = thread::spawn(move || worker.run());
    for batch in [20, 30] {
        for _ in 0..batch {
            runs.recv_timeout(Duration::from_secs(60))
                .expect("a job ran");
        }
        proxy.cut();
    }

    let report = run.join().expect("worker thread").expect("run");
    let status = direct.status("cut").expect("status");
    assert_eq!(
        (status.completed, status.failed),
        (100, 0),
        "{status:?} {report:?}"
    );
    assert!(errors.load(Ordering::SeqCst) > 0, "the cuts were noticed");
}
