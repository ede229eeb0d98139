//! Shell: finds and reads rules files from disk and hands their text to the core.

use std::path::{Path, PathBuf};

use crate::core::diagnostic::{Diagnostic, Severity};
use crate::core::lint::lint;
use crate::core::rules::Rules;
use crate::core::source::SourceFile;

/// Why rules could not be read at all (as opposed to findings inside them).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "`{path}` contains no *.toml files; point at a rules directory such as `routing-rules/`"
    )]
    NoRulesFiles { path: String },
    #[error("`{path}` is {size} bytes; rules files larger than {limit} bytes are refused")]
    TooLarge { path: String, size: u64, limit: u64 },
}

/// Rules files larger than this are refused rather than parsed.
pub const MAX_RULES_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The `*.toml` files of a directory (recursively, sorted by path), or the file
/// itself when `path` is a file.
pub fn rules_file_paths(path: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let metadata = std::fs::metadata(path).map_err(|source| ReadError::Io {
        path: display_path(path),
        source,
    })?;
    if metadata.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    collect_toml_files(path, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(ReadError::NoRulesFiles {
            path: display_path(path),
        });
    }
    Ok(files)
}

fn collect_toml_files(directory: &Path, files: &mut Vec<PathBuf>) -> Result<(), ReadError> {
    let io_error = |source| ReadError::Io {
        path: display_path(directory),
        source,
    };
    for entry in std::fs::read_dir(directory).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(io_error)?;
        if file_type.is_dir() {
            collect_toml_files(&path, files)?;
        } else if path
            .extension()
            .is_some_and(|extension| extension == "toml")
        {
            files.push(path);
        }
    }
    Ok(())
}

/// Reads the files as bytes (invalid UTF-8 becomes a finding, not an error).
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<SourceFile>, ReadError> {
    paths
        .iter()
        .map(|path| {
            let display = display_path(path);
            let size = std::fs::metadata(path)
                .map_err(|source| ReadError::Io {
                    path: display.clone(),
                    source,
                })?
                .len();
            if size > MAX_RULES_FILE_BYTES {
                return Err(ReadError::TooLarge {
                    path: display,
                    size,
                    limit: MAX_RULES_FILE_BYTES,
                });
            }
            let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
                path: display.clone(),
                source,
            })?;
            Ok(SourceFile::from_bytes(display, &bytes))
        })
        .collect()
}

/// Reads one rules directory (or file) into sources.
pub fn read_rules(path: &Path) -> Result<Vec<SourceFile>, ReadError> {
    read_sources(&rules_file_paths(path)?)
}

/// Why rules could not be put to use.
#[derive(Debug)]
pub enum LoadFailure {
    /// The files could not be read at all.
    Unreadable(ReadError),
    /// The files were read, and lint found errors in them.
    Findings {
        sources: Vec<SourceFile>,
        errors: Vec<Diagnostic>,
    },
}

/// Reads and lints a rules directory (or file): the rules, only when lint finds no
/// error. The one way `serve`, its reloads and `route` load rules.
pub fn load_clean_rules(path: &Path) -> Result<Rules, LoadFailure> {
    let sources = read_rules(path).map_err(LoadFailure::Unreadable)?;
    let report = lint(&sources);
    if report.has_errors() {
        let errors = report
            .diagnostics
            .into_iter()
            .filter(|diagnostic| diagnostic.severity == Severity::Error)
            .collect();
        return Err(LoadFailure::Findings { sources, errors });
    }
    Ok(report.rules)
}

/// The path relative to the working directory when it is below it, with `/`.
pub fn display_path(path: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|current| path.strip_prefix(&current).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf());
    relative.to_string_lossy().replace('\\', "/")
}
