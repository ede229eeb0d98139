//! The routing-rules format: raw TOML mirror ([`raw`]), the tolerant parser that
//! reports every problem ([`parse`]), validated ids ([`ids`]), platform identities and aliases ([`identity`]), the policy
//! ([`policy`]), the validated model everything else uses ([`model`]) and routing
//! over it ([`route`]).

pub mod identity;
pub mod ids;
pub mod model;
pub mod parse;
pub mod policy;
pub mod raw;
pub mod route;
pub mod sections;

pub use identity::{Alias, AliasError, SipAddress, SipAddressError, looks_like_sip};
pub use ids::{DepartmentId, IdError, Intent, Suggestions, did_you_mean};
pub use model::{Department, IntentDeclaration, Origin, RawPieces, Rules, Transfer};
pub use parse::{Parsing, load_rules, load_rules_with};
pub use policy::{Action, Actions, Policy, PolicyMode, RuntimeCode, TransferMode, parse_window};
pub use route::Route;
