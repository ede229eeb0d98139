//! Splits a rules file into pieces the TOML parser can take one at a time: runs of
//! top-level `[[department]]`, `[[transfer]]` and `[[intent]]` tables, and the rest.
//!
//! The `toml` crate lexes a whole document into a token vector and an event vector
//! before it builds the table tree, about 25 bytes of memory per byte of input at
//! once. Parsing each run of array tables on its own (about [`CHUNK_BYTES`] at a
//! time) keeps those buffers small; the rest of the file (the "skeleton": `[policy]`,
//! unknown tables, top-level keys) is parsed as one document with the array tables
//! blanked out, so its offsets and its TOML semantics stay those of the whole file.
//! A small lexer with the token boundaries of the `toml` crate's own finds the
//! headers, so strings, comments and multi-line values that merely look like
//! headers are never mistaken for one.

use std::ops::Range;

/// Array tables are grouped into chunks of at least this many bytes.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// The top-level arrays of tables that may be parsed apart from the rest.
pub const SPLIT_ARRAYS: [&str; 3] = ["department", "transfer", "intent"];

/// How a file is cut up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sections {
    /// Byte ranges of runs of array tables, in file order; each starts at the start
    /// of a `[[department]]`, `[[transfer]]` or `[[intent]]` header line and ends at
    /// the start of a line.
    pub chunks: Vec<Range<usize>>,
}

impl Sections {
    /// The text outside the chunks, with the chunks blanked (same offsets, one line
    /// break kept per chunk so the next header starts a line) and the chunks at the
    /// end of the file left off. `None` when there are no chunks: the skeleton is the
    /// file itself.
    pub fn skeleton(&self, text: &str) -> Option<String> {
        let last = self.chunks.last()?;
        let length = if last.end == text.len() {
            last.start
        } else {
            text.len()
        };
        let mut bytes = text.as_bytes()[..length].to_vec();
        for chunk in &self.chunks {
            let end = chunk.end.min(length);
            if chunk.start >= end {
                continue;
            }
            let blank_end = if bytes[end - 1] == b'\n' {
                end - 1
            } else {
                end
            };
            bytes[chunk.start..blank_end].fill(b' ');
        }
        // Chunks start and end at line boundaries, so whole UTF-8 sequences were
        // replaced by ASCII spaces and the text is still UTF-8; the lossy fallback
        // only guards that reasoning.
        Some(
            String::from_utf8(bytes)
                .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()),
        )
    }
}

