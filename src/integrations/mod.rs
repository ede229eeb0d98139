//! Platform integrations: one file per platform, each a pure translation of what
//! that platform sends into the core's `TransferRequest`, and of the core's answer
//! into something the platform can act on.
//!
//! Pure like the core (it imports only `core`): no HTTP, no IO, no clock. The
//! routes that call these translations are thin handlers in `webhook/`, which read
//! and authenticate the body exactly as for our own JSON and hand the request to
//! the store. No verdict logic lives here: the engine decides.

pub mod amazon_connect;
pub mod asterisk;
pub mod genesys;
pub mod observation;
pub mod sip;
pub mod twilio;
