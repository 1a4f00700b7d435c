//! The line formats of the Ruby gem's `linux-listener-stats.rb`, byte for byte.
//!
//! Ruby prints `format("%20s % Ns % 10u % 10u\n", time, addr, active, queued)`
//! with `N` the length of the longest address (at least 7, the length of
//! "address", at most 35), and the header with the same format where every
//! `u` is an `s`.

use std::fmt::Write as _;

use raindrops_core::SafeText;

/// The narrowest and widest address column.
pub(crate) const MIN_WIDTH: usize = "address".len();
/// Addresses longer than this are printed in full, unpadded.
pub(crate) const MAX_WIDTH: usize = 35;

/// The address column width for `addrs`: the longest, at least 7, at
/// most 35 (as the Ruby script computes it, counting characters of the
/// escaped name rather than bytes).
pub(crate) fn address_width<'a>(addrs: impl IntoIterator<Item = &'a str>) -> usize {
    addrs
        .into_iter()
        .map(|a| SafeText(a).char_count())
        .fold(MIN_WIDTH, usize::max)
        .min(MAX_WIDTH)
}

/// Ruby's `% 10u`: a space flag (a blank where a sign would go) and a width
/// of 10, so values of 10 digits or more take an extra column.
fn push_u10(out: &mut String, n: u64) {
    let _ = write!(out, "{:>10}", format!(" {n}"));
}

/// `%20s`: right-aligned in 20 columns, never truncated.
fn push_s(out: &mut String, s: &str, width: usize) {
    let _ = write!(out, "{s:>width$}");
}

/// The header line, printed on stderr, with the titles of `extra`
/// columns after Ruby's.
pub(crate) fn header(width: usize, extra: &[&str]) -> String {
    let mut out = String::new();
    push_s(&mut out, "timestamp", 20);
    out.push(' ');
    push_s(&mut out, "address", width);
    out.push(' ');
    push_s(&mut out, "active", 10);
    out.push(' ');
    push_s(&mut out, "queued", 10);
    for title in extra {
        out.push(' ');
        push_s(&mut out, title, 10);
    }
    out.push('\n');
    out
}

/// One sample line: `%20s % Ns % 10u % 10u\n`, plus a `% 10u` per
/// `extra` column asked for (drops, the oldest wait), `-` where a
/// listener does not know the value.
pub(crate) fn sample_line(
    out: &mut String,
    time: &str,
    addr: &str,
    width: usize,
    active: u64,
    queued: u64,
    extra: &[Option<u64>],
) {
    push_s(out, time, 20);
    out.push(' ');
    // `% Ns` of a name of any length and content: escaped, padded by hand.
    let addr = SafeText(addr);
    out.extend(std::iter::repeat_n(
        ' ',
        width.saturating_sub(addr.char_count()),
    ));
    let _ = write!(out, "{addr}");
    out.push(' ');
    push_u10(out, active);
    out.push(' ');
    push_u10(out, queued);
    for v in extra {
        out.push(' ');
        match v {
            Some(v) => push_u10(out, *v),
            None => push_s(out, "-", 10),
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths() {
        assert_eq!(address_width(["1:2"]), 7);
        assert_eq!(address_width(["127.0.0.1:8080", "/tmp/s"]), 14);
        assert_eq!(address_width(["/".repeat(50).as_str()]), 35);
        assert_eq!(address_width(std::iter::empty()), 7);
    }

    #[test]
    fn lines() {
        let mut s = String::new();
        sample_line(
            &mut s,
            "2026-11-29T21:42:23Z",
            "127.0.0.1:8080",
            14,
            1,
            0,
            &[],
        );
        assert_eq!(
            s,
            "2026-11-29T21:42:23Z 127.0.0.1:8080          1          0\n"
        );
        let mut s = String::new();
        sample_line(&mut s, "t", "@a\nb", 7, 0, 0, &[]);
        assert_eq!(s, "                   t @a\\x0ab          0          0\n");
        let mut s = String::new();
        sample_line(&mut s, "t", &"/".repeat(70_000), 35, 0, 0, &[]);
        assert_eq!(s.len(), 20 + 1 + 70_000 + 22 + 1);
        let mut s = String::new();
        sample_line(&mut s, "t", "a", 7, 1234567890, 12345678901, &[]);
        assert_eq!(s, "                   t       a  1234567890  12345678901\n");
        assert_eq!(
            header(7, &[]),
            "           timestamp address     active     queued\n"
        );
        assert_eq!(
            header(7, &["drops", "oldest_ms"]),
            "           timestamp address     active     queued      drops  oldest_ms\n"
        );
        let mut s = String::new();
        sample_line(&mut s, "t", "a", 7, 1, 2, &[None, Some(1500)]);
        assert_eq!(
            s,
            "                   t       a          1          2          -       1500\n"
        );
    }
}
