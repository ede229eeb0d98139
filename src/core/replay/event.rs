//! What a history record becomes: events for the engine, each with the time it
//! happened and the place in the input it came from.

use jiff::Timestamp;

use crate::core::engine::{CallId, CallbackRequest, EndRequest, TransferRequest};

/// Where a record is: the input (an index into the replay's list of inputs) and
/// its 1-based line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    pub input: u32,
    pub line: u64,
}

/// One event of a call's history, in the engine's own terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A transfer that happened. `occurred_at` is always set.
    Transfer(TransferRequest),
    /// The call ended.
    End(EndRequest),
    /// Someone marked the callback owed after a dropped transfer.
    Callback(CallbackRequest),
    /// The call exists (it may never be transferred): counted among the calls.
    Seen(CallId),
}

/// An event with its event time and origin, as the replayer orders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEvent {
    pub at: Timestamp,
    pub origin: Origin,
    pub kind: EventKind,
}

impl HistoryEvent {
    pub fn call_id(&self) -> &CallId {
        match &self.kind {
            EventKind::Transfer(request) => &request.call_id,
            EventKind::End(request) => &request.call_id,
            EventKind::Callback(request) => &request.call_id,
            EventKind::Seen(call_id) => call_id,
        }
    }
}

/// Why a record was skipped: what was wrong and what to do. The shell adds the
/// file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RecordError {
    pub message: String,
}

impl RecordError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// A problem found at a place in the input, for the shell to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub origin: Origin,
    pub kind: ProblemKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The record, or the transfer it describes, was not replayed.
    Skipped,
    /// The record came later than the reorder window allows; it was replayed.
    Late,
}

impl Problem {
    pub fn skipped(origin: Origin, message: impl Into<String>) -> Self {
        Self {
            origin,
            kind: ProblemKind::Skipped,
            message: message.into(),
        }
    }
}

/// Parses an RFC 3339 time, naming the field when it is not one.
pub fn parse_time(text: &str, field: &str) -> Result<Timestamp, RecordError> {
    text.parse::<Timestamp>().map_err(|_| {
        RecordError::new(format!(
            "{field}: `{text}` is not an RFC 3339 time with an offset (e.g. 2026-11-22T08:00:00Z)"
        ))
    })
}
