//! Replaying call history: platform records in, the engine's answers and a report
//! out, pure like the rest of the core.
//!
//! One file per concern: [`event`] (what a record becomes), one parser per
//! format ([`native`], [`connect`], [`twilio`], [`genesys`], [`asterisk`]),
//! [`detect`] (which format a file is), [`replayer`] (event-time order, the
//! engine, closing idle calls), [`report`] (the numbers, through `core::stats`)
//! and [`compare`] (what a rules change would change). The shell (`src/replay/`)
//! reads files, decompresses, frames records and prints; it must not judge.

pub mod asterisk;
pub mod compare;
pub mod connect;
pub mod detect;
pub mod event;
pub mod genesys;
pub mod native;
pub mod replayer;
pub mod report;
pub mod twilio;

pub use compare::Comparison;
pub use detect::{InputFormat, detect};
pub use event::{EventKind, HistoryEvent, Origin, Problem, ProblemKind, RecordError};
pub use replayer::{CLOSE_MARGIN, Finished, ReplayConfig, Replayer};
pub use report::Report;
