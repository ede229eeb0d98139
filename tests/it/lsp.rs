//! `loopguard lsp` tested as an editor uses it: the real binary is spawned and
//! spoken to in JSON-RPC over its stdin and stdout (`Content-Length` framing), and
//! its answers are checked: capabilities, diagnostics equal to `loopguard lint`'s
//! for every lint code (same codes, same ranges, across the configuration's files),
//! updates on change, hover, go-to-definition, completion, and a clean shutdown.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use loopguard::core::lint::{DEFAULT_MAX_FINDINGS_PER_FILE, lint};
use loopguard::rules_files::read_rules;
use serde_json::{Value, json};

use crate::support::repo_root;

/// Long enough for a debug build on a busy machine; the editor never waits this long.
const DEADLINE: Duration = Duration::from_secs(60);

/// An editor's side of the connection.
struct Editor {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    /// Notifications received while waiting for something else.
    pending: Vec<Value>,
    next_id: i64,
}

impl Editor {
    /// Starts `loopguard lsp` and initializes it, offering `encodings`.
    fn start(encodings: &[&str]) -> (Self, Value) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_loopguard"))
            .args(["lsp", "--stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start loopguard lsp");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, messages) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 {
                        return;
                    }
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    if let Some(value) = header.strip_prefix("Content-Length: ") {
                        length = value.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; length.expect("a Content-Length header")];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let message: Value = serde_json::from_slice(&body).expect("a JSON message");
                if sender.send(message).is_err() {
                    return;
                }
            }
        });
        let mut editor = Self {
            child,
            stdin,
            messages,
            pending: Vec::new(),
            next_id: 0,
        };
        let initialized = editor.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": null,
                "capabilities": { "general": { "positionEncodings": encodings } },
            }),
        );
        editor.notify("initialized", json!({}));
        (editor, initialized)
    }

    fn send(&mut self, message: &Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len())
            .expect("write to the server");
        self.stdin.flush().expect("flush");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    fn receive(&mut self, deadline: Instant) -> Value {
        match self
            .messages
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => panic!("no message from the server in time"),
            Err(RecvTimeoutError::Disconnected) => panic!("the server closed its output"),
        }
    }

    /// Sends a request and returns its result (failing on an error response).
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let deadline = Instant::now() + DEADLINE;
        loop {
            let message = self.receive(deadline);
            if message["id"] == id {
                assert!(message.get("error").is_none(), "{method} failed: {message}");
                return message["result"].clone();
            }
            self.pending.push(message);
        }
    }

    /// The diagnostics published next for each of `paths` (waiting for all of them).
    fn diagnostics(&mut self, paths: &[PathBuf]) -> BTreeMap<PathBuf, Vec<Value>> {
        let wanted: BTreeSet<String> = paths.iter().map(|path| uri(path)).collect();
        let mut found = BTreeMap::new();
        let deadline = Instant::now() + DEADLINE;
        let mut pending = std::mem::take(&mut self.pending).into_iter();
        while found.len() < wanted.len() {
            let message = match pending.next() {
                Some(message) => message,
                None => self.receive(deadline),
            };
            if message["method"] != "textDocument/publishDiagnostics" {
                continue;
            }
            let published = message["params"]["uri"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if wanted.contains(&published) {
                let path = paths
                    .iter()
                    .find(|path| uri(path) == published)
                    .expect("a wanted path")
                    .clone();
                let list = message["params"]["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                found.insert(path, list);
            }
        }
        self.pending.extend(pending);
        found
    }

    fn open(&mut self, path: &Path) {
        let text = std::fs::read_to_string(path).expect("read the file to open");
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri(path), "languageId": "toml", "version": 1, "text": text } }),
        );
    }

    fn change(&mut self, path: &Path, version: i32, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": uri(path), "version": version },
                "contentChanges": [{ "text": text }],
            }),
        );
    }

    /// Shuts the server down as an editor does and waits for it to exit.
    fn shut_down(mut self) -> Option<i32> {
        let result = self.request("shutdown", Value::Null);
        assert_eq!(result, Value::Null);
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the server") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Editor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn uri(path: &Path) -> String {
    url::Url::from_file_path(path)
        .expect("an absolute path")
        .to_string()
}

/// `(code, [start line, start character, end line, end character])`, 0-based.
type Finding = (String, [u64; 4]);

fn lsp_findings(diagnostics: &[Value]) -> BTreeSet<Finding> {
    diagnostics
        .iter()
        .filter_map(|diagnostic| {
            let code = diagnostic["code"].as_str()?.to_owned();
            let range = &diagnostic["range"];
            let number = |value: &Value| value.as_u64().unwrap_or(u64::MAX);
            Some((
                code,
                [
                    number(&range["start"]["line"]),
                    number(&range["start"]["character"]),
                    number(&range["end"]["line"]),
                    number(&range["end"]["character"]),
                ],
            ))
        })
        .collect()
}

