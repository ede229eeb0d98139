//! The one integration-test binary (see STYLE.md §6): every module below links
//! against the library once.

mod serve_binary;
mod support;
mod webhook;
