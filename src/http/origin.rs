//! DNS rebinding and cross-site requests. While the dashboard is open (loopback, no
//! dashboard token) only requests addressed to a loopback name (or an allowed host)
//! are answered: a web page whose own name was made to resolve to 127.0.0.1 sends its
//! own name in `Host` and is refused. And a state-changing request (anything but
//! GET, HEAD, OPTIONS) that a browser marks as coming from another origin is refused
//! in every mode. Hosts and origins are parsed (`http::uri::Authority`, `url`), not
//! string-matched.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ErrorCode};
use super::state::AppState;

/// Which `Host` values are answered.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    /// Only loopback names and `allowed_hosts` (set while the dashboard is open).
    pub loopback_only: bool,
    /// More host names (without port, lower-case) that are always accepted, also
    /// as `Origin` of state-changing requests (a proxy's public name).
    pub allowed_hosts: Vec<String>,
}

/// Middleware over every route.
pub async fn check_host_and_origin(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    match verdict(&state.host_policy, request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

/// Whether a request may go on, by its method and headers.
pub fn verdict(policy: &HostPolicy, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    let host = match headers.get(header::HOST) {
        // HTTP/1.0 clients may omit Host; browsers never do, so no rebinding without it.
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.parse::<Authority>().ok())
                .ok_or_else(|| {
                    forbidden(
                        "the `Host` header is not a host name with an optional port",
                        "host",
                    )
                })?,
        ),
    };
    if policy.loopback_only
        && let Some(host) = &host
        && !is_loopback_name(host.host())
        && !policy.allowed_hosts.contains(&normalized(host.host()))
    {
        return Err(forbidden(
            &format!(
                "this loopguard has no dashboard token, so it only answers requests addressed to a loopback name \
                 (localhost, 127.0.0.1, [::1]), and the `Host` header says `{}` (DNS rebinding?); \
                 add the name with --allowed-host (LOOPGUARD_ALLOWED_HOSTS) or set a dashboard token",
                host.as_str()
            ),
            "host",
        ));
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !same_origin(origin, host.as_ref(), &policy.allowed_hosts) {
            return Err(forbidden(
                &format!(
                    "a {method} from the web page at `{origin}` is refused: it is not this server's own origin; \
                     if that is this server's public name, add it with --allowed-host (LOOPGUARD_ALLOWED_HOSTS)"
                ),
                "origin",
            ));
        }
    } else if headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|site| site.eq_ignore_ascii_case("cross-site"))
    {
        return Err(forbidden(
            &format!("a {method} from another site (`Sec-Fetch-Site: cross-site`) is refused"),
            "sec-fetch-site",
        ));
    }
    Ok(())
}

fn forbidden(message: &str, field: &str) -> ApiError {
    ApiError::new(ErrorCode::Forbidden, message).with_field(field)
}

/// `localhost`, `*.localhost` (RFC 6761: browsers resolve them to loopback
/// themselves) and loopback addresses.
fn is_loopback_name(host: &str) -> bool {
    let host = normalized(host);
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

fn normalized(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The `Origin` names the same host and port as `Host`, or an allowed host.
fn same_origin(origin: &str, host: Option<&Authority>, allowed_hosts: &[String]) -> bool {
    let Ok(origin) = url::Url::parse(origin) else {
        // `null` (sandboxed frames, file: pages) and garbage.
        return false;
    };
    let Some(origin_host) = origin.host_str().map(normalized) else {
        return false;
    };
    if allowed_hosts.contains(&origin_host) {
        return true;
    }
    let Some(host) = host else {
        return false;
    };
    let origin_port = origin.port_or_known_default();
    let host_port = host.port_u16().or_else(|| {
        origin
            .port_or_known_default()
            .filter(|_| host.port().is_none())
    });
    normalized(host.host()) == origin_host && origin_port == host_port
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: &HostPolicy, method: Method, pairs: &[(&'static str, &str)]) -> bool {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, value.parse().unwrap());
        }
        verdict(policy, &method, &headers).is_ok()
    }

    #[test]
    fn an_open_dashboard_answers_only_loopback_names_and_allowed_hosts() {
        let policy = HostPolicy {
            loopback_only: true,
            allowed_hosts: vec!["loopguard.internal".to_owned()],
        };
        for host in [
            "localhost:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "LOCALHOST",
            "app.localhost",
            "loopguard.internal:80",
        ] {
            assert!(check(&policy, Method::GET, &[("host", host)]), "{host}");
        }
        for host in [
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "0.0.0.0:8080",
        ] {
            assert!(!check(&policy, Method::GET, &[("host", host)]), "{host}");
        }
        assert!(check(&policy, Method::GET, &[]), "no Host: not a browser");
        let open = HostPolicy::default();
        assert!(check(&open, Method::GET, &[("host", "evil.example")]));
    }

    #[test]
    fn state_changing_requests_from_another_origin_are_refused() {
        let policy = HostPolicy::default();
        let host = ("host", "127.0.0.1:8080");
        assert!(check(
            &policy,
            Method::POST,
            &[host, ("origin", "http://127.0.0.1:8080")]
        ));
        assert!(
            check(&policy, Method::POST, &[host]),
            "no Origin: not a browser"
        );
        assert!(!check(
            &policy,
            Method::POST,
            &[host, ("origin", "http://evil.example")]
        ));
        assert!(!check(
            &policy,
            Method::POST,
            &[host, ("origin", "http://127.0.0.1:9999")]
        ));
        assert!(!check(&policy, Method::POST, &[host, ("origin", "null")]));
        assert!(!check(
            &policy,
            Method::POST,
            &[host, ("sec-fetch-site", "cross-site")]
        ));
        assert!(check(
            &policy,
            Method::GET,
            &[host, ("origin", "http://evil.example")]
        ));
        assert!(check(
            &policy,
            Method::POST,
            &[
                ("host", "loopguard.example"),
                ("origin", "https://loopguard.example")
            ]
        ));
    }
}
