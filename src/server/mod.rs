//! Shell: the HTTP service (`loopguard serve`).
//!
//! [`app`] builds the router from an [`AppState`] without binding anything;
//! [`serve`] runs it on a bound listener until a shutdown future resolves. Tests bind
//! port 0; `run_from_cli` binds the configured address, loads the rules, and wires
//! signals and rules reloading.

pub mod openapi;
pub mod reload;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::{Request, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::trace::TraceLayer;

use crate::clock::Clock;
use crate::core::duration::parse_duration;
use crate::exit::Failure;
use crate::http::signature::{WebhookSecret, WebhookVerifier};
use crate::http::{AppState, DEFAULT_MAX_BODY_BYTES, IntegrationSecrets, access, ops, read};
use crate::metrics::Metrics;
use crate::store::{CallStore, MemoryStore, SqliteStore, StoreConfig};

/// The router, with every route and the request-tracing layer.
pub fn app(state: Arc<AppState>) -> Router {
    // Everything people and scripts read goes behind the dashboard credential: the
    // dashboard's pages, stats and live feed, and the read APIs for calls.
    let protected = crate::dashboard::routes()
        .route("/v1/calls/{call_id}", get(read::get_call))
        .route("/v1/loops", get(read::get_loops))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::require_access,
        ));
    Router::new()
        .merge(crate::webhook::routes())
        .merge(protected)
        .merge(crate::dashboard::public_routes())
        .route("/metrics", get(ops::metrics))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/openapi.json", get(openapi_json))
        .fallback(ops::not_found)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let route = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map(MatchedPath::as_str)
                        .unwrap_or("unmatched");
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        route,
                        call_id = tracing::field::Empty,
                        event_id = tracing::field::Empty,
                    )
                })
                .on_request(())
                .on_response(
                    tower_http::trace::DefaultOnResponse::new()
                        .level(tracing::Level::DEBUG)
                        .latency_unit(tower_http::LatencyUnit::Micros),
                ),
        )
        .with_state(state)
}

async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::document(),
    )
}

/// Serves the app on a bound listener until `shutdown` resolves, then drains
/// in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Options of `loopguard serve`. Every flag has a `LOOPGUARD_*` variable.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Without a webhook secret only loopback is allowed.
    #[arg(long, env = "LOOPGUARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Rules directory (all *.toml files in it) or file.
    #[arg(long, env = "LOOPGUARD_RULES", default_value = "routing-rules")]
    pub rules: PathBuf,
    /// Standard Webhooks secret(s), `whsec_<base64>`; give two during key rotation
    /// (repeat the flag, or separate with spaces in the variable).
    #[arg(
        long = "webhook-secret",
        env = "LOOPGUARD_WEBHOOK_SECRET",
        value_delimiter = ' ',
        hide_env_values = true
    )]
    pub webhook_secrets: Vec<String>,
    /// Allowed clock difference for webhook timestamps, in seconds.
    #[arg(long, env = "LOOPGUARD_SIGNATURE_TOLERANCE", default_value_t = 300)]
    pub signature_tolerance: u32,
    /// Allow listening beyond loopback without a webhook secret or a dashboard token.
    #[arg(long, env = "LOOPGUARD_INSECURE")]
    pub insecure: bool,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "LOOPGUARD_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Watch the rules directory and reload on change (SIGHUP always reloads).
    #[arg(long, env = "LOOPGUARD_WATCH_RULES", default_value_t = true, action = clap::ArgAction::Set)]
    pub watch_rules: bool,
    #[arg(long, env = "LOOPGUARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    // Storage
    /// Directory of the durable store (created if missing; one instance at a time).
    #[arg(long, env = "LOOPGUARD_DATA_DIR", default_value = "loopguard-data")]
    pub data_dir: PathBuf,
    /// Keep call state in memory only: nothing survives a restart (for trials and benchmarks).
    #[arg(long, env = "LOOPGUARD_IN_MEMORY")]
    pub in_memory: bool,
    /// Ended calls older than this are pruned from disk and memory ("7d", "36h").
    #[arg(long, env = "LOOPGUARD_RETENTION", default_value = "7d", value_parser = parse_retention)]
    pub retention: jiff::SignedDuration,
    /// Cap on the database size in bytes; past it the webhook answers 503.
    #[arg(long, env = "LOOPGUARD_MAX_DATABASE_BYTES")]
    pub max_database_bytes: Option<u64>,
    /// Requests that may wait for the store's writer before the webhook answers 503.
    #[arg(long, env = "LOOPGUARD_STORE_QUEUE", default_value_t = 10_000)]
    pub store_queue: usize,
    // Dashboard access
    /// Token for the dashboard and read APIs (`Authorization: Bearer`, or the /login form).
    /// Required when listening beyond loopback, unless --insecure. At least 16 bytes.
    #[arg(long, env = "LOOPGUARD_DASHBOARD_TOKEN", hide_env_values = true)]
    pub dashboard_token: Option<String>,
    // Integrations
    /// Twilio auth token: `X-Twilio-Signature` on the Twilio routes is checked with it.
    #[arg(long, env = "LOOPGUARD_TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,
    /// The URL platforms call up to loopguard's paths (`https://cc.example.com`), when a
    /// proxy in between changes it: Twilio signs the URL it called.
    #[arg(long, env = "LOOPGUARD_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// Bearer token of the Genesys Cloud routes (data action and event forwarder). At
    /// least 16 bytes.
    #[arg(long, env = "LOOPGUARD_GENESYS_TOKEN", hide_env_values = true)]
    pub genesys_token: Option<String>,
    /// Asterisk Manager Interface to connect to (`HOST:PORT`, usually port 5038): its
    /// transfers and hangups are recorded. The secret is read from
    /// LOOPGUARD_ASTERISK_AMI_SECRET only, never from the command line.
    #[arg(long, env = "LOOPGUARD_ASTERISK_AMI")]
    pub asterisk_ami: Option<String>,
    /// AMI user (a `manager.conf` user with `read = call`).
    #[arg(
        long,
        env = "LOOPGUARD_ASTERISK_AMI_USERNAME",
        default_value = "loopguard"
    )]
    pub asterisk_ami_username: String,
}

