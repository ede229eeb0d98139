//! The application state every handler shares: the rules in force, the store,
//! metrics, the signature verifier, the clock, access settings and the live feed.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::attempts::FailedAttempts;
use super::origin::HostPolicy;
use super::signature::WebhookVerifier;
use crate::clock::Clock;
use crate::core::engine::Verdict;
use crate::core::rules::Rules;
use crate::metrics::Metrics;
use crate::store::CallStore;

/// Default limit of a webhook body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// Default time from the end of a request's head to its answer.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The state every handler shares.
pub struct AppState {
    /// The rules in force; swapped whole on a successful reload.
    pub rules: ArcSwap<Rules>,
    rules_status: Mutex<RulesStatus>,
    pub store: Arc<dyn CallStore>,
    /// The registry `/metrics` serves; the store was handed the same one.
    pub metrics: Metrics,
    /// `None`: signatures are not checked (loopback only, or `--insecure`).
    pub verifier: Option<WebhookVerifier>,
    /// The time of receipt.
    pub clock: Clock,
    pub max_body_bytes: usize,
    /// New events, for live views (server-sent events). Lagging receivers lose updates.
    pub live: tokio::sync::broadcast::Sender<LiveUpdate>,
    /// `None`: the dashboard and read APIs are open (loopback only, or `--insecure`).
    pub dashboard_token: Option<String>,
    /// From the end of a request's head to its answer (see `http::deadline`).
    pub request_timeout: Duration,
    /// Which `Host` values are answered (see `http::origin`).
    pub host_policy: HostPolicy,
    /// Peers whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Failed dashboard credentials per client (see `http::attempts`).
    pub failed_attempts: FailedAttempts,
    /// The platform integrations' own secrets.
    pub integrations: IntegrationSecrets,
}

/// Secrets of the integrations whose platforms cannot send Standard Webhooks
/// signatures. An integration without its secret is open only while the whole
/// server is (no webhook secret: loopback, or `--insecure`).
#[derive(Debug, Clone, Default)]
pub struct IntegrationSecrets {
    /// Twilio's auth token: the key of `X-Twilio-Signature`.
    pub twilio_auth_token: Option<String>,
    /// The URL Twilio calls, up to loopguard's paths (`https://cc.example.com`),
    /// when a proxy in between changes it; the signature covers that URL.
    pub public_url: Option<String>,
    /// The bearer token Genesys Cloud data actions and event forwarders send.
    pub genesys_token: Option<String>,
}

/// A new event, as announced to live views.
#[derive(Debug, Clone, Serialize)]
pub struct LiveUpdate {
    /// `transfer`, `end`, `callback` or `promise`.
    pub kind: &'static str,
    pub call_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
}

/// What `/readyz` says about the rules.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RulesStatus {
    /// Where the rules are read from.
    pub source: String,
    /// When the rules in force were loaded.
    #[schema(value_type = String, format = DateTime)]
    pub loaded_at: Timestamp,
    pub last_reload_ok: bool,
    /// The refused reload's errors (concise form), when the last reload failed.
    pub last_reload_errors: Vec<String>,
    /// When the reload now running started (absent when none runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub reload_started_at: Option<Timestamp>,
    /// How long a reload may run before it is given up.
    pub reload_timeout_seconds: u64,
}

impl AppState {
    /// `metrics` must be the registry the store was opened with, so that what the
    /// store counts is what `/metrics` serves.
    pub fn new(
        rules: Rules,
        source: impl Into<String>,
        store: Arc<dyn CallStore>,
        metrics: Metrics,
        clock: Clock,
    ) -> Self {
        metrics.rules_last_reload_success.set(1);
        let rules = Arc::new(rules);
        store.rules_installed(&rules);
        Self {
            rules: ArcSwap::new(rules),
            rules_status: Mutex::new(RulesStatus {
                source: source.into(),
                loaded_at: clock.now(),
                last_reload_ok: true,
                last_reload_errors: Vec::new(),
                reload_started_at: None,
                reload_timeout_seconds: 30,
            }),
            store,
            metrics,
            verifier: None,
            clock,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            live: tokio::sync::broadcast::channel(1024).0,
            dashboard_token: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            host_policy: HostPolicy::default(),
            trusted_proxies: Vec::new(),
            failed_attempts: FailedAttempts::new(),
            integrations: IntegrationSecrets::default(),
        }
    }

    pub fn with_verifier(mut self, verifier: Option<WebhookVerifier>) -> Self {
        self.verifier = verifier;
        self
    }

    /// Announces an event to live views; nobody listening is fine.
    pub fn publish(&self, update: LiveUpdate) {
        let _ = self.live.send(update);
    }

    pub fn rules_status(&self) -> RulesStatus {
        self.rules_status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Says that a reload started (shown by `/readyz` until [`AppState::end_reload`]).
    pub fn begin_reload(&self, timeout: Duration) {
        let mut status = self.lock_rules_status();
        status.reload_started_at = Some(self.clock.now());
        status.reload_timeout_seconds = timeout.as_secs();
    }

    /// Says that the reload finished or was given up.
    pub fn end_reload(&self) {
        self.lock_rules_status().reload_started_at = None;
    }

    fn lock_rules_status(&self) -> std::sync::MutexGuard<'_, RulesStatus> {
        self.rules_status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Puts new rules in force.
    pub fn install_rules(&self, rules: Rules) {
        let rules = Arc::new(rules);
        self.store.rules_installed(&rules);
        self.rules.store(rules);
        self.metrics.rules_last_reload_success.set(1);
        self.metrics
            .rules_reloads
            .with_label_values(&["success"])
            .inc();
        let mut status = self
            .rules_status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        status.loaded_at = self.clock.now();
        status.last_reload_ok = true;
        status.last_reload_errors.clear();
    }

    /// Records a refused reload; the rules in force stay.
    pub fn refuse_rules(&self, errors: Vec<String>) {
        self.metrics.rules_last_reload_success.set(0);
        self.metrics
            .rules_reloads
            .with_label_values(&["refused"])
            .inc();
        let mut status = self
            .rules_status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        status.last_reload_ok = false;
        status.last_reload_errors = errors;
    }
}
