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
use loopguard::server::store::MemoryStore;
use loopguard::server::{AppState, serve};
use serde_json::Value;

/// Rules from TOML text; panics with the findings if the text has errors.
pub fn rules_from(text: &str) -> Rules {
    let sources = [SourceFile::new("test.toml", text)];
    let report = lint(&sources);
    assert!(
        !report.has_errors(),
        "test rules have errors:\n{}",
        loopguard::render::render_concise(&sources, &report.diagnostics)
    );
    report.rules
}

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
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(rules: Rules) -> Self {
        Self::start_with(AppState::new(rules, "test", Arc::new(MemoryStore::new()))).await
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
        let status = response.status().as_u16();
        let text = response.text().await.expect("body read");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
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
        let status = response.status().as_u16();
        let text = response.text().await.expect("body read");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
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
