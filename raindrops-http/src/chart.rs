//! Inline SVG charts of a listener's recent samples, for the Watcher's
//! per-listener pages: no JavaScript, no outside assets, no allocation.

use core::fmt;
use core::ops::ControlFlow;

use crate::time::Timestamp;
use crate::watcher::{Watcher, Which};

/// One recent sample of a listener, as the charts draw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChartPoint {
    /// When the sample was taken.
    pub at: Timestamp,
    /// Accepted connections then.
    pub active: u32,
    /// Connections waiting in the accept queue then.
    pub queued: u32,
    /// The accept-queue limit then, if known.
    pub backlog: Option<u32>,
}

/// The visitor type of [`Watcher::recent`]: each recent sample, oldest
/// first.
pub type ChartVisitor<'a> = dyn FnMut(&ChartPoint) -> ControlFlow<()> + 'a;

// The geometry of a chart, in SVG user units; the SVG scales to the page
// width (a phone shows it smaller, never cut).
const WIDTH: u32 = 600;
const HEIGHT: u32 = 150;
const LEFT: u32 = 52;
const RIGHT: u32 = 8;
const TOP: u32 = 10;
const BOTTOM: u32 = 24;
const PLOT_W: u32 = WIDTH - LEFT - RIGHT;
const PLOT_H: u32 = HEIGHT - TOP - BOTTOM;

/// The colours of the lines, also named by the pages' style sheet.
const ACTIVE_COLOUR: &str = "#1f77b4";
const QUEUED_COLOUR: &str = "#d62728";
const BACKLOG_COLOUR: &str = "#7f7f7f";

/// What one pass over the samples found.
#[derive(Clone, Copy, Debug, Default)]
struct Extent {
    count: usize,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    max: u64,
    backlog: bool,
}

