//! Support code for the `webhook_load` and `postgres_load` benches: the bare-axum baseline
//! target, the load generator and the throw-away PostgreSQL.

#[allow(
    dead_code,
    reason = "webhook_load runs the baseline as a process (`serve_until_killed`), postgres_load in-process (`app`)"
)]
pub mod baseline;
#[allow(
    dead_code,
    reason = "shared with dashboard_load, which serves its router in-process (`RunningServer`)"
)]
pub mod loadgen;
pub mod settings;
/// The tests' throw-away PostgreSQL server, for the `loopguard-postgres-*` targets.
#[path = "../../tests/it/postgres/throwaway.rs"]
#[allow(
    dead_code,
    reason = "the bench never stops its server early; the tests do"
)]
pub mod throwaway;
