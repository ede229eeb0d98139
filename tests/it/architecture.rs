//! Architecture invariants, checked on the source text:
//! - `src/core/` is pure: no file below it may use async runtimes, HTTP, the
//!   filesystem, the network, the clock or the environment;
//! - the top-level modules are layered without import cycles, each importing only
//!   the modules ARCHITECTURE.md allows;
//! - the wall clock is read in `src/clock.rs` only.

use std::collections::{BTreeMap, BTreeSet};
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
    ("Timestamp::now", "clock (pass `now` in)"),
    ("Zoned::now", "clock (pass `now` in)"),
    ("jiff::now", "clock (pass `now` in)"),
    ("std::env", "environment"),
];

fn rust_files(directory: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(directory).expect("list a source directory") {
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

/// Who may import whom: each top-level module of `src/` and the modules it may
/// use. The same table is in ARCHITECTURE.md ("Layers"); a module missing here
/// fails the test, so a new one has to be placed in a layer.
const LAYERS: &[(&str, &[&str])] = &[
    ("core", &[]),
    ("render", &["core"]),
    ("rules_files", &["core"]),
    ("clock", &[]),
    ("exit", &[]),
    ("metrics", &["core"]),
    ("store", &["core", "clock", "exit", "metrics"]),
    ("http", &["core", "clock", "metrics", "store"]),
    ("integrations", &["core"]),
    ("replay", &["core", "exit", "rules_files", "store"]),
    (
        "webhook",
        &["core", "clock", "metrics", "store", "http", "integrations"],
    ),
    (
        "dashboard",
        &[
            "core", "render", "clock", "metrics", "store", "http", "webhook",
        ],
    ),
    (
        "server",
        &[
            "core",
            "render",
            "rules_files",
            "clock",
            "exit",
            "metrics",
            "store",
            "http",
            "integrations",
            "webhook",
            "dashboard",
        ],
    ),
    ("lsp", &["core", "render", "rules_files"]),
    (
        "cli",
        &[
            "core",
            "render",
            "rules_files",
            "clock",
            "exit",
            "server",
            "replay",
            "lsp",
        ],
    ),
];

/// The top-level modules of `src/` (a `name.rs` or a `name/` directory) and the
/// files of each.
fn top_level_modules() -> BTreeMap<String, Vec<PathBuf>> {
    let source = repo_root().join("src");
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(&source).expect("list src") {
        let path = entry.expect("directory entry").path();
        let name = path
            .file_stem()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        if matches!(name.as_str(), "lib" | "main") {
            continue;
        }
        let mut files = Vec::new();
        if path.is_dir() {
            rust_files(&path, &mut files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        } else {
            continue;
        }
        modules.insert(name, files);
    }
    modules
}

/// The other top-level modules a file's code names through `crate::<module>`
/// (in paths and `use crate::{a, b}` groups; comments excluded).
fn imported_modules(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(position) = rest.find("crate::") {
            let after = &rest[position + "crate::".len()..];
            let names: Vec<&str> = match after.strip_prefix('{') {
                Some(group) => group
                    .split([',', '}'])
                    .map(|part| part.trim().split("::").next().unwrap_or_default())
                    .collect(),
                None => vec![
                    after
                        .split(|character: char| !character.is_alphanumeric() && character != '_')
                        .next()
                        .unwrap_or_default(),
                ],
            };
            for name in names {
                if modules.contains(name) {
                    found.insert(name.to_owned());
                }
            }
            rest = after;
        }
    }
    found
}

/// The import graph between top-level modules, from the source text.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = top_level_modules();
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(name, files)| {
            let mut imports = BTreeSet::new();
            for file in files {
                let text = std::fs::read_to_string(file).expect("read source file");
                imports.extend(imported_modules(&text, &names));
            }
            imports.remove(name);
            (name.clone(), imports)
        })
        .collect()
}

/// A cycle in the graph, as the list of modules around it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_owned(), Mark::Open);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let start = stack.iter().position(|entry| entry == next)?;
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(cycle) = visit(next, graph, marks, stack) {
                        return Some(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if marks.get(node).copied().unwrap_or(Mark::New) == Mark::New
            && let Some(cycle) = visit(node, graph, &mut marks, &mut Vec::new())
        {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn top_level_modules_import_each_other_without_cycles() {
    let graph = import_graph();
    assert!(graph.len() >= 8, "src/ looks empty: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "import cycle between top-level modules: {}",
            cycle.join(" → ")
        );
    }
}

#[test]
fn each_top_level_module_imports_only_the_layers_below_it() {
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut problems = Vec::new();
    for (module, imports) in import_graph() {
        let Some(permitted) = allowed.get(module.as_str()) else {
            problems.push(format!(
                "src/{module} is not in LAYERS (tests/it/architecture.rs) nor in ARCHITECTURE.md"
            ));
            continue;
        };
        for import in imports {
            if !permitted.contains(&import.as_str()) {
                problems.push(format!(
                    "`{module}` imports `{import}`, which its layer may not"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_cycle_check_finds_a_cycle_and_accepts_a_layering() {
    let graph = |edges: &[(&str, &str)]| {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            graph
                .entry((*from).to_owned())
                .or_default()
                .insert((*to).to_owned());
            graph.entry((*to).to_owned()).or_default();
        }
        graph
    };
    let cyclic = graph(&[
        ("server", "dashboard"),
        ("dashboard", "http"),
        ("http", "server"),
    ]);
    let cycle = find_cycle(&cyclic).expect("a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4, "{cycle:?}");
    let layered = graph(&[
        ("server", "dashboard"),
        ("dashboard", "http"),
        ("server", "http"),
    ]);
    assert_eq!(find_cycle(&layered), None);
    let names: BTreeSet<String> = ["http", "store", "core"].map(str::to_owned).into();
    assert_eq!(
        imported_modules(
            "use crate::{http::AppState, store};\nlet x = crate::core::lint(); // crate::server",
            &names
        ),
        names
    );
}

#[test]
fn the_wall_clock_is_read_only_in_the_clock_module() {
    let mut files = Vec::new();
    rust_files(&repo_root().join("src"), &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|file| !file.ends_with("src/clock.rs"))
        .filter(|file| {
            std::fs::read_to_string(file)
                .expect("read source file")
                .lines()
                .map(|line| line.split("//").next().unwrap_or_default())
                .any(|code| code.contains("Timestamp::now") || code.contains("SystemTime::now"))
        })
        .map(|file| relative_path(file))
        .collect();
    assert!(
        offenders.is_empty(),
        "read the time through crate::clock::Clock instead: {offenders:?}"
    );
}
