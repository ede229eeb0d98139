//! The application state every handler shares: the rules in force, the store,
//! metrics, the signature verifier, the clock, access settings and the live feed.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::signature::WebhookVerifier;
use crate::clock::Clock;
use crate::core::engine::Verdict;
use crate::core::rules::Rules;
use crate::metrics::Metrics;
use crate::store::CallStore;

/// Default limit of a webhook body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

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
    /// `transfer`, `end` or `callback`.
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
        Self {
            rules: ArcSwap::from_pointee(rules),
            rules_status: Mutex::new(RulesStatus {
                source: source.into(),
                loaded_at: clock.now(),
                last_reload_ok: true,
                last_reload_errors: Vec::new(),
            }),
            store,
            metrics,
            verifier: None,
            clock,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            live: tokio::sync::broadcast::channel(1024).0,
            dashboard_token: None,
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

    /// Puts new rules in force.
    pub fn install_rules(&self, rules: Rules) {
        self.rules.store(Arc::new(rules));
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