/// The AMI client's settings, when `--asterisk-ami` is given: the secret comes
/// from the environment (a flag would show it in `ps`).
fn asterisk_config(
    args: &ServeArgs,
) -> Result<Option<crate::webhook::asterisk::AmiConfig>, String> {
    let Some(address) = args
        .asterisk_ami
        .clone()
        .filter(|text| !text.trim().is_empty())
    else {
        return Ok(None);
    };
    if !address.contains(':') {
        return Err(format!(
            "--asterisk-ami `{address}` must be HOST:PORT (Asterisk's manager port is usually 5038)"
        ));
    }
    let secret = std::env::var("LOOPGUARD_ASTERISK_AMI_SECRET")
        .ok()
        .filter(|secret| !secret.is_empty())
        .ok_or_else(|| {
            "--asterisk-ami needs the AMI user's secret in LOOPGUARD_ASTERISK_AMI_SECRET".to_owned()
        })?;
    Ok(Some(crate::webhook::asterisk::AmiConfig::new(
        address,
        args.asterisk_ami_username.clone(),
        secret,
    )))
}

fn parse_public_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(|| format!("public URL `{text}` must start with https:// or http://"))?;
    if rest.is_empty() || rest.starts_with('/') || text.contains(['?', '#']) {
        return Err(format!(
            "public URL `{text}` must be scheme://host[:port][/prefix], without query or fragment"
        ));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

fn integration_secrets(args: &ServeArgs) -> Result<IntegrationSecrets, String> {
    let present = |value: &Option<String>| value.clone().filter(|text| !text.trim().is_empty());
    let genesys_token = present(&args.genesys_token);
    if let Some(token) = &genesys_token
        && token.len() < 16
    {
        return Err(format!(
            "the Genesys token is {} bytes long; use at least 16 (e.g. `openssl rand -hex 24`)",
            token.len()
        ));
    }
    Ok(IntegrationSecrets {
        twilio_auth_token: present(&args.twilio_auth_token),
        public_url: args.public_url.clone(),
        genesys_token,
    })
}

fn parse_retention(text: &str) -> Result<jiff::SignedDuration, String> {
    let duration = parse_duration(text).map_err(|error| error.to_string())?;
    if duration < jiff::SignedDuration::from_secs(60) {
        return Err(format!("retention `{text}` is shorter than a minute"));
    }
    Ok(duration)
}

/// `loopguard serve`: exit code 0 after a clean shutdown, 2 when it refuses to start
/// (bad flags, rules with errors, an unusable data directory or address), 1 when it
/// fails after it started serving (see [`crate::exit`]).
pub fn run_from_cli(args: ServeArgs) -> Result<u8, Failure> {
    init_logging(args.log_format);
    let verifier = build_verifier(&args)?;
    let integrations = integration_secrets(&args)?;
    let asterisk = asterisk_config(&args)?;
    let dashboard_token =
        access::check_access(args.listen, args.dashboard_token.as_deref(), args.insecure)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::runtime(format!("cannot start the async runtime: {error}")))?;
    runtime.block_on(run(args, verifier, dashboard_token, integrations, asterisk))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOOPGUARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour_on_stderr(std::env::var_os("NO_COLOR").as_deref()))
        .with_writer(std::io::stderr);
    // A second initialisation (tests calling run twice) is harmless to ignore.
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Colour only when stderr is a terminal and `NO_COLOR` is unset or empty
/// (<https://no-color.org>): a file or a pipe never gets escape codes.
fn colour_on_stderr(no_color: Option<&std::ffi::OsStr>) -> bool {
    use std::io::IsTerminal as _;
    no_color.is_none_or(|value| value.is_empty()) && std::io::stderr().is_terminal()
}

