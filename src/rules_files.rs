//! Shell: finds and reads rules files from disk and hands their text to the core.
//!
//! Only regular files are read (a FIFO would block, `/dev/zero` never ends), opened
//! without blocking and capped while reading. Directories whose names start with a
//! dot are skipped, and each file is read once however many symlinks lead to it: a
//! Kubernetes ConfigMap volume links every `x.toml` to `..data/x.toml`, and `..data`
//! to a `..<timestamp>` directory.

use std::collections::HashSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::core::diagnostic::{Diagnostic, Severity};
use crate::core::lint::{DEFAULT_MAX_FINDINGS_PER_FILE, OmittedFindings, cap_per_file, lint};
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
    #[error("`{path}` is larger than {limit} bytes; rules files that large are refused")]
    TooLarge { path: String, limit: u64 },
    #[error(
        "`{path}` is {kind}, not a regular file; a rules directory may only hold regular `*.toml` files (or symlinks to them)"
    )]
    NotARegularFile { path: String, kind: &'static str },
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
    if !metadata.is_dir() {
        // A file (or anything else, which reading then refuses with its kind).
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    collect_toml_files(path, &mut files)?;
    files.sort();
    // One read per file: symlinks (a ConfigMap's, or anyone's) may lead to one file
    // from several names; the first name in sorted order is the one reported.
    let mut seen = HashSet::new();
    files.retain(|file| seen.insert(std::fs::canonicalize(file).unwrap_or_else(|_| file.clone())));
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
        // `..data`, `..2024_…` (ConfigMap volumes), `.git`, editors' swap files.
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        // Not followed: a symlinked directory is not descended into (no loops).
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
            let bytes = read_regular_file(path, &display, MAX_RULES_FILE_BYTES)?;
            Ok(SourceFile::from_bytes(display, &bytes))
        })
        .collect()
}

/// Reads a regular file of at most `limit` bytes. It is opened without blocking (a
/// FIFO swapped in after any check cannot hang the open), its type is checked on the
/// open file, and the cap is enforced on the bytes read, not on the size the file
/// claims (`/proc` files claim 0).
fn read_regular_file(path: &Path, display: &str, limit: u64) -> Result<Vec<u8>, ReadError> {
    let io_error = |source| ReadError::Io {
        path: display.to_owned(),
        source,
    };
    let file = open_nonblocking(path).map_err(io_error)?;
    let file_type = file.metadata().map_err(io_error)?.file_type();
    if !file_type.is_file() {
        return Err(ReadError::NotARegularFile {
            path: display.to_owned(),
            kind: kind_of(file_type),
        });
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            path: display.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

fn kind_of(file_type: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
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
        /// At most `DEFAULT_MAX_FINDINGS_PER_FILE` errors per file…
        errors: Vec<Diagnostic>,
        /// …and, per file, how many more there were.
        omitted: Vec<OmittedFindings>,
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
        // A pathological file must not turn into a log line or a `/readyz` body
        // the size of its findings: the same per-file cap as `lint`.
        let (errors, omitted) = cap_per_file(errors, DEFAULT_MAX_FINDINGS_PER_FILE);
        return Err(LoadFailure::Findings {
            sources,
            errors,
            omitted,
        });
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