/// What `loopguard lint DIR` finds, per file, as LSP ranges (the fixtures are ASCII,
/// so a column is a UTF-16 unit).
fn lint_findings(directory: &Path) -> BTreeMap<PathBuf, BTreeSet<Finding>> {
    let sources = read_rules(directory).expect("readable fixture");
    let mut report = lint(&sources);
    report.cap_per_file(DEFAULT_MAX_FINDINGS_PER_FILE);
    let mut found: BTreeMap<PathBuf, BTreeSet<Finding>> = BTreeMap::new();
    let paths = loopguard::rules_files::rules_file_paths(directory).expect("fixture files");
    for path in &paths {
        found.entry(path.clone()).or_default();
    }
    for diagnostic in &report.diagnostics {
        let file = &sources[diagnostic.primary.source.0];
        let start = file.line_column(diagnostic.primary.start);
        let end = file.line_column(diagnostic.primary.end);
        let position = |line: usize, column: usize| (line as u64 - 1, column as u64 - 1);
        let (start_line, start_character) = position(start.line, start.column);
        let (end_line, end_character) = position(end.line, end.column);
        found
            .entry(paths[diagnostic.primary.source.0].clone())
            .or_default()
            .insert((
                diagnostic.code.as_str().to_owned(),
                [start_line, start_character, end_line, end_character],
            ));
    }
    found
}

/// Copies a fixture (a file or a directory of files) into its own directory, so
/// the configuration the server lints is exactly the fixture.
fn copy_fixture(fixture: &Path, into: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(into).expect("fixture directory");
    let files: Vec<PathBuf> = if fixture.is_dir() {
        loopguard::rules_files::rules_file_paths(fixture).expect("fixture files")
    } else {
        vec![fixture.to_path_buf()]
    };
    files
        .iter()
        .map(|file| {
            let target = into.join(file.file_name().expect("a file name"));
            std::fs::copy(file, &target).expect("copy the fixture");
            target
        })
        .collect()
}

#[test]
fn the_server_announces_its_capabilities_and_negotiates_utf8() {
    let (editor, initialized) = Editor::start(&[]);
    let capabilities = &initialized["capabilities"];
    assert_eq!(capabilities["positionEncoding"], "utf-16");
    assert_eq!(capabilities["textDocumentSync"], 1);
    assert_eq!(capabilities["hoverProvider"], true);
    assert_eq!(capabilities["definitionProvider"], true);
    assert!(capabilities["completionProvider"]["triggerCharacters"].is_array());
    assert_eq!(initialized["serverInfo"]["name"], "loopguard");
    assert_eq!(editor.shut_down(), Some(0));
    let (editor, initialized) = Editor::start(&["utf-8", "utf-16"]);
    assert_eq!(initialized["capabilities"]["positionEncoding"], "utf-8");
    assert_eq!(editor.shut_down(), Some(0));
}

#[test]
fn diagnostics_equal_lint_findings_for_every_lint_code_across_the_configuration() {
    let fixtures = repo_root().join("tests/fixtures/lint");
    let workspace = tempfile::tempdir().expect("temporary directory");
    let (mut editor, _) = Editor::start(&[]);
    let mut codes_seen = BTreeSet::new();
    let mut names: Vec<String> = std::fs::read_dir(&fixtures)
        .expect("lint fixtures")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    for name in names {
        let fail = if fixtures.join(&name).join("fail").is_dir() {
            fixtures.join(&name).join("fail")
        } else if fixtures.join(&name).join("fail.toml").is_file() {
            fixtures.join(&name).join("fail.toml")
        } else {
            fixtures.join(&name)
        };
        let directory = workspace.path().join(&name);
        let files = copy_fixture(&fail, &directory);
        let expected = lint_findings(&directory);
        editor.open(&files[0]);
        let published = editor.diagnostics(&expected.keys().cloned().collect::<Vec<_>>());
        for (path, findings) in &expected {
            let got = lsp_findings(&published[path]);
            assert_eq!(&got, findings, "{name}: {}", path.display());
            codes_seen.extend(findings.iter().map(|(code, _)| code.clone()));
        }
    }
    let all: BTreeSet<String> = loopguard::core::codes::LintCode::ALL
        .iter()
        .map(|code| code.as_str().to_owned())
        .collect();
    assert_eq!(codes_seen, all, "every lint code reaches the editor");
    assert_eq!(editor.shut_down(), Some(0));
}