fn build_verifier(args: &ServeArgs) -> Result<Option<WebhookVerifier>, String> {
    let secrets: Vec<WebhookSecret> = args
        .webhook_secrets
        .iter()
        .filter(|secret| !secret.trim().is_empty())
        .enumerate()
        .map(|(index, secret)| {
            WebhookSecret::parse(secret)
                .map_err(|error| format!("webhook secret #{}: {error}", index + 1))
        })
        .collect::<Result<_, _>>()?;
    let mut secrets = secrets.into_iter();
    let Some(first) = secrets.next() else {
        if !args.listen.ip().is_loopback() && !args.insecure {
            return Err(format!(
                "refusing to listen on {} without a webhook secret: anyone who can reach it could forge transfers. \
                 Set LOOPGUARD_WEBHOOK_SECRET (or --webhook-secret), listen on 127.0.0.1, or pass --insecure",
                args.listen
            ));
        }
        return Ok(None);
    };
    let verifier = secrets.fold(
        WebhookVerifier::new(first),
        WebhookVerifier::with_additional_secret,
    );
    Ok(Some(
        verifier.with_tolerance_seconds(args.signature_tolerance),
    ))
}

async fn run(
    args: ServeArgs,
    verifier: Option<WebhookVerifier>,
    dashboard_token: Option<String>,
    integrations: IntegrationSecrets,
    asterisk: Option<crate::webhook::asterisk::AmiConfig>,
) -> Result<u8, Failure> {
    let rules = match reload::load(&args.rules) {
        Ok(rules) => rules,
        Err(reload::LoadFailure::Unreadable(message)) => return Err(Failure::usage(message)),
        Err(reload::LoadFailure::Findings { human, .. }) => {
            eprint!("{human}");
            return Err(Failure::usage(format!(
                "the rules in `{}` have errors (above); fix them and start again",
                args.rules.display()
            )));
        }
    };
    if verifier.is_none() {
        if args.listen.ip().is_loopback() {
            tracing::warn!(
                "no webhook secret configured: signatures are not checked, so loopguard listens on loopback only"
            );
        } else {
            tracing::warn!(
                "--insecure: listening beyond loopback without webhook signatures; anyone who can reach {} can forge transfers",
                args.listen
            );
        }
    }
    let metrics = Metrics::new();
    let clock = Clock::system();
    let store: Arc<dyn CallStore> = if args.in_memory {
        tracing::warn!("--in-memory: call state will not survive a restart");
        Arc::new(MemoryStore::new())
    } else {
        let config = StoreConfig {
            retention: args.retention,
            queue_capacity: args.store_queue.max(1),
            max_database_bytes: args.max_database_bytes,
            ..StoreConfig::new(&args.data_dir)
        };
        let (store, report) = SqliteStore::open(config, metrics.clone(), clock.clone())
            .map_err(|error| error.to_string())?;
        tracing::info!(
            data_dir = %args.data_dir.display(),
            events = report.events_loaded,
            calls = report.calls_loaded,
            open_calls = report.open_calls,
            elapsed_ms = report.elapsed.as_millis() as u64,
            "store opened"
        );
        Arc::new(store)
    };
    let mut state = AppState::new(
        rules,
        args.rules.display().to_string(),
        store,
        metrics,
        clock,
    )
    .with_verifier(verifier);
    state.max_body_bytes = args.max_body_bytes;
    state.dashboard_token = dashboard_token;
    state.integrations = integrations;
    let state = Arc::new(state);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", args.listen))?;
    let address = listener
        .local_addr()
        .map_err(|error| format!("cannot read the bound address: {error}"))?;
    reload::spawn_reloader(state.clone(), args.rules.clone(), args.watch_rules);
    if let Some(config) = asterisk {
        tracing::info!(address = %config.address, "connecting to the Asterisk Manager Interface");
        let host = config.address.rsplit_once(':').map_or("", |(host, _)| host);
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            tracing::warn!(
                address = %config.address,
                "the AMI is plain text: its login and events cross the network; keep it on a private network or a tunnel"
            );
        }
        crate::webhook::asterisk::spawn(state.clone(), config);
    }
    tracing::info!(%address, rules = %args.rules.display(), "loopguard listening");
    let shutdown = shutdown_signal();
    println!("listening on http://{address}");
    serve(listener, state, shutdown)
        .await
        .map_err(|error| Failure::runtime(format!("server failed: {error}")))?;
    tracing::info!("shut down cleanly");
    Ok(0)
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called,
/// not when the future is first polled: `serve` prints "listening on" before it
/// polls, and a SIGTERM in between would otherwise kill the process outright.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(interrupt), Ok(terminate)) => Some((interrupt, terminate)),
            (interrupt, terminate) => {
                let error = interrupt.err().or(terminate.err());
                tracing::error!(
                    ?error,
                    "cannot listen for SIGINT and SIGTERM; falling back to Ctrl-C"
                );
                None
            }
        }
    };
    async move {
        #[cfg(unix)]
        match handlers {
            Some((mut interrupt, mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutdown requested: draining in-flight requests");
    }
}
