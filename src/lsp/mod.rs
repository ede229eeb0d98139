//! Shell: `loopguard lsp`, a language server for rules files over stdin/stdout
//! (LSP 3.17, rust-analyzer's `lsp-server` for the transport, `lsp-types` for the
//! messages). Diagnostics are `lint`'s findings with the same codes and spans,
//! published for every file of the configuration on open and change; hover,
//! go-to-definition and completion come from `core::ide`.
//!
//! Requests are answered one at a time on one thread. Changes that arrive while the
//! server is busy are applied together and linted once, so typing never queues a
//! lint per keystroke.

mod position;
mod workspace;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _,
    PublishDiagnostics,
};
use lsp_types::request::{Completion, GotoDefinition, HoverRequest, Request as _};
use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionList, CompletionOptions, CompletionParams,
    CompletionResponse, DiagnosticRelatedInformation, DiagnosticSeverity,
    DidChangeTextDocumentParams, DidCloseTextDocumentParams, DidOpenTextDocumentParams,
    GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverContents, HoverParams,
    HoverProviderCapability, InitializeParams, Location, MarkupContent, MarkupKind, NumberOrString,
    OneOf, PositionEncodingKind, PublishDiagnosticsParams, ServerCapabilities, ServerInfo,
    TextDocumentPositionParams, TextDocumentSyncCapability, TextDocumentSyncKind, Uri,
};

use crate::core::diagnostic::{Diagnostic, Severity};
use crate::core::ide::{self, CompletionKind, SymbolIndex};
use crate::core::source::SourceFile;
use crate::core::suppress;
use position::{Encoding, path_of, range, uri_of};
use workspace::{Configuration, Document, lint_configuration, looks_like_rules, root_of};

/// Why the server stopped without a clean shutdown.
#[derive(Debug, thiserror::Error)]
pub enum LspError {
    #[error("the editor broke the protocol: {0}")]
    Protocol(#[from] lsp_server::ProtocolError),
    #[error("cannot read the editor's initialize request: {0}")]
    Initialize(#[from] serde_json::Error),
    #[error("standard input or output failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the connection to the editor closed")]
    Disconnected,
}

/// Runs the server on stdin/stdout until the editor shuts it down.
pub fn run() -> Result<(), LspError> {
    let (connection, io_threads) = Connection::stdio();
    serve(&connection)?;
    drop(connection);
    io_threads.join()?;
    Ok(())
}

/// Answers `initialize`, then serves until `shutdown` and `exit`.
pub fn serve(connection: &Connection) -> Result<(), LspError> {
    let (id, params) = connection.initialize_start()?;
    let params: InitializeParams = serde_json::from_value(params)?;
    let offered = params
        .capabilities
        .general
        .and_then(|general| general.position_encodings)
        .unwrap_or_default();
    let encoding = if offered.contains(&PositionEncodingKind::UTF8) {
        Encoding::Utf8
    } else {
        Encoding::Utf16
    };
    let capabilities = ServerCapabilities {
        position_encoding: Some(match encoding {
            Encoding::Utf8 => PositionEncodingKind::UTF8,
            Encoding::Utf16 => PositionEncodingKind::UTF16,
        }),
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec!["\"".to_owned(), "[".to_owned(), " ".to_owned()]),
            ..CompletionOptions::default()
        }),
        ..ServerCapabilities::default()
    };
    let result = serde_json::json!({
        "capabilities": capabilities,
        "serverInfo": ServerInfo {
            name: "loopguard".to_owned(),
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        },
    });
    connection.initialize_finish(id, result)?;
    let mut server = Server {
        connection,
        encoding,
        documents: BTreeMap::new(),
        configurations: BTreeMap::new(),
        dirty: BTreeSet::new(),
        published: BTreeMap::new(),
    };
    loop {
        let Ok(message) = connection.receiver.recv() else {
            return Err(LspError::Disconnected);
        };
        let mut next = Some(message);
        while let Some(message) = next {
            if server.handle(message)? {
                return Ok(());
            }
            next = connection.receiver.try_recv().ok();
        }
        server.refresh()?;
    }
}

struct Server<'c> {
    connection: &'c Connection,
    encoding: Encoding,
    documents: BTreeMap<PathBuf, Document>,
    /// By configuration directory.
    configurations: BTreeMap<PathBuf, Configuration>,
    /// Configurations to lint again before the next answer.
    dirty: BTreeSet<PathBuf>,
    /// Per configuration, the files diagnostics were published for.
    published: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
}