/// A configuration of two files with an escalation department, a catalog and a
/// suppression, for hover, definition and completion.
fn write_rules(directory: &Path) -> (PathBuf, PathBuf) {
    let departments = directory.join("departments.toml");
    let transfers = directory.join("transfers.toml");
    std::fs::write(
        &departments,
        "[policy]\nescalation = \"supervisor_desk\"\n\n[[intent]]\nid = \"reconnect_line\"\ndescription = \"Restoring a suspended line\"\n\n[[intent]]\nid = \"complaint\"\n\n[[department]]\nid = \"customer_service\"\nname = \"Customer Service\"\nentry = true\n\n[[department]]\nid = \"activations\"\nname = \"Activations\"\nhandles = [\"reconnect_line\"]\n\n[[department]]\nid = \"supervisor_desk\"\nname = \"Supervisor Desk\"\nhandles = [\"complaint\"]\n",
    )
    .expect("write departments");
    std::fs::write(
        &transfers,
        "[[transfer]]\nfrom = \"customer_service\"\nto = \"activations\"\nintents = [\"reconnect_line\"]\n\n[[transfer]]\nfrom = \"customer_service\"\nto = \"supervisor_desk\"\nintents = [\"complaint\"]\n\n[[transfer]]\nfrom = \"activations\"\nto = \"supervisor_desk\"\nintents = [\"complaint\"] # loopguard: ignore[transfer-cycle] reason=\"test\"\n",
    )
    .expect("write transfers");
    (departments, transfers)
}

/// The LSP position of the first `needle` in `text`, plus `shift` characters.
fn position_of(text: &str, needle: &str, shift: usize) -> Value {
    let offset = text.find(needle).expect("needle in the text") + shift;
    let line = text[..offset].matches('\n').count();
    let character = offset - text[..offset].rfind('\n').map_or(0, |newline| newline + 1);
    json!({ "line": line, "character": character })
}

#[test]
fn changes_update_the_diagnostics_of_every_file_of_the_configuration() {
    let workspace = tempfile::tempdir().expect("temporary directory");
    let (departments, transfers) = write_rules(workspace.path());
    let (mut editor, _) = Editor::start(&[]);
    editor.open(&transfers);
    let published = editor.diagnostics(&[departments.clone(), transfers.clone()]);
    // The unused suppression is the only finding of the clean configuration.
    assert_eq!(
        lsp_findings(&published[&transfers])
            .into_iter()
            .map(|(code, _)| code)
            .collect::<Vec<_>>(),
        ["unused-suppression"]
    );
    assert!(published[&departments].is_empty());
    // Sending a call back makes a ping-pong pair, reported with its partner
    // transfer as related information; an unknown `to` is reported where typed.
    let text = std::fs::read_to_string(&transfers).expect("read")
        + "\n[[transfer]]\nfrom = \"activations\"\nto = \"customer_service\"\nintents = [\"reconnect_line\"]\n\n[[transfer]]\nfrom = \"activations\"\nto = \"billing\"\n";
    editor.change(&transfers, 2, &text);
    let published = editor.diagnostics(&[departments.clone(), transfers.clone()]);
    let diagnostics = &published[&transfers];
    let codes: BTreeSet<&str> = diagnostics
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert!(codes.contains("ping-pong-pair"), "{diagnostics:#?}");
    assert!(codes.contains("unknown-department"), "{diagnostics:#?}");
    let pair = diagnostics
        .iter()
        .find(|d| d["code"] == "ping-pong-pair")
        .expect("a ping-pong pair");
    assert_eq!(pair["severity"], 1);
    assert_eq!(pair["source"], "loopguard");
    assert!(
        pair["message"]
            .as_str()
            .is_some_and(|message| message.contains("help: "))
    );
    assert_eq!(
        pair["relatedInformation"][0]["location"]["uri"],
        uri(&transfers)
    );
    let unknown = diagnostics
        .iter()
        .find(|d| d["code"] == "unknown-department")
        .expect("unknown department");
    assert_eq!(
        unknown["range"]["start"],
        position_of(&text, "\"billing\"", 0)
    );
    assert_eq!(editor.shut_down(), Some(0));
}

