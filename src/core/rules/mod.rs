//! The routing-rules format: raw TOML mirror ([`raw`]), the tolerant parser that
//! reports every problem ([`parse`]), and the validated model everything else uses
//! ([`model`]).

pub mod model;
pub mod parse;
pub mod raw;

pub use model::{
    Action, Department, DepartmentId, Intent, Policy, PolicyMode, Rules, RuntimeCode, Transfer,
    TransferMode,
};
pub use parse::load_rules;
