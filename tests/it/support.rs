//! Helpers shared by the test modules: where the repository is, and how to lint a
//! fixture through the library exactly as the CLI would (paths relative to the
//! repository root), rules from TOML text, and a real server on port 0 with a JSON client.

use std::path::Path;
use std::sync::Arc;

use loopguard::core::lint::{LintReport, lint};
use loopguard::core::source::SourceFile;

/// The repository root; fixture paths in expected outputs are relative to it.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Reads a fixture given relative to the repository root: a file, or every `*.toml`
/// file below a directory sorted by path (as `loopguard lint DIR` reads one).
pub fn fixture_sources(relative: &str) -> Vec<SourceFile> {
    let absolute = repo_root().join(relative);
    let files = loopguard::rules_files::rules_file_paths(&absolute)
        .unwrap_or_else(|error| panic!("fixture `{relative}`: {error}"));
    files
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
            SourceFile::from_bytes(relative_path(path), &bytes)
        })
        .collect()
}

/// Lints a fixture through the library.
pub fn lint_fixture(relative: &str) -> (Vec<SourceFile>, LintReport) {
    let sources = fixture_sources(relative);
    let report = lint(&sources);
    (sources, report)
}

/// `path` relative to the repository root, with `/` separators.
pub fn relative_path(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

use loopguard::core::rules::Rules;
use loopguard::http::AppState;
use loopguard::server::serve;
use loopguard::store::MemoryStore;
use serde_json::Value;

/// Rules from TOML text; panics with the findings if the text has errors.
pub fn rules_from(text: &str) -> Rules {
    let sources = [SourceFile::new("test.toml", text)];
    let report = lint(&sources);
    assert!(
        !report.has_errors(),
        "test rules have errors:\n{}",
        loopguard::render::render_concise(&sources, &report.diagnostics, &report.omitted)
    );
    report.rules
}

/// Routes through the carrier rules that scripted calls take: allowed hops, a
/// ping-pong and a circle.
pub const SCRIPT_ROUTES: [&[&str]; 3] = [
    &[
        "customer_service",
        "activations",
        "customer_service",
        "billing",
    ],
    &[
        "customer_service",
        "billing",
        "retention",
        "billing",
        "supervisor_desk",
    ],
    &[
        "technical_support",
        "device_support",
        "supervisor_desk",
        "technical_support",
    ],
];

/// The repository's own carrier configuration.
pub fn carrier_rules() -> Rules {
    let sources = loopguard::rules_files::read_rules(&repo_root().join("routing-rules"))
        .expect("routing-rules/ is readable");
    let report = lint(&sources);
    assert!(!report.has_errors());
    report.rules
}

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    /// The state the server runs on (its store, its live feed).
    pub state: Arc<AppState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// App state over the memory store, with its own metrics and the system clock.
pub fn memory_state(rules: Rules) -> AppState {
    AppState::new(
        rules,
        "test",
        Arc::new(MemoryStore::new()),
        loopguard::metrics::Metrics::new(),
        loopguard::clock::Clock::system(),
    )
}

impl TestServer {
    pub async fn start(rules: Rules) -> Self {
        Self::start_with(memory_state(rules)).await
    }

    pub async fn start_with(state: AppState) -> Self {
        let state = Arc::new(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let address = listener.local_addr().expect("bound address");
        let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, state.clone(), async move {
            let _ = receiver.await;
        }));
        Self {
            base: format!("http://{address}"),
            client: reqwest::Client::new(),
            state,
            shutdown: Some(sender),
            task: Some(task),
        }
    }

    /// POSTs JSON text; returns the status and the parsed body.
    pub async fn post_text(&self, path: &str, body: &str) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("request sent");
        status_and_json(response).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_text(path, &body.to_string()).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request sent");
        status_and_json(response).await
    }

    /// Stops the server and waits until in-flight requests are drained.
    pub async fn stop(mut self) {
        if let Some(sender) = self.shutdown.take() {
            let _ = sender.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran");
        }
    }
}

/// The status and the body parsed as JSON (a JSON string holding the text when it is not JSON).
pub async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body read");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A transfer event body.
pub fn transfer(event_id: &str, call_id: &str, from: &str, to: &str) -> Value {
    serde_json::json!({
        "event_id": event_id,
        "call_id": call_id,
        "from": from,
        "to": to,
        "mode": "warm",
        "callback_number": "+14155550123",
    })
}

/// The findings' codes of an answer.
pub fn codes(answer: &Value) -> Vec<String> {
    answer["findings"]
        .as_array()
        .map(|findings| {
            findings
                .iter()
                .filter_map(|finding| finding["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The real `loopguard serve` binary on port 0, killed when dropped.
pub struct BinaryServer {
    child: std::process::Child,
    pub base: String,
    _data: Option<tempfile::TempDir>,
}

impl BinaryServer {
    /// Starts with a fresh temporary data directory.
    pub fn start(rules: &Path, extra: &[&str]) -> Self {
        let data = tempfile::tempdir().expect("temporary data directory");
        let mut server = Self::start_with_data(rules, data.path(), extra);
        server._data = Some(data);
        server
    }

    /// Starts on an existing data directory (to restart after a crash).
    pub fn start_with_data(rules: &Path, data_dir: &Path, extra: &[&str]) -> Self {
        let mut arguments = vec!["--data-dir", data_dir.to_str().expect("UTF-8 temp path")];
        arguments.extend_from_slice(extra);
        Self::start_with_arguments(rules, &arguments)
    }

    /// Starts on a PostgreSQL database (`--database`) instead of a data directory.
    pub fn start_with_database(rules: &Path, url: &str, extra: &[&str]) -> Self {
        let mut arguments = vec!["--database", url];
        arguments.extend_from_slice(extra);
        Self::start_with_arguments(rules, &arguments)
    }

    fn start_with_arguments(rules: &Path, arguments: &[&str]) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_loopguard"))
            .args(["serve", "--listen", "127.0.0.1:0", "--rules"])
            .arg(rules)
            .args(arguments)
            .env("LOOPGUARD_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("loopguard starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("first line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self {
            child,
            base,
            _data: None,
        }
    }

    /// The server's process id (for `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// The body of a GET (empty when the server cannot be reached).
    pub fn get(&self, path: &str) -> String {
        http(&self.base, "GET", path, None)
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    /// Polls `path` until `predicate` holds, for at most 10 s.
    pub fn wait_for(&self, path: &str, predicate: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let body = self.get(path);
            if predicate(&body) {
                return body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting on {path}; last body:\n{body}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit and returns its exit code (-1 for a signal).
    pub fn wait_exit(mut self) -> i32 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                return status.code().unwrap_or(-1);
            }
            assert!(std::time::Instant::now() < deadline, "server did not exit");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// SIGKILL, and wait until the process is gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal blocking HTTP/1.1 request with `Connection: close`; returns the
/// status and the body, or the I/O error (connection refused, reset by a crash).
pub fn http(
    base: &str,
    method: &str,
    path: &str,
    json_body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let body = json_body.unwrap_or("");
    let headers = if json_body.is_some() {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
    } else {
        String::new()
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}\r\n{body}"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no status line"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
