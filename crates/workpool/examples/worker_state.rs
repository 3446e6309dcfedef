//! Each worker owns a database connection, as in the seed's `DatabaseWorkerPool`, without a
//! lock and without a connection pool: the pool builds one connection per worker the first
//! time a job on that worker asks for it, lends it to that worker's jobs, and closes it on the
//! worker's thread when the worker exits.
//!
//! The "database" is an in-memory stand-in: a shared table behind a lock (the server), and a
//! `Connection` per worker with its own prepared-statement cache in an `Rc<RefCell<..>>`, so
//! it is not `Send`: it could not be handed between threads, and never is. Start and stop
//! hooks log each worker's life; a pause holds the jobs queued during a "maintenance window"
//! until the pool resumes.
//!
//! Run with `cargo run -p workpool --example worker_state`.

// Tests and examples are not the library: they may name std's primitives (see clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use workpool::Pool;

/// The server side of the stand-in: one table, shared by every connection.
#[derive(Default)]
struct Server {
    rows: Mutex<BTreeMap<u32, String>>,
    connections: AtomicUsize,
}

/// One worker's connection: it counts the statements it ran and caches what it prepared.
struct Connection {
    id: usize,
    server: Arc<Server>,
    /// Not `Send`: a real driver's connection often is not either.
    prepared: Rc<RefCell<HashSet<&'static str>>>,
    statements: usize,
}

impl Connection {
    fn open(server: &Arc<Server>) -> Self {
        let id = server.connections.fetch_add(1, Ordering::SeqCst);
        println!("  [{}] connection {id} opened", thread_name());
        Connection {
            id,
            server: Arc::clone(server),
            prepared: Rc::default(),
            statements: 0,
        }
    }

    fn prepare(&mut self, sql: &'static str) {
        self.prepared.borrow_mut().insert(sql);
        self.statements += 1;
    }

    fn insert(&mut self, key: u32, value: String) {
        self.prepare("INSERT INTO kv VALUES (?, ?)");
        self.server.rows.lock().unwrap().insert(key, value);
    }

    fn select(&mut self, key: u32) -> Option<String> {
        self.prepare("SELECT v FROM kv WHERE k = ?");
        self.server.rows.lock().unwrap().get(&key).cloned()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        println!(
            "  [{}] connection {} closed after {} statements ({} prepared)",
            thread_name(),
            self.id,
            self.statements,
            self.prepared.borrow().len()
        );
    }
}

fn thread_name() -> String {
    thread::current().name().unwrap_or("?").to_owned()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Arc::new(Server::default());
    let connect = {
        let server = Arc::clone(&server);
        move || Connection::open(&server)
    };
    let pool = Pool::builder()
        .workers(3)
        .thread_name("db")
        .on_worker_start(|id| println!("  [{}] worker {id} started", thread_name()))
        .on_worker_stop(|id| println!("  [{}] worker {id} stopped", thread_name()))
        .worker_state(connect)
        .build()?;

    println!("writing 300 rows through 3 workers:");
    let writes: Vec<_> = (0..300u32)
        .map(|key| {
            pool.submit_with_state(move |conn: &mut Connection| {
                conn.insert(key, format!("value {key}"));
                conn.id
            })
        })
        .collect::<Result<_, _>>()?;
    let mut by_connection = BTreeMap::new();
    for write in writes {
        *by_connection.entry(write.wait()?).or_insert(0) += 1;
    }
    println!("rows written per connection: {by_connection:?}");

    println!("maintenance window: the pool is paused, reads queue up");
    pool.pause();
    let reads: Vec<_> = [7u32, 150, 299, 1000]
        .into_iter()
        .map(|key| pool.submit_with_state(move |conn: &mut Connection| (key, conn.select(key))))
        .collect::<Result<_, _>>()?;
    let stats = pool.stats();
    println!(
        "  paused: {}, queued: {}, finished: {}",
        stats.paused,
        stats.queued,
        reads.iter().filter(|r| r.is_finished()).count()
    );
    pool.resume();
    for read in reads {
        let (key, value) = read.wait()?;
        println!("  read {key}: {value:?}");
    }

    // A job for a state this pool does not have is handed back, not run.
    let refused = pool.submit_with_state(|counter: &mut u64| *counter);
    println!(
        "a job for another state type: {}",
        refused.map(drop).unwrap_err()
    );

    println!("shutting down:");
    let report = pool.shutdown();
    println!(
        "{} jobs completed; {} connections opened for 3 workers",
        report.completed,
        server.connections.load(Ordering::SeqCst)
    );
    Ok(())
}
