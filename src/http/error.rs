//! The one error shape of the API, `{error: {code, message, field}}`, and the table
//! of error codes with the HTTP status each one gets.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::core::engine::{EngineError, InputError};
use crate::metrics::RequestOutcome;
use crate::store::StoreError;

macro_rules! error_codes {
    ($($variant:ident => $name:literal, $status:ident, $doc:literal;)*) => {
        /// Every error code the API answers with. Stable: clients may branch on them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
        // The wire words are the variants in kebab-case; a test checks each against
        // its name in the table, and the OpenAPI enum against both.
        #[serde(rename_all = "kebab-case")]
        pub enum ErrorCode {
            $(
                #[doc = $doc]
                $variant,
            )*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $name,)* }
            }

            /// The HTTP status this code is always answered with.
            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status,)* }
            }

            /// What the code means, for the documentation.
            pub fn description(self) -> &'static str {
                match self { $(ErrorCode::$variant => $doc,)* }
            }
        }
    };
}

error_codes! {
    InvalidJson => "invalid-json", BAD_REQUEST, "The body is not JSON, or a field has the wrong JSON type.";
    InvalidForm => "invalid-form", BAD_REQUEST, "The form body cannot be decoded.";
    InvalidQuery => "invalid-query", BAD_REQUEST, "The query string cannot be decoded.";
    UnreadableBody => "unreadable-body", BAD_REQUEST, "The body could not be read completely.";
    RequestTimeout => "request-timeout", REQUEST_TIMEOUT, "The body did not arrive (or the answer was not ready) within the request timeout.";
    InvalidValue => "invalid-value", UNPROCESSABLE_ENTITY, "A field or parameter is present but not acceptable.";
    MissingField => "missing-field", UNPROCESSABLE_ENTITY, "A required field is absent.";
    UnknownParameter => "unknown-parameter", UNPROCESSABLE_ENTITY, "A query parameter this endpoint does not take.";
    BadSignature => "bad-signature", UNAUTHORIZED, "The webhook signature is missing, stale or wrong.";
    Unauthorized => "unauthorized", UNAUTHORIZED, "The dashboard credential is missing or wrong.";
    TooManyAttempts => "too-many-attempts", TOO_MANY_REQUESTS, "Too many failed credentials from this client; wait for Retry-After.";
    Forbidden => "forbidden", FORBIDDEN, "The request's Host or Origin is not allowed.";
    NotFound => "not-found", NOT_FOUND, "No such endpoint.";
    UnknownCall => "unknown-call", NOT_FOUND, "No transfer was recorded for this call.";
    ConflictingRedelivery => "conflicting-redelivery", CONFLICT, "The event id was already received with a different body.";
    CallEnded => "call-ended", CONFLICT, "The call ended before this event.";
    PromiseExists => "promise-exists", CONFLICT, "The call already has a promise with this promise_id, made by another event.";
    UnknownPromise => "unknown-promise", NOT_FOUND, "The call has no promise with this promise_id.";
    TooManyPromises => "too-many-promises", UNPROCESSABLE_ENTITY, "The call already holds the most promises one call may hold.";
    FeatureOff => "feature-off", NOT_FOUND, "The rules' policy turns this view off.";
    BodyTooLarge => "body-too-large", PAYLOAD_TOO_LARGE, "The body is over the configured limit.";
    UnsupportedMediaType => "unsupported-media-type", UNSUPPORTED_MEDIA_TYPE, "The content type is not the one this endpoint takes.";
    StoreUnavailable => "store-unavailable", SERVICE_UNAVAILABLE, "The event could not be stored; retry after Retry-After.";
}

/// The one error shape of the API.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable kebab-case code.
    pub code: ErrorCode,
    /// What was wrong and what to do.
    pub message: String,
    /// The JSON field, query parameter or header at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answer; converted into the JSON error body.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    pub retry_after_seconds: Option<u32>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            retry_after_seconds: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after_seconds = Some(seconds);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// A field that is present but not acceptable.
    pub fn invalid(error: InputError) -> Self {
        ApiError::new(ErrorCode::InvalidValue, error.to_string()).with_field(error.field)
    }

    /// A required field that is absent; `hint` follows "`field` is required".
    pub fn missing(field: &'static str, hint: &str) -> Self {
        ApiError::new(
            ErrorCode::MissingField,
            format!("`{field}` is required{hint}"),
        )
        .with_field(field)
    }

    /// No call with this id.
    pub fn unknown_call(call_id: &str) -> Self {
        ApiError::new(
            ErrorCode::UnknownCall,
            format!("no transfer was recorded for call `{call_id}`"),
        )
        .with_field("call_id")
    }

    /// The `outcome` label of the webhook request counter.
    pub fn outcome(&self) -> RequestOutcome {
        match self.code {
            ErrorCode::BadSignature => RequestOutcome::BadSignature,
            ErrorCode::ConflictingRedelivery | ErrorCode::CallEnded | ErrorCode::PromiseExists => {
                RequestOutcome::Conflict
            }
            ErrorCode::StoreUnavailable => RequestOutcome::Unavailable,
            _ => RequestOutcome::InvalidRequest,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after_seconds {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        let (code, field) = match &error {
            EngineError::Conflict { .. } => (ErrorCode::ConflictingRedelivery, "event_id"),
            EngineError::CallEnded { .. } => (ErrorCode::CallEnded, "occurred_at"),
            EngineError::UnknownCall { .. } => (ErrorCode::UnknownCall, "call_id"),
            EngineError::PromiseExists { .. } => (ErrorCode::PromiseExists, "promise_id"),
            EngineError::UnknownPromise { .. } => (ErrorCode::UnknownPromise, "promise_id"),
            EngineError::TooManyPromises { .. } => (ErrorCode::TooManyPromises, "promise_id"),
        };
        ApiError::new(code, error.to_string()).with_field(field)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Engine(engine_error) => engine_error.into(),
            StoreError::Unavailable(message) => ApiError::new(
                ErrorCode::StoreUnavailable,
                format!(
                    "{message}; retry later (an event that was recorded after all gets the answer it was given)"
                ),
            )
            .with_retry_after(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_unique_kebab_case_with_an_error_status() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{} twice", code.as_str());
            assert!(
                code.as_str()
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte == b'-'),
                "{}",
                code.as_str()
            );
            assert!(code.status().as_u16() >= 400, "{}", code.as_str());
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
    }

    #[test]
    fn the_openapi_schema_lists_the_same_words_as_the_wire() {
        use utoipa::PartialSchema as _;
        let schema = serde_json::to_value(ErrorCode::schema()).unwrap();
        let listed: Vec<&str> = schema["enum"]
            .as_array()
            .expect("an enum schema")
            .iter()
            .map(|word| word.as_str().unwrap())
            .collect();
        let words: Vec<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
        assert_eq!(listed, words);
    }
}
