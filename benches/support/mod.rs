//! Support code for the `webhook_load` bench: the bare-axum baseline target and the load
//! generator.

pub mod baseline;
#[allow(
    dead_code,
    reason = "shared with dashboard_load, which serves its router in-process (`RunningServer`)"
)]
pub mod loadgen;
