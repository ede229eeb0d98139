//! Rules source files held in memory, and byte offset → line/column translation.
//!
//! The core never reads files: the CLI or the server reads them and hands the text
//! over as [`SourceFile`]s. Every span in a diagnostic is a byte range into one of them.

use std::borrow::Cow;

/// Index of a [`SourceFile`] in the list handed to the linter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceId(pub usize);

/// One rules file: the path as the user should see it, and its full text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path shown in diagnostics, relative to where the user ran the command when possible.
    pub path: String,
    /// The whole file, already decoded as UTF-8.
    pub text: String,
    line_starts: Vec<usize>,
    /// Byte offset of the first invalid UTF-8 sequence when built with [`SourceFile::from_bytes`].
    pub invalid_utf8_at: Option<usize>,
}

/// A 1-based line and column; columns count Unicode scalar values, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineColumn {
    pub line: usize,
    pub column: usize,
}

impl SourceFile {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(index, _)| index + 1))
            .collect();
        Self {
            path: path.into(),
            text,
            line_starts,
            invalid_utf8_at: None,
        }
    }

    /// A file read as bytes. Invalid UTF-8 is replaced (so positions still make sense
    /// for display) and remembered, so the linter can report it instead of parsing.
    /// Owned bytes are taken over without a copy.
    pub fn from_bytes<'a>(path: impl Into<String>, bytes: impl Into<Cow<'a, [u8]>>) -> Self {
        match String::from_utf8(bytes.into().into_owned()) {
            Ok(text) => Self::new(path, text),
            Err(error) => {
                let valid_up_to = error.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(error.as_bytes()).into_owned();
                let mut file = Self::new(path, text);
                file.invalid_utf8_at = Some(valid_up_to);
                file
            }
        }
    }

    /// The 1-based line and column of a byte offset. Offsets past the end clamp to
    /// the end, and offsets inside a multi-byte character count as that character.
    pub fn line_column(&self, offset: usize) -> LineColumn {
        let offset = offset.min(self.text.len());
        let line_index = match self.line_starts.binary_search(&offset) {
            Ok(index) => index,
            Err(index) => index - 1,
        };
        let line_start = self.line_starts[line_index];
        let column = self.text[line_start..floor_char_boundary(&self.text, offset)]
            .chars()
            .count()
            + 1;
        LineColumn {
            line: line_index + 1,
            column,
        }
    }

    /// The 1-based line number of a byte offset (a binary search: unlike
    /// [`SourceFile::line_column`] it does not count the characters of the line).
    pub fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        match self.line_starts.binary_search(&offset) {
            Ok(index) => index + 1,
            Err(index) => index,
        }
    }

    /// Number of lines in the file (an empty file has one empty line).
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// The text of a 1-based line without its line terminator.
    pub fn line_text(&self, line: usize) -> &str {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else {
            return "";
        };
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    /// Byte offset of the start of a 1-based line.
    pub fn line_start(&self, line: usize) -> usize {
        self.line_starts
            .get(line.wrapping_sub(1))
            .copied()
            .unwrap_or(self.text.len())
    }
}

/// The largest char boundary at or below `offset`.
pub fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_lines_and_character_columns() {
        let file = SourceFile::new("a.toml", "ab\nçd\n");
        assert_eq!(file.line_column(0), LineColumn { line: 1, column: 1 });
        assert_eq!(file.line_column(3), LineColumn { line: 2, column: 1 });
        // 'ç' is two bytes: the byte after it is the second character column.
        assert_eq!(file.line_column(5), LineColumn { line: 2, column: 2 });
        assert_eq!(file.line_column(4), LineColumn { line: 2, column: 1 });
        assert_eq!(file.line_column(99), LineColumn { line: 3, column: 1 });
        assert_eq!(file.line_text(2), "çd");
        assert_eq!(file.line_text(7), "");
    }
}
