//! Small text tools shared by the renderers: escaping writers, a byte
//! counter and URL form encoding.

use core::fmt;

/// A writer that only counts the bytes written to it (for `HEAD`, and for
/// `Content-Length` of bodies written elsewhere).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counting<W> {
    pub(crate) inner: W,
    pub(crate) len: usize,
}

impl<W: fmt::Write> fmt::Write for Counting<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.inner.write_str(s)?;
        self.len += s.len();
        Ok(())
    }
}

/// A writer that discards everything.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sink;

impl fmt::Write for Sink {
    fn write_str(&mut self, _: &str) -> fmt::Result {
        Ok(())
    }
}

/// Writes `s` to `w`, replacing the characters `pick` maps to an escape.
fn escape_with<W: fmt::Write + ?Sized>(
    w: &mut W,
    s: &str,
    pick: impl Fn(char) -> Option<&'static str>,
) -> fmt::Result {
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if let Some(rep) = pick(c) {
            w.write_str(&s[start..i])?;
            w.write_str(rep)?;
            start = i + c.len_utf8();
        }
    }
    w.write_str(&s[start..])
}

/// HTML escaping as Rack 2's `Rack::Utils.escape_html` does it (`& < > ' " /`).
pub(crate) fn html<W: fmt::Write + ?Sized>(w: &mut W, s: &str) -> fmt::Result {
    escape_with(w, s, |c| match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '\'' => Some("&#x27;"),
        '"' => Some("&quot;"),
        '/' => Some("&#x2F;"),
        _ => None,
    })
}

/// A writer adapter that HTML-escapes everything written through it.
pub(crate) struct HtmlEscaper<'w, W: ?Sized>(pub(crate) &'w mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for HtmlEscaper<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        html(self.0, s)
    }
}

/// A writer adapter that escapes everything written through it as a
/// Prometheus label value.
pub(crate) struct LabelEscaper<'w, W: ?Sized>(pub(crate) &'w mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for LabelEscaper<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        label_value(self.0, s)
    }
}

/// A Prometheus / OpenMetrics label value: `\`, `"` and line feed escaped.
pub(crate) fn label_value<W: fmt::Write + ?Sized>(w: &mut W, s: &str) -> fmt::Result {
    if !s.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        return w.write_str(s);
    }
    escape_with(w, s, |c| match c {
        '\\' => Some("\\\\"),
        '"' => Some("\\\""),
        '\n' => Some("\\n"),
        _ => None,
    })
}

/// HELP text: Prometheus 0.0.4 escapes `\` and line feed only (its parser
/// rejects `\"`); OpenMetrics also escapes `"`.
pub(crate) fn help_text<W: fmt::Write + ?Sized>(w: &mut W, s: &str, quote: bool) -> fmt::Result {
    escape_with(w, s, |c| match c {
        '\\' => Some("\\\\"),
        '\n' => Some("\\n"),
        '"' if quote => Some("\\\""),
        _ => None,
    })
}

/// Displays a string as a JSON string literal, quotes included, escaped
/// as [`render_json`](crate::render_json) escapes it.
///
/// ```
/// assert_eq!(raindrops_http::JsonString("a\"b\n").to_string(), r#""a\"b\n""#);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct JsonString<'a>(pub &'a str);

impl fmt::Display for JsonString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        json_string(f, self.0)?;
        f.write_str("\"")
    }
}

/// A JSON string body (without the quotes).
pub(crate) fn json_string<W: fmt::Write + ?Sized>(w: &mut W, s: &str) -> fmt::Result {
    if !s
        .bytes()
        .any(|b| matches!(b, b'"' | b'\\' | 0..0x20 | 0x7f))
    {
        return w.write_str(s);
    }
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let rep = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 || c == '\u{7f}' => "",
            _ => continue,
        };
        w.write_str(&s[start..i])?;
        if rep.is_empty() {
            write!(w, "\\u{:04x}", c as u32)?;
        } else {
            w.write_str(rep)?;
        }
        start = i + c.len_utf8();
    }
    w.write_str(&s[start..])
}

