//! Support code for the `webhook_load` bench: the bare-axum baseline target and the load
//! generator.

pub mod baseline;
pub mod loadgen;
