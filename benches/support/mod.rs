//! Support code for the `webhook_load` bench: the bare-axum baseline target and the load
//! generator.

pub mod baseline;
pub mod loadgen;
/// The tests' throw-away PostgreSQL server, for the `loopguard-postgres-*` targets.
#[path = "../../tests/it/postgres/throwaway.rs"]
#[allow(
    dead_code,
    reason = "the bench never stops its server early; the tests do"
)]
pub mod throwaway;
