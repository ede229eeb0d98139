//! Where the dashboard's views are computed: off the async workers the webhook needs
//! (on tokio's blocking pool), one at a time however many pages are open, and each
//! response reused for up to a second while the statistics have not changed, and for
//! [`ALWAYS_REUSE_FOR`] even when they have: however many dashboards reload, a view is
//! computed at most four times a second. A page refreshes after an event no sooner than
//! that (see `assets/dashboard.js`), so it still shows the event.
//!
//! A view reads the store's statistics index (see `store::StatsKeeper`), which the
//! writer never waits on; this module bounds the CPU the dashboard takes besides.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::core::stats::StatsIndex;
use crate::http::AppState;

/// How long a computed response may be served again while nothing changed (the
/// windows end "now", so a response ages even when no event arrives).
const REUSE_FOR: Duration = Duration::from_secs(1);
/// How long a computed response is served again even though events arrived since.
pub const ALWAYS_REUSE_FOR: Duration = Duration::from_millis(250);
/// Responses kept at most; a client cannot grow the cache with made-up queries.
const MAX_KEPT: usize = 64;

/// One computed response: the body, its content type, and for CSV pages the link
/// to the next page and the file name to save it as.
#[derive(Debug, Clone)]
pub struct Computed {
    pub content_type: &'static str,
    pub body: Arc<str>,
    /// The next page (`Link: <…>; rel="next"`).
    pub next: Option<String>,
    /// `Content-Disposition: attachment; filename="…"`.
    pub download: Option<&'static str>,
}

struct Kept {
    computed: Computed,
    at: Instant,
    version: u64,
}

/// The gate and the reuse cache of one router's dashboard.
pub struct ViewComputer {
    gate: Semaphore,
    kept: Mutex<HashMap<String, Kept>>,
}

impl Default for ViewComputer {
    fn default() -> Self {
        Self {
            gate: Semaphore::new(1),
            kept: Mutex::new(HashMap::new()),
        }
    }
}

impl ViewComputer {
    /// The response for `key`, computed by `compute` from the statistics index unless
    /// a response for the same key and the same index version is less than a second
    /// old. `key` must name everything the response depends on besides the index.
    pub async fn compute(
        &self,
        state: &Arc<AppState>,
        key: String,
        compute: impl FnOnce(&StatsIndex) -> Computed + Send + 'static,
    ) -> Computed {
        if let Some(computed) = self.recent(&key) {
            return computed;
        }
        // The gate is never closed, so acquiring only waits.
        let _permit = self.gate.acquire().await;
        // Another request may have computed it while this one waited.
        if let Some(computed) = self.recent(&key) {
            return computed;
        }
        let state = state.clone();
        let kept_before = self.fresh(&key);
        let task = tokio::task::spawn_blocking(move || {
            let mut compute = Some(compute);
            let mut result: Option<(Computed, u64, bool)> = None;
            state.store.read_stats(&mut |index| {
                let version = index.version();
                if let Some((computed, kept_version, _)) = kept_before.clone()
                    && kept_version == version
                {
                    result = Some((computed, version, true));
                } else if let Some(compute) = compute.take() {
                    result = Some((compute(index), version, false));
                }
            });
            result
        });
        let (computed, version, reused) = match task.await {
            Ok(Some(result)) => result,
            // `read_stats` runs its closure exactly once; not running it is a store bug.
            Ok(None) => panic!("CallStore::read_stats did not run the view's computation"),
            // A panic in a computation is a bug: let it take this request down too.
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        };
        if !reused {
            self.keep(key, &computed, version);
        }
        computed
    }

    /// A kept response younger than [`ALWAYS_REUSE_FOR`].
    fn recent(&self, key: &str) -> Option<Computed> {
        self.fresh(key)
            .filter(|(_, _, at)| at.elapsed() < ALWAYS_REUSE_FOR)
            .map(|(computed, _, _)| computed)
    }

    /// A kept response younger than [`REUSE_FOR`], its index version and its time.
    fn fresh(&self, key: &str) -> Option<(Computed, u64, Instant)> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.get(key)
            .filter(|kept| kept.at.elapsed() < REUSE_FOR)
            .map(|kept| (kept.computed.clone(), kept.version, kept.at))
    }

    fn keep(&self, key: String, computed: &Computed, version: u64) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.retain(|_, kept| kept.at.elapsed() < REUSE_FOR);
        if kept.len() >= MAX_KEPT {
            kept.clear();
        }
        kept.insert(
            key,
            Kept {
                computed: computed.clone(),
                at: Instant::now(),
                version,
            },
        );
    }
}
