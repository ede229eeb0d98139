//! Where the dashboard's views are computed: off the async workers the webhook needs,
//! on a thread of the dashboard's own at the lowest CPU priority (nice 19, on Linux),
//! so that on a busy core the webhook's threads run first; one view at a time however
//! many pages are open, and each response reused for up to a second while the
//! statistics have not changed, and for
//! [`ALWAYS_REUSE_FOR`] even when they have: however many dashboards reload, a view is
//! computed at most four times a second. A page refreshes after an event no sooner than
//! that (see `assets/dashboard.js`), so it still shows the event.
//!
//! A view reads the store's statistics index (see `store::StatsKeeper`), which the
//! writer never waits on; this module bounds the CPU the dashboard takes besides.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, oneshot};

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

/// A view's computation, run on the dashboard's thread.
type Job = Box<dyn FnOnce() + Send>;

/// The dashboard thread's nice value: the lowest priority, about 1.5% of a core the
/// webhook also wants (at 0 the views' computations moved the webhook's p99 at 1,000
/// events/s by 1.8–2.1×, at 10 by 1.0–2.6×, at 19 by 1.3–1.6×: `cargo bench --bench
/// dashboard_load`). A view then waits while the webhook keeps the core busy.
const NICENESS: i32 = 19;

/// The gate, the reuse cache and the thread of one router's dashboard.
pub struct ViewComputer {
    gate: Semaphore,
    kept: Mutex<HashMap<String, Kept>>,
    /// Started by the first view, so it is started by (and shares the CPU affinity
    /// of) the server's runtime; it ends when this is dropped.
    thread: OnceLock<mpsc::Sender<Job>>,
}

impl Default for ViewComputer {
    fn default() -> Self {
        Self {
            gate: Semaphore::new(1),
            kept: Mutex::new(HashMap::new()),
            thread: OnceLock::new(),
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
        let (reply, answer) = oneshot::channel();
        self.run(Box::new(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                compute_view(&state, kept_before, compute)
            }));
            // The request may have gone away; nobody then needs the view.
            let _ = reply.send(outcome);
        }));
        let (computed, version, reused) = match answer.await {
            Ok(Ok(Some(result))) => result,
            // `read_stats` runs its closure exactly once; not running it is a store bug.
            Ok(Ok(None)) => panic!("CallStore::read_stats did not run the view's computation"),
            // A panic in a computation is a bug: let it take this request down too.
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => panic!("the dashboard's thread stopped"),
        };
        if !reused {
            self.keep(key, &computed, version);
        }
        computed
    }

    /// Runs `job` on the dashboard's thread, starting it first if need be.
    fn run(&self, job: Job) {
        let sender = self.thread.get_or_init(start_thread);
        if let Err(mpsc::SendError(job)) = sender.send(job) {
            // The thread is gone (it only ends when its sender is dropped, so this
            // means it could not be started): run the view here rather than not at all.
            job();
        }
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

/// Computes a view from the statistics index, or reuses `kept_before` when the index
/// has not changed since it was computed; `None` only if the store never ran the read.
fn compute_view(
    state: &AppState,
    kept_before: Option<(Computed, u64, Instant)>,
    compute: impl FnOnce(&StatsIndex) -> Computed,
) -> Option<(Computed, u64, bool)> {
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
}

/// Starts the dashboard's thread at a lower CPU priority; it runs jobs until every
/// sender is gone.
fn start_thread() -> mpsc::Sender<Job> {
    let (sender, jobs) = mpsc::channel::<Job>();
    let started = std::thread::Builder::new()
        .name("dashboard".to_owned())
        .spawn(move || {
            lower_priority();
            for job in jobs {
                job();
            }
        });
    if let Err(error) = started {
        tracing::warn!(%error, "cannot start the dashboard's thread; views are computed on the async workers");
    }
    sender
}

/// Lowers the calling thread's CPU priority (on Linux the nice value is a thread's,
/// not the process's). Raising it back would need privileges, hence a thread of its
/// own. Elsewhere the thread keeps the server's priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let lowered =
            rustix::process::setpriority_process(Some(rustix::thread::gettid()), NICENESS);
        if let Err(error) = lowered {
            tracing::debug!(%error, "cannot lower the dashboard thread's priority");
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn views_run_on_a_thread_of_their_own_at_the_lowest_priority() {
        let jobs = start_thread();
        let (reply, answer) = mpsc::channel();
        jobs.send(Box::new(move || {
            let thread = rustix::thread::gettid();
            let name = std::thread::current().name().map(str::to_owned);
            let _ = reply.send((name, rustix::process::getpriority_process(Some(thread))));
        }))
        .unwrap();
        let (name, priority) = answer.recv().unwrap();
        assert_eq!(name.as_deref(), Some("dashboard"));
        assert_eq!(priority.unwrap(), NICENESS);
        // The server's own threads keep their priority.
        let here = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        assert!(here < NICENESS, "{here}");
    }
}
