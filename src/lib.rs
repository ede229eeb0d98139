//! loopguard: catches hot-potato call transfers.
//!
//! [`core`] is pure (rules model, graph checks, chain engine); [`render`] turns
//! findings into text; [`cli`] and [`server`] are the thin shells that touch files,
//! sockets and the clock. See ARCHITECTURE.md for the map.

pub mod cli;
pub mod core;
pub mod dashboard;
pub mod render;
pub mod rules_files;
pub mod server;