/// A metric or label name made valid: characters outside `[a-zA-Z0-9_]`
/// (plus `:` in metric names) become `_`, and a leading digit gets a `_`
/// in front; an empty name becomes `_`.
pub(crate) fn name<W: fmt::Write + ?Sized>(w: &mut W, s: &str, colon: bool) -> fmt::Result {
    if s.is_empty() || s.as_bytes()[0].is_ascii_digit() {
        w.write_char('_')?;
    }
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let ok = c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':');
        if !ok {
            w.write_str(&s[start..i])?;
            w.write_char('_')?;
            start = i + c.len_utf8();
        }
    }
    w.write_str(&s[start..])
}

/// URL form encoding as Ruby's `Rack::Utils.escape`
/// (`URI.encode_www_form_component`): `*-._` and alphanumerics are kept,
/// space becomes `+`, every other byte `%XX`.
pub(crate) fn form_encode<W: fmt::Write + ?Sized>(w: &mut W, s: &str) -> fmt::Result {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_');
        if keep {
            continue;
        }
        // A run of kept bytes is ASCII, so it starts and ends on character
        // boundaries; an empty run may sit inside a multi-byte character.
        if i > start {
            w.write_str(&s[start..i])?;
        }
        if b == b' ' {
            w.write_char('+')?;
        } else {
            let hex = [b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]];
            // Three ASCII bytes.
            w.write_str(core::str::from_utf8(&hex).map_err(|_| fmt::Error)?)?;
        }
        start = i + 1;
    }
    w.write_str(&s[start..])
}

/// Why a URL form component could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum DecodeError {
    /// `%` not followed by two hexadecimal digits, at this byte offset.
    Percent(usize),
    /// The decoded bytes do not fit the buffer.
    TooLong,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

/// Decodes a URL form component (`+` is a space, `%XX` a byte; Ruby's
/// `Rack::Utils.unescape`) into `out`, returning the decoded string.
pub(crate) fn form_decode<'o>(s: &str, out: &'o mut [u8]) -> Result<&'o str, DecodeError> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < bytes.len() {
        let b = match bytes[i] {
            b'+' => b' ',
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex);
                let lo = bytes.get(i + 2).copied().and_then(hex);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => {
                        i += 2;
                        hi << 4 | lo
                    }
                    _ => return Err(DecodeError::Percent(i)),
                }
            }
            b => b,
        };
        *out.get_mut(n).ok_or(DecodeError::TooLong)? = b;
        n += 1;
        i += 1;
    }
    core::str::from_utf8(&out[..n]).map_err(|_| DecodeError::NotUtf8)
}

/// The number of decimal digits of `n`.
/// Writes `n` in decimal without going through a formatter (the
/// renderers' hot path).
#[inline]
pub(crate) fn uint<W: fmt::Write + ?Sized>(w: &mut W, mut n: u64) -> fmt::Result {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    w.write_str(core::str::from_utf8(&buf[i..]).map_err(|_| fmt::Error)?)
}

/// Writes `n / 1000` as an exact decimal without trailing zeros (`1500`
/// writes `1.5`, `3` writes `0.003`): milliseconds as seconds.
pub(crate) fn milli<W: fmt::Write + ?Sized>(w: &mut W, n: u128) -> fmt::Result {
    let (int, frac) = (n / 1000, (n % 1000) as u32);
    write!(w, "{int}")?;
    if frac == 0 {
        return Ok(());
    }
    let mut digits = [
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ];
    let mut len = 3;
    while digits[len - 1] == b'0' {
        len -= 1;
    }
    digits[len..].fill(0);
    w.write_char('.')?;
    w.write_str(core::str::from_utf8(&digits[..len]).map_err(|_| fmt::Error)?)
}

pub(crate) fn digits(mut n: u128) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// Writes `n` spaces.
pub(crate) fn spaces<W: fmt::Write + ?Sized>(w: &mut W, n: usize) -> fmt::Result {
    repeat(w, ' ', n)
}

