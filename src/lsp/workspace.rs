//! The documents the editor has open and the configurations they belong to: a
//! rules file's configuration is the `*.toml` files of its directory and the
//! directories below it (as `loopguard lint DIR` reads them), with the editor's
//! unsaved text in place of the file on disk. Each configuration is linted as a
//! whole, so findings that span files (a duplicate id, an unknown department)
//! appear in every file they concern.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::core::diagnostic::{Diagnostic, sort_diagnostics};
use crate::core::ide::SymbolIndex;
use crate::core::lint::{DEFAULT_MAX_FINDINGS_PER_FILE, OmittedFindings, lint};
use crate::core::rules::Rules;
use crate::core::source::{SourceFile, SourceId};
use crate::rules_files::{self, MAX_RULES_FILE_BYTES};

/// A document the editor has open.
#[derive(Debug)]
pub struct Document {
    pub text: String,
    pub version: i32,
}

/// One linted configuration.
#[derive(Debug, Default)]
pub struct Configuration {
    /// The files, in the order lint read them; `sources[i]` is `paths[i]`.
    pub paths: Vec<PathBuf>,
    pub sources: Vec<SourceFile>,
    pub rules: Rules,
    pub symbols: SymbolIndex,
    /// Per file (index into `paths`): its findings, capped, and what the cap left out.
    pub findings: Vec<(Vec<Diagnostic>, Option<OmittedFindings>)>,
    /// Files too large to lint, with their size.
    pub too_large: Vec<(PathBuf, u64)>,
}

impl Configuration {
    pub fn source_of(&self, path: &Path) -> Option<SourceId> {
        self.paths
            .iter()
            .position(|candidate| candidate == path)
            .map(SourceId)
    }
}

/// Whether a text is a rules file rather than some other TOML file (a test file,
/// `Cargo.toml`): it has a rules table, or nothing at all yet.
pub fn looks_like_rules(text: &str) -> bool {
    let meaningful = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'));
    let Some(_) = meaningful else {
        return true;
    };
    text.lines().map(str::trim).any(|line| {
        [
            "[[department]]",
            "[[transfer]]",
            "[[intent]]",
            "[policy]",
            "[policy.actions]",
        ]
        .iter()
        .any(|header| line.starts_with(header))
    })
}

/// The configuration directory of a rules file.
pub fn root_of(path: &Path) -> Option<PathBuf> {
    path.parent().map(Path::to_path_buf)
}

/// Reads and lints the configuration in `root`, open documents in place of their
/// files. Files that cannot be read are left out (the editor shows the others).
pub fn lint_configuration(root: &Path, documents: &BTreeMap<PathBuf, Document>) -> Configuration {
    let mut paths: Vec<PathBuf> = rules_files::rules_file_paths(root).unwrap_or_default();
    for path in documents.keys() {
        if path.starts_with(root)
            && path
                .extension()
                .is_some_and(|extension| extension == "toml")
            && !paths.contains(path)
        {
            paths.push(path.clone());
        }
    }
    paths.sort();
    let mut configuration = Configuration::default();
    for path in paths {
        let source = match documents.get(&path) {
            Some(document) => {
                let size = document.text.len() as u64;
                if size > MAX_RULES_FILE_BYTES {
                    configuration.too_large.push((path, size));
                    continue;
                }
                SourceFile::new(path.to_string_lossy(), document.text.clone())
            }
            None => match rules_files::read_sources(std::slice::from_ref(&path)) {
                Ok(mut sources) if sources.len() == 1 => sources.remove(0),
                _ => continue,
            },
        };
        configuration.paths.push(path);
        configuration.sources.push(source);
    }
    let report = lint(&configuration.sources);
    let mut diagnostics = report.diagnostics;
    sort_diagnostics(&mut diagnostics);
    let (shown, omitted) =
        crate::core::lint::cap_per_file(diagnostics, DEFAULT_MAX_FINDINGS_PER_FILE);
    configuration.findings = vec![(Vec::new(), None); configuration.paths.len()];
    for diagnostic in shown {
        configuration.findings[diagnostic.primary.source.0]
            .0
            .push(diagnostic);
    }
    for file in omitted {
        configuration.findings[file.source.0].1 = Some(file);
    }
    configuration.symbols = SymbolIndex::build(&report.rules);
    configuration.rules = report.rules;
    configuration
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_files_are_told_from_other_toml_files() {
        assert!(looks_like_rules(""));
        assert!(looks_like_rules("# rules to come\n"));
        assert!(looks_like_rules("[[department]]\nid = \"a\"\n"));
        assert!(looks_like_rules("  [policy]\nmax_hops = 3\n"));
        assert!(!looks_like_rules("[package]\nname = \"x\"\n"));
        assert!(!looks_like_rules("[[test]]\nname = \"x\"\n"));
    }
}
