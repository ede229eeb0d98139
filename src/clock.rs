//! Shell: the one place that reads the wall clock.
//!
//! Everything else is handed a [`Clock`] (the server state, the stores) or a
//! `Timestamp` (the core), so tests can fix time and the core stays deterministic.

use std::sync::Arc;

use jiff::Timestamp;

/// Where "now" comes from: the system clock in production, a fixed or scripted
/// time in tests.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Timestamp + Send + Sync>);

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Self {
        Self(Arc::new(Timestamp::now))
    }

    /// Always the same time.
    pub fn fixed(at: Timestamp) -> Self {
        Self(Arc::new(move || at))
    }

    /// Any function of no arguments, e.g. a test's adjustable time.
    pub fn from_fn(now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    pub fn now(&self) -> Timestamp {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "Clock({})", self.now())
    }
}