#[test]
fn hover_definition_and_completion_answer_about_the_rules() {
    let workspace = tempfile::tempdir().expect("temporary directory");
    let (departments, transfers) = write_rules(workspace.path());
    let (mut editor, _) = Editor::start(&[]);
    editor.open(&transfers);
    editor.diagnostics(std::slice::from_ref(&transfers));
    let text = std::fs::read_to_string(&transfers).expect("read");
    let document = json!({ "uri": uri(&transfers) });

    let hover = editor.request(
        "textDocument/hover",
        json!({ "textDocument": document, "position": position_of(&text, "\"activations\"", 3) }),
    );
    let value = hover["contents"]["value"].as_str().unwrap_or_default();
    assert_eq!(hover["contents"]["kind"], "markdown");
    assert!(
        value.starts_with("**Activations** `activations`"),
        "{value}"
    );
    assert!(value.contains("Handles: `reconnect_line`"), "{value}");
    assert!(
        value.contains("Transfers in (1): `customer_service` (reconnect_line)"),
        "{value}"
    );

    let hover = editor.request(
        "textDocument/hover",
        json!({ "textDocument": document, "position": position_of(&text, "\"reconnect_line\"", 2) }),
    );
    let value = hover["contents"]["value"].as_str().unwrap_or_default();
    assert!(
        value.starts_with("intent `reconnect_line` — Restoring a suspended line"),
        "{value}"
    );
    assert!(value.contains("Handled by: `activations`"), "{value}");

    let hover = editor.request(
        "textDocument/hover",
        json!({ "textDocument": document, "position": position_of(&text, "transfer-cycle", 4) }),
    );
    let value = hover["contents"]["value"].as_str().unwrap_or_default();
    assert!(
        value.starts_with("**transfer-cycle** (warning by default)"),
        "{value}"
    );
    assert!(value.contains("**How to fix it.**"), "{value}");

    let definition = editor.request(
        "textDocument/definition",
        json!({ "textDocument": document, "position": position_of(&text, "\"supervisor_desk\"", 1) }),
    );
    let departments_text = std::fs::read_to_string(&departments).expect("read");
    assert_eq!(definition["uri"], uri(&departments));
    assert_eq!(
        definition["range"]["start"],
        position_of(&departments_text, "id = \"supervisor_desk\"", 5)
    );
    let definition = editor.request(
        "textDocument/definition",
        json!({ "textDocument": document, "position": position_of(&text, "\"complaint\"", 1) }),
    );
    assert_eq!(
        definition["range"]["start"],
        position_of(&departments_text, "id = \"complaint\"", 5),
        "an intent leads to its [[intent]] entry"
    );

    // Typing a new transfer: ids in `to`, intents in `intents`, keys on a new line.
    let typing = format!("{text}\n[[transfer]]\nfrom = \"activations\"\nto = \"sup");
    editor.change(&transfers, 2, &typing);
    let end = json!({ "line": typing.matches('\n').count(), "character": "to = \"sup".len() });
    let completion = editor.request(
        "textDocument/completion",
        json!({ "textDocument": document, "position": end }),
    );
    let labels: Vec<&str> = completion["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["label"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(labels, ["supervisor_desk"]);
    assert_eq!(completion["items"][0]["detail"], "Supervisor Desk");

    let typing = format!("{text}\n[[transfer]]\nintents = [\"");
    editor.change(&transfers, 3, &typing);
    let end = json!({ "line": typing.matches('\n').count(), "character": "intents = [\"".len() });
    let completion = editor.request(
        "textDocument/completion",
        json!({ "textDocument": document, "position": end }),
    );
    let labels: Vec<&str> = completion["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["label"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(labels, ["complaint", "reconnect_line"]);

    let typing = format!("{text}\n[[transfer]]\nm");
    editor.change(&transfers, 4, &typing);
    let end = json!({ "line": typing.matches('\n').count(), "character": 1 });
    let completion = editor.request(
        "textDocument/completion",
        json!({ "textDocument": document, "position": end }),
    );
    assert_eq!(completion["items"][0]["label"], "mode");
    assert_eq!(editor.shut_down(), Some(0));
}

#[test]
fn other_toml_files_are_left_alone_and_unknown_requests_get_an_error() {
    let workspace = tempfile::tempdir().expect("temporary directory");
    let cargo = workspace.path().join("Cargo.toml");
    std::fs::write(&cargo, "[package]\nname = \"x\"\n").expect("write");
    let (mut editor, _) = Editor::start(&[]);
    editor.open(&cargo);
    editor.next_id += 1;
    let id = editor.next_id;
    editor.send(
        &json!({ "jsonrpc": "2.0", "id": id, "method": "textDocument/rename", "params": {} }),
    );
    let deadline = Instant::now() + DEADLINE;
    let response = loop {
        let message = editor.receive(deadline);
        assert_ne!(
            message["method"], "textDocument/publishDiagnostics",
            "a non-rules TOML file got diagnostics: {message}"
        );
        if message["id"] == id {
            break message;
        }
    };
    assert_eq!(response["error"]["code"], -32601);
    assert_eq!(editor.shut_down(), Some(0));
}
