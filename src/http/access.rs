//! Who may read the dashboard and the read APIs: with a dashboard token configured,
//! every protected route needs `Authorization: Bearer <token>` or the session cookie
//! the `/login` form hands out. Without a token they are open, which `loopguard serve`
//! only allows on loopback (or with `--insecure`, see [`check_access`]).
//!
//! The webhook's signature secret is not involved: platforms sign webhook events,
//! people and scripts reading the dashboard present the dashboard token.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::client::{client_address, peer};
use super::error::{ApiError, ErrorCode};
use super::signature::constant_time_eq;
use super::state::AppState;

pub const SESSION_COOKIE: &str = "loopguard_session";

/// How long a login lasts.
pub const SESSION_SECONDS: i64 = 12 * 60 * 60;

/// Shortest accepted dashboard token, in bytes.
pub const MIN_TOKEN_LENGTH: usize = 16;

/// A token with fewer different bytes than this (sixteen `a`s, `abababab…`) is not
/// random; 16 random hex digits have about 10.
pub const MIN_DISTINCT_TOKEN_BYTES: usize = 6;

/// How many different byte values `bytes` holds: a cheap test for secrets that are
/// obviously not random.
pub fn distinct_bytes(bytes: &[u8]) -> usize {
    let mut seen = [false; 256];
    for &byte in bytes {
        seen[usize::from(byte)] = true;
    }
    seen.iter().filter(|&&seen| seen).count()
}

/// Start-up check: the dashboard token to use, or why `loopguard serve` must not start.
/// Beyond loopback a token is required unless `insecure`.
pub fn check_access(
    listen: SocketAddr,
    token: Option<&str>,
    insecure: bool,
) -> Result<Option<String>, String> {
    match token.map(str::trim).filter(|token| !token.is_empty()) {
        Some(token) if token.len() < MIN_TOKEN_LENGTH => Err(format!(
            "the dashboard token is {} bytes long; use at least {MIN_TOKEN_LENGTH} random bytes (e.g. `openssl rand -hex 24`)",
            token.len()
        )),
        Some(token) if distinct_bytes(token.as_bytes()) < MIN_DISTINCT_TOKEN_BYTES => Err(format!(
            "the dashboard token uses only {} different characters, so it is easy to guess; use a random one (e.g. `openssl rand -hex 24`)",
            distinct_bytes(token.as_bytes())
        )),
        Some(token) => Ok(Some(token.to_owned())),
        None if !listen.ip().is_loopback() && !insecure => Err(format!(
            "refusing to listen on {listen} without a dashboard token: anyone who can reach it could read every call and callback number. \
             Set LOOPGUARD_DASHBOARD_TOKEN (or --dashboard-token), listen on 127.0.0.1, or pass --insecure"
        )),
        None => Ok(None),
    }
}

/// Middleware on the protected routes. A client that presented too many wrong
/// credentials gets 429 before its credential is looked at (see `http::attempts`).
pub async fn require_access(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = state.dashboard_token.as_deref() else {
        return next.run(request).await;
    };
    let client = client_address(
        peer(request.extensions()),
        request.headers(),
        &state.trusted_proxies,
    );
    let now = state.clock.now();
    if let Err(wait) = state.failed_attempts.check(client, now) {
        return too_many_attempts(&state, wait).into_response();
    }
    match credential(request.headers(), token, now.as_second()) {
        Credential::Valid => return next.run(request).await,
        Credential::Wrong => {
            if let Err(wait) = state.failed_attempts.record_failure(client, now) {
                return too_many_attempts(&state, wait).into_response();
            }
        }
        Credential::Absent => {}
    }
    let path = request.uri().path();
    let wants_page = request.method() == axum::http::Method::GET
        && !path.starts_with("/v1/")
        && accepts_html(request.headers());
    if wants_page {
        let target = request
            .uri()
            .path_and_query()
            .map_or("/", |target| target.as_str());
        let query = serde_urlencoded::to_string([("next", target)]).unwrap_or_default();
        return Redirect::to(&format!("/login?{query}")).into_response();
    }
    let mut response = ApiError::new(
        ErrorCode::Unauthorized,
        "the dashboard and its read APIs need `Authorization: Bearer <dashboard token>` or a session from /login",
    )
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer realm=\"loopguard\""),
    );
    response
}

