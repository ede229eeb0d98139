//! Shell: what every HTTP route shares. The application state, the JSON error type
//! and its code table, reading and verifying bodies, request fields and query
//! parameters, the dashboard credential check, the read APIs for calls, and the
//! operations endpoints.
//!
//! It must not mount routes of its own or know the dashboard's pages: the webhook
//! routes (`webhook`), the integrations and the dashboard build on it, and
//! `server::app` assembles them into one router.

pub mod access;
pub mod attempts;
pub mod body;
pub mod client;
pub mod deadline;
pub mod error;
pub mod fields;
pub mod ops;
pub mod origin;
pub mod query;
pub mod read;
pub mod signature;
pub mod state;

pub use error::{ApiError, ErrorBody, ErrorCode};
pub use state::{AppState, DEFAULT_MAX_BODY_BYTES, IntegrationSecrets, LiveUpdate, RulesStatus};
