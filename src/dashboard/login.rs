//! The `/login` form: trades the dashboard token for a session cookie (see
//! `http::access`), then goes back to the page that asked.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use crate::http::AppState;
use crate::http::access::{SESSION_COOKIE, SESSION_SECONDS, session_value, token_matches};

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Only same-site paths, so the login cannot be used to redirect elsewhere.
fn safe_next(next: Option<&str>) -> &str {
    next.filter(|next| next.starts_with('/') && !next.starts_with("//") && !next.contains('\\'))
        .unwrap_or("/")
}

pub async fn login_page(axum::extract::RawQuery(query): axum::extract::RawQuery) -> Html<String> {
    let query: LoginQuery =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    Html(login_form(safe_next(query.next.as_deref()), None))
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

/// `POST /login` (form: `token`, `next`): sets the session cookie and goes to `next`.
pub async fn login(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<LoginForm>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Html(login_form("/", Some("The form was not understood."))),
        )
            .into_response();
    };
    let next = safe_next(form.next.as_deref()).to_owned();
    let Some(token) = state.dashboard_token.as_deref() else {
        return Redirect::to(&next).into_response();
    };
    if !token_matches(form.token.trim(), token) {
        return (
            StatusCode::UNAUTHORIZED,
            Html(login_form(&next, Some("That is not the dashboard token."))),
        )
            .into_response();
    }
    let expires = state.clock.now().as_second() + SESSION_SECONDS;
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; Max-Age={SESSION_SECONDS}; HttpOnly; SameSite=Strict",
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
        assert_eq!(safe_next(Some("/calls/x")), "/calls/x");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