/// The 429 for a client that used up its failed attempts (counted in a metric).
pub fn too_many_attempts(state: &AppState, wait_seconds: u32) -> ApiError {
    state.metrics.credentials_throttled.inc();
    ApiError::new(
        ErrorCode::TooManyAttempts,
        format!(
            "too many wrong dashboard credentials from your address; wait {wait_seconds} s (Retry-After) and try again with the right token"
        ),
    )
    .with_retry_after(wait_seconds)
}

/// What a request presented.
enum Credential {
    Valid,
    /// A wrong bearer token or a forged session cookie: a guess, counted.
    Wrong,
    /// Nothing, or a genuine session that expired: not a guess.
    Absent,
}

fn credential(headers: &HeaderMap, token: &str, now: i64) -> Credential {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if let Some(presented) = bearer {
        return if token_matches(presented.trim(), token) {
            Credential::Valid
        } else {
            Credential::Wrong
        };
    }
    match cookie(headers, SESSION_COOKIE) {
        None => Credential::Absent,
        Some(presented) if valid_session(presented, token, now) => Credential::Valid,
        Some(presented) if genuine_session(presented, token) => Credential::Absent,
        Some(_) => Credential::Wrong,
    }
}

/// A session cookie is `<expiry, Unix seconds>.<HMAC-SHA256 of the expiry under the
/// token>`: it never carries the token, ends after [`SESSION_SECONDS`], and every session
/// ends when the token is rotated.
pub fn session_value(token: &str, expires: i64) -> String {
    // HMAC-SHA256 accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(format!("loopguard dashboard session v1|{expires}").as_bytes());
    let signature: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("{expires}.{signature}")
}

pub fn valid_session(presented: &str, token: &str, now: i64) -> bool {
    session_expiry(presented).is_some_and(|expires| expires > now)
        && genuine_session(presented, token)
}

/// The session was signed under the token (whether or not it has expired).
fn genuine_session(presented: &str, token: &str) -> bool {
    session_expiry(presented)
        .is_some_and(|expires| token_matches(presented, &session_value(token, expires)))
}

fn session_expiry(presented: &str) -> Option<i64> {
    presented
        .split_once('.')
        .and_then(|(expires, _)| expires.parse::<i64>().ok())
}

/// Compares a presented token with the configured one in constant time.
pub fn token_matches(presented: &str, token: &str) -> bool {
    constant_time_eq(presented.as_bytes(), token.as_bytes())
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beyond_loopback_a_dashboard_token_is_required_unless_insecure() {
        let public: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(check_access(public, None, false).is_err());
        assert_eq!(check_access(public, None, true), Ok(None));
        assert_eq!(check_access(local, None, false), Ok(None));
        assert!(check_access(public, Some("short"), false).is_err());
        let weak = check_access(local, Some("aaaaaaaaaaaaaaaa"), false).unwrap_err();
        assert!(weak.contains("different characters"), "{weak}");
        assert_eq!(
            check_access(public, Some("a-long-enough-token"), false),
            Ok(Some("a-long-enough-token".to_owned()))
        );
    }

    #[test]
    fn a_session_is_valid_until_it_expires_and_only_under_its_token() {
        let token = "a-long-enough-token";
        let session = session_value(token, 1_000);
        assert!(valid_session(&session, token, 999));
        assert!(!valid_session(&session, token, 1_000), "expired");
        assert!(
            !valid_session(&session, "another-long-token", 999),
            "rotated token"
        );
        let stretched = session.replacen("1000", "9000", 1);
        assert!(
            !valid_session(&stretched, token, 999),
            "a changed expiry breaks the signature"
        );
        assert!(!valid_session("garbage", token, 0));
    }
}
