//! An aligned text table of the listeners, for people at a terminal.

use core::fmt;

use raindrops_core::SafeText;

use crate::fields::{Column, Exposition, LISTENER_FIELDS, Value};
use crate::source::{StatsSource, any_listener, each_listener};
use crate::text;

/// The narrowest a number column is, so that tables of small numbers line
/// up with the usual ones.
const MIN_NUMBER_WIDTH: usize = 8;

/// Writes the listeners as an aligned table with a header line: one
/// column per [`Column`] of [`LISTENER_FIELDS`] (a
/// [`Column::WhenKnown`] one only when some listener knows its value),
/// text left-aligned, numbers right-aligned, `-` where a value is unknown,
/// columns as wide as their widest cell.
///
/// Names go through [`SafeText`], so no name can add a line or drive the
/// terminal; no width makes it fail (padding is written by hand, never
/// with a format width). Allocates nothing; visits the listeners once per
/// column and twice per row.
///
/// ```
/// use raindrops_core::{Family, ListenStats, Listener};
/// use raindrops_http::{render_table, Snapshot};
/// let listeners = [
///     Listener::new("127.0.0.1:8080", Family::Tcp4, ListenStats::new(3, 2).with_backlog(128)),
///     Listener::new("/tmp/app.sock", Family::Unix, ListenStats::new(1, 1)),
/// ];
/// let mut out = String::new();
/// render_table(&Snapshot { listeners: &listeners, ..Snapshot::new() }, &mut out).unwrap();
/// print!("{out}");
/// // ADDRESS          ACTIVE   QUEUED  BACKLOG    DROPS
/// // 127.0.0.1:8080        3        2      128        -
/// // /tmp/app.sock         1        1        -        -
/// assert!(out.starts_with("ADDRESS "));
/// assert!(out.lines().nth(1).unwrap().starts_with("127.0.0.1:8080 "));
/// ```
pub fn render_table<S, W>(source: &S, w: &mut W) -> fmt::Result
where
    S: StatsSource + ?Sized,
    W: fmt::Write + ?Sized,
{
    let measured = source.measured();
    // (shown, width, left-aligned) per row of the field table.
    let mut cols = [(false, 0usize, false); LISTENER_FIELDS.len()];
    for (i, field) in LISTENER_FIELDS.iter().enumerate() {
        let title = match field.column {
            Column::None => continue,
            Column::Always(t) => t,
            Column::WhenKnown(t) => {
                if !any_listener(source, |l| field.get(i, measured, l).is_known()) {
                    continue;
                }
                t
            }
        };
        // Labels are text (left-aligned); the other columns are numbers.
        let left = matches!(field.exposition, Exposition::Label(_));
        let mut width = title.len();
        if !left {
            width = width.max(MIN_NUMBER_WIDTH);
        }
        let _ = each_listener(source, |l| {
            width = width.max(cell_width(&field.get(i, measured, l)));
            Ok(())
        });
        cols[i] = (true, width, left);
    }
    let last = cols.iter().rposition(|c| c.0).unwrap_or(0);
    // The last column, if left-aligned, is not padded: no trailing spaces.
    if cols[last].2 {
        cols[last].1 = 0;
    }
    let mut first = true;
    for (i, field) in LISTENER_FIELDS.iter().enumerate() {
        let (shown, width, left) = cols[i];
        if let (true, Column::Always(t) | Column::WhenKnown(t)) = (shown, field.column) {
            cell(w, &mut first, width, left, t.len(), |w| w.write_str(t))?;
        }
    }
    w.write_char('\n')?;
    each_listener(source, |l| {
        let mut first = true;
        for (i, field) in LISTENER_FIELDS.iter().enumerate() {
            let (shown, width, left) = cols[i];
            if !shown {
                continue;
            }
            let v = field.get(i, measured, l);
            cell(w, &mut first, width, left, cell_width(&v), |w| match v {
                Value::Str(s) => write!(w, "{}", SafeText(s)),
                v => write!(w, "{v}"),
            })?;
        }
        w.write_char('\n')
    })
}

/// The number of characters `v` takes in a table.
fn cell_width(v: &Value<'_>) -> usize {
    match v {
        Value::Int(n) => text::digits(u128::from(*n)),
        Value::Str(s) => SafeText(s).char_count(),
        Value::Unknown => 1,
    }
}

/// Writes one cell padded to `width`.
fn cell<W: fmt::Write + ?Sized>(
    w: &mut W,
    first: &mut bool,
    width: usize,
    left: bool,
    len: usize,
    content: impl FnOnce(&mut W) -> fmt::Result,
) -> fmt::Result {
    if !core::mem::take(first) {
        w.write_char(' ')?;
    }
    let pad = width.saturating_sub(len);
    if !left {
        text::spaces(w, pad)?;
    }
    content(w)?;
    if left {
        text::spaces(w, pad)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FieldSet, Snapshot};
    use raindrops_core::{Family, ListenStats, Listener};
    use std::string::String;
    use std::vec::Vec;

    fn table(listeners: &[Listener<&str>], measured: FieldSet) -> String {
        let mut s = String::new();
        let snap = Snapshot {
            listeners,
            measured,
            ..Snapshot::new()
        };
        render_table(&snap, &mut s).unwrap();
        s
    }

    #[test]
    fn hostile_and_huge_names() {
        let long = "/".repeat(70_000);
        let l = [
            Listener::new(long.as_str(), Family::Unix, ListenStats::new(0, 0)),
            Listener::new("@a\nb\u{1b}[2J", Family::Unix, ListenStats::new(0, 0)),
        ];
        let s = table(&l, FieldSet::ALL);
        assert_eq!(s.lines().count(), 3);
        assert!(s.contains("@a\\x0ab\\x1b[2J"), "{s}");
        assert!(!s.contains('\u{1b}'));
    }

    #[test]
    fn unmeasured_and_optional_columns() {
        let l = [Listener::new(
            "0.0.0.0:80",
            Family::Tcp4,
            ListenStats::new(5, 1).with_syn_recv(2),
        )];
        let cells = |s: &str| -> Vec<(String, String)> {
            let mut lines = s.lines();
            let header: Vec<String> = lines
                .next()
                .unwrap()
                .split_whitespace()
                .map(Into::into)
                .collect();
            header
                .into_iter()
                .zip(lines.next().unwrap().split_whitespace().map(Into::into))
                .collect()
        };
        let s = table(&l, FieldSet::ALL.without("active"));
        let c = cells(&s);
        assert!(c.contains(&("ACTIVE".into(), "-".into())), "{s}");
        assert!(c.contains(&("SYN_RECV".into(), "2".into())), "{s}");
        // Numbers line up under their (right-aligned) titles.
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(
            lines[0].find("SYN_RECV").map(|i| i + 8),
            Some(lines[1].len())
        );
        let s = table(&[], FieldSet::ALL);
        assert!(s.starts_with("ADDRESS ") && !s.contains("SYN_RECV"), "{s}");
        assert_eq!(s.lines().count(), 1);
    }
}