impl Server<'_> {
    /// Handles one message; true once the editor has shut the server down.
    fn handle(&mut self, message: Message) -> Result<bool, LspError> {
        match message {
            Message::Request(request) => {
                if self.connection.handle_shutdown(&request)? {
                    return Ok(true);
                }
                self.refresh()?;
                let response = self.answer(request);
                self.send(Message::Response(response))?;
            }
            Message::Notification(notification) => self.notification(notification),
            Message::Response(_) => {}
        }
        Ok(false)
    }

    fn send(&self, message: Message) -> Result<(), LspError> {
        self.connection
            .sender
            .send(message)
            .map_err(|_| LspError::Disconnected)
    }

    fn notification(&mut self, notification: Notification) {
        match notification.method.as_str() {
            DidOpenTextDocument::METHOD => {
                if let Ok(params) =
                    serde_json::from_value::<DidOpenTextDocumentParams>(notification.params)
                {
                    let document = params.text_document;
                    self.update(&document.uri, document.text, document.version);
                }
            }
            DidChangeTextDocument::METHOD => {
                if let Ok(params) =
                    serde_json::from_value::<DidChangeTextDocumentParams>(notification.params)
                    && let Some(change) = params.content_changes.into_iter().last()
                {
                    // Full synchronisation: the last change holds the whole text.
                    self.update(
                        &params.text_document.uri,
                        change.text,
                        params.text_document.version,
                    );
                }
            }
            DidCloseTextDocument::METHOD => {
                if let Ok(params) =
                    serde_json::from_value::<DidCloseTextDocumentParams>(notification.params)
                    && let Some(path) = path_of(&params.text_document.uri)
                {
                    self.documents.remove(&path);
                    if let Some(root) = root_of(&path)
                        && self.configurations.contains_key(&root)
                    {
                        self.dirty.insert(root);
                    }
                }
            }
            _ => {}
        }
    }

    fn update(&mut self, uri: &Uri, text: String, version: i32) {
        let Some(path) = path_of(uri) else {
            return;
        };
        let Some(root) = root_of(&path) else {
            return;
        };
        // Other TOML files (tests, Cargo.toml) are left alone unless they sit in a
        // configuration that is already being linted.
        if looks_like_rules(&text) || self.configurations.contains_key(&root) {
            self.dirty.insert(root);
        }
        self.documents.insert(path, Document { text, version });
    }

    /// Lints every changed configuration and publishes its diagnostics.
    fn refresh(&mut self) -> Result<(), LspError> {
        for root in std::mem::take(&mut self.dirty) {
            let configuration = lint_configuration(&root, &self.documents);
            let mut published = BTreeSet::new();
            for (index, path) in configuration.paths.iter().enumerate() {
                let file = &configuration.sources[index];
                let (findings, omitted) = &configuration.findings[index];
                let mut diagnostics: Vec<lsp_types::Diagnostic> = findings
                    .iter()
                    .map(|finding| self.diagnostic(&configuration, file, finding))
                    .collect();
                if let Some(omitted) = omitted {
                    diagnostics.push(lsp_types::Diagnostic {
                        range: range(
                            file,
                            crate::core::diagnostic::Span::new(omitted.source, 0..0),
                            self.encoding,
                        ),
                        severity: Some(DiagnosticSeverity::INFORMATION),
                        source: Some("loopguard".to_owned()),
                        message: crate::render::omitted_sentence(omitted),
                        ..lsp_types::Diagnostic::default()
                    });
                }
                self.publish(path, diagnostics)?;
                published.insert(path.clone());
            }
            for (path, size) in &configuration.too_large {
                let message = format!(
                    "this file is {size} bytes; rules files of at most {} bytes are linted",
                    crate::rules_files::MAX_RULES_FILE_BYTES
                );
                self.publish(
                    path,
                    vec![lsp_types::Diagnostic {
                        severity: Some(DiagnosticSeverity::ERROR),
                        source: Some("loopguard".to_owned()),
                        message,
                        ..lsp_types::Diagnostic::default()
                    }],
                )?;
                published.insert(path.clone());
            }
            // Files that left the configuration (deleted, renamed) lose their findings.
            let before = self.published.insert(root.clone(), published.clone());
            for gone in before.unwrap_or_default().difference(&published) {
                self.publish(gone, Vec::new())?;
            }
            self.configurations.insert(root, configuration);
        }
        Ok(())
    }

    fn publish(
        &self,
        path: &Path,
        diagnostics: Vec<lsp_types::Diagnostic>,
    ) -> Result<(), LspError> {
        let Some(uri) = uri_of(path) else {
            return Ok(());
        };
        let params = PublishDiagnosticsParams {
            uri,
            diagnostics,
            version: self.documents.get(path).map(|document| document.version),
        };
        self.send(Message::Notification(Notification::new(
            PublishDiagnostics::METHOD.to_owned(),
            params,
        )))
    }

    /// A lint finding as an LSP diagnostic: same code and span, the notes and help
    /// after the message, labels as related locations.
    fn diagnostic(
        &self,
        configuration: &Configuration,
        file: &SourceFile,
        finding: &Diagnostic,
    ) -> lsp_types::Diagnostic {
        let mut message = finding.message.clone();
        if let Some(label) = &finding.primary_label {
            message.push_str(&format!(" ({label})"));
        }
        for note in &finding.notes {
            message.push_str(&format!("\nnote: {note}"));
        }
        if let Some(help) = &finding.help {
            message.push_str(&format!("\nhelp: {help}"));
        }
        let related: Vec<DiagnosticRelatedInformation> = finding
            .labels
            .iter()
            .filter_map(|label| {
                let source = &configuration.sources[label.span.source.0];
                Some(DiagnosticRelatedInformation {
                    location: Location::new(
                        uri_of(&configuration.paths[label.span.source.0])?,
                        range(source, label.span, self.encoding),
                    ),
                    message: label.message.clone(),
                })
            })
            .collect();
        lsp_types::Diagnostic {
            range: range(file, finding.primary, self.encoding),
            severity: Some(match finding.severity {
                Severity::Error => DiagnosticSeverity::ERROR,
                Severity::Warning => DiagnosticSeverity::WARNING,
                Severity::Note => DiagnosticSeverity::INFORMATION,
            }),
            code: Some(NumberOrString::String(finding.code.as_str().to_owned())),
            source: Some("loopguard".to_owned()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            ..lsp_types::Diagnostic::default()
        }
    }

    fn answer(&self, request: Request) -> Response {
        let id = request.id.clone();
        let result = match request.method.as_str() {
            HoverRequest::METHOD => {
                serde_json::from_value::<HoverParams>(request.params).map(|params| {
                    serde_json::to_value(self.hover(&params.text_document_position_params))
                })
            }
            GotoDefinition::METHOD => {
                serde_json::from_value::<GotoDefinitionParams>(request.params).map(|params| {
                    serde_json::to_value(self.definition(&params.text_document_position_params))
                })
            }
            Completion::METHOD => {
                serde_json::from_value::<CompletionParams>(request.params).map(|params| {
                    serde_json::to_value(self.completion(&params.text_document_position))
                })
            }
            _ => {
                return Response::new_err(
                    id,
                    ErrorCode::MethodNotFound as i32,
                    format!("loopguard does not answer `{}`", request.method),
                );
            }
        };
        match result {
            Ok(Ok(value)) => Response::new_ok(id, value),
            Ok(Err(error)) | Err(error) => Response::new_err(
                id,
                ErrorCode::InvalidParams as i32,
                format!("invalid parameters: {error}"),
            ),
        }
    }

    /// The configuration, file and byte offset of a position in an open document.
    fn locate(
        &self,
        at: &TextDocumentPositionParams,
    ) -> Option<(&Configuration, &SourceFile, usize)> {
        let path = path_of(&at.text_document.uri)?;
        let configuration = self.configurations.get(&root_of(&path)?)?;
        let source = configuration.source_of(&path)?;
        let file = &configuration.sources[source.0];
        Some((
            configuration,
            file,
            position::offset(file, at.position, self.encoding),
        ))
    }

    fn hover(&self, at: &TextDocumentPositionParams) -> Option<Hover> {
        let (configuration, file, offset) = self.locate(at)?;
        let source = configuration.source_of(&path_of(&at.text_document.uri)?)?;
        let (text, span) = match configuration.symbols.at(source, offset) {
            Some((span, symbol)) => (ide::hover_symbol(&configuration.rules, symbol), Some(span)),
            None => (ide::hover_code(suppress::code_at(file, offset)?), None),
        };
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: text,
            }),
            range: span.map(|span| range(file, span, self.encoding)),
        })
    }

    fn definition(&self, at: &TextDocumentPositionParams) -> Option<GotoDefinitionResponse> {
        let (configuration, _, offset) = self.locate(at)?;
        let source = configuration.source_of(&path_of(&at.text_document.uri)?)?;
        let (_, symbol) = SymbolIndex::at(&configuration.symbols, source, offset)?;
        let target = ide::symbols::definition(&configuration.rules, symbol)?;
        let file = &configuration.sources[target.source.0];
        Some(GotoDefinitionResponse::Scalar(Location::new(
            uri_of(&configuration.paths[target.source.0])?,
            range(file, target, self.encoding),
        )))
    }

    fn completion(&self, at: &TextDocumentPositionParams) -> Option<CompletionResponse> {
        let (configuration, file, offset) = self.locate(at)?;
        let items = ide::completions(&configuration.rules, file, offset);
        let incomplete = items.len() >= ide::complete::MAX_COMPLETIONS;
        let items = items
            .into_iter()
            .map(|item| CompletionItem {
                kind: Some(match item.kind {
                    CompletionKind::Department => CompletionItemKind::MODULE,
                    CompletionKind::Intent => CompletionItemKind::ENUM_MEMBER,
                    CompletionKind::Key => CompletionItemKind::PROPERTY,
                    CompletionKind::Value => CompletionItemKind::VALUE,
                }),
                detail: item.detail,
                insert_text: Some(item.insert),
                label: item.label,
                ..CompletionItem::default()
            })
            .collect();
        Some(CompletionResponse::List(CompletionList {
            is_incomplete: incomplete,
            items,
        }))
    }
}
