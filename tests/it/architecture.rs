//! Architecture invariant: `src/core/` is pure. It takes data and returns data, so
//! no file below it may use async runtimes, HTTP, the filesystem, the network, the
//! clock or the environment.

use std::path::{Path, PathBuf};

use crate::support::{relative_path, repo_root};

/// What a core file must not mention, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("tokio", "async runtime"),
    ("axum", "HTTP server"),
    ("std::fs", "filesystem"),
    ("std::net", "network"),
    ("std::time::SystemTime", "clock (pass `now` in)"),
    ("SystemTime::now", "clock (pass `now` in)"),
    ("Instant::now", "clock (pass `now` in)"),
    ("std::env", "environment"),
];

fn rust_files(directory: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(directory).expect("list src/core") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
}

/// Occurrences of forbidden names in the code of `text` (comments may name them),
/// as `line N: name (reason)`. A `use std::{fs, ...}` group is caught by also
/// looking for `std::{` lines naming those modules.
fn violations(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split("//").next().unwrap_or_default();
        for (name, reason) in FORBIDDEN {
            if line.contains(name) {
                found.push(format!("line {}: `{name}` ({reason})", number + 1));
            }
        }
        let grouped = line.contains("std::{");
        for module in ["fs", "net", "env"] {
            let mentioned = line
                .split(|character: char| !character.is_alphanumeric() && character != '_')
                .any(|word| word == module);
            if grouped && mentioned {
                found.push(format!("line {}: `std::{{{module}}}` import", number + 1));
            }
        }
    }
    found
}

#[test]
fn core_modules_never_touch_io_async_clock_or_environment() {
    let mut files = Vec::new();
    rust_files(&repo_root().join("src/core"), &mut files);
    assert!(files.len() >= 5, "src/core looks empty: {files:?}");
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read core file");
        for violation in violations(&text) {
            problems.push(format!("{}: {violation}", relative_path(&file)));
        }
    }
    assert!(
        problems.is_empty(),
        "src/core must stay pure (see src/core/mod.rs):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_purity_check_catches_each_forbidden_import() {
    for (name, _) in FORBIDDEN {
        let text = format!("use {name};\n");
        assert!(!violations(&text).is_empty(), "`{name}` not caught");
    }
    assert!(!violations("use std::{collections::HashMap, fs};").is_empty());
    assert!(!violations("let handle = tokio::spawn(work);").is_empty());
    assert!(violations("use std::collections::HashMap;\nlet offset = 3;").is_empty());
    assert!(violations("//! The core never uses tokio or std::fs.").is_empty());
}