/// Finds the runs of top-level array tables of `text`, grouped into chunks of at
/// least `chunk_bytes` (the last one may be smaller).
pub fn split(text: &str, chunk_bytes: usize) -> Sections {
    let bytes = text.as_bytes();
    let mut sections: Vec<Range<usize>> = Vec::new();
    // The array the current section belongs to and where it started, while in one.
    let mut current: Option<(&str, usize)> = None;
    // Open `[` and `{` of values: a line break inside a value starts no new line.
    let mut depth = 0usize;
    let mut line_start = Some(0usize);
    let mut header: Vec<(Token, &str)> = Vec::new();
    let mut position = if bytes.starts_with(BOM) { BOM.len() } else { 0 };
    while position < bytes.len() {
        // Fast path: keys, values other than strings, `=`, `,`, `.` and blanks only
        // matter as "something other than a header is on this line".
        match bytes[position] {
            b' ' | b'\t' => {
                position = find_byte(bytes, position, |byte| byte != b' ' && byte != b'\t');
                continue;
            }
            byte if !is_structural(byte) => {
                line_start = None;
                position = find_byte(bytes, position, is_structural);
                continue;
            }
            _ => {}
        }
        let (kind, end) = next_token(bytes, position);
        match (line_start, kind) {
            (Some(_), Token::Whitespace | Token::Comment) => {}
            (Some(start), Token::LeftBracket) => {
                header.clear();
                let mut cursor = end;
                while cursor < bytes.len() {
                    let (kind, next) = next_token(bytes, cursor);
                    if kind == Token::Newline {
                        break;
                    }
                    if kind != Token::Whitespace {
                        header.push((kind, &text[cursor..next]));
                    }
                    cursor = next;
                }
                match classify(&header) {
                    Header::Array(name) => {
                        if let Some((_, begin)) = current.take() {
                            sections.push(begin..start);
                        }
                        current = Some((name, start));
                    }
                    Header::SubTableOf(name) if current.is_some_and(|(open, _)| open == name) => {}
                    Header::SubTableOf(_) | Header::Other => {
                        if let Some((_, begin)) = current.take() {
                            sections.push(begin..start);
                        }
                    }
                }
                line_start = None;
                position = cursor;
                continue;
            }
            (_, Token::Newline) => {
                if depth == 0 {
                    line_start = Some(end);
                }
            }
            (_, Token::LeftBracket | Token::LeftBrace) => {
                depth += 1;
                line_start = None;
            }
            (_, Token::RightBracket | Token::RightBrace) => {
                depth = depth.saturating_sub(1);
                line_start = None;
            }
            (None, Token::Whitespace | Token::Comment) => {}
            _ => line_start = None,
        }
        position = end;
    }
    if let Some((_, begin)) = current {
        sections.push(begin..text.len());
    }
    Sections {
        chunks: group(sections, chunk_bytes),
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The kinds of TOML tokens the split needs to tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    LeftBracket,
    RightBracket,
    LeftBrace,
    RightBrace,
    Dot,
    Whitespace,
    Comment,
    Newline,
    /// Any of the four string forms, whole (multi-line ones span lines).
    String,
    /// `=` or `,`.
    Punctuation,
    /// A bare key, number, date or anything else.
    Atom,
}

/// The token starting at `start` and where it ends. Token boundaries are those of
/// the `toml` crate's own lexer (`toml_parser`), including how it recovers from an
/// unterminated string; a unit test compares the two.
fn next_token(bytes: &[u8], start: usize) -> (Token, usize) {
    let rest = &bytes[start..];
    let find = |from: usize, predicate: fn(u8) -> bool| find_byte(rest, from, predicate);
    let (kind, length) = match rest[0] {
        b'[' => (Token::LeftBracket, 1),
        b']' => (Token::RightBracket, 1),
        b'{' => (Token::LeftBrace, 1),
        b'}' => (Token::RightBrace, 1),
        b'.' => (Token::Dot, 1),
        b'=' | b',' => (Token::Punctuation, 1),
        b'\n' => (Token::Newline, 1),
        b'\r' => (
            Token::Newline,
            if rest.get(1) == Some(&b'\n') { 2 } else { 1 },
        ),
        b' ' | b'\t' => (
            Token::Whitespace,
            find(1, |byte| byte != b' ' && byte != b'\t'),
        ),
        b'#' => (
            Token::Comment,
            find(1, |byte| byte == b'\r' || byte == b'\n'),
        ),
        b'\'' if rest.starts_with(b"\'\'\'") => {
            let end = find_slice(rest, 3, b"\'\'\'").map_or(rest.len(), |at| at + 3);
            (Token::String, extra_quotes(rest, end, b'\''))
        }
        b'\'' => {
            let end = find(1, |byte| byte == b'\'' || byte == b'\n');
            let closed = rest.get(end) == Some(&b'\'');
            (Token::String, if closed { end + 1 } else { end })
        }
        b'"' if rest.starts_with(b"\"\"\"") => {
            let mut cursor = 3;
            let end = loop {
                match rest[cursor..]
                    .iter()
                    .position(|&byte| byte == b'\\' || byte == b'"')
                {
                    None => break rest.len(),
                    Some(offset) => {
                        let at = cursor + offset;
                        if rest[at] == b'\\' {
                            cursor = at + 1;
                            if matches!(rest.get(cursor), Some(b'\\' | b'"')) {
                                cursor += 1;
                            }
                        } else if rest[at..].starts_with(b"\"\"\"") {
                            break at + 3;
                        } else {
                            cursor = at + 1;
                        }
                    }
                }
            };
            (Token::String, extra_quotes(rest, end, b'"'))
        }
        b'"' => {
            let mut cursor = 1;
            let end = loop {
                match rest[cursor..]
                    .iter()
                    .position(|&byte| byte == b'"' || byte == b'\\' || byte == b'\n')
                {
                    None => break rest.len(),
                    Some(offset) => {
                        let at = cursor + offset;
                        match rest[at] {
                            b'"' => break at + 1,
                            b'\n' => break at,
                            _ => {
                                cursor = at + 1;
                                if matches!(rest.get(cursor), Some(b'\\' | b'"')) {
                                    cursor += 1;
                                }
                            }
                        }
                    }
                }
            };
            (Token::String, end)
        }
        _ => (Token::Atom, find(1, ends_atom)),
    };
    (kind, start + length)
}

/// The first position at or after `from` whose byte matches, or the end.
#[inline]
fn find_byte(bytes: &[u8], from: usize, matches: impl Fn(u8) -> bool) -> usize {
    bytes[from..]
        .iter()
        .position(|&byte| matches(byte))
        .map_or(bytes.len(), |offset| from + offset)
}

/// The bytes the split must look at: string quotes, comments, brackets, blanks
/// and line breaks.
fn is_structural(byte: u8) -> bool {
    matches!(
        byte,
        b'"' | b'\'' | b'#' | b'[' | b']' | b'{' | b'}' | b' ' | b'\t' | b'\r' | b'\n'
    )
}

/// The bytes that end an atom: `.=,[]{}`, whitespace, `#` and line breaks.
fn ends_atom(byte: u8) -> bool {
    matches!(
        byte,
        b'.' | b'=' | b',' | b'[' | b']' | b'{' | b'}' | b' ' | b'\t' | b'#' | b'\r' | b'\n'
    )
}

/// A multi-line string's closing delimiter may be followed by up to two more quotes,
/// which belong to the string.
fn extra_quotes(rest: &[u8], mut end: usize, quote: u8) -> usize {
    for _ in 0..2 {
        if rest.get(end) == Some(&quote) {
            end += 1;
        }
    }
    end
}

fn find_slice(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack[from..]
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|offset| from + offset)
}

