//! Standard Webhooks 1.0 signature verification for incoming transfer events.
//!
//! This module owns the rules for deciding whether a webhook request was signed by a sender that
//! holds one of our secrets: parsing `whsec_` secrets, checking the `webhook-timestamp` window and
//! comparing `v1,<base64>` signatures in constant time. It also signs requests, for our tests and
//! the load benchmark.
//!
//! It must stay pure: no IO and no clock. The HTTP shell reads the three headers and the raw body,
//! passes the current Unix time in, and turns a [`SignatureError`] into the JSON error response
//! (using [`SignatureError::header`] for the field at fault). Verification must happen on the raw
//! bytes before the body is parsed, because re-encoding the JSON would change what was signed.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// Name of the header carrying the sender's unique message id.
pub const WEBHOOK_ID_HEADER: &str = "webhook-id";
/// Name of the header carrying the signing time in Unix seconds.
pub const WEBHOOK_TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Name of the header carrying the space-separated `v1,<base64>` signatures.
pub const WEBHOOK_SIGNATURE_HEADER: &str = "webhook-signature";

/// Shortest decoded secret we accept; Standard Webhooks requires at least 24 bytes.
pub const MINIMUM_SECRET_LENGTH_BYTES: usize = 24;
/// A random 24-byte key has about 23 different byte values; fewer than this is an
/// all-zero, repeated or typed-in key.
pub const MINIMUM_DISTINCT_SECRET_BYTES: usize = 8;
/// Longest `webhook-signature` header we look at: a few signatures of 47 bytes each.
pub const MAX_SIGNATURE_HEADER_BYTES: usize = 1024;
/// Most `v1` signatures tried per request (key rotation needs two or three).
pub const MAX_SIGNATURES_TRIED: usize = 8;
/// How far the `webhook-timestamp` may be from our clock, in either direction, by default.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

/// The prefix Standard Webhooks puts in front of the base64 secret.
const SECRET_PREFIX: &str = "whsec_";
/// The only signature scheme we accept: HMAC-SHA256, base64 with the standard alphabet.
const SIGNATURE_VERSION: &str = "v1";
/// Length in bytes of an HMAC-SHA256 tag; any decoded candidate of another length never matches.
const SIGNATURE_LENGTH_BYTES: usize = 32;

/// A shared webhook signing secret, parsed from `whsec_<base64>` or bare base64.
///
/// Only the keyed HMAC state is kept, not the text, and [`std::fmt::Debug`] prints no key material.
#[derive(Clone)]
pub struct WebhookSecret {
    keyed_mac: Hmac<Sha256>,
}

/// Why a webhook secret string was rejected. Messages never contain the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error(
        "the webhook secret is empty; generate one with `echo \"whsec_$(openssl rand -base64 32)\"` \
         and configure the same value on the telephony platform"
    )]
    Empty,
    #[error(
        "the webhook secret is not valid base64 (standard alphabet) after the optional `whsec_` \
         prefix; copy it again from the telephony platform, or generate a new one with \
         `echo \"whsec_$(openssl rand -base64 32)\"`"
    )]
    NotBase64,
    #[error(
        "the webhook secret decodes to {length_bytes} bytes, but at least {minimum} bytes are \
         required; generate a longer one with `echo \"whsec_$(openssl rand -base64 32)\"`",
        minimum = MINIMUM_SECRET_LENGTH_BYTES
    )]
    TooShort { length_bytes: usize },
    #[error(
        "the webhook secret decodes to only {distinct} different byte values (an all-zero or \
         repeated key), so it is easy to guess; generate a random one with \
         `echo \"whsec_$(openssl rand -base64 32)\"`"
    )]
    NotRandom { distinct: usize },
}

/// Checks Standard Webhooks signatures against one or more secrets.
///
/// Several secrets allow key rotation: a request signed with any of them passes.
#[derive(Debug, Clone)]
pub struct WebhookVerifier {
    secrets: Vec<WebhookSecret>,
    tolerance_seconds: i64,
}

/// The three Standard Webhooks header values of one request, `None` where the header was absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignatureHeaders<'a> {
    pub webhook_id: Option<&'a str>,
    pub webhook_timestamp: Option<&'a str>,
    pub webhook_signature: Option<&'a str>,
}

