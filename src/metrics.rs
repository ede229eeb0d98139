//! Every metric loopguard exports, defined in one place. Labels are bounded enums
//! (outcome, verdict, finding code), never call or event ids. The registry belongs
//! to the app state, not to a global.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::core::engine::Verdict;
use crate::core::rules::RuntimeCode;

/// Sub-millisecond buckets: our answers take tens of microseconds to a few ms.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Commit latency buckets: an fsync on the VM is ~0.2 ms, on real disks a few ms.
const COMMIT_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Events per committed batch.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// Outcomes of a webhook request, the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    Allow,
    Warn,
    Block,
    Replayed,
    Ended,
    BadSignature,
    InvalidRequest,
    Conflict,
    Unavailable,
    /// A platform event that is not a transfer or an end (answered with success).
    Ignored,
}

impl RequestOutcome {
    pub const ALL: &'static [RequestOutcome] = &[
        RequestOutcome::Allow,
        RequestOutcome::Warn,
        RequestOutcome::Block,
        RequestOutcome::Replayed,
        RequestOutcome::Ended,
        RequestOutcome::BadSignature,
        RequestOutcome::InvalidRequest,
        RequestOutcome::Conflict,
        RequestOutcome::Unavailable,
        RequestOutcome::Ignored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Allow => "allow",
            RequestOutcome::Warn => "warn",
            RequestOutcome::Block => "block",
            RequestOutcome::Replayed => "replayed",
            RequestOutcome::Ended => "ended",
            RequestOutcome::BadSignature => "bad_signature",
            RequestOutcome::InvalidRequest => "invalid_request",
            RequestOutcome::Conflict => "conflict",
            RequestOutcome::Unavailable => "unavailable",
            RequestOutcome::Ignored => "ignored",
        }
    }
}

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    // Label handles resolved once: the webhook path increments without hashing labels.
    outcome_counters: Vec<prometheus::IntCounter>,
    verdict_counters: Vec<prometheus::IntCounter>,
    finding_counters: Vec<prometheus::IntCounter>,
    pub webhook_requests: IntCounterVec,
    pub webhook_duration: Histogram,
    pub verdicts: IntCounterVec,
    pub findings: IntCounterVec,
    pub active_calls: IntGauge,
    pub rules_last_reload_success: IntGauge,
    pub rules_reloads: IntCounterVec,
    pub store_commit_duration: Histogram,
    pub store_batch_size: Histogram,
    pub store_queue_depth: IntGauge,
    pub store_failures: prometheus::IntCounter,
    /// Hardening: connections, refused credentials, expired calls.
    pub open_connections: IntGauge,
    pub connections_refused: prometheus::IntCounter,
    pub credentials_throttled: prometheus::IntCounter,
    pub calls_expired: prometheus::IntCounter,
    /// Follow-ups (callbacks owed, open promises) by kind, set when scraped.
    pub follow_ups_open: IntGaugeVec,
    pub follow_ups_overdue: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        // Metric definitions are static and valid, and each name is registered once,
        // so construction and registration cannot fail.
        let webhook_requests = IntCounterVec::new(
            Opts::new(
                "loopguard_webhook_requests_total",
                "Webhook requests (transfers and call ends) by outcome.",
            ),
            &["outcome"],
        )
        .expect("valid metric definition");
        let webhook_duration = Histogram::with_opts(
            HistogramOpts::new(
                "loopguard_webhook_request_duration_seconds",
                "Time from receiving a webhook request to its answer.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("valid metric definition");
        let verdicts = IntCounterVec::new(
            Opts::new("loopguard_verdicts_total", "Transfer verdicts given."),
            &["verdict"],
        )
        .expect("valid metric definition");
        let findings = IntCounterVec::new(
            Opts::new("loopguard_findings_total", "Runtime findings by code."),
            &["code"],
        )
        .expect("valid metric definition");
        let active_calls = IntGauge::new(
            "loopguard_active_calls",
            "Calls with transfers that have not ended.",
        )
        .expect("valid metric definition");
        let rules_last_reload_success = IntGauge::new(
            "loopguard_rules_last_reload_success",
            "1 if the last rules load or reload succeeded, 0 if it was refused (the last good rules stay in force).",
        )
        .expect("valid metric definition");
        let rules_reloads = IntCounterVec::new(
            Opts::new("loopguard_rules_reloads_total", "Rules reloads by result."),
            &["result"],
        )
        .expect("valid metric definition");
        let store_commit_duration = Histogram::with_opts(
            HistogramOpts::new(
                "loopguard_store_commit_duration_seconds",
                "Time to commit one batch of events (including fsync).",
            )
            .buckets(COMMIT_BUCKETS.to_vec()),
        )
        .expect("valid metric definition");
        let store_batch_size = Histogram::with_opts(
            HistogramOpts::new(
                "loopguard_store_batch_size",
                "Events committed together in one transaction (group commit).",
            )
            .buckets(BATCH_BUCKETS.to_vec()),
        )
        .expect("valid metric definition");
        let store_queue_depth = IntGauge::new(
            "loopguard_store_queue_depth",
            "Events waiting for the store's writer.",
        )
        .expect("valid metric definition");
        let store_failures = prometheus::IntCounter::new(
            "loopguard_store_failures_total",
            "Batches that failed to commit; their requests got 503.",
        )
        .expect("valid metric definition");
        let open_connections = IntGauge::new(
            "loopguard_open_connections",
            "TCP connections currently open.",
        )
        .expect("valid metric definition");
        let connections_refused = prometheus::IntCounter::new(
            "loopguard_connections_refused_total",
            "Connections closed at once because --max-connections were already open.",
        )
        .expect("valid metric definition");
        let credentials_throttled = prometheus::IntCounter::new(
            "loopguard_credentials_throttled_total",
            "Dashboard credential attempts answered 429 after too many failures from one client.",
        )
        .expect("valid metric definition");
        let calls_expired = prometheus::IntCounter::new(
            "loopguard_calls_expired_total",
            "Open calls forgotten because no event came for longer than the idle limit.",
        )
        .expect("valid metric definition");
        let follow_ups_open = IntGaugeVec::new(
            Opts::new(
                "loopguard_follow_ups_open",
                "Follow-ups owed now: callbacks after a dropped transfer and open promises, by kind.",
            ),
            &["kind"],
        )
        .expect("valid metric definition");
        let follow_ups_overdue = IntGaugeVec::new(
            Opts::new(
                "loopguard_follow_ups_overdue",
                "Follow-ups past their due time now (callbacks: callback_within after the call ended; promises: due_at), by kind.",
            ),
            &["kind"],
        )
        .expect("valid metric definition");
        let build_info = IntGaugeVec::new(
            Opts::new("loopguard_build_info", "Build information; always 1."),
            &["version"],
        )
        .expect("valid metric definition");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for collector in [
            Box::new(webhook_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(webhook_duration.clone()),
            Box::new(verdicts.clone()),
            Box::new(findings.clone()),
            Box::new(active_calls.clone()),
            Box::new(rules_last_reload_success.clone()),
            Box::new(rules_reloads.clone()),
            Box::new(store_commit_duration.clone()),
            Box::new(store_batch_size.clone()),
            Box::new(store_queue_depth.clone()),
            Box::new(store_failures.clone()),
            Box::new(open_connections.clone()),
            Box::new(connections_refused.clone()),
            Box::new(credentials_throttled.clone()),
            Box::new(calls_expired.clone()),
            Box::new(follow_ups_open.clone()),
            Box::new(follow_ups_overdue.clone()),
            Box::new(build_info),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        // Every label value exists from the start, so dashboards see zeros, not gaps.
        let outcome_counters = RequestOutcome::ALL
            .iter()
            .map(|outcome| webhook_requests.with_label_values(&[outcome.as_str()]))
            .collect();
        let verdict_counters = [Verdict::Allow, Verdict::Warn, Verdict::Block]
            .iter()
            .map(|verdict| verdicts.with_label_values(&[verdict.as_str()]))
            .collect();
        for kind in ["callback", "promise"] {
            follow_ups_open.with_label_values(&[kind]).set(0);
            follow_ups_overdue.with_label_values(&[kind]).set(0);
        }
        let finding_counters = RuntimeCode::ALL
            .iter()
            .map(|code| findings.with_label_values(&[code.as_str()]))
            .collect();
        Self {
            registry,
            outcome_counters,
            verdict_counters,
            finding_counters,
            webhook_requests,
            webhook_duration,
            verdicts,
            findings,
            active_calls,
            rules_last_reload_success,
            rules_reloads,
            store_commit_duration,
            store_batch_size,
            store_queue_depth,
            store_failures,
            open_connections,
            connections_refused,
            credentials_throttled,
            calls_expired,
            follow_ups_open,
            follow_ups_overdue,
        }
    }

    pub fn request(&self, outcome: RequestOutcome) {
        self.outcome_counters[outcome as usize].inc();
    }

    pub fn verdict(&self, verdict: Verdict) {
        self.verdict_counters[verdict as usize].inc();
    }

    pub fn finding(&self, code: RuntimeCode) {
        self.finding_counters[code as usize].inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding gathered families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
