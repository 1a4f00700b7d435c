//! Escaping of outside names (Unix socket paths, abstract names, counter
//! names) before they reach a text output.
//!
//! Any local user can bind a Unix socket under a name of their choosing,
//! including newlines, terminal escape sequences and bytes that are not
//! UTF-8. Printed raw, such a name forges lines of the line-based outputs
//! (`/_raindrops`, `watch`, tables) or drives the terminal of the operator
//! who reads them. The rule, the same for every text output:
//!
//! - [`EscapedName`] turns a name's bytes into its *display form*:
//!   printable text unchanged; `\` doubled; ASCII control characters
//!   (`0x00`–`0x1f`, `0x7f`) as `\xHH`; bytes that are not UTF-8 as
//!   `\xHH` (always `\x80` or above); invisible or direction-changing
//!   characters (C1 controls, zero-width and bidirectional marks, line and
//!   paragraph separators, byte order mark) as `\u{HHHH}`. The display form
//!   is valid UTF-8 with no control character, and the escaping is
//!   reversible ([`unescape_name`]): two names never share a display form.
//! - [`SafeText`] is the last line of defence of every text sink: it
//!   escapes control and invisible characters of a `&str` the same way but
//!   leaves `\` alone, so it changes nothing in a display form and can be
//!   applied to strings of unknown origin without doubling escapes.
//!
//! This is a deliberate difference from the Ruby gem, which prints names
//! raw: names made only of printable characters other than `\` print the
//! same in both.

use core::fmt::{self, Write};

/// Whether `c` must not reach a text output raw: ASCII and C1 control
/// characters, and the invisible characters that reorder or hide text
/// (zero-width spaces and joiners, bidirectional marks, embeddings,
/// overrides and isolates, line and paragraph separators, invisible
/// operators, the byte order mark, interlinear annotation controls).
pub const fn is_unsafe_char(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{61c}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

/// Writes the escape of an unsafe character.
fn escape_char<W: Write + ?Sized>(w: &mut W, c: char) -> fmt::Result {
    if c.is_ascii() {
        write!(w, "\\x{:02x}", c as u32)
    } else {
        write!(w, "\\u{{{:04x}}}", c as u32)
    }
}

/// Whether `s` is printable ASCII (`0x20`–`0x7e`), with no `\` if
/// `backslash`: text that every rule leaves unchanged, found by a tight
/// loop over bytes (the common case: addresses and paths).
#[inline]
fn plain_ascii(s: &str, backslash: bool) -> bool {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && !(backslash && b == b'\\'))
}

/// Writes `s`, escaping unsafe characters and, if `backslash`, doubling `\`.
fn write_escaped<W: Write + ?Sized>(w: &mut W, s: &str, backslash: bool) -> fmt::Result {
    if plain_ascii(s, backslash) {
        return w.write_str(s);
    }
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let unsafe_char = is_unsafe_char(c);
        if unsafe_char || (backslash && c == '\\') {
            w.write_str(&s[start..i])?;
            if unsafe_char {
                escape_char(w, c)?;
            } else {
                w.write_str("\\\\")?;
            }
            start = i + c.len_utf8();
        }
    }
    w.write_str(&s[start..])
}

/// The display form of a name given as bytes: formats without allocating.
///
/// Printable text is unchanged; `\` is doubled; ASCII control characters
/// (`0x00`–`0x1f`, `0x7f`) become `\xHH`; bytes that are not UTF-8 become
/// `\xHH` (always `\x80` or above); invisible or direction-changing
/// characters ([`is_unsafe_char`]) become `\u{HHHH}`. The result is valid
/// UTF-8 without control characters, and two names never share a display
/// form ([`unescape_name`] reverses it). Every text output of the
/// workspace shows outside names (Unix socket paths, abstract names,
/// counter names) this way, so a name cannot forge a line or drive a
/// terminal; this is a deliberate difference from the Ruby gem, which
/// prints names raw (names of printable characters other than `\` print
/// the same in both).
///
/// ```
/// use raindrops_core::EscapedName;
/// assert_eq!(EscapedName(b"/run/app.sock").to_string(), "/run/app.sock");
/// assert_eq!(
///     EscapedName(b"@evil\n127.0.0.1:80 active: 999").to_string(),
///     "@evil\\x0a127.0.0.1:80 active: 999"
/// );
/// assert_eq!(EscapedName(b"\xff\xfe\\\x1b[2J").to_string(), "\\xff\\xfe\\\\\\x1b[2J");
/// assert_eq!(EscapedName("a\u{202e}b".as_bytes()).to_string(), "a\\u{202e}b");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EscapedName<'a>(pub &'a [u8]);

