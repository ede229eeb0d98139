//! LSP positions (0-based line, character in the negotiated encoding's code units)
//! and file URIs, to and from the byte offsets and paths the core uses.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use lsp_types::{Position, Range, Uri};

use crate::core::diagnostic::Span;
use crate::core::source::SourceFile;

/// How a position's `character` counts: UTF-16 code units (the LSP default) or
/// bytes (when the client offers UTF-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
}

impl Encoding {
    fn units(self, character: char) -> usize {
        match self {
            Encoding::Utf8 => character.len_utf8(),
            Encoding::Utf16 => character.len_utf16(),
        }
    }
}

/// The byte offset of a position; positions past a line's end clamp to it, lines
/// past the end of the file to the end of the file.
pub fn offset(file: &SourceFile, position: Position, encoding: Encoding) -> usize {
    let line = position.line as usize + 1;
    if line > file.line_count() {
        return file.text.len();
    }
    let start = file.line_start(line);
    let mut units = 0;
    for (index, character) in file.line_text(line).char_indices() {
        if units >= position.character as usize {
            return start + index;
        }
        units += encoding.units(character);
    }
    start + file.line_text(line).len()
}

pub fn position(file: &SourceFile, offset: usize, encoding: Encoding) -> Position {
    let offset = crate::core::source::floor_char_boundary(&file.text, offset);
    let line = file.line_of(offset);
    let start = file.line_start(line);
    let character: usize = file.text[start..offset]
        .chars()
        .map(|character| encoding.units(character))
        .sum();
    Position::new(
        u32::try_from(line - 1).unwrap_or(u32::MAX),
        u32::try_from(character).unwrap_or(u32::MAX),
    )
}

pub fn range(file: &SourceFile, span: Span, encoding: Encoding) -> Range {
    Range::new(
        position(file, span.start, encoding),
        position(file, span.end, encoding),
    )
}

/// The path of a `file:` URI.
pub fn path_of(uri: &Uri) -> Option<PathBuf> {
    url::Url::parse(uri.as_str()).ok()?.to_file_path().ok()
}

/// The `file:` URI of an absolute path.
pub fn uri_of(path: &Path) -> Option<Uri> {
    let url = url::Url::from_file_path(path).ok()?;
    Uri::from_str(url.as_str()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_count_in_the_negotiated_encoding() {
        // 'é' is two bytes and one UTF-16 unit; '𝄞' four bytes and two units.
        let file = SourceFile::new("r.toml", "a = 1\nname = \"é𝄞x\"\n");
        let x = file.text.find('x').expect("x");
        assert_eq!(position(&file, x, Encoding::Utf16), Position::new(1, 11));
        assert_eq!(position(&file, x, Encoding::Utf8), Position::new(1, 14));
        assert_eq!(offset(&file, Position::new(1, 11), Encoding::Utf16), x);
        assert_eq!(offset(&file, Position::new(1, 14), Encoding::Utf8), x);
        assert_eq!(offset(&file, Position::new(0, 99), Encoding::Utf16), 5);
        assert_eq!(
            offset(&file, Position::new(9, 0), Encoding::Utf16),
            file.text.len()
        );
    }

    #[test]
    fn file_uris_and_paths_round_trip() {
        let path = Path::new("/tmp/routing rules/transfers.toml");
        let uri = uri_of(path).expect("a URI");
        assert_eq!(uri.as_str(), "file:///tmp/routing%20rules/transfers.toml");
        assert_eq!(path_of(&uri).as_deref(), Some(path));
    }
}