/// Writes the chart of `which` for `addr` from [`Watcher::recent`]: an
/// `<svg id="chart-active">` with the active connections, or
/// `<svg id="chart-queued">` with the queued ones and, dashed, the backlog
/// they are measured against (the y axis then reaches the backlog, so a
/// full queue touches the dashed line).
///
/// The `<svg>` carries `data-max` (the value at the top of the plot),
/// `data-top` and `data-height` (the plot's vertical extent) and
/// `data-samples`, so a test can read the values back from the
/// `points` of the `<polyline class="active|queued">`: `value = (top +
/// height - y) / height * max`.
pub fn render_chart<V: Watcher + ?Sized, W: fmt::Write + ?Sized>(
    watcher: &V,
    addr: &str,
    which: Which,
    w: &mut W,
) -> fmt::Result {
    let mut e = Extent::default();
    let _ = watcher.recent(addr, &mut |p| {
        e.count += 1;
        e.first.get_or_insert(p.at);
        e.last = Some(p.at);
        let v = match which {
            Which::Active => u64::from(p.active),
            Which::Queued => {
                e.backlog |= p.backlog.is_some();
                u64::from(p.queued).max(p.backlog.map_or(0, u64::from))
            }
        };
        e.max = e.max.max(v);
        ControlFlow::Continue(())
    });
    let max = e.max.max(1);
    let (name, colour) = match which {
        Which::Active => ("active", ACTIVE_COLOUR),
        Which::Queued => ("queued", QUEUED_COLOUR),
    };
    write!(
        w,
        "<svg id='chart-{name}' class='chart' xmlns='http://www.w3.org/2000/svg' \
         viewBox='0 0 {WIDTH} {HEIGHT}' role='img' data-max='{max}' data-top='{TOP}' \
         data-height='{PLOT_H}' data-samples='{}'><title>{name}",
        e.count
    )?;
    if which == Which::Queued && e.backlog {
        w.write_str(" (dashed: backlog)")?;
    }
    w.write_str(" over the recent samples</title>")?;
    // Axes: the baseline and the top, labelled with their values.
    let (x0, x1, y0, y1) = (LEFT, LEFT + PLOT_W, TOP + PLOT_H, TOP);
    write!(
        w,
        "<g fill='none' stroke='#ccc' stroke-width='1'>\
         <line x1='{x0}' y1='{y0}' x2='{x1}' y2='{y0}'/>\
         <line x1='{x0}' y1='{y1}' x2='{x1}' y2='{y1}' stroke-dasharray='2 3'/>\
         <line x1='{x0}' y1='{y1}' x2='{x0}' y2='{y0}'/></g>\
         <g font-size='12' fill='#555' font-family='sans-serif'>\
         <text x='{}' y='{}' text-anchor='end'>{max}</text>\
         <text x='{}' y='{}' text-anchor='end'>0</text>",
        x0 - 4,
        y1 + 10,
        x0 - 4,
        y0 + 4,
    )?;
    let (Some(first), Some(last)) = (e.first, e.last) else {
        write!(
            w,
            "<text x='{}' y='{}' text-anchor='middle'>no samples yet</text></g></svg>",
            x0 + PLOT_W / 2,
            TOP + PLOT_H / 2
        )?;
        return Ok(());
    };
    let span = last.saturating_sub(first);
    write!(w, "<text x='{x0}' y='{}'>", HEIGHT - 6)?;
    write_ago(w, span.as_secs())?;
    write!(
        w,
        "</text><text x='{x1}' y='{}' text-anchor='end'>now</text></g>",
        HEIGHT - 6
    )?;
    let span_ms = span.as_millis().max(1) as f64;
    let x = |t: Timestamp| -> f64 {
        if span.is_zero() {
            f64::from(x1)
        } else {
            f64::from(x0) + t.saturating_sub(first).as_millis() as f64 / span_ms * f64::from(PLOT_W)
        }
    };
    let y = |v: u64| -> f64 { f64::from(y0) - v as f64 / max as f64 * f64::from(PLOT_H) };
    let line = |w: &mut W,
                class: &str,
                colour: &str,
                dash: bool,
                pick: fn(&ChartPoint) -> Option<u64>|
     -> fmt::Result {
        write!(
            w,
            "<polyline class='{class}' fill='none' stroke='{colour}' stroke-width='2'"
        )?;
        if dash {
            w.write_str(" stroke-dasharray='6 4'")?;
        }
        w.write_str(" points='")?;
        let mut res = Ok(());
        let mut sep = "";
        let _ = watcher.recent(addr, &mut |p| {
            if let Some(v) = pick(p) {
                res = write!(w, "{sep}{:.1},{:.1}", x(p.at), y(v));
                sep = " ";
            }
            if res.is_ok() {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        });
        res?;
        w.write_str("'/>")
    };
    match which {
        Which::Active => line(w, "active", colour, false, |p| Some(u64::from(p.active)))?,
        Which::Queued => {
            if e.backlog {
                line(w, "backlog", BACKLOG_COLOUR, true, |p| {
                    p.backlog.map(u64::from)
                })?;
            }
            line(w, "queued", colour, false, |p| Some(u64::from(p.queued)))?;
        }
    }
    w.write_str("</svg>")
}

/// `-5m`, `-42s`, `-2h`: how long before the last sample the first was.
fn write_ago<W: fmt::Write + ?Sized>(w: &mut W, secs: u64) -> fmt::Result {
    match secs {
        0..120 => write!(w, "-{secs}s"),
        120..7200 => write!(w, "-{}m", secs / 60),
        _ => write!(w, "-{}h", secs / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watcher::Summary;
    use core::time::Duration;
    use raindrops_core::{Aggregate, ListenStats};
    use std::string::String;
    use std::vec::Vec;

    /// A watcher with fixed recent samples.
    struct Fixed(Vec<ChartPoint>);

    static EMPTY: Aggregate = Aggregate::new();

    impl Watcher for Fixed {
        fn updated_at(&self) -> Timestamp {
            Timestamp::new(0, 0)
        }
        fn delay(&self) -> Duration {
            Duration::from_secs(1)
        }
        fn sampled(&self, _: &mut crate::ListenerVisitor<'_>) -> ControlFlow<()> {
            ControlFlow::Continue(())
        }
        fn current(&self, _: &str) -> Option<ListenStats> {
            None
        }
        fn summary(&self, _: &str, _: Which) -> Summary<'_> {
            let t = Timestamp::new(0, 0);
            Summary {
                updated_at: t,
                reset_at: t,
                aggregate: &EMPTY,
                current: 0,
                first_peak_at: t,
                last_peak_at: t,
            }
        }
        fn reset(&mut self, _: &str, _: Option<Timestamp>) -> bool {
            false
        }
        fn recent(&self, _: &str, visit: &mut ChartVisitor<'_>) -> ControlFlow<()> {
            for p in &self.0 {
                visit(p)?;
            }
            ControlFlow::Continue(())
        }
    }

    fn points_of(svg: &str, class: &str) -> Vec<(f64, f64)> {
        let start = svg.find(&std::format!("class='{class}'")).unwrap();
        let p = &svg[start..];
        let p = &p[p.find("points='").unwrap() + 8..];
        let p = &p[..p.find('\'').unwrap()];
        p.split(' ')
            .map(|xy| {
                let (x, y) = xy.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn points_follow_the_samples() {
        let pts: Vec<ChartPoint> = [0u32, 1, 2, 4, 4]
            .iter()
            .enumerate()
            .map(|(i, &q)| ChartPoint {
                at: Timestamp::new(100 + i as i64, 0),
                active: 4 - q,
                queued: q,
                backlog: Some(8),
            })
            .collect();
        let w = Fixed(pts);
        let mut s = String::new();
        render_chart(&w, "x", Which::Queued, &mut s).unwrap();
        assert!(s.starts_with("<svg id='chart-queued'"), "{s}");
        assert!(
            s.contains("data-max='8'") && s.contains("data-samples='5'"),
            "{s}"
        );
        let q = points_of(&s, "queued");
        let values: Vec<f64> = q
            .iter()
            .map(|&(_, y)| (f64::from(TOP + PLOT_H) - y) / f64::from(PLOT_H) * 8.0)
            .collect();
        for (v, want) in values.iter().zip([0.0, 1.0, 2.0, 4.0, 4.0]) {
            assert!((v - want).abs() < 0.01, "{values:?}");
        }
        // Evenly spaced in time, from the left edge to the right one.
        assert_eq!(q[0].0, f64::from(LEFT));
        assert_eq!(q[4].0, f64::from(LEFT + PLOT_W));
        assert_eq!(points_of(&s, "backlog").len(), 5);
        assert!(s.contains(">-4s<"), "{s}");
        s.clear();
        render_chart(&w, "x", Which::Active, &mut s).unwrap();
        assert!(s.contains("data-max='4'") && !s.contains("backlog"), "{s}");
        assert_eq!(points_of(&s, "active")[0].1, f64::from(TOP));
    }

    #[test]
    fn empty_and_single() {
        let mut s = String::new();
        render_chart(&Fixed(Vec::new()), "x", Which::Active, &mut s).unwrap();
        assert!(s.contains("no samples yet") && s.ends_with("</svg>"), "{s}");
        let one = ChartPoint {
            at: Timestamp::new(5, 0),
            active: 0,
            queued: 0,
            backlog: None,
        };
        s.clear();
        render_chart(&Fixed(std::vec![one]), "x", Which::Queued, &mut s).unwrap();
        assert_eq!(
            points_of(&s, "queued"),
            [(f64::from(LEFT + PLOT_W), f64::from(TOP + PLOT_H))]
        );
        assert!(s.contains("data-max='1'"), "{s}");
    }
}