impl fmt::Display for EscapedName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            write_escaped(f, chunk.valid(), true)?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl EscapedName<'_> {
    /// Whether the display form equals the bytes (nothing to escape), so a
    /// caller can borrow instead of formatting.
    pub fn is_identity(&self) -> bool {
        match core::str::from_utf8(self.0) {
            Ok(s) => !s.chars().any(|c| c == '\\' || is_unsafe_char(c)),
            Err(_) => false,
        }
    }
}

/// A `&str` of unknown origin made safe for a line of text output:
/// control and invisible characters escaped as [`EscapedName`] does,
/// everything else (including `\`) unchanged. A display form passes
/// through unchanged.
///
/// ```
/// use raindrops_core::SafeText;
/// assert_eq!(SafeText("a\nb").to_string(), "a\\x0ab");
/// assert_eq!(SafeText("a\\x0ab").to_string(), "a\\x0ab");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SafeText<'a>(pub &'a str);

impl fmt::Display for SafeText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, self.0, false)
    }
}

impl SafeText<'_> {
    /// Writes the text to `w` (what `Display` writes, without going
    /// through a formatter: the renderers' hot path).
    #[inline]
    pub fn write_to<W: Write + ?Sized>(&self, w: &mut W) -> fmt::Result {
        write_escaped(w, self.0, false)
    }

    /// The number of characters [`SafeText`] writes: the width of the
    /// text in a terminal column count, counting every character as one.
    pub fn char_count(&self) -> usize {
        if plain_ascii(self.0, false) {
            return self.0.len();
        }
        self.0
            .chars()
            .map(|c| match c {
                c if !is_unsafe_char(c) => 1,
                c if c.is_ascii() => 4,
                c => 4 + hex_digits(c as u32).max(4),
            })
            .sum()
    }
}

const fn hex_digits(mut v: u32) -> usize {
    let mut n = 1;
    while v >= 16 {
        v /= 16;
        n += 1;
    }
    n
}

/// Why [`unescape_name`] refused a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UnescapeError {
    /// A `\` not followed by `\`, `xHH` or `u{H…}`, at this byte offset.
    BadEscape {
        /// Byte offset of the `\`.
        offset: usize,
    },
    /// The output buffer is too small.
    BufferTooSmall,
}

impl fmt::Display for UnescapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnescapeError::BadEscape { offset } => write!(f, "bad escape at byte {offset}"),
            UnescapeError::BufferTooSmall => f.write_str("output buffer too small"),
        }
    }
}

impl core::error::Error for UnescapeError {}

/// The bytes of a name from its display form (the inverse of
/// [`EscapedName`]), written into `out`; returns their length.
/// Bounds-checked, never panics.
///
/// ```
/// use raindrops_core::{unescape_name, EscapedName};
/// let mut out = [0u8; 16];
/// let n = unescape_name("\\xde\\xad\\\\x", &mut out).unwrap();
/// assert_eq!(&out[..n], b"\xde\xad\\x");
/// ```
///
/// # Errors
///
/// [`UnescapeError::BadEscape`] for a malformed escape,
/// [`UnescapeError::BufferTooSmall`] if `out` is too short.
pub fn unescape_name(s: &str, out: &mut [u8]) -> Result<usize, UnescapeError> {
    let b = s.as_bytes();
    let mut n = 0;
    let mut push = |bytes: &[u8], n: &mut usize| -> Result<(), UnescapeError> {
        let end = n
            .checked_add(bytes.len())
            .ok_or(UnescapeError::BufferTooSmall)?;
        out.get_mut(*n..end)
            .ok_or(UnescapeError::BufferTooSmall)?
            .copy_from_slice(bytes);
        *n = end;
        Ok(())
    };
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            push(&b[i..i + 1], &mut n)?;
            i += 1;
            continue;
        }
        let bad = UnescapeError::BadEscape { offset: i };
        match b.get(i + 1) {
            Some(b'\\') => {
                push(b"\\", &mut n)?;
                i += 2;
            }
            Some(b'x') => {
                let hex = b.get(i + 2..i + 4).ok_or(bad)?;
                let v = hex_value(hex).ok_or(bad)?;
                push(&[v as u8], &mut n)?;
                i += 4;
            }
            Some(b'u') => {
                if b.get(i + 2) != Some(&b'{') {
                    return Err(bad);
                }
                let rest = b.get(i + 3..).ok_or(bad)?;
                let close = rest.iter().take(7).position(|&c| c == b'}').ok_or(bad)?;
                let v = hex_value(&rest[..close]).ok_or(bad)?;
                let c = char::from_u32(v).ok_or(bad)?;
                let mut tmp = [0u8; 4];
                push(c.encode_utf8(&mut tmp).as_bytes(), &mut n)?;
                i += 3 + close + 1;
            }
            _ => return Err(bad),
        }
    }
    Ok(n)
}

