//! Loading the rules at start and reloading them on SIGHUP or when the rules
//! directory changes. A reload with errors keeps the last good rules, logs the
//! findings and shows the failure in `/readyz` and a metric.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::Watcher;

use crate::core::rules::Rules;
use crate::http::AppState;
use crate::render;
use crate::rules_files;

/// Why the rules cannot be put in force, rendered for the log and `/readyz`.
pub enum LoadFailure {
    /// The files could not be read at all.
    Unreadable(String),
    /// Lint errors, rendered for humans and one per line (concise).
    Findings { human: String, concise: Vec<String> },
}

/// Reads and lints the rules; only error-free rules are returned.
pub fn load(path: &Path) -> Result<Rules, LoadFailure> {
    rules_files::load_clean_rules(path).map_err(|failure| match failure {
        rules_files::LoadFailure::Unreadable(error) => LoadFailure::Unreadable(error.to_string()),
        rules_files::LoadFailure::Findings { sources, errors } => LoadFailure::Findings {
            human: render::render_human(&sources, &errors, &[], false),
            concise: render::render_concise(&sources, &errors, &[])
                .lines()
                .map(str::to_owned)
                .collect(),
        },
    })
}

/// Reloads on SIGHUP, and on changes to the rules directory when `watch` is set.
pub fn spawn_reloader(state: Arc<AppState>, path: PathBuf, watch: bool) {
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<&'static str>(8);
    #[cfg(unix)]
    {
        let sender = sender.clone();
        tokio::spawn(async move {
            let Ok(mut hangup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                tracing::error!("cannot listen for SIGHUP; rules reload on SIGHUP is off");
                return;
            };
            while hangup.recv().await.is_some() {
                let _ = sender.send("SIGHUP").await;
            }
        });
    }
    // The watcher must live as long as the reloader task.
    let watcher = if watch {
        let sender = sender.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|event| !event.kind.is_access()) {
                let _ = sender.try_send("rules changed");
            }
        })
        .and_then(|mut watcher| {
            watcher.watch(&path, notify::RecursiveMode::Recursive)?;
            Ok(watcher)
        });
        match watcher {
            Ok(watcher) => Some(watcher),
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "cannot watch the rules; reload with SIGHUP");
                None
            }
        }
    } else {
        None
    };
    drop(sender);
    tokio::spawn(async move {
        let _watcher = watcher;
        while let Some(reason) = receiver.recv().await {
            // Editors write files in several steps: let the burst settle first.
            tokio::time::sleep(Duration::from_millis(200)).await;
            while receiver.try_recv().is_ok() {}
            let path = path.clone();
            let loaded = tokio::task::spawn_blocking(move || load(&path)).await;
            match loaded {
                Ok(Ok(rules)) => {
                    state.install_rules(rules);
                    tracing::info!(reason, "rules reloaded");
                }
                Ok(Err(LoadFailure::Unreadable(message))) => {
                    tracing::error!(reason, error = %message, "rules reload refused: keeping the last good rules");
                    state.refuse_rules(vec![message]);
                }
                Ok(Err(LoadFailure::Findings { human, concise })) => {
                    tracing::error!(
                        reason,
                        "rules reload refused: keeping the last good rules\n{human}"
                    );
                    state.refuse_rules(concise);
                }
                Err(error) => tracing::error!(%error, "rules reload task failed"),
            }
        }
    });
}
