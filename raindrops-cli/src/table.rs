//! Aligned text tables for people: the one table writer of the command's
//! own outputs (the listener table comes from raindrops-http's field
//! table).

use std::fmt::Write as _;

use raindrops_core::SafeText;

/// How a column's cells line up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Align {
    /// Text: left-aligned.
    Left,
    /// Numbers: right-aligned.
    Right,
}

/// A table built row by row and written at the end: columns as wide as
/// their widest cell, cells shown through [`SafeText`] (no cell can add a
/// line or drive the terminal), padding written by hand (no width makes it
/// fail), no trailing spaces.
#[derive(Debug)]
pub(crate) struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles and alignments.
    pub(crate) fn new(columns: &[(&'static str, Align)]) -> Self {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are empty, extra ones ignored).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, a header line first.
    pub(crate) fn render(&self) -> String {
        let width = |i: usize| -> usize {
            self.rows
                .iter()
                .filter_map(|r| r.get(i))
                .map(|c| SafeText(c).char_count())
                .fold(self.columns[i].0.len(), usize::max)
        };
        let widths: Vec<usize> = (0..self.columns.len()).map(width).collect();
        let mut s = String::new();
        let titles: Vec<String> = self.columns.iter().map(|c| c.0.to_string()).collect();
        self.line(&mut s, &widths, &titles);
        for r in &self.rows {
            self.line(&mut s, &widths, r);
        }
        s
    }

    fn line(&self, s: &mut String, widths: &[usize], cells: &[String]) {
        let last = self.columns.len().saturating_sub(1);
        for (i, ((_, align), &w)) in self.columns.iter().zip(widths).enumerate() {
            if i > 0 {
                s.push(' ');
            }
            let cell = cells.get(i).map_or("", String::as_str);
            let pad = w.saturating_sub(SafeText(cell).char_count());
            if *align == Align::Right {
                s.extend(std::iter::repeat_n(' ', pad));
            }
            let _ = write!(s, "{}", SafeText(cell));
            if *align == Align::Left && i < last {
                s.extend(std::iter::repeat_n(' ', pad));
            }
        }
        s.push('\n');
    }
}

/// `v`, or `-` where it is unknown.
pub(crate) fn or_dash<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_escaped_and_unbounded() {
        let mut t = Table::new(&[("NAME", Align::Left), ("N", Align::Right)]);
        t.row(vec!["a\nb".into(), "1".into()]);
        t.row(vec!["x".repeat(70_000), "22".into()]);
        let s = t.render();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("a\\x0ab "), "{}", lines[1]);
        assert!(lines[1].ends_with("  1"));
        assert!(lines[2].ends_with(" 22"));
        let mut t = Table::new(&[("A", Align::Right), ("B", Align::Left)]);
        t.row(vec!["1".into(), "x".into()]);
        t.row(vec!["1".into(), "long".into()]);
        assert_eq!(t.render(), "A B\n1 x\n1 long\n");
    }
}