fn hex_value(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 6 {
        return None;
    }
    digits.iter().try_fold(0u32, |acc, &d| {
        let v = (d as char).to_digit(16)?;
        Some(acc * 16 + v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::{String, ToString};
    use std::vec::Vec;

    fn unescape(s: &str) -> Result<Vec<u8>, UnescapeError> {
        let mut out = std::vec![0u8; s.len()];
        let n = unescape_name(s, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    #[test]
    fn forged_lines_and_terminal_escapes() {
        let forged = b"@evil\n127.0.0.1:80 active: 999";
        let shown = EscapedName(forged).to_string();
        assert!(!shown.contains('\n'));
        assert_eq!(unescape(&shown).unwrap(), forged);
        let esc = EscapedName(b"\x1b[2J\x07").to_string();
        assert_eq!(esc, "\\x1b[2J\\x07");
        assert_eq!(
            SafeText("\u{85}x\u{2029}").to_string(),
            "\\u{0085}x\\u{2029}"
        );
    }

    #[test]
    fn identity_and_counts() {
        assert!(EscapedName(b"/run/app.sock").is_identity());
        assert!(!EscapedName(b"a\\b").is_identity());
        assert!(!EscapedName(b"\xff").is_identity());
        for s in ["abc", "a\nb", "\u{202e}", "\u{10ffff}é"] {
            assert_eq!(
                SafeText(s).char_count(),
                SafeText(s).to_string().chars().count()
            );
        }
    }

    #[test]
    fn bad_escapes() {
        for (s, off) in [
            ("\\", 0),
            ("a\\q", 1),
            ("\\x4", 0),
            ("\\u{}", 0),
            ("\\u{110000}", 0),
            ("\\u1234", 0),
        ] {
            assert_eq!(
                unescape(s),
                Err(UnescapeError::BadEscape { offset: off }),
                "{s:?}"
            );
        }
        let mut small = [0u8; 1];
        assert_eq!(
            unescape_name("ab", &mut small),
            Err(UnescapeError::BufferTooSmall)
        );
    }

    proptest! {
        #[test]
        fn escaping_is_reversible(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let shown = EscapedName(&bytes).to_string();
            prop_assert!(!shown.chars().any(is_unsafe_char));
            prop_assert_eq!(SafeText(&shown).to_string(), shown.clone());
            prop_assert_eq!(unescape(&shown).unwrap(), bytes);
        }

        #[test]
        fn text_is_reversible(s in "\\PC*|[\\x00-\\x1f\\\\\u{80}-\u{9f}\u{2028}-\u{202e}a]*") {
            let shown = EscapedName(s.as_bytes()).to_string();
            prop_assert_eq!(unescape(&shown).unwrap(), s.as_bytes());
            let safe: String = SafeText(&s).to_string();
            prop_assert!(!safe.chars().any(is_unsafe_char));
        }

        #[test]
        fn unescape_never_panics(s in "\\PC*") {
            let mut out = [0u8; 8];
            let _ = unescape_name(&s, &mut out);
        }
    }
}
