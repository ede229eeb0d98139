//! Property tests (filled in on another branch).
