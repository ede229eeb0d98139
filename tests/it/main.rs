//! The one integration-test binary (one link step for every integration test).
//!
//! Each module tests one feature through the public API or the real binary; the
//! fixtures live in `tests/fixtures/`.

mod architecture;
mod crash;
mod dashboard;
mod engine_properties;
mod graph_export;
mod hot_potato;
mod lint_cli;
mod lint_fixtures;
mod lint_scale;
mod lsp;
mod properties;
mod robustness;
mod rule_tests;
mod sarif;
mod serve_binary;
mod snapshots;
mod store;
mod support;
mod webhook;
