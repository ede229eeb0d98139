//! Shell: the webhook routes platforms call: our own JSON (transfers, call ends,
//! callback marks, promises) and the integrations' routes (a SIP proxy's REFER), whose
//! translations live in `integrations`. Each handler turns the body into the core's request types
//! first thing, hands it to the store, and answers only after the store kept it.
//! No verdict logic lives here: the engine decides.

pub mod amazon_connect;
pub mod asterisk;
pub mod callback;
pub mod end;
pub mod genesys;
mod observe;
pub mod promise;
pub mod sip;
pub mod transfer;
pub mod twilio;

use std::sync::Arc;

use axum::Router;
use axum::routing::post;

use crate::http::AppState;
use crate::integrations::amazon_connect::ContactQueues;

/// The webhook routes; they authenticate with the webhook signature, not the
/// dashboard credential.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/transfers", post(transfer::post_transfer))
        .route("/v1/integrations/sip/refer", post(sip::post_sip_refer))
        .route(
            "/v1/integrations/twilio/taskrouter",
            post(twilio::post_taskrouter_event),
        )
        .route(
            "/v1/integrations/twilio/flex/transfer",
            post(twilio::post_flex_transfer),
        )
        .route("/v1/calls/{call_id}/end", post(end::post_call_end))
        .route(
            "/v1/calls/{call_id}/callback",
            post(callback::post_callback),
        )
        .route("/v1/calls/{call_id}/promises", post(promise::post_promise))
        .route(
            "/v1/calls/{call_id}/promises/{promise_id}",
            post(promise::post_promise_close),
        )
        .route(
            "/v1/integrations/amazon-connect/flow",
            post(amazon_connect::post_flow),
        )
        .route(
            "/v1/integrations/amazon-connect/events",
            post(amazon_connect::post_events),
        )
        .route(
            "/v1/integrations/genesys/data-action",
            post(genesys::post_data_action),
        )
        .route(
            "/v1/integrations/genesys/events",
            post(genesys::post_events),
        )
        .layer(axum::Extension(amazon_connect::SharedContactQueues::new(
            std::sync::Mutex::new(ContactQueues::new(amazon_connect::REMEMBERED_CONTACTS)),
        )))
}
