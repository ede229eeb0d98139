//! The one integration-test binary (one link step for every integration test).
//!
//! Each module tests one feature through the public API or the real binary; the
//! fixtures live in `tests/fixtures/`.

mod amazon_connect;
mod architecture;
mod asterisk;
mod crash;
mod dashboard;
mod dashboard_api;
mod engine_properties;
mod expiry_order;
mod genesys;
mod graph_drawing;
mod graph_export;
mod hostile;
mod hostile_dashboard;
mod hot_potato;
mod identities;
mod lint_cli;
mod lint_fixtures;
mod lint_scale;
mod lsp;
mod monitoring;
mod postgres;
mod promises;
mod properties;
mod replay;
mod robustness;
mod rule_tests;
mod sarif;
mod serve_binary;
mod sip;
mod snapshots;
mod stats_index;
mod store;
mod support;
mod twilio;
mod webhook;
