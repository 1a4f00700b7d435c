//! The text histogram of Ruby's `aggregate` gem (`Aggregate#to_s`).

use core::fmt;

use raindrops_core::Aggregate;

use crate::text::{digits, repeat, spaces};

/// Ruby's `@@LOG_BUCKETS`: the gem keeps 128 buckets, so its last row is
/// never the last bucket and a closing `~` row is always printed.
const RUBY_BUCKETS: usize = 128;

/// Displays an [`Aggregate`]'s histogram as the Ruby `aggregate` gem's
/// `to_s` does for 80 columns, byte for byte:
///
/// ```text
/// value |------------------------------------------------------------------| count
///     1 |@                                                                 |     1
///     2 |@@                                                                |     2
///       ~
/// Total |------------------------------------------------------------------|     3
/// ```
///
/// Zeros (below the lowest bucket) are not shown, as in Ruby; with no
/// other sample the text is `Empty histogram` without a newline.
///
/// ```
/// use raindrops_core::Aggregate;
/// use raindrops_http::HistogramText;
/// let a: Aggregate = [1, 2, 3].into_iter().collect();
/// let text = HistogramText(&a).to_string();
/// assert!(text.starts_with("value |---"));
/// assert!(text.ends_with("|     3\n"));
/// assert_eq!(HistogramText(&Aggregate::new()).to_string(), "Empty histogram");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct HistogramText<'a>(pub &'a Aggregate);

impl fmt::Display for HistogramText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_histogram(f, self.0)
    }
}

pub(crate) fn write_histogram<W: fmt::Write + ?Sized>(w: &mut W, a: &Aggregate) -> fmt::Result {
    let buckets = a.buckets();
    let mut nonzero = buckets.iter().enumerate().filter(|(_, c)| **c > 0);
    let Some((first_idx, _)) = nonzero.next() else {
        return w.write_str("Empty histogram");
    };
    let last_idx = buckets.iter().rposition(|&c| c > 0).unwrap_or(first_idx);
    let max_count = buckets.iter().copied().max().unwrap_or(0);
    let total: u128 = buckets.iter().map(|&c| u128::from(c)).sum();

    let value_width = digits(1u128 << last_idx).max(5);
    let count_width = digits(total).max(5);
    let max_bar_width = 80 - (value_width + 2 + 2 + count_width);
    let weight = (max_count as f64 / max_bar_width as f64).max(1.0);

    write!(w, "{:>value_width$} |", "value")?;
    repeat(w, '-', max_bar_width)?;
    writeln!(w, "| {:>count_width$}", "count")?;

    let skip_row = |w: &mut W| -> fmt::Result {
        spaces(w, value_width)?;
        w.write_str(" ~\n")
    };
    let mut prev = first_idx;
    for (idx, &count) in buckets.iter().enumerate().skip(first_idx) {
        if count == 0 {
            continue;
        }
        if idx != first_idx && prev != idx - 1 {
            skip_row(w)?;
        }
        prev = idx;
        write!(w, "{:>value_width$} |", 1u64 << idx)?;
        // Ruby: (count / weight).to_i, a float division truncated.
        let bar = (count as f64 / weight) as usize;
        repeat(w, '@', bar)?;
        spaces(w, max_bar_width.saturating_sub(bar))?;
        writeln!(w, "| {count:>count_width$}")?;
    }
    if last_idx != RUBY_BUCKETS - 1 {
        skip_row(w)?;
    }
    write!(w, "{:>value_width$} |", "Total")?;
    repeat(w, '-', max_bar_width)?;
    writeln!(w, "| {total:>count_width$}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn ruby_layout() {
        // Printed by Ruby's Aggregate for the samples 0, 1, 4 (the zero is
        // an outlier and not shown).
        let a: Aggregate = [0u64, 1, 4].into_iter().collect();
        assert_eq!(
            HistogramText(&a).to_string(),
            "value |------------------------------------------------------------------| count\n\
             \x20   1 |@                                                                 |     1\n\
             \x20     ~\n\
             \x20   4 |@                                                                 |     1\n\
             \x20     ~\n\
             Total |------------------------------------------------------------------|     2\n"
        );
    }
}
