//! Rule tests: a routing designer states what the rules must do ("a reconnect call
//! from customer service ends in activations"; "this ping-pong is blocked") and
//! `loopguard test` proves it, the way `promtool test rules` does for alerts.
//!
//! [`parse`] reads test files into validated tests (problems in a test file are
//! lint-style diagnostics with spans), [`run`] runs them through the same
//! `Rules::route` query as `loopguard route` and through the real chain engine, and
//! [`coverage`] says which transfers and intents no test exercised. Pure: the CLI
//! reads the files and prints.

pub mod coverage;
pub mod parse;
pub mod run;

pub use coverage::{Coverage, coverage};
pub use parse::{ChainHop, ChainTest, RouteTest, RuleTest, TestKind, parse_tests};
pub use run::{Failure, TestResult, run_tests};
