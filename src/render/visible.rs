//! Identifiers as the dashboard and the graph drawings show them: characters that
//! are invisible or reorder text (bidi overrides, zero-width characters, look-alike
//! spaces) are written out as `⟨U+202E⟩`, so one department or call id cannot pass
//! for another on screen.

use std::borrow::Cow;

/// `text` with every invisible or reordering character written out.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for character in text.chars() {
        if is_hidden(character) {
            shown.push_str(&format!("⟨U+{:04X}⟩", u32::from(character)));
        } else {
            shown.push(character);
        }
    }
    Cow::Owned(shown)
}

/// Unicode format characters (bidi controls, zero-width joiners and spaces, word
/// joiners, tags, variation selectors), blank-looking fillers, and every whitespace
/// other than the plain space.
fn is_hidden(character: char) -> bool {
    matches!(
        character,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E0FFF}'
    ) || (character.is_whitespace() && character != ' ')
        || character.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reordering_and_invisible_characters_are_written_out() {
        assert_eq!(visible("billing"), "billing");
        assert_eq!(visible("bill\u{202E}gni"), "bill⟨U+202E⟩gni");
        assert_eq!(visible("sales\u{200B}"), "sales⟨U+200B⟩");
        assert_eq!(visible("a\u{00A0}b"), "a⟨U+00A0⟩b");
        assert_eq!(visible("\u{2066}x\u{2069}"), "⟨U+2066⟩x⟨U+2069⟩");
        assert_eq!(
            visible("café ünïcode"),
            "café ünïcode",
            "ordinary letters stay"
        );
    }
}