/// Writes `c` `n` times.
pub(crate) fn repeat<W: fmt::Write + ?Sized>(w: &mut W, c: char, n: usize) -> fmt::Result {
    const CHUNK: usize = 32;
    let mut buf = [0u8; CHUNK];
    let mut tmp = [0u8; 4];
    let enc = c.encode_utf8(&mut tmp).as_bytes();
    if enc.len() != 1 {
        for _ in 0..n {
            w.write_char(c)?;
        }
        return Ok(());
    }
    buf.fill(enc[0]);
    let chunk = core::str::from_utf8(&buf).map_err(|_| fmt::Error)?;
    let mut left = n;
    while left > 0 {
        let k = left.min(CHUNK);
        w.write_str(&chunk[..k])?;
        left -= k;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    fn run(f: impl Fn(&mut String) -> fmt::Result) -> String {
        let mut s = String::new();
        f(&mut s).unwrap();
        s
    }

    #[test]
    fn escapes() {
        assert_eq!(
            run(|w| html(w, "<a href=\"x\">&'/é")),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;&#x2F;é"
        );
        assert_eq!(run(|w| label_value(w, "a\\b\"c\nd")), "a\\\\b\\\"c\\nd");
        assert_eq!(run(|w| help_text(w, "a\\\"\n", false)), "a\\\\\"\\n");
        assert_eq!(run(|w| help_text(w, "a\\\"\n", true)), "a\\\\\\\"\\n");
        assert_eq!(
            run(|w| json_string(w, "a\"\\\n\r\t\u{1}\u{7f}é")),
            "a\\\"\\\\\\n\\r\\t\\u0001\\u007fé"
        );
        assert_eq!(run(|w| name(w, "9a-b:c", true)), "_9a_b:c");
        assert_eq!(run(|w| name(w, "a:b", false)), "a_b");
        assert_eq!(run(|w| name(w, "", false)), "_");
        assert_eq!(run(|w| name(w, "é", false)), "_");
    }

    #[test]
    fn form_roundtrip() {
        assert_eq!(
            run(|w| form_encode(w, "127.0.0.1:80 /tmp/a b~*")),
            "127.0.0.1%3A80+%2Ftmp%2Fa+b%7E*"
        );
        assert_eq!(run(|w| form_encode(w, "/é☃x")), "%2F%C3%A9%E2%98%83x");
        let mut buf = [0u8; 64];
        assert_eq!(form_decode("a+b%3a%3A", &mut buf), Ok("a b::"));
        assert_eq!(form_decode("%", &mut buf), Err(DecodeError::Percent(0)));
        assert_eq!(form_decode("x%4", &mut buf), Err(DecodeError::Percent(1)));
        assert_eq!(form_decode("%zz", &mut buf), Err(DecodeError::Percent(0)));
        assert_eq!(form_decode("%ff", &mut buf), Err(DecodeError::NotUtf8));
        assert_eq!(form_decode("abc", &mut buf[..2]), Err(DecodeError::TooLong));
    }

    #[test]
    fn milliseconds_as_seconds() {
        for (ms, s) in [
            (0u128, "0"),
            (3, "0.003"),
            (1500, "1.5"),
            (1023, "1.023"),
            (60000, "60"),
            (10, "0.01"),
        ] {
            assert_eq!(run(|w| milli(w, ms)), s);
        }
    }

    #[test]
    fn inline_and_repeat() {
        let mut s = heapless::String::<4>::new();
        fmt::Write::write_str(&mut s, "ab").unwrap();
        assert!(
            fmt::Write::write_str(&mut s, "cde").is_err(),
            "heapless writes nothing past capacity"
        );
        assert_eq!(&*s, "ab");
        assert_eq!(run(|w| repeat(w, '@', 70)).len(), 70);
        assert_eq!(run(|w| repeat(w, 'é', 3)), "ééé");
        assert_eq!(digits(0), 1);
        assert_eq!(digits(u128::from(u64::MAX)), 20);
    }
}
