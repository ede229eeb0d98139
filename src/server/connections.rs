//! Accepting connections: at most `max_connections` open at once, every connection
//! timed out (request head, stalled writes; the request itself by `app`'s deadline
//! layer), and a drain at shutdown that ends after `drain_timeout` whatever is
//! still open.
//!
//! `axum::serve` offers none of these knobs, so the accept loop is ours; the HTTP
//! work is hyper's (`header_read_timeout`) and hyper-util's (`GracefulShutdown`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt as _;

use crate::metrics::Metrics;

/// How many connections may be open and how long each may take.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections open at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// From a connection's opening (or the end of its previous answer) until its
    /// request head is complete: the header-read and the keep-alive idle timeout.
    pub header_timeout: Duration,
    /// How long one write to the client may stall (a client that stops reading).
    pub write_timeout: Duration,
    /// How long shutdown waits for open connections before it closes them.
    pub drain_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// File descriptors kept free for everything that is not a connection: the database
/// and its WAL, rules files, the directory watcher, logs.
pub const RESERVED_FILE_DESCRIPTORS: u64 = 64;

/// Largest request head (request line and headers) hyper buffers; hyper's own
/// default is about 400 KB.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Raises the soft open-file limit to the hard limit and returns the soft limit in
/// force, so the connection cap can be fitted under it.
pub fn raise_open_file_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// The connection cap that fits under `open_file_limit` with room for the rest.
pub fn fit_connection_cap(wanted: usize, open_file_limit: u64) -> usize {
    let room = open_file_limit
        .saturating_sub(RESERVED_FILE_DESCRIPTORS)
        .max(1);
    wanted.min(usize::try_from(room).unwrap_or(usize::MAX))
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains for at most
/// `limits.drain_timeout`.
pub async fn run(
    listener: TcpListener,
    router: Router,
    metrics: Metrics,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let mut at_capacity = false;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                    }
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics.connections_refused.inc();
            if !at_capacity {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "connection limit reached: closing new connections until some close (loopguard_connections_refused_total counts them)"
                );
                at_capacity = true;
            }
            drop(stream);
            continue;
        };
        at_capacity = false;
        let router = router.clone();
        // The router, told the peer's address (rate limits and trusted proxies use it).
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = builder.serve_connection(timed_io(stream, limits.write_timeout), service);
        let connection = graceful.watch(connection);
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let _open = OpenConnection::new(permit, metrics);
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection closed with an error");
            }
        });
    }
    drop(listener);
    let open = graceful.count();
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("every connection drained"),
        () = tokio::time::sleep(limits.drain_timeout) => tracing::warn!(
            open,
            drain_seconds = limits.drain_timeout.as_secs(),
            "drain deadline passed: closing the connections still open"
        ),
    }
    Ok(())
}

/// The TCP stream with a write timeout, as hyper's IO.
fn timed_io(
    stream: TcpStream,
    write_timeout: Duration,
) -> TokioIo<std::pin::Pin<Box<TimeoutStream<TcpStream>>>> {
    // Small answers should not wait for Nagle's algorithm; failing to set it only
    // costs latency.
    let _ = stream.set_nodelay(true);
    let mut stream = TimeoutStream::new(stream);
    stream.set_write_timeout(Some(write_timeout));
    TokioIo::new(Box::pin(stream))
}

/// Counts an open connection and holds its place under the cap until dropped.
struct OpenConnection {
    _permit: OwnedSemaphorePermit,
    metrics: Metrics,
}

impl OpenConnection {
    fn new(permit: OwnedSemaphorePermit, metrics: Metrics) -> Self {
        metrics.open_connections.inc();
        Self {
            _permit: permit,
            metrics,
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.metrics.open_connections.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_under_the_open_file_limit() {
        assert_eq!(fit_connection_cap(4096, 1024), 960);
        assert_eq!(fit_connection_cap(100, 1024), 100);
        assert_eq!(fit_connection_cap(100, 10), 1);
    }
}
