//! loopguard: catches hot-potato call transfers.
//!
//! [`core`] is pure (rules model, graph checks, chain engine); [`render`] turns
//! findings into text; the shells touch files, sockets and the clock: [`store`]
//! keeps call state, [`http`] holds what every route shares, [`integrations`]
//! translate what platforms send (pure, like the core), [`webhook`] and
//! [`dashboard`] are the routes, [`server`] assembles and runs them, [`lsp`] is the
//! editors' language server, [`cli`] is the command line. See ARCHITECTURE.md for
//! the map and who may import whom.

pub mod cli;
pub mod clock;
pub mod core;
pub mod dashboard;
pub mod exit;
pub mod http;
pub mod integrations;
pub mod lsp;
pub mod metrics;
pub mod render;
pub mod replay;
pub mod rules_files;
pub mod server;
pub mod store;
pub mod webhook;
