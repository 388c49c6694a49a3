//! Text a revision supplied (its output lines, its error, a database error
//! its SQL caused, the SQL itself), made safe to print: a revision must not
//! be able to drive the operator's terminal (ANSI escapes move the cursor,
//! recolour or erase what aludel printed; `\r` overwrites a line) or hide
//! text from the reader (Unicode's bidirectional overrides reorder it).
//!
//! Every such character is written as a visible escape (`\x1b`, `\r`,
//! `\u{9b}`, `\u{202e}`), so what is printed shows what was sent. `\n` and
//! `\t` are kept where a text may span lines ([`controls`]); a single log
//! line escapes `\n` too ([`line()`](fn@line)).

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is escaped: C0 controls, DEL, C1 controls and the Unicode
/// bidirectional embeddings, overrides and isolates. `\n` and `\t` are
/// decided by the caller.
fn escaped(c: char) -> bool {
    matches!(c,
        '\0'..='\x1f' | '\x7f'..='\u{9f}'
        | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let keep = |c: char| c == '\t' || (keep_newlines && c == '\n');
    if !text.chars().any(|c| escaped(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !escaped(c) || keep(c) {
            out.push(c);
            continue;
        }
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// `text` with every control character but `\n` and `\t` escaped: for
/// messages that may span lines (errors, quoted SQL).
pub fn controls(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

/// `text` as one line: every control character but `\t` escaped, `\n`
/// included.
pub fn line(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let text = "revision abc: no such table: t\n  caused by:\tx ünïcödé";
        assert!(matches!(controls(text), Cow::Borrowed(t) if t == text));
        assert!(matches!(line("a\tb"), Cow::Borrowed("a\tb")));
    }

    #[test]
    fn ansi_escapes_carriage_returns_and_other_controls_are_shown_not_obeyed() {
        assert_eq!(
            controls("\x1b[2J\x1b[31mred\x1b[0m\rok\x07\x00\x7f"),
            "\\x1b[2J\\x1b[31mred\\x1b[0m\\rok\\x07\\x00\\x7f"
        );
        // C1 (CSI as one character) and the bidirectional overrides.
        assert_eq!(
            controls("\u{9b}31m \u{202e}txt.exe\u{2066}"),
            "\\u{9b}31m \\u{202e}txt.exe\\u{2066}"
        );
    }

    #[test]
    fn newlines_are_kept_in_messages_and_escaped_in_a_line() {
        assert_eq!(controls("a\nb\tc\r\n"), "a\nb\tc\\r\n");
        assert_eq!(line("a\nb\tc\r\n"), "a\\nb\tc\\r\\n");
    }
}
