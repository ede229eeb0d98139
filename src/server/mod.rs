//! Shell: the HTTP service (`loopguard serve`).
//!
//! [`app`] builds the router from an [`AppState`] without binding anything;
//! [`serve`] runs it on a bound listener until a shutdown future resolves. Tests bind
//! port 0; `run_from_cli` binds the configured address, loads the rules, and wires
//! signals and rules reloading.

pub mod connections;
pub mod openapi;
pub mod reload;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::{HeaderValue, Request, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::clock::Clock;
use crate::core::duration::parse_duration;
use crate::exit::Failure;
use crate::http::origin::HostPolicy;
use crate::http::signature::{WebhookSecret, WebhookVerifier};
use crate::http::{
    AppState, DEFAULT_MAX_BODY_BYTES, IntegrationSecrets, LiveUpdate, access, deadline, ops,
    origin, read,
};
use crate::metrics::Metrics;
use crate::store::{
    CallStore, MemoryStore, PostgresConfig, PostgresStore, SqliteStore, StoreConfig,
};
use connections::ConnectionLimits;

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
        // One `layer` call for the whole stack: every `Router::layer` boxes each route
        // again, and a boxed service is cloned (allocated) on every request. The first
        // layer listed is the outermost: the trace span, the security headers on every
        // answer, then the Host/Origin check and the deadline.
        .layer(
            tower::ServiceBuilder::new()
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_request(())
                        .on_response(
                            tower_http::trace::DefaultOnResponse::new()
                                .level(tracing::Level::DEBUG)
                                .latency_unit(tower_http::LatencyUnit::Micros),
                        ),
                )
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_FRAME_OPTIONS,
                    HeaderValue::from_static("DENY"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(CONTENT_SECURITY_POLICY),
                ))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    origin::check_host_and_origin,
                ))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    deadline::request_deadline,
                )),
        )
        .with_state(state)
}

/// The span of one request, at the level of the line the trace layer logs for it
/// (DEBUG): at the default level (info) nothing is logged per request, so the span is
/// not built at all, which saves formatting its fields on every request; with
/// `LOOPGUARD_LOG=debug` each request's line carries `call_id` and `event_id`.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("unmatched");
    tracing::debug_span!(
        "request",
        method = %request.method(),
        route,
        call_id = tracing::field::Empty,
        event_id = tracing::field::Empty,
    )
}

/// Every answer's policy: our own script, stylesheet and data only, no framing (also
/// `X-Frame-Options: DENY` for older browsers), forms post only to us. Inline `style`
/// attributes stay allowed for the bounce matrix's cell colours.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::document(),
    )
}

/// Serves the app on a bound listener until `shutdown` resolves, then drains
/// in-flight requests (for at most the default drain time).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_limits(listener, state, ConnectionLimits::default(), shutdown).await
}

/// [`serve`] with explicit connection limits and timeouts. Events other instances
/// commit to a shared store reach this instance's live views while it serves.
pub async fn serve_with_limits(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    forward_committed_elsewhere(&state);
    let metrics = state.metrics.clone();
    connections::run(listener, app(state), metrics, limits, shutdown).await
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
    /// PostgreSQL shared by several instances, `postgres://USER:PASSWORD@HOST:PORT/DATABASE`,
    /// instead of the SQLite store in --data-dir.
    #[arg(
        long,
        env = "LOOPGUARD_DATABASE",
        hide_env_values = true,
        conflicts_with_all = ["in_memory", "data_dir", "max_database_bytes"]
    )]
    pub database: Option<String>,
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
    /// Open calls with no event for this long are forgotten (memory and disk): their
    /// end never came.
    #[arg(long, env = "LOOPGUARD_OPEN_CALL_MAX_IDLE", default_value = "24h", value_parser = parse_retention)]
    pub open_call_max_idle: jiff::SignedDuration,
    /// Hops kept per call; older ones are counted (`hops_omitted`), not kept.
    #[arg(long, env = "LOOPGUARD_MAX_HOPS_KEPT", default_value_t = crate::core::engine::DEFAULT_MAX_HOPS_KEPT)]
    pub max_hops_kept: usize,
    // Dashboard access
    /// Token for the dashboard and read APIs (`Authorization: Bearer`, or the /login form).
    /// Required when listening beyond loopback, unless --insecure. At least 16 bytes.
    #[arg(long, env = "LOOPGUARD_DASHBOARD_TOKEN", hide_env_values = true)]
    pub dashboard_token: Option<String>,
    /// More host names requests may be addressed to while the dashboard has no token
    /// (loopback names always work); also accepted as the `Origin` of POSTs.
    #[arg(
        long = "allowed-host",
        env = "LOOPGUARD_ALLOWED_HOSTS",
        value_delimiter = ' '
    )]
    pub allowed_hosts: Vec<String>,
    /// Proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
    #[arg(
        long = "trusted-proxy",
        env = "LOOPGUARD_TRUSTED_PROXIES",
        value_delimiter = ' '
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    // Connections and timeouts
    /// Connections open at once; more are closed when accepted (logged and counted).
    /// Lowered at start to fit the open-file limit.
    #[arg(long, env = "LOOPGUARD_MAX_CONNECTIONS", default_value_t = connections::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Time a connection has to send a complete request head, from its opening or the
    /// end of its previous answer: the header-read and the keep-alive idle timeout.
    #[arg(long, env = "LOOPGUARD_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub header_timeout: Duration,
    /// Time from a request's head to its answer: a body not received by then gets 408.
    #[arg(long, env = "LOOPGUARD_REQUEST_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub request_timeout: Duration,
    /// How long one write to a client that stopped reading may stall.
    #[arg(long, env = "LOOPGUARD_WRITE_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub write_timeout: Duration,
    /// At shutdown, how long open connections may finish before they are closed.
    #[arg(long, env = "LOOPGUARD_DRAIN_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub drain_timeout: Duration,
    /// How long a rules reload may run before it is given up (the last good rules stay).
    #[arg(long, env = "LOOPGUARD_RELOAD_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub reload_timeout: Duration,
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

