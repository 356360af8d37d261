//! What `ehr` writes to a terminal. Record text comes from whoever signed the record, so no
//! control character or escape sequence in it reaches the terminal (a clear screen, a rewritten
//! line, a hyperlink or a window title set by a record).

use std::iter::Peekable;
use std::str::Chars;

use anyhow::Result;
use serde_json::Value;

/// `text` without control characters (C0, DEL, C1) and without the ANSI escape sequences they
/// start (CSI, OSC, DCS and the like, 7-bit or 8-bit), which are removed whole. With
/// `multiline`, newlines and tabs stay. Every text `ehr` prints passes through here.
pub fn clean(text: &str, multiline: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' if multiline => out.push(c),
            '\u{1b}' => skip_escape(&mut chars),
            '\u{9b}' => skip_csi(&mut chars),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// `value` as pretty JSON for the terminal: serde_json already escapes C0 characters inside
/// strings; DEL and C1 ones (U+007F to U+009F, which some terminals obey) are escaped as
/// `\u00XX` too, so the document reads back unchanged and prints inert.
pub fn json(value: &Value) -> Result<String> {
    let text = serde_json::to_string_pretty(value)?;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && !c.is_ascii_whitespace() {
            // Outside strings JSON has only whitespace, so these are inside strings.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// After ESC: the rest of the sequence it starts.
fn skip_escape(chars: &mut Peekable<Chars<'_>>) {
    match chars.peek().copied() {
        Some('[') => {
            chars.next();
            skip_csi(chars);
        }
        Some(']' | 'P' | 'X' | '^' | '_') => {
            chars.next();
            skip_string(chars);
        }
        Some('\u{20}'..='\u{2f}') => {
            while chars
                .next_if(|c| ('\u{20}'..='\u{2f}').contains(c))
                .is_some()
            {}
            chars.next_if(|c| ('\u{30}'..='\u{7e}').contains(c));
        }
        Some('\u{30}'..='\u{7e}') => {
            chars.next();
        }
        _ => {}
    }
}

/// A control sequence's parameters, intermediates and final byte.
fn skip_csi(chars: &mut Peekable<Chars<'_>>) {
    while chars
        .next_if(|c| ('\u{30}'..='\u{3f}').contains(c))
        .is_some()
    {}
    while chars
        .next_if(|c| ('\u{20}'..='\u{2f}').contains(c))
        .is_some()
    {}
    chars.next_if(|c| ('\u{40}'..='\u{7e}').contains(c));
}

/// A control string (OSC, DCS, ...) up to its terminator: BEL, ST or ESC `\`. It also stops at
/// a newline, so one unterminated string cannot hide the lines after it.
fn skip_string(chars: &mut Peekable<Chars<'_>>) {
    while let Some(c) = chars.next_if(|c| *c != '\n') {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                chars.next_if_eq(&'\\');
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_removed_whole() {
        let text = "a\u{1b}[2Jb\u{7}c\u{9b}31md\u{1b}]0;title\u{7}e\u{1b}(Bf\r\n\tg";
        assert_eq!(clean(text, false), "abcdefg");
        assert_eq!(clean(text, true), "abcdef\n\tg");
    }

    #[test]
    fn an_unterminated_string_ends_at_the_line() {
        assert_eq!(clean("a\u{1b}]8;;x\nb", true), "a\nb");
    }

    #[test]
    fn json_escapes_c1_and_reads_back_the_same() {
        let value = serde_json::json!({ "text": "x\u{1b}[2J\u{7}\u{9b}\u{7f}y" });
        let printed = json(&value).unwrap_or_default();
        assert!(!printed.chars().any(|c| c.is_control() && c != '\n'));
        assert_eq!(serde_json::from_str::<Value>(&printed).ok(), Some(value));
    }
}
