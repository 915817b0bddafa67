//! Text a user typed (a title, a description, a comment), made fit to store and to show.
//!
//! Autoescaping already makes such text inert as markup. What it does not stop is text that
//! misleads the eye: a right-to-left override (U+202E) before `gnp.exe` shows `exe.png`;
//! invisible control characters; a NUL. [`user_text`] removes those, keeps line breaks where the field
//! is multi-line, and normalises to Unicode NFC so that equal-looking text compares equal.

use unicode_normalization::UnicodeNormalization as _;

/// `raw` in NFC, trimmed, without control characters (line breaks and tabs are kept when
/// `multiline`, with `\r\n` made `\n`) and without bidirectional override or isolate controls.
pub fn user_text(raw: &str, multiline: bool) -> String {
    raw.replace("\r\n", "\n")
        .nfc()
        .filter(|&c| {
            let kept_break = multiline && (c == '\n' || c == '\t');
            (kept_break || !c.is_control()) && !is_bidi_control(c)
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The characters that reorder how text around them is shown.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_direction_overrides_are_removed_and_lines_kept_where_asked() {
        assert_eq!(user_text("t\u{0}itle\u{1b}[31m", false), "title[31m");
        assert_eq!(user_text("x\u{202E}gnp.exe", false), "xgnp.exe");
        assert_eq!(user_text("a\u{2066}b\u{2069}c", false), "abc");
        assert_eq!(
            user_text("line one\r\nline\ttwo\n", true),
            "line one\nline\ttwo"
        );
        assert_eq!(user_text("line one\nline two", false), "line oneline two");
        // NFC: a decomposed é becomes the single character.
        assert_eq!(user_text("e\u{301}", false), "\u{e9}");
        assert_eq!(user_text("  <script>  ", false), "<script>");
    }
}
