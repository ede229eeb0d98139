//! The baseline target: a bare axum handler with the same request and response shape as the
//! loopguard transfer webhook and none of its logic. It parses the event with serde, appends the
//! hop to a per-call chain under a `std::sync::Mutex` and answers `allow`. Whatever loopguard
//! costs on top of this is the price of its checks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// Serves the baseline as `loopguard serve` serves loopguard: a default multi-thread tokio
/// runtime (as many workers as CPUs the process may use), 127.0.0.1 on a free port, announced
/// as `listening on http://ADDRESS` on stdout, until the process is killed. Returns only if
/// it cannot serve.
pub fn serve_until_killed() -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on http://{}", listener.local_addr()?);
        // Small answers must not wait for Nagle's algorithm (loopguard sets it too).
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        axum::serve(listener, app()).await
    })
}

/// Builds the baseline router with fresh, empty per-call state.
pub fn app() -> Router {
    Router::new()
        .route("/v1/transfers", post(record_transfer))
        .with_state(Calls::default())
}

type Calls = Arc<Mutex<HashMap<String, Vec<Hop>>>>;

#[derive(Deserialize)]
struct TransferEvent {
    event_id: String,
    call_id: String,
    from: String,
    to: String,
    mode: String,
    intent: String,
}

struct Hop {
    // Stored like a real webhook would store them, even though the baseline never reads them.
    #[allow(
        dead_code,
        reason = "kept so the baseline stores what a real hop record holds"
    )]
    event_id: String,
    from: String,
    to: String,
    #[allow(
        dead_code,
        reason = "kept so the baseline stores what a real hop record holds"
    )]
    mode: String,
    #[allow(
        dead_code,
        reason = "kept so the baseline stores what a real hop record holds"
    )]
    intent: String,
}

#[derive(Serialize)]
struct Verdict {
    verdict: &'static str,
    hop: usize,
    chain: Vec<String>,
}

async fn record_transfer(
    State(calls): State<Calls>,
    Json(event): Json<TransferEvent>,
) -> Json<Verdict> {
    let hop = Hop {
        event_id: event.event_id,
        from: event.from,
        to: event.to,
        mode: event.mode,
        intent: event.intent,
    };
    // The lock is never held across an await, and a poisoned map is still a valid map.
    let mut calls = calls.lock().unwrap_or_else(PoisonError::into_inner);
    let hops = calls.entry(event.call_id).or_default();
    hops.push(hop);
    let chain = hops
        .first()
        .map(|first| first.from.clone())
        .into_iter()
        .chain(hops.iter().map(|hop| hop.to.clone()))
        .collect();
    Json(Verdict {
        verdict: "allow",
        hop: hops.len(),
        chain,
    })
}
