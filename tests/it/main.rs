//! The one integration-test binary (one link step for every integration test).
//!
//! Each module tests one feature through the public API or the real binary; the
//! fixtures live in `tests/fixtures/`.

mod amazon_connect;
mod architecture;
mod asterisk;
mod crash;
mod dashboard;
mod engine_properties;
mod expiry_order;
mod genesys;
mod hostile;
mod hostile_dashboard;
mod hot_potato;
mod identities;
mod lint_cli;
mod lint_fixtures;
mod properties;
mod robustness;
mod sarif;
mod serve_binary;
mod sip;
mod snapshots;
mod stats_index;
mod store;
mod support;
mod twilio;
mod webhook;