/// Why a webhook request failed signature verification.
///
/// Each message names the header at fault and what the sender should do; none contains secret
/// material or the expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "the `{0}` header is missing or empty; the sender must sign every request with the \
         Standard Webhooks headers `webhook-id`, `webhook-timestamp` and `webhook-signature`"
    )]
    MissingHeader(&'static str),
    #[error(
        "the `webhook-timestamp` header is not a whole number of Unix seconds; send the signing \
         time as digits only, for example `1700000000`"
    )]
    InvalidTimestamp,
    #[error(
        "the `webhook-timestamp` header is {skew_seconds} s in the past, more than the \
         {tolerance_seconds} s allowed; check the sender's clock (NTP), or this is a replayed \
         request"
    )]
    TimestampTooOld {
        skew_seconds: i64,
        tolerance_seconds: i64,
    },
    #[error(
        "the `webhook-timestamp` header is {skew_seconds} s in the future, more than the \
         {tolerance_seconds} s allowed; check the sender's clock (NTP)"
    )]
    TimestampInFuture {
        skew_seconds: i64,
        tolerance_seconds: i64,
    },
    #[error(
        "the `webhook-signature` header has no `v1,<base64>` entry; only Standard Webhooks v1 \
         (HMAC-SHA256) signatures are accepted"
    )]
    NoV1Signature,
    #[error(
        "no `v1` signature in the `webhook-signature` header matches the request under any \
         configured secret; check that the sender uses the same `whsec_` secret and signs \
         `{{webhook-id}}.{{webhook-timestamp}}.{{raw body}}` over the exact bytes it sends"
    )]
    NoMatchingSignature,
    #[error(
        "the `webhook-signature` header is {length} bytes long, more than the {MAX_SIGNATURE_HEADER_BYTES} \
         allowed; send one `v1,<base64>` signature per secret in use (at most {MAX_SIGNATURES_TRIED} are tried)"
    )]
    SignatureHeaderTooLong { length: usize },
}

