//! Reading request bodies: the content type, the size limit and the webhook
//! signature, in that order, before any parsing; then JSON parsing that names the
//! field at fault.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use super::error::{ApiError, ErrorCode};
use super::signature::{
    SignatureHeaders, WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER,
};
use super::state::AppState;

/// Whether the request says its body is JSON: `application/json` or any
/// `application/<something>+json`, parameters (`; charset=utf-8`) ignored.
pub fn is_json(headers: &HeaderMap) -> bool {
    let media_type = media_type(headers);
    media_type == "application/json"
        || (media_type.starts_with("application/") && media_type.ends_with("+json"))
}

/// The media type of the body, lower-case, without parameters ("" when absent).
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Refuses a body that is not JSON with 415, naming the header.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    if is_json(headers) {
        return Ok(());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    Err(ApiError::new(
        ErrorCode::UnsupportedMediaType,
        format!("content type `{content_type}` is not JSON; send `Content-Type: application/json`"),
    )
    .with_field("content-type"))
}

/// Refuses a body that is not `application/x-www-form-urlencoded` with 415.
pub fn require_form(headers: &HeaderMap) -> Result<(), ApiError> {
    if media_type(headers) == "application/x-www-form-urlencoded" {
        return Ok(());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    Err(ApiError::new(
        ErrorCode::UnsupportedMediaType,
        format!(
            "content type `{content_type}` is not a form; send `Content-Type: application/x-www-form-urlencoded`"
        ),
    )
    .with_field("content-type"))
}

/// Decodes a form body into its name/value pairs, in order (400 `invalid-form`).
pub fn parse_form(bytes: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_bytes(bytes).map_err(|error| {
        ApiError::new(
            ErrorCode::InvalidForm,
            format!("the form body cannot be decoded: {error}"),
        )
    })
}

/// Reads at most `limit` bytes of the body: 413 past it.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let too_large = error
            .into_inner()
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some();
        if too_large {
            ApiError::new(
                ErrorCode::BodyTooLarge,
                format!(
                    "the body is larger than {limit} bytes; a transfer event is a few hundred bytes"
                ),
            )
        } else {
            ApiError::new(
                ErrorCode::UnreadableBody,
                "the request body could not be read completely",
            )
        }
    })
}

/// Verifies the Standard Webhooks signature over the raw bytes, when a secret is
/// configured.
pub fn verify_signature(
    state: &AppState,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<(), ApiError> {
    let Some(verifier) = &state.verifier else {
        return Ok(());
    };
    let header_text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let signature_headers = SignatureHeaders {
        webhook_id: header_text(WEBHOOK_ID_HEADER),
        webhook_timestamp: header_text(WEBHOOK_TIMESTAMP_HEADER),
        webhook_signature: header_text(WEBHOOK_SIGNATURE_HEADER),
    };
    verifier
        .verify(&signature_headers, bytes, state.clock.now().as_second())
        .map_err(|error| {
            ApiError::new(ErrorCode::BadSignature, error.to_string()).with_field(error.header())
        })
}

/// A JSON webhook body: content type, size limit and signature, in that order.
pub async fn read_signed_json(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    require_json(headers)?;
    let bytes = read_limited(body, state.max_body_bytes).await?;
    verify_signature(state, headers, &bytes)?;
    Ok(bytes)
}

/// Parses JSON, naming the field at fault: syntax errors and wrong types are 400.
///
/// A valid body is parsed once, by `serde_json` alone; only a body that fails is
/// parsed again with `serde_path_to_error`, which tracks the path of every value and
/// costs about a third more on every request, to name the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).or_else(|_| parse_json_naming_the_field(bytes))
}

/// [`parse_json`]'s slow path: the error with the failing field's path.
fn parse_json_naming_the_field<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let field = (path != "." && path != "?").then_some(path);
        let message = match inner.classify() {
            serde_json::error::Category::Data => match &field {
                Some(field) => format!("field `{field}`: {inner}"),
                None => format!("the body must be a JSON object: {inner}"),
            },
            _ => format!("malformed JSON: {inner}"),
        };
        let mut api_error = ApiError::new(ErrorCode::InvalidJson, message);
        api_error.field = field;
        api_error
    })?;
    deserializer.end().map_err(|error| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("malformed JSON: unexpected data after the object: {error}"),
        )
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        headers
    }

    #[test]
    fn json_media_types_are_recognised_with_parameters_and_suffixes() {
        for accepted in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/cloudevents+json",
        ] {
            assert!(is_json(&headers(accepted)), "{accepted}");
        }
        for refused in ["text/plain", "application/jsonp", "text/x+json", ""] {
            assert!(!is_json(&headers(refused)), "{refused}");
        }
    }
}
