//! `workpool serve`: a live dashboard of a queue database over HTTP. One embedded page
//! (`serve.html`, no build step) polls `/api/status` every second and shows, per queue, the
//! counts by state, the live workers, the throughput and the recent failures.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use workpool_queue::{FailedJob, Queue, QueueStatus};

use crate::cli::ServeArgs;
use crate::error::{lower_first, CliError};
use crate::exit::Exit;

/// The default `--listen` address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7420";
/// How many of a queue's latest failures the dashboard lists.
const FAILURES: usize = 10;

const PAGE: &str = include_str!("serve.html");

/// `--listen`: `HOST:PORT`, where HOST is an address or a name that resolves.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let expected = "expected HOST:PORT, like 127.0.0.1:7420, 0.0.0.0:80 or localhost:8080";
    if text
        .rsplit_once(':')
        .is_none_or(|(_, port)| port.parse::<u16>().is_err())
    {
        return Err(expected.to_owned());
    }
    text.to_socket_addrs()
        .map_err(|e| format!("cannot resolve {text}: {}", lower_first(&e.to_string())))?
        .next()
        .ok_or_else(|| format!("{text} resolves to no address ({expected})"))
}

/// What the page polls: every queue shown, with its failures.
#[derive(Serialize)]
struct Snapshot {
    database: String,
    /// The server's clock, in unix milliseconds (the page shows ages against it).
    time_ms: i64,
    queues: Vec<QueueView>,
}

#[derive(Serialize)]
struct QueueView {
    #[serde(flatten)]
    status: QueueStatus,
    recent_failures: Vec<FailedJob>,
}

struct Shared {
    queue: Queue,
    /// The queues to show; empty: every queue the database knows.
    only: Vec<String>,
}

fn snapshot(shared: &Shared) -> Result<Snapshot, workpool_queue::Error> {
    let names = if shared.only.is_empty() {
        shared.queue.queues()?
    } else {
        shared.only.clone()
    };
    let mut queues = Vec::with_capacity(names.len());
    for name in names {
        queues.push(QueueView {
            status: shared.queue.status(&name)?,
            recent_failures: shared.queue.recent_failures(&name, FAILURES)?,
        });
    }
    let time_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Ok(Snapshot {
        database: shared.queue.url(),
        time_ms,
        queues,
    })
}

async fn index() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Html(PAGE))
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    // The queue's calls block (a database round trip): off the async threads.
    match tokio::task::spawn_blocking(move || snapshot(&shared)).await {
        Ok(Ok(snapshot)) => ([(header::CACHE_CONTROL, "no-store")], Json(snapshot)).into_response(),
        Ok(Err(err)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"error": err.to_string()})),
        )
            .into_response(),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({"error": format!("the status query failed: {err}")})),
        )
            .into_response(),
    }
}

/// Resolves when SIGINT or SIGTERM arrives.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without handlers the default action (ending the process) still stops the server.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

/// `workpool serve`.
pub fn serve(args: &ServeArgs) -> Result<Exit, CliError> {
    if let Some(empty) = args.queues.iter().find(|q| q.is_empty()) {
        return Err(CliError::usage(format!(
            "--queue must not be empty (got {empty:?})"
        )));
    }
    let queue = Queue::open(&args.url.db)?;
    let shared = Arc::new(Shared {
        queue,
        only: args.queues.clone(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("workpool-serve")
        .enable_all()
        .build()
        .map_err(|e| CliError::usage(format!("cannot start the server: {e}")))?;
    // The queue's PostgreSQL client runs a runtime of its own and must not be dropped on
    // this one's threads: the last reference is this one, dropped after the runtime.
    let app_shared = Arc::clone(&shared);
    let url = shared.queue.url();
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| {
                CliError::usage(format!(
                    "cannot listen on {}: {}",
                    args.listen,
                    lower_first(&e.to_string())
                ))
            })?;
        let local = listener
            .local_addr()
            .map_err(|e| CliError::usage(format!("cannot listen on {}: {e}", args.listen)))?;
        eprintln!("workpool: serving the dashboard of {url} at http://{local}/ (ctrl-c to stop)");
        let app = Router::new()
            .route("/", get(index))
            .route("/api/status", get(status))
            .with_state(app_shared);
        axum::serve(listener, app)
            .with_graceful_shutdown(stop_signal())
            .await
            .map_err(|e| CliError::usage(format!("the server failed: {e}")))
    });
    drop(runtime);
    drop(shared);
    served?;
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_are_checked() {
        assert_eq!(
            parse_listen("127.0.0.1:7420"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 7420)))
        );
        assert_eq!(parse_listen("[::1]:80").map(|a| a.port()), Ok(80));
        assert_eq!(parse_listen("localhost:8080").map(|a| a.port()), Ok(8080));
        for bad in ["", "7420", "127.0.0.1", "127.0.0.1:port", "127.0.0.1:70000"] {
            let err = parse_listen(bad).expect_err(bad);
            assert!(err.contains("expected HOST:PORT"), "{bad}: {err}");
        }
    }
}