impl WebhookSecret {
    /// Parses `whsec_<base64>` or bare base64 (surrounding whitespace, such as the trailing
    /// newline of a secret file, is ignored; base64 padding is optional).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let trimmed = text.trim();
        let encoded = trimmed.strip_prefix(SECRET_PREFIX).unwrap_or(trimmed);
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        let key = SECRET_BASE64
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        if key.len() < MINIMUM_SECRET_LENGTH_BYTES {
            return Err(SecretError::TooShort {
                length_bytes: key.len(),
            });
        }
        let distinct = distinct_byte_values(&key);
        if distinct < MINIMUM_DISTINCT_SECRET_BYTES {
            return Err(SecretError::NotRandom { distinct });
        }
        Ok(Self::from_key_bytes(&key))
    }

    fn from_key_bytes(key: &[u8]) -> Self {
        // HMAC is defined for keys of any length (long keys are hashed, short ones padded), so
        // `new_from_slice` cannot fail for `Hmac<Sha256>`.
        let keyed_mac =
            Hmac::<Sha256>::new_from_slice(key).expect("HMAC-SHA256 accepts keys of any length");
        Self { keyed_mac }
    }

    /// The raw HMAC-SHA256 tag over `{webhook_id}.{timestamp}.{body}`.
    fn tag(&self, webhook_id: &str, timestamp: &str, body: &[u8]) -> [u8; SIGNATURE_LENGTH_BYTES] {
        let mut mac = self.keyed_mac.clone();
        mac.update(webhook_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookVerifier {
    /// A verifier with one secret and the default tolerance of [`DEFAULT_TOLERANCE_SECONDS`].
    pub fn new(secret: WebhookSecret) -> Self {
        Self {
            secrets: vec![secret],
            tolerance_seconds: DEFAULT_TOLERANCE_SECONDS,
        }
    }

    /// Also accepts signatures made with `secret`, for key rotation.
    pub fn with_additional_secret(mut self, secret: WebhookSecret) -> Self {
        self.secrets.push(secret);
        self
    }

    /// Accepts timestamps up to `tolerance_seconds` away from `now`, in either direction.
    pub fn with_tolerance_seconds(mut self, tolerance_seconds: u32) -> Self {
        self.tolerance_seconds = i64::from(tolerance_seconds);
        self
    }

    /// Verifies one request. `raw_body` must be the bytes exactly as received, and
    /// `now_unix_seconds` the current time; the check never reads the clock itself.
    pub fn verify(
        &self,
        headers: &SignatureHeaders<'_>,
        raw_body: &[u8],
        now_unix_seconds: i64,
    ) -> Result<(), SignatureError> {
        let webhook_id = required_header(headers.webhook_id, WEBHOOK_ID_HEADER)?;
        let timestamp_text = required_header(headers.webhook_timestamp, WEBHOOK_TIMESTAMP_HEADER)?;
        let signature_list = required_header(headers.webhook_signature, WEBHOOK_SIGNATURE_HEADER)?;

        let timestamp = parse_timestamp(timestamp_text)?;
        self.check_timestamp_window(timestamp, now_unix_seconds)?;

        // Bounded before any decoding or hashing: a huge header must not cost more
        // than a normal request.
        if signature_list.len() > MAX_SIGNATURE_HEADER_BYTES {
            return Err(SignatureError::SignatureHeaderTooLong {
                length: signature_list.len(),
            });
        }
        let candidates: Vec<&str> = signature_list
            .split_ascii_whitespace()
            .filter_map(|entry| entry.split_once(','))
            .filter(|(version, _)| *version == SIGNATURE_VERSION)
            .map(|(_, encoded)| encoded)
            .take(MAX_SIGNATURES_TRIED)
            .collect();
        if candidates.is_empty() {
            return Err(SignatureError::NoV1Signature);
        }

        // The tag is computed over the timestamp text as received (already checked to be digits
        // only), which is what the sender signed.
        let expected_tags: Vec<[u8; SIGNATURE_LENGTH_BYTES]> = self
            .secrets
            .iter()
            .map(|secret| secret.tag(webhook_id, timestamp_text, raw_body))
            .collect();
        let any_matches = candidates
            .iter()
            .any(|encoded| candidate_matches_any_tag(encoded, &expected_tags));
        if any_matches {
            Ok(())
        } else {
            Err(SignatureError::NoMatchingSignature)
        }
    }

    fn check_timestamp_window(
        &self,
        timestamp: i64,
        now_unix_seconds: i64,
    ) -> Result<(), SignatureError> {
        // Saturating arithmetic: an absurd timestamp must give an error, not an overflow panic.
        let age_seconds = now_unix_seconds.saturating_sub(timestamp);
        let lead_seconds = timestamp.saturating_sub(now_unix_seconds);
        if age_seconds > self.tolerance_seconds {
            Err(SignatureError::TimestampTooOld {
                skew_seconds: age_seconds,
                tolerance_seconds: self.tolerance_seconds,
            })
        } else if lead_seconds > self.tolerance_seconds {
            Err(SignatureError::TimestampInFuture {
                skew_seconds: lead_seconds,
                tolerance_seconds: self.tolerance_seconds,
            })
        } else {
            Ok(())
        }
    }
}

impl SignatureError {
    /// The header at fault, for the `field` of the JSON error response.
    pub fn header(&self) -> &'static str {
        match self {
            SignatureError::MissingHeader(header) => header,
            SignatureError::InvalidTimestamp
            | SignatureError::TimestampTooOld { .. }
            | SignatureError::TimestampInFuture { .. } => WEBHOOK_TIMESTAMP_HEADER,
            SignatureError::NoV1Signature
            | SignatureError::NoMatchingSignature
            | SignatureError::SignatureHeaderTooLong { .. } => WEBHOOK_SIGNATURE_HEADER,
        }
    }
}

/// Signs one request, returning the `v1,<base64>` value for the `webhook-signature` header.
pub fn sign(secret: &WebhookSecret, webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = secret.tag(webhook_id, &timestamp.to_string(), body);
    format!("{SIGNATURE_VERSION},{}", STANDARD.encode(tag))
}

/// Secrets are accepted with or without base64 padding, since people often trim the `=`.
const SECRET_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn distinct_byte_values(bytes: &[u8]) -> usize {
    let mut seen = [false; 256];
    for &byte in bytes {
        seen[usize::from(byte)] = true;
    }
    seen.iter().filter(|&&seen| seen).count()
}

fn required_header<'a>(
    value: Option<&'a str>,
    header: &'static str,
) -> Result<&'a str, SignatureError> {
    match value.map(str::trim) {
        Some(text) if !text.is_empty() => Ok(text),
        _ => Err(SignatureError::MissingHeader(header)),
    }
}

