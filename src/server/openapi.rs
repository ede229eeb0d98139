//! The OpenAPI document, generated from the handlers' own types. A committed copy
//! lives in `docs/openapi.json`; `tests/it/openapi.rs` fails when it is stale.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "loopguard",
        description = "Transfer webhook and call-chain API: every transfer gets a verdict (allow, warn, block) with findings, the call's chain and a suggestion."
    ),
    paths(
        super::api::post_transfer,
        super::api::post_call_end,
        super::api::post_callback,
        super::api::get_call,
        super::api::get_loops,
        super::api::readyz,
    ),
    components(schemas(
        super::api::ErrorBody,
        super::api::ErrorDetail,
        super::api::TransferBody,
        super::api::EndBody,
        super::api::CallbackBody,
        super::api::LoopSummary,
        super::api::LoopsResponse,
        super::api::ReadyBody,
        super::RulesStatus,
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
