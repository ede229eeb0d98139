//! Loading the rules at start and reloading them on SIGHUP or when the rules
//! directory changes. A reload with errors keeps the last good rules, logs the
//! findings and shows the failure in `/readyz` and a metric.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::Watcher as _;

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
        rules_files::LoadFailure::Findings {
            sources,
            errors,
            omitted,
        } => LoadFailure::Findings {
            human: render::render_human(&sources, &errors, &omitted, false),
            concise: render::render_concise(&sources, &errors, &omitted)
                .lines()
                .map(str::to_owned)
                .collect(),
        },
    })
}

/// Reloads on SIGHUP, and on changes to the rules directory when `watch` is set.
///
/// A reload runs on a blocking thread, off the serving path, and is given up after
/// `timeout` (the last good rules stay; `/readyz` says so). At most one runs at a
/// time: triggers that arrive meanwhile are folded into the next reload. Shutdown
/// does not wait for it (`run_from_cli` gives blocking threads half a second).
///
/// The watch survives the rules directory (or file) being replaced by a rename:
/// its parent is watched too, and the watch on the rules path is renewed before
/// every reload.
pub fn spawn_reloader(state: Arc<AppState>, path: PathBuf, watch: bool, timeout: Duration) {
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<&'static str>(8);
    #[cfg(unix)]
    {
        let sender = sender.clone();
        // Installed now, not in the task: a SIGHUP's default action ends the process.
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
        tokio::spawn(async move {
            let Ok(mut hangup) = hangup else {
                tracing::error!("cannot listen for SIGHUP; rules reload on SIGHUP is off");
                return;
            };
            while hangup.recv().await.is_some() {
                let _ = sender.send("SIGHUP").await;
            }
        });
    }
    let watched = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
    let mut watcher = if watch {
        match start_watching(&watched, sender.clone()) {
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
        while let Some(reason) = receiver.recv().await {
            // Editors write files in several steps: let the burst settle first.
            tokio::time::sleep(Duration::from_millis(200)).await;
            while receiver.try_recv().is_ok() {}
            if let Some(watcher) = &mut watcher
                && let Err(error) = renew_watch(watcher, &watched)
            {
                tracing::warn!(%error, path = %watched.display(), "cannot watch the rules path; reload with SIGHUP");
            }
            reload_once(&state, &path, reason, timeout).await;
        }
    });
}

async fn reload_once(state: &AppState, path: &Path, reason: &'static str, timeout: Duration) {
    state.begin_reload(timeout);
    let path = path.to_path_buf();
    let mut loading = tokio::task::spawn_blocking(move || load(&path));
    let loaded = match tokio::time::timeout(timeout, &mut loading).await {
        Ok(loaded) => loaded,
        Err(_) => {
            let message = format!(
                "the rules reload ({reason}) ran past its deadline of {} s and was given up; \
                 the last good rules stay in force. Check the rules for a file that takes long to lint, \
                 or raise --reload-timeout",
                timeout.as_secs()
            );
            tracing::error!("{message}");
            state.refuse_rules(vec![message]);
            state.end_reload();
            // The thread cannot be stopped; wait for it (its result is dropped) so
            // that at most one reload runs at a time.
            let _ = loading.await;
            return;
        }
    };
    state.end_reload();
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

/// Watches the rules path (recursively) and its parent (for renames of the path
/// itself); only events about the rules path or below it trigger a reload.
fn start_watching(
    path: &Path,
    sender: tokio::sync::mpsc::Sender<&'static str>,
) -> notify::Result<notify::RecommendedWatcher> {
    let rules_path = path.to_path_buf();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let relevant = event.is_ok_and(|event| {
            !event.kind.is_access()
                && event
                    .paths
                    .iter()
                    .any(|changed| changed.starts_with(&rules_path))
        });
        if relevant {
            let _ = sender.try_send("rules changed");
        }
    })?;
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        watcher.watch(parent, notify::RecursiveMode::NonRecursive)?;
    }
    watcher.watch(path, notify::RecursiveMode::Recursive)?;
    Ok(watcher)
}

/// Points the watch at what the rules path is now: after a rename swapped in a new
/// directory, the old watch still follows the old one.
fn renew_watch(watcher: &mut notify::RecommendedWatcher, path: &Path) -> notify::Result<()> {
    // The old watch may already be gone with its directory.
    let _ = watcher.unwatch(path);
    watcher.watch(path, notify::RecursiveMode::Recursive)
}