/// Accepts only ASCII digits (no sign, fraction or spaces): Standard Webhooks sends whole Unix
/// seconds, and anything else is more likely a broken sender than a time we should interpret.
fn parse_timestamp(text: &str) -> Result<i64, SignatureError> {
    if !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(SignatureError::InvalidTimestamp);
    }
    text.parse::<i64>()
        .map_err(|_| SignatureError::InvalidTimestamp)
}

/// Decodes one candidate and compares it with every expected tag in constant time. A candidate
/// that is not base64 or does not decode to exactly 32 bytes never matches; this is what rejects
/// the empty `v1,` and truncated signatures (RUSTSEC-2024-0010).
fn candidate_matches_any_tag(
    encoded: &str,
    expected_tags: &[[u8; SIGNATURE_LENGTH_BYTES]],
) -> bool {
    let Ok(decoded) = STANDARD.decode(encoded) else {
        return false;
    };
    if decoded.len() != SIGNATURE_LENGTH_BYTES {
        return false;
    }
    // Compare against every tag without stopping early, so timing does not reveal which secret
    // matched.
    expected_tags.iter().fold(false, |matched, tag| {
        constant_time_eq(&decoded, tag.as_slice()) | matched
    })
}

/// Compares two byte strings in constant time for equal lengths. The length itself
/// is not secret (tags and tokens have known formats). The one comparison of secrets
/// in loopguard: signatures, tokens and session cookies all use it.
pub fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    presented.len() == expected.len() && bool::from(presented.ct_eq(expected))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The secret, message and signature from the `standardwebhooks` crate's own `test_sign`.
    const KNOWN_VECTOR_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const KNOWN_VECTOR_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const KNOWN_VECTOR_TIMESTAMP: i64 = 1_649_367_553;
    const KNOWN_VECTOR_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const KNOWN_VECTOR_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    const NOW: i64 = 1_700_000_000;
    const WEBHOOK_ID: &str = "msg_2b4TtKqgQGM0eDHB5WZbn1yXu7A";
    const BODY: &[u8] = br#"{"call_id":"CA123","from":"billing","to":"support"}"#;

    fn secret_of(byte: u8, length_bytes: usize) -> String {
        // Varied bytes: a repeated byte is refused as not random.
        let key: Vec<u8> = (0..length_bytes)
            .map(|index| byte.wrapping_add((index as u8).wrapping_mul(7)))
            .collect();
        format!("whsec_{}", STANDARD.encode(key))
    }

    fn secret(byte: u8) -> WebhookSecret {
        WebhookSecret::parse(&secret_of(byte, 32)).expect("32-byte test secret is valid")
    }

    /// Verifies `BODY` with timestamp `NOW` and the given signature header against the first
    /// test secret, at `NOW`.
    fn verify_signature_header(signature_header: &str) -> Result<(), SignatureError> {
        verify_with(
            &WebhookVerifier::new(secret(1)),
            &NOW.to_string(),
            signature_header,
            BODY,
        )
    }

    fn verify_with(
        verifier: &WebhookVerifier,
        timestamp: &str,
        signature_header: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let headers = SignatureHeaders {
            webhook_id: Some(WEBHOOK_ID),
            webhook_timestamp: Some(timestamp),
            webhook_signature: Some(signature_header),
        };
        verifier.verify(&headers, body, NOW)
    }

    fn valid_signature() -> String {
        sign(&secret(1), WEBHOOK_ID, NOW, BODY)
    }

    /// Signs with the first secret at `NOW + offset_seconds` and verifies at `NOW`.
    fn verify_at_offset(offset_seconds: i64) -> Result<(), SignatureError> {
        let timestamp = NOW + offset_seconds;
        let signature = sign(&secret(1), WEBHOOK_ID, timestamp, BODY);
        verify_with(
            &WebhookVerifier::new(secret(1)),
            &timestamp.to_string(),
            &signature,
            BODY,
        )
    }

    #[test]
    fn valid_signature_passes() {
        assert_eq!(verify_signature_header(&valid_signature()), Ok(()));
    }

    #[test]
    fn our_signer_reproduces_the_reference_known_vector() {
        let secret = WebhookSecret::parse(KNOWN_VECTOR_SECRET).expect("known vector secret");
        let signature = sign(
            &secret,
            KNOWN_VECTOR_ID,
            KNOWN_VECTOR_TIMESTAMP,
            KNOWN_VECTOR_BODY,
        );
        assert_eq!(signature, KNOWN_VECTOR_SIGNATURE);
    }

    #[test]
    fn reference_known_vector_verifies() {
        let secret = WebhookSecret::parse(KNOWN_VECTOR_SECRET).expect("known vector secret");
        let headers = SignatureHeaders {
            webhook_id: Some(KNOWN_VECTOR_ID),
            webhook_timestamp: Some("1649367553"),
            webhook_signature: Some(KNOWN_VECTOR_SIGNATURE),
        };
        let result = WebhookVerifier::new(secret).verify(
            &headers,
            KNOWN_VECTOR_BODY,
            KNOWN_VECTOR_TIMESTAMP + 10,
        );
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn signature_from_the_reference_signer_passes() {
        let verifier = WebhookVerifier::new(secret(1));
        let reference = standardwebhooks::Webhook::new(&secret_of(1, 32)).expect("valid secret");
        for (webhook_id, body) in [
            (WEBHOOK_ID, BODY),
            ("msg_1", b"".as_slice()),
            (
                "evt.with.dots",
                "{\"note\":\"caf\u{e9} \u{1F4DE}\"}".as_bytes(),
            ),
        ] {
            let signature = reference
                .sign(webhook_id, NOW, body)
                .expect("reference signer accepts UTF-8 bodies");
            assert_eq!(signature, sign(&secret(1), webhook_id, NOW, body));
            let headers = SignatureHeaders {
                webhook_id: Some(webhook_id),
                webhook_timestamp: Some(&NOW.to_string()),
                webhook_signature: Some(&signature),
            };
            assert_eq!(verifier.verify(&headers, body, NOW), Ok(()), "{webhook_id}");
        }
    }

    #[test]
    fn each_missing_or_empty_header_is_reported_by_name() {
        let signature = valid_signature();
        let timestamp = NOW.to_string();
        let complete = SignatureHeaders {
            webhook_id: Some(WEBHOOK_ID),
            webhook_timestamp: Some(&timestamp),
            webhook_signature: Some(&signature),
        };
        let cases = [
            (
                SignatureHeaders {
                    webhook_id: None,
                    ..complete
                },
                WEBHOOK_ID_HEADER,
            ),
            (
                SignatureHeaders {
                    webhook_timestamp: None,
                    ..complete
                },
                WEBHOOK_TIMESTAMP_HEADER,
            ),
            (
                SignatureHeaders {
                    webhook_signature: None,
                    ..complete
                },
                WEBHOOK_SIGNATURE_HEADER,
            ),
            (
                SignatureHeaders {
                    webhook_signature: Some("  "),
                    ..complete
                },
                WEBHOOK_SIGNATURE_HEADER,
            ),
            (
                SignatureHeaders {
                    webhook_id: Some(""),
                    ..complete
                },
                WEBHOOK_ID_HEADER,
            ),
        ];
        let verifier = WebhookVerifier::new(secret(1));
        for (headers, header) in cases {
            let error = verifier
                .verify(&headers, BODY, NOW)
                .expect_err("incomplete headers must be rejected");
            assert_eq!(error, SignatureError::MissingHeader(header));
            assert_eq!(error.header(), header);
            assert!(error.to_string().contains(header), "{error}");
        }
    }

    #[test]
    fn no_signature_header_is_rejected() {
        let timestamp = NOW.to_string();
        let headers = SignatureHeaders {
            webhook_id: Some(WEBHOOK_ID),
            webhook_timestamp: Some(&timestamp),
            webhook_signature: None,
        };
        let result = WebhookVerifier::new(secret(1)).verify(&headers, BODY, NOW);
        assert_eq!(
            result,
            Err(SignatureError::MissingHeader(WEBHOOK_SIGNATURE_HEADER))
        );
    }

    #[test]
    fn wrong_signature_is_rejected() {
        let wrong = format!("v1,{}", STANDARD.encode([7u8; 32]));
        assert_eq!(
            verify_signature_header(&wrong),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    fn empty_v1_signature_is_rejected() {
        assert_eq!(
            verify_signature_header("v1,"),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    fn truncated_signature_is_rejected() {
        let valid = valid_signature();
        for dropped_characters in [1, 2, 4, 8, 43] {
            let truncated = &valid[..valid.len() - dropped_characters];
            assert_eq!(
                verify_signature_header(truncated),
                Err(SignatureError::NoMatchingSignature),
                "{truncated}"
            );
        }
    }

    #[test]
    fn valid_base64_of_the_first_31_bytes_of_the_real_tag_is_rejected() {
        let tag = secret(1).tag(WEBHOOK_ID, &NOW.to_string(), BODY);
        let short = format!("v1,{}", STANDARD.encode(&tag[..31]));
        assert_eq!(
            verify_signature_header(&short),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    fn real_tag_with_an_extra_byte_is_rejected() {
        let tag = secret(1).tag(WEBHOOK_ID, &NOW.to_string(), BODY);
        let mut long = tag.to_vec();
        long.push(0);
        let signature = format!("v1,{}", STANDARD.encode(long));
        assert_eq!(
            verify_signature_header(&signature),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    fn signature_made_with_a_different_secret_is_rejected() {
        let signature = sign(&secret(2), WEBHOOK_ID, NOW, BODY);
        assert_eq!(
            verify_signature_header(&signature),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    fn several_signatures_where_one_is_valid_pass() {
        let header = format!(
            "v1,{} v1, v2,abc v1,not-base64! {} v1,{}",
            STANDARD.encode([0u8; 32]),
            valid_signature(),
            STANDARD.encode([9u8; 31]),
        );
        assert_eq!(verify_signature_header(&header), Ok(()));
    }

    #[test]
    fn only_non_v1_signatures_are_rejected_as_having_no_v1_entry() {
        let valid_tag = valid_signature().replacen("v1,", "v2,", 1);
        for header in [valid_tag.as_str(), "v1a,abc", "garbage", "V1,abc"] {
            let error = verify_signature_header(header).expect_err("no v1 entry");
            assert_eq!(error, SignatureError::NoV1Signature, "{header}");
            assert!(error.to_string().contains("v1,<base64>"), "{error}");
        }
    }

    #[test]
    fn verifier_with_two_secrets_accepts_signatures_from_either() {
        let verifier = WebhookVerifier::new(secret(1)).with_additional_secret(secret(2));
        let timestamp = NOW.to_string();
        for signing_secret in [secret(1), secret(2)] {
            let signature = sign(&signing_secret, WEBHOOK_ID, NOW, BODY);
            assert_eq!(verify_with(&verifier, &timestamp, &signature, BODY), Ok(()));
        }
        let third = sign(&secret(3), WEBHOOK_ID, NOW, BODY);
        assert_eq!(
            verify_with(&verifier, &timestamp, &third, BODY),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    fn timestamp_300_seconds_old_passes() {
        assert_eq!(verify_at_offset(-300), Ok(()));
    }

    #[test]
    fn timestamp_300_seconds_ahead_passes() {
        assert_eq!(verify_at_offset(300), Ok(()));
    }

    #[test]
    fn timestamp_301_seconds_old_fails() {
        let error = verify_at_offset(-301).expect_err("too old");
        assert_eq!(
            error,
            SignatureError::TimestampTooOld {
                skew_seconds: 301,
                tolerance_seconds: 300
            }
        );
        assert_eq!(error.header(), WEBHOOK_TIMESTAMP_HEADER);
        assert!(error.to_string().contains("301 s in the past"), "{error}");
    }

    #[test]
    fn timestamp_301_seconds_ahead_fails() {
        let error = verify_at_offset(301).expect_err("in the future");
        assert_eq!(
            error,
            SignatureError::TimestampInFuture {
                skew_seconds: 301,
                tolerance_seconds: 300
            }
        );
        assert!(error.to_string().contains("301 s in the future"), "{error}");
    }

    #[test]
    fn custom_tolerance_is_applied() {
        let verifier = WebhookVerifier::new(secret(1)).with_tolerance_seconds(10);
        let timestamp = NOW - 11;
        let signature = sign(&secret(1), WEBHOOK_ID, timestamp, BODY);
        assert_eq!(
            verify_with(&verifier, &timestamp.to_string(), &signature, BODY),
            Err(SignatureError::TimestampTooOld {
                skew_seconds: 11,
                tolerance_seconds: 10
            })
        );
    }

    #[test]
    fn extreme_timestamps_are_rejected_without_overflow() {
        let verifier = WebhookVerifier::new(secret(1));
        let headers = SignatureHeaders {
            webhook_id: Some(WEBHOOK_ID),
            webhook_timestamp: Some("9223372036854775807"),
            webhook_signature: Some("v1,"),
        };
        assert!(matches!(
            verifier.verify(&headers, BODY, i64::MIN),
            Err(SignatureError::TimestampInFuture { .. })
        ));
        let headers = SignatureHeaders {
            webhook_timestamp: Some("0"),
            ..headers
        };
        assert!(matches!(
            verifier.verify(&headers, BODY, i64::MAX),
            Err(SignatureError::TimestampTooOld { .. })
        ));
    }

    #[test]
    fn non_numeric_timestamp_is_rejected() {
        let signature = valid_signature();
        let verifier = WebhookVerifier::new(secret(1));
        for timestamp in [
            "soon",
            "1700000000.5",
            "-1700000000",
            "+1700000000",
            "1700000000s",
            "1e9",
            "99999999999999999999",
        ] {
            let error = verify_with(&verifier, timestamp, &signature, BODY)
                .expect_err("non-integer timestamp");
            assert_eq!(error, SignatureError::InvalidTimestamp, "{timestamp}");
            assert_eq!(error.header(), WEBHOOK_TIMESTAMP_HEADER);
        }
    }

    #[test]
    fn body_tampered_by_one_byte_fails() {
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 0x01;
        let result = verify_with(
            &WebhookVerifier::new(secret(1)),
            &NOW.to_string(),
            &valid_signature(),
            &tampered,
        );
        assert_eq!(result, Err(SignatureError::NoMatchingSignature));
    }

    #[test]
    fn webhook_id_is_part_of_the_signed_content() {
        let signature = sign(&secret(1), "msg_other", NOW, BODY);
        assert_eq!(
            verify_signature_header(&signature),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    fn signature_errors_name_the_signature_header() {
        for error in [
            SignatureError::NoV1Signature,
            SignatureError::NoMatchingSignature,
        ] {
            assert_eq!(error.header(), WEBHOOK_SIGNATURE_HEADER);
            assert!(error.to_string().contains("`webhook-signature`"), "{error}");
        }
    }

    #[test]
    fn secret_of_23_bytes_is_rejected_with_a_message_naming_the_minimum() {
        let error = WebhookSecret::parse(&secret_of(1, 23)).expect_err("too short");
        assert_eq!(error, SecretError::TooShort { length_bytes: 23 });
        let message = error.to_string();
        assert!(message.contains("23 bytes"), "{message}");
        assert!(message.contains("at least 24 bytes"), "{message}");
        assert!(message.contains("openssl rand -base64 32"), "{message}");
    }

    #[test]
    fn an_all_zero_or_repeated_secret_is_refused_as_not_random() {
        for key in [vec![0u8; 32], b"abababababababababababababababab".to_vec()] {
            let text = format!("whsec_{}", STANDARD.encode(key));
            let error = WebhookSecret::parse(&text).expect_err("not random");
            assert!(matches!(error, SecretError::NotRandom { .. }), "{error}");
            assert!(error.to_string().contains("openssl rand"), "{error}");
        }
    }

    #[test]
    fn a_signature_header_past_the_limit_is_refused_before_any_decoding() {
        let huge = format!("{} {}", "v1,AAAA ".repeat(200), valid_signature());
        assert!(matches!(
            verify_signature_header(&huge),
            Err(SignatureError::SignatureHeaderTooLong { .. })
        ));
        let many = format!(
            "{}{}",
            "v1,AAAA ".repeat(MAX_SIGNATURES_TRIED),
            valid_signature()
        );
        assert!(many.len() <= MAX_SIGNATURE_HEADER_BYTES);
        assert_eq!(
            verify_signature_header(&many),
            Err(SignatureError::NoMatchingSignature),
            "only the first {MAX_SIGNATURES_TRIED} signatures are tried"
        );
    }

    #[test]
    fn secret_of_24_bytes_is_accepted() {
        assert!(WebhookSecret::parse(&secret_of(1, 24)).is_ok());
    }

    #[test]
    fn empty_secret_is_rejected() {
        for text in ["", "whsec_", "  \n"] {
            assert_eq!(
                WebhookSecret::parse(text).map(|_| ()),
                Err(SecretError::Empty),
                "{text:?}"
            );
        }
    }

    #[test]
    fn secret_that_is_not_base64_is_rejected_without_echoing_it() {
        let text = "whsec_this-is-not*base64*at-all-and-long-enough";
        let error = WebhookSecret::parse(text).expect_err("not base64");
        assert_eq!(error, SecretError::NotBase64);
        assert!(!error.to_string().contains("this-is-not"), "{error}");
    }

    #[test]
    fn whsec_prefix_is_optional() {
        let with_prefix = secret_of(1, 32);
        let bare = with_prefix.trim_start_matches("whsec_");
        let padding_trimmed = bare.trim_end_matches('=');
        let newline_terminated = format!("{with_prefix}\n");
        for text in [
            with_prefix.as_str(),
            bare,
            padding_trimmed,
            &newline_terminated,
        ] {
            let parsed = WebhookSecret::parse(text).expect("valid secret");
            assert_eq!(
                sign(&parsed, WEBHOOK_ID, NOW, BODY),
                valid_signature(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn secret_debug_output_does_not_contain_the_key() {
        let text = secret_of(0xAB, 32);
        let parsed = WebhookSecret::parse(&text).expect("valid secret");
        let verifier = WebhookVerifier::new(parsed.clone());
        for debug in [format!("{parsed:?}"), format!("{verifier:?}")] {
            assert!(debug.contains("<redacted>"), "{debug}");
            assert!(!debug.contains("171, 171"), "{debug}");
            assert!(!debug.contains(&text[6..16]), "{debug}");
        }
    }

    proptest! {
        #[test]
        fn random_signature_headers_never_verify_and_never_panic(
            signature_header in prop_oneof![
                any::<String>(),
                "v1,[A-Za-z0-9+/=]{0,64}",
                prop::collection::vec(any::<u8>(), 0..64)
                    .prop_map(|bytes| format!("v1,{}", STANDARD.encode(bytes))),
                "(v[0-9],[A-Za-z0-9+/=]{0,48} ?){0,6}",
            ]
        ) {
            prop_assert!(verify_signature_header(&signature_header).is_err());
        }

        #[test]
        fn random_headers_never_panic(
            webhook_id in prop::option::of(any::<String>()),
            timestamp in prop::option::of("[0-9+-]{0,22}|.{0,8}"),
            signature_header in prop::option::of(any::<String>()),
            now in any::<i64>(),
        ) {
            let headers = SignatureHeaders {
                webhook_id: webhook_id.as_deref(),
                webhook_timestamp: timestamp.as_deref(),
                webhook_signature: signature_header.as_deref(),
            };
            let result = WebhookVerifier::new(secret(1)).verify(&headers, BODY, now);
            prop_assert!(result.is_err());
        }
    }
}
