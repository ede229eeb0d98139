//! Helpers shared by the test modules: where the repository is, and how to lint a
//! fixture through the library exactly as the CLI would (paths relative to the
//! repository root).

use std::path::{Path, PathBuf};

use loopguard::core::lint::{LintReport, lint};
use loopguard::core::source::SourceFile;

/// The repository root; fixture paths in expected outputs are relative to it.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Reads a fixture given relative to the repository root: a file, or every `*.toml`
/// file below a directory sorted by path (as `loopguard lint DIR` reads one).
pub fn fixture_sources(relative: &str) -> Vec<SourceFile> {
    let absolute = repo_root().join(relative);
    let mut files = Vec::new();
    if absolute.is_dir() {
        collect_toml_files(&absolute, &mut files);
        files.sort();
    } else {
        files.push(absolute);
    }
    assert!(!files.is_empty(), "fixture `{relative}` has no *.toml file");
    files
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
            SourceFile::from_bytes(relative_path(path), &bytes)
        })
        .collect()
}

/// Lints a fixture through the library.
pub fn lint_fixture(relative: &str) -> (Vec<SourceFile>, LintReport) {
    let sources = fixture_sources(relative);
    let report = lint(&sources);
    (sources, report)
}

/// `path` relative to the repository root, with `/` separators.
pub fn relative_path(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn collect_toml_files(directory: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(directory)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", directory.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect_toml_files(&path, files);
        } else if path
            .extension()
            .is_some_and(|extension| extension == "toml")
        {
            files.push(path);
        }
    }
}
