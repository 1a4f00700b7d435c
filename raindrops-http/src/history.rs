//! The recent samples of one listener, in a bounded ring, for the charts of
//! the Watcher pages.

use alloc::collections::VecDeque;
use core::ops::ControlFlow;
use core::time::Duration;

use raindrops_core::ListenStats;

use crate::chart::{ChartPoint, ChartVisitor};
use crate::time::Timestamp;

/// The most recent samples kept per listener: five minutes at the default
/// one-second delay. A sample takes 24 bytes, so a listener's history
/// takes at most about 7 KiB; it grows only as samples arrive, so a
/// listener seen once costs a few dozen bytes.
pub const CHART_SAMPLES: usize = 300;

/// One sample, compact: time as milliseconds after the history's origin.
#[derive(Clone, Copy, Debug)]
struct Point {
    ms: u64,
    active: u32,
    queued: u32,
    /// `u32::MAX`: unknown (no listen queue is that long).
    backlog: u32,
}

/// A ring of the last [`CHART_SAMPLES`] samples of one listener.
#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    points: VecDeque<Point>,
}

impl History {
    /// Appends the sample taken at `at` (`origin` is the watcher's start),
    /// dropping the oldest beyond the capacity.
    pub(crate) fn push(&mut self, origin: Timestamp, at: Timestamp, stats: &ListenStats) {
        if self.points.len() >= CHART_SAMPLES {
            self.points.pop_front();
        }
        let ms = u64::try_from(at.saturating_sub(origin).as_millis()).unwrap_or(u64::MAX);
        self.points.push_back(Point {
            ms,
            active: stats.active,
            queued: stats.queued,
            backlog: stats.backlog.unwrap_or(u32::MAX),
        });
    }

    /// Visits the samples, oldest first.
    pub(crate) fn visit(&self, origin: Timestamp, visit: &mut ChartVisitor<'_>) -> ControlFlow<()> {
        for p in &self.points {
            visit(&ChartPoint {
                at: origin.saturating_add(Duration::from_millis(p.ms)),
                active: p.active,
                queued: p.queued,
                backlog: (p.backlog != u32::MAX).then_some(p.backlog),
            })?;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn bounded_and_in_order() {
        let origin = Timestamp::new(1_000, 0);
        let mut h = History::default();
        for i in 0..CHART_SAMPLES as u32 + 10 {
            let at = origin.saturating_add(Duration::from_millis(u64::from(i) * 500));
            h.push(origin, at, &ListenStats::new(i, i + 1).with_backlog(7));
        }
        assert_eq!(h.points.len(), CHART_SAMPLES);
        let mut seen = Vec::new();
        let _ = h.visit(origin, &mut |p| {
            seen.push(*p);
            ControlFlow::Continue(())
        });
        assert_eq!(seen.len(), CHART_SAMPLES);
        assert_eq!(seen[0].active, 10);
        assert_eq!(seen[0].at, Timestamp::new(1_005, 0));
        assert_eq!(seen[CHART_SAMPLES - 1].queued, CHART_SAMPLES as u32 + 10);
        assert!(seen.iter().all(|p| p.backlog == Some(7)));
        let mut h = History::default();
        h.push(origin, origin, &ListenStats::new(0, 0));
        let _ = h.visit(origin, &mut |p| {
            assert_eq!(p.backlog, None);
            ControlFlow::Continue(())
        });
        assert_eq!(core::mem::size_of::<Point>(), 24);
    }
}
