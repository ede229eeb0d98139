//! What an editor asks about rules files, answered from the validated model and
//! the text: which department or intent is under the cursor and where it is
//! declared ([`symbols`]), what to say about it on hover ([`hover`]), and what may
//! be typed at the cursor ([`complete`]). Pure and protocol-free: byte offsets in,
//! text and spans out; the `lsp` shell speaks LSP.

pub mod complete;
pub mod hover;
pub mod symbols;

pub use complete::{Completion, CompletionKind, completions};
pub use hover::{hover_code, hover_symbol};
pub use symbols::{Symbol, SymbolIndex};