enum Header<'a> {
    /// `[[name]]` for one of [`SPLIT_ARRAYS`].
    Array(&'a str),
    /// `[name.…]` or `[[name.…]]`: belongs to the last `[[name]]` table.
    SubTableOf(&'a str),
    Other,
}

/// Classifies a header line from the tokens after its first `[` (whitespace left out).
fn classify<'a>(tokens: &[(Token, &'a str)]) -> Header<'a> {
    use Token::{Atom, Comment, Dot, LeftBracket as Open, RightBracket as Close};
    let array = tokens.first().is_some_and(|(kind, _)| *kind == Open);
    let inner = if array { &tokens[1..] } else { tokens };
    match inner {
        [(Atom, name), (Close, _), (Close, _), rest @ ..]
            if array
                && SPLIT_ARRAYS.contains(name)
                && rest.iter().all(|(kind, _)| *kind == Comment) =>
        {
            Header::Array(name)
        }
        [(Atom, name), (Dot, _), ..] if SPLIT_ARRAYS.contains(name) => Header::SubTableOf(name),
        _ => Header::Other,
    }
}

/// Joins adjacent sections into chunks of at least `chunk_bytes`.
fn group(sections: Vec<Range<usize>>, chunk_bytes: usize) -> Vec<Range<usize>> {
    let mut chunks: Vec<Range<usize>> = Vec::new();
    for section in sections {
        match chunks.last_mut() {
            Some(last) if last.end == section.start && last.len() < chunk_bytes => {
                last.end = section.end;
            }
            _ => chunks.push(section),
        }
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(text: &str) -> Vec<&str> {
        split(text, CHUNK_BYTES)
            .chunks
            .into_iter()
            .map(|range| &text[range])
            .collect()
    }

    #[test]
    fn array_tables_are_cut_from_the_rest() {
        let text = "[policy]\nmax_hops = 3\n\n[[department]]\nid = \"a\"\n[[transfer]]\nfrom = \"a\"\n[policy.actions]\nping-pong = \"warn\"\n";
        assert_eq!(
            chunks(text),
            ["[[department]]\nid = \"a\"\n[[transfer]]\nfrom = \"a\"\n"]
        );
        let skeleton = split(text, CHUNK_BYTES).skeleton(text).expect("a skeleton");
        assert_eq!(skeleton.len(), text.len());
        let trailing = "[policy]\n[[intent]]\nid = \"x\"\n";
        assert_eq!(
            split(trailing, CHUNK_BYTES).skeleton(trailing).as_deref(),
            Some("[policy]\n")
        );
        assert!(skeleton.starts_with("[policy]\nmax_hops = 3\n\n "));
        assert!(skeleton.ends_with("\n[policy.actions]\nping-pong = \"warn\"\n"));
        assert!(!skeleton.contains("department"));
    }

    #[test]
    fn headers_inside_strings_and_multi_line_arrays_are_not_headers() {
        let text = "[[department]]\nid = \"a\"\nname = \"\"\"\n[[transfer]]\n\"\"\"\nhandles = [\n[\"x\"],\n]\n[other]\n";
        assert_eq!(
            chunks(text),
            [
                "[[department]]\nid = \"a\"\nname = \"\"\"\n[[transfer]]\n\"\"\"\nhandles = [\n[\"x\"],\n]\n"
            ]
        );
    }

    #[test]
    fn sub_tables_stay_with_their_array_table_and_other_headers_end_it() {
        let text = "[[transfer]]\nfrom = \"a\"\n[transfer.extra]\nx = 1\n[[department.x]]\n";
        assert_eq!(
            chunks(text),
            ["[[transfer]]\nfrom = \"a\"\n[transfer.extra]\nx = 1\n"]
        );
    }

    #[test]
    fn small_tables_are_grouped_and_large_runs_split() {
        let table = "[[transfer]]\nfrom = \"a\"\nto = \"b\"\n";
        let text = table.repeat(CHUNK_BYTES / table.len() * 3);
        let pieces = chunks(&text);
        assert!((3..=4).contains(&pieces.len()), "{}", pieces.len());
        assert_eq!(pieces.concat(), text);
        assert!(pieces.iter().all(|piece| piece.starts_with("[[transfer]]")));
    }

    /// Tokens as (kind, end offset).
    type Tokens = Vec<(Token, usize)>;

    /// The tokens of `text` by our lexer and by the `toml` crate's.
    fn both_lexers(text: &str) -> (Tokens, Tokens) {
        use toml_parser::lexer::TokenKind;
        let bytes = text.as_bytes();
        let mut ours = Vec::new();
        let mut position = if bytes.starts_with(BOM) { BOM.len() } else { 0 };
        while position < bytes.len() {
            let (kind, end) = next_token(bytes, position);
            ours.push((kind, end));
            position = end;
        }
        let theirs = toml_parser::Source::new(text)
            .lex()
            .filter(|token| token.kind() != TokenKind::Eof)
            .map(|token| {
                let kind = match token.kind() {
                    TokenKind::LeftSquareBracket => Token::LeftBracket,
                    TokenKind::RightSquareBracket => Token::RightBracket,
                    TokenKind::LeftCurlyBracket => Token::LeftBrace,
                    TokenKind::RightCurlyBracket => Token::RightBrace,
                    TokenKind::Dot => Token::Dot,
                    TokenKind::Equals | TokenKind::Comma => Token::Punctuation,
                    TokenKind::Whitespace => Token::Whitespace,
                    TokenKind::Comment => Token::Comment,
                    TokenKind::Newline => Token::Newline,
                    TokenKind::LiteralString
                    | TokenKind::BasicString
                    | TokenKind::MlLiteralString
                    | TokenKind::MlBasicString => Token::String,
                    TokenKind::Atom | TokenKind::Eof => Token::Atom,
                };
                (kind, token.span().end())
            })
            .collect();
        (ours, theirs)
    }

    #[test]
    fn tokens_end_where_the_toml_crates_lexer_ends_them() {
        let cases = [
            "[[transfer]]\nfrom = \"a\" # c\r\nx = 'b'\n",
            r#"a = """x\""""" b = '''y''''' c = "unterminated
d = '
"#,
            "e = \"\"\"never closed\n[[transfer]]\n",
            r#"f = "esc \\" g = [1.5, {h = 2}]"#,
            "\u{feff}[[intent]]\nid = \"é\"\n\r",
        ];
        for text in cases {
            let (ours, theirs) = both_lexers(text);
            assert_eq!(ours, theirs, "{text:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn tokens_match_the_toml_crates_lexer_on_any_mix_of_fragments(
            fragments in proptest::collection::vec(
                proptest::sample::select(vec![
                    "[", "]", "[[", "]]", "{", "}", ".", "=", ",", " ", "\t", "\n", "\r\n",
                    "\r", "#", "\"", "'", "\"\"\"", "'''", "\\", "transfer", "x", "é", "1.5",
                ]),
                0..40,
            )
        ) {
            let text = fragments.concat();
            let (ours, theirs) = both_lexers(&text);
            proptest::prop_assert_eq!(ours, theirs, "{:?}", text);
        }
    }

    #[test]
    fn a_file_without_array_tables_has_no_chunks() {
        let text = "[policy]\nmax_hops = 3\n";
        assert!(split(text, CHUNK_BYTES).chunks.is_empty());
        assert_eq!(split(text, CHUNK_BYTES).skeleton(text), None);
    }
}