/// A timeout flag: a duration of at least a second.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text).map_err(|error| error.to_string())?;
    if duration < jiff::SignedDuration::from_secs(1) {
        return Err(format!("`{text}` is shorter than a second"));
    }
    Duration::try_from(duration).map_err(|error| format!("`{text}`: {error}"))
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
    let result = runtime.block_on(run(args, verifier, dashboard_token, integrations, asterisk));
    // A blocking task (a rules reload still linting) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_millis(500));
    result
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
    let store: Arc<dyn CallStore> = if let Some(url) = &args.database {
        let config = PostgresConfig {
            retention: args.retention,
            open_call_max_idle: args.open_call_max_idle,
            max_hops_kept: args.max_hops_kept.max(1),
            queue_capacity: args.store_queue.max(1),
            ..PostgresConfig::new(url)
        };
        let (store, report) = PostgresStore::connect(config, metrics.clone(), clock.clone())
            .await
            .map_err(|error| error.to_string())?;
        tracing::info!(
            database = %report.target,
            schema_version = report.schema_version,
            events = report.events_loaded,
            "store opened"
        );
        Arc::new(store)
    } else if args.in_memory {
        tracing::warn!("--in-memory: call state will not survive a restart");
        Arc::new(MemoryStore::with_limits(
            args.retention,
            args.open_call_max_idle,
            args.max_hops_kept,
        ))
    } else {
        let config = StoreConfig {
            retention: args.retention,
            queue_capacity: args.store_queue.max(1),
            max_database_bytes: args.max_database_bytes,
            open_call_max_idle: args.open_call_max_idle,
            max_hops_kept: args.max_hops_kept.max(1),
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
    state.request_timeout = args.request_timeout;
    state.host_policy = HostPolicy {
        // DNS rebinding: an open dashboard on loopback answers only loopback names.
        loopback_only: dashboard_token.is_none() && args.listen.ip().is_loopback(),
        allowed_hosts: args
            .allowed_hosts
            .iter()
            .map(|host| host.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|host| !host.is_empty())
            .collect(),
    };
    state.trusted_proxies = args.trusted_proxies.clone();
    state.dashboard_token = dashboard_token;
    state.integrations = integrations;
    let state = Arc::new(state);
    let limits = connection_limits(&args);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", args.listen))?;
    let address = listener
        .local_addr()
        .map_err(|error| format!("cannot read the bound address: {error}"))?;
    reload::spawn_reloader(
        state.clone(),
        args.rules.clone(),
        args.watch_rules,
        args.reload_timeout,
    );
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
    let shutdown = shutdown_signal();
    tracing::info!(%address, rules = %args.rules.display(), "loopguard listening");
    println!("listening on http://{address}");
    serve_with_limits(listener, state, limits, shutdown)
        .await
        .map_err(|error| Failure::runtime(format!("server failed: {error}")))?;
    tracing::info!("shut down cleanly");
    Ok(0)
}

/// Announces events other instances committed (a shared store) to this instance's
/// live views, as the webhook routes announce their own.
fn forward_committed_elsewhere(state: &Arc<AppState>) {
    let Some(mut committed) = state.store.committed_elsewhere() else {
        return;
    };
    let state = Arc::downgrade(state);
    tokio::spawn(async move {
        loop {
            let event = match committed.recv().await {
                Ok(event) => event,
                // Live views tolerate gaps (they re-render whole pages).
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            let Some(state) = state.upgrade() else {
                return;
            };
            state.publish(LiveUpdate {
                kind: event.kind,
                call_id: event.call_id,
                verdict: event.verdict,
            });
        }
    });
}

/// The connection limits of the flags, with the cap fitted under the open-file
/// limit (raised to the hard limit first when it is lower).
fn connection_limits(args: &ServeArgs) -> ConnectionLimits {
    let mut max_connections = args.max_connections.max(1);
    match connections::raise_open_file_limit() {
        Ok(open_files) => {
            let fitted = connections::fit_connection_cap(max_connections, open_files);
            if fitted < max_connections {
                tracing::warn!(
                    open_files,
                    max_connections = fitted,
                    "the open-file limit allows only {fitted} connections; raise `ulimit -n` (the hard limit) to allow --max-connections {max_connections}"
                );
            }
            max_connections = fitted;
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read or raise the open-file limit; keeping --max-connections as given");
        }
    }
    ConnectionLimits {
        max_connections,
        header_timeout: args.header_timeout,
        write_timeout: args.write_timeout,
        drain_timeout: args.drain_timeout,
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called,
/// not when the future is first polled, so a signal sent right after "listening on"
/// is not lost (its default action would kill the process without a drain).
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                (interrupt, terminate) => {
                    tracing::error!(
                        sigint = interrupt.is_ok(),
                        sigterm = terminate.is_ok(),
                        "cannot listen for SIGINT or SIGTERM; stopping on the other"
                    );
                    match (interrupt, terminate) {
                        (Ok(mut signal), _) | (_, Ok(mut signal)) => {
                            signal.recv().await;
                        }
                        _ => std::future::pending::<()>().await,
                    }
                }
            }
            tracing::info!("shutdown requested: draining in-flight requests");
        }
    }
    #[cfg(not(unix))]
    {
        async move {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutdown requested: draining in-flight requests");
        }
    }
}
