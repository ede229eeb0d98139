//! The pure core of loopguard: the routing-rules model, the graph checks and the
//! transfer-chain engine.
//!
//! Everything below this module takes data and returns data. It must not touch the
//! outside world: no tokio, no axum, no filesystem, no clock, no environment. Callers
//! pass file contents in and get diagnostics, routes and verdicts out; `now` is always
//! an argument. `tests/it/architecture.rs` fails the build if a core file imports
//! an IO or async crate.

pub mod checks;
pub mod codes;
pub mod diagnostic;
pub mod duration;
pub mod engine;
pub mod graph;
pub mod ide;
pub mod lint;
pub mod replay;
pub mod rule_tests;
pub mod rules;
pub mod source;
pub mod stats;
pub mod suppress;
