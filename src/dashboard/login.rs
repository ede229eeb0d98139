//! The `/login` form: trades the dashboard token for a session cookie (see
//! `http::access`), then goes back to the page that asked.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use crate::http::AppState;
use crate::http::access::{SESSION_COOKIE, SESSION_SECONDS, session_value, token_matches};
use crate::http::client::{client_address, is_https};

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Where to go after the login: an absolute path on this site, parsed the way a
/// browser parses a `Location` (WHATWG URL, which drops tabs and newlines and reads
/// `\\` as `/`) against a placeholder origin, and refused unless it stays on that
/// origin. `None` for anything else; `/` when there is no `next`.
fn safe_next(next: Option<&str>) -> Option<String> {
    let Some(next) = next.filter(|next| !next.is_empty()) else {
        return Some("/".to_owned());
    };
    // Control characters and backslashes are never in a link we made; refusing them
    // outright leaves nothing for a browser to reinterpret.
    if !next.starts_with('/')
        || next
            .chars()
            .any(|character| character.is_control() || character == '\\')
    {
        return None;
    }
    let base = url::Url::parse("http://loopguard.invalid/").ok()?;
    let target = base.join(next).ok()?;
    if target.origin() != base.origin() {
        return None;
    }
    let mut path = target.path().to_owned();
    if let Some(query) = target.query() {
        path.push('?');
        path.push_str(query);
    }
    Some(path)
}

pub async fn login_page(axum::extract::RawQuery(query): axum::extract::RawQuery) -> Html<String> {
    let query: LoginQuery =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let next = safe_next(query.next.as_deref()).unwrap_or_else(|| "/".to_owned());
    Html(login_form(&next, None))
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

/// `POST /login` (form: `token`, `next`): sets the session cookie and goes to `next`.
/// Wrong tokens count against the client (see `http::attempts`).
pub async fn login(
    State(state): State<Arc<AppState>>,
    connection: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<LoginForm>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Html(login_form("/", Some("The form was not understood."))),
        )
            .into_response();
    };
    let Some(next) = safe_next(form.next.as_deref()) else {
        return (
            StatusCode::BAD_REQUEST,
            Html(login_form(
                "/",
                Some("The page to return to (`next`) is not a path on this site; sign in and open the page again."),
            )),
        )
            .into_response();
    };
    let Some(token) = state.dashboard_token.as_deref() else {
        return Redirect::to(&next).into_response();
    };
    let peer = connection.map(|Extension(ConnectInfo(address))| address.ip());
    let client = client_address(peer, &headers, &state.trusted_proxies);
    let now = state.clock.now();
    let refused = |wait: u32| {
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            Html(login_form(
                &next,
                Some(&format!(
                    "Too many wrong tokens from your address; wait {wait} s and try again."
                )),
            )),
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(wait));
        state.metrics.credentials_throttled.inc();
        response
    };
    if let Err(wait) = state.failed_attempts.check(client, now) {
        return refused(wait);
    }
    if !token_matches(form.token.trim(), token) {
        if let Err(wait) = state.failed_attempts.record_failure(client, now) {
            return refused(wait);
        }
        return (
            StatusCode::UNAUTHORIZED,
            Html(login_form(&next, Some("That is not the dashboard token."))),
        )
            .into_response();
    }
    let expires = now.as_second() + SESSION_SECONDS;
    // `Secure` when the browser came over HTTPS (said by a trusted proxy): the cookie
    // then never travels in clear text.
    let secure = if is_https(peer, &headers, &state.trusted_proxies) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; Max-Age={SESSION_SECONDS}; HttpOnly; SameSite=Strict{secure}",
        session_value(token, expires)
    );
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, next)
        .header(header::SET_COOKIE, cookie)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn login_form(next: &str, error: Option<&str>) -> String {
    let form: Markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "loopguard · sign in" }
                link rel="stylesheet" href="/assets/dashboard.css";
            }
            body {
                main.login {
                    h1 { "loopguard" }
                    @if let Some(error) = error {
                        p.error data-testid="login-error" { (error) }
                    }
                    form method="post" action="/login" {
                        label {
                            "Dashboard token "
                            input type="password" name="token" autocomplete="current-password" autofocus required data-testid="login-token";
                        }
                        input type="hidden" name="next" value=(next);
                        button type="submit" data-testid="login-submit" { "Sign in" }
                    }
                }
            }
        }
    };
    form.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_only_redirects_to_local_paths() {
        let next = |text| safe_next(Some(text));
        assert_eq!(next("/calls/x").as_deref(), Some("/calls/x"));
        assert_eq!(
            next("/calls?window=1h").as_deref(),
            Some("/calls?window=1h")
        );
        assert_eq!(safe_next(None).as_deref(), Some("/"));
        for hostile in [
            "//evil.example",
            "https://evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\\evil.example",
            "\\/evil.example",
            " //evil.example",
            "calls",
            "javascript:alert(1)",
        ] {
            assert_eq!(next(hostile), None, "{hostile:?}");
        }
    }
}
