//! The OpenAPI document, generated from the handlers' own types. A committed copy
//! lives in `docs/openapi.json`; `webhook::the_committed_openapi_document_is_current`
//! in `tests/it/` fails when it is stale.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "loopguard",
        description = "Transfer webhook and call-chain API: every transfer gets a verdict (allow, warn, block) with findings, the call's chain and a suggestion."
    ),
    paths(
        crate::webhook::transfer::post_transfer,
        crate::webhook::sip::post_sip_refer,
        crate::webhook::twilio::post_taskrouter_event,
        crate::webhook::twilio::post_flex_transfer,
        crate::webhook::amazon_connect::post_flow,
        crate::webhook::amazon_connect::post_events,
        crate::webhook::genesys::post_data_action,
        crate::webhook::genesys::post_events,
        crate::webhook::end::post_call_end,
        crate::webhook::callback::post_callback,
        crate::webhook::promise::post_promise,
        crate::webhook::promise::post_promise_close,
        crate::http::read::get_call,
        crate::http::read::get_loops,
        crate::http::ops::readyz,
    ),
    components(schemas(
        crate::http::error::ErrorBody,
        crate::http::error::ErrorDetail,
        crate::http::error::ErrorCode,
        crate::webhook::transfer::TransferBody,
        crate::integrations::sip::ReferBody,
        crate::integrations::sip::ReferAnswer,
        crate::integrations::sip::SipReply,
        crate::integrations::twilio::FlexTransferBody,
        crate::webhook::twilio::FlexAnswer,
        crate::integrations::amazon_connect::FlowEvent,
        crate::integrations::amazon_connect::FlowDetails,
        crate::integrations::amazon_connect::ContactData,
        crate::integrations::amazon_connect::Endpoint,
        crate::integrations::amazon_connect::FlowAnswer,
        crate::integrations::genesys::DataActionRequest,
        crate::integrations::genesys::DataActionAnswer,
        crate::integrations::observation::ObservationList,
        crate::integrations::observation::ObservationAnswer,
        crate::integrations::observation::ObservationOutcome,
        crate::webhook::end::EndBody,
        crate::webhook::callback::CallbackBody,
        crate::webhook::promise::PromiseBody,
        crate::webhook::promise::PromiseCloseBody,
        crate::http::read::LoopSummary,
        crate::http::read::LoopsResponse,
        crate::http::ops::ReadyBody,
        crate::http::state::RulesStatus,
        crate::http::ops::StoreReadiness,
    ))
)]
struct ApiDocument;

/// The OpenAPI 3.1 document as pretty JSON.
pub fn document() -> String {
    let mut document = ApiDocument::openapi();
    document.merge(<crate::dashboard::StatsApi as OpenApi>::openapi());
    let mut text = document
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    text.push('\n');
    text
}
