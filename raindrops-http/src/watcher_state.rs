//! [`WatcherState`]: the sampled history behind the Watcher pages.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::ControlFlow;
use core::time::Duration;

use raindrops_core::{Aggregate, ListenStats, is_unix_name};

use crate::source::{Histogram, ListenerVisitor, StatsSource};
use crate::time::Timestamp;
use crate::watcher::{Summary, Watcher, Which};

/// Per-listener aggregates of the sampled `active` and `queued` numbers,
/// their peaks and reset times: what Ruby's `Raindrops::Watcher` keeps,
/// fed by the caller (no thread, no clock, no socket here).
///
/// The caller samples the listeners every [`delay`](Watcher::delay) and
/// passes each round to [`record`](Self::record); the [`Router`](crate::Router)
/// renders the pages from it and resets it on `POST /reset/ADDR`.
///
/// It follows Ruby's rules: a peak is updated when a non-zero sample
/// reaches the maximum so far (`first` only when it exceeds it), a reset
/// forgets the samples but keeps the peaks, and a listener that leaves keeps
/// its history until it comes back.
///
/// It is also a [`StatsSource`]: the last sample as listeners (TCP and Unix
/// told apart by the name), and each listener's aggregates as the
/// histograms `raindrops_watcher_active` and `raindrops_watcher_queued`.
///
/// ```
/// use core::time::Duration;
/// use raindrops_core::ListenStats;
/// use raindrops_http::{Timestamp, Watcher, WatcherState, Which};
///
/// let mut w = WatcherState::new(Timestamp::new(1_700_000_000, 0), Duration::from_secs(1));
/// for (i, q) in [0u32, 3, 1].into_iter().enumerate() {
///     let now = Timestamp::new(1_700_000_001 + i as i64, 0);
///     w.record(now, [("127.0.0.1:8080", ListenStats::new(1, q))]);
/// }
/// let s = w.summary("127.0.0.1:8080", Which::Queued);
/// assert_eq!((s.aggregate.count(), s.aggregate.max(), s.current), (3, Some(3), 1));
/// assert_eq!(s.first_peak_at, Timestamp::new(1_700_000_002, 0));
/// ```
#[derive(Clone, Debug)]
pub struct WatcherState {
    start: Timestamp,
    delay: Duration,
    updated_at: Timestamp,
    /// The last sample, sorted by address, no duplicates.
    snapshot: Vec<(String, ListenStats)>,
    entries: BTreeMap<String, Entry>,
}

#[derive(Clone, Debug)]
struct Peak {
    first: Timestamp,
    last: Timestamp,
}

#[derive(Clone, Debug)]
struct Entry {
    active: Aggregate,
    queued: Aggregate,
    /// Whether samples were recorded since the last reset (Ruby's
    /// `@active.include?(addr)`).
    sampled: bool,
    reset_at: Timestamp,
    peak_active: Peak,
    peak_queued: Peak,
}

static EMPTY: Aggregate = Aggregate::new();

impl WatcherState {
    /// An empty history started at `start`, sampled every `delay` (Ruby's
    /// `:delay`, 1 second by default).
    pub fn new(start: Timestamp, delay: Duration) -> Self {
        WatcherState {
            start,
            delay,
            updated_at: start,
            snapshot: Vec::new(),
            entries: BTreeMap::new(),
        }
    }

    /// Records one sampling round taken at `now`: every listener's stats
    /// (TCP and Unix together; for a name given twice the last wins, as in
    /// Ruby's merged hash). The round becomes the last sample.
    pub fn record<N, I>(&mut self, now: Timestamp, listeners: I)
    where
        N: AsRef<str>,
        I: IntoIterator<Item = (N, ListenStats)>,
    {
        self.snapshot.clear();
        for (name, stats) in listeners {
            self.snapshot.push((String::from(name.as_ref()), stats));
        }
        // Stable sort, then keep the last of equal names.
        self.snapshot.sort_by(|a, b| a.0.cmp(&b.0));
        let mut i = 0;
        while i + 1 < self.snapshot.len() {
            if self.snapshot[i].0 == self.snapshot[i + 1].0 {
                self.snapshot.remove(i);
            } else {
                i += 1;
            }
        }
        for (name, stats) in &self.snapshot {
            let start = self.start;
            let e = self.entries.entry(name.clone()).or_insert_with(|| Entry {
                active: Aggregate::new(),
                queued: Aggregate::new(),
                sampled: false,
                reset_at: start,
                peak_active: Peak {
                    first: start,
                    last: start,
                },
                peak_queued: Peak {
                    first: start,
                    last: start,
                },
            });
            e.sampled = true;
            sample(
                &mut e.active,
                &mut e.peak_active,
                u64::from(stats.active),
                now,
            );
            sample(
                &mut e.queued,
                &mut e.peak_queued,
                u64::from(stats.queued),
                now,
            );
        }
        self.updated_at = now;
    }

    /// When the history started.
    pub const fn start(&self) -> Timestamp {
        self.start
    }

    /// The last sample, sorted by address.
    pub fn last_sample(&self) -> &[(String, ListenStats)] {
        &self.snapshot
    }
}

/// Ruby's `aggregate!`: a non-zero sample reaching the maximum so far moves
/// the last peak, exceeding it also the first.
fn sample(agg: &mut Aggregate, peak: &mut Peak, n: u64, now: Timestamp) {
    if let Some(max) = agg.max() {
        if n > 0 && n >= max {
            if n > max {
                peak.first = now;
            }
            peak.last = now;
        }
    }
    agg.push(n);
}

impl Watcher for WatcherState {
    fn updated_at(&self) -> Timestamp {
        self.updated_at
    }

    fn delay(&self) -> Duration {
        self.delay
    }

    fn listeners(&self, visit: &mut ListenerVisitor<'_>) -> ControlFlow<()> {
        for (name, stats) in &self.snapshot {
            visit(name, stats)?;
        }
        ControlFlow::Continue(())
    }

    fn current(&self, addr: &str) -> Option<ListenStats> {
        self.snapshot
            .binary_search_by(|(n, _)| n.as_str().cmp(addr))
            .ok()
            .map(|i| self.snapshot[i].1)
    }

    fn summary(&self, addr: &str, which: Which) -> Summary<'_> {
        let empty = Summary {
            updated_at: self.updated_at,
            reset_at: self.start,
            aggregate: &EMPTY,
            current: 0,
            first_peak_at: self.start,
            last_peak_at: self.start,
        };
        let (Some(stats), Some(e)) = (self.current(addr), self.entries.get(addr)) else {
            return empty;
        };
        let (aggregate, peak, current) = match which {
            Which::Active => (&e.active, &e.peak_active, stats.active),
            Which::Queued => (&e.queued, &e.peak_queued, stats.queued),
        };
        Summary {
            updated_at: self.updated_at,
            reset_at: e.reset_at,
            aggregate,
            current: u64::from(current),
            first_peak_at: peak.first,
            last_peak_at: peak.last,
        }
    }

    fn reset(&mut self, addr: &str, now: Option<Timestamp>) -> bool {
        let now = now.unwrap_or(self.updated_at);
        match self.entries.get_mut(addr) {
            Some(e) if e.sampled => {
                e.active.clear();
                e.queued.clear();
                e.sampled = false;
                e.reset_at = now;
                true
            }
            _ => false,
        }
    }
}

impl StatsSource for WatcherState {
    fn tcp_listeners(&self, visit: &mut ListenerVisitor<'_>) -> ControlFlow<()> {
        for (name, stats) in self.snapshot.iter().filter(|(n, _)| !is_unix_name(n)) {
            visit(name, stats)?;
        }
        ControlFlow::Continue(())
    }

    fn unix_listeners(&self, visit: &mut ListenerVisitor<'_>) -> ControlFlow<()> {
        for (name, stats) in self.snapshot.iter().filter(|(n, _)| is_unix_name(n)) {
            visit(name, stats)?;
        }
        ControlFlow::Continue(())
    }

    fn histograms(
        &self,
        visit: &mut dyn FnMut(&Histogram<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        for which in [Which::Active, Which::Queued] {
            let (name, help) = match which {
                Which::Active => (
                    "raindrops_watcher_active",
                    "Sampled active connections per listener since the last reset.",
                ),
                Which::Queued => (
                    "raindrops_watcher_queued",
                    "Sampled queued connections per listener since the last reset.",
                ),
            };
            for (addr, _) in &self.snapshot {
                let Some(e) = self.entries.get(addr) else {
                    continue;
                };
                let labels = [("listener", addr.as_str())];
                visit(&Histogram {
                    name,
                    help,
                    labels: &labels,
                    aggregate: match which {
                        Which::Active => &e.active,
                        Which::Queued => &e.queued,
                    },
                })?;
            }
        }
        ControlFlow::Continue(())
    }

    fn watcher(&mut self) -> Option<&mut dyn Watcher> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::new(1_700_000_000 + s, 0)
    }

    #[test]
    fn peaks_and_resets_follow_ruby() {
        let mut w = WatcherState::new(t(0), Duration::from_secs(1));
        let a = "127.0.0.1:80";
        for (i, n) in [0u32, 2, 2, 1, 2].into_iter().enumerate() {
            w.record(t(1 + i as i64), [(a, ListenStats::new(n, 0))]);
        }
        let s = w.summary(a, Which::Active);
        assert_eq!(s.first_peak_at, t(2));
        assert_eq!(s.last_peak_at, t(5));
        assert_eq!(s.aggregate.count(), 5);
        // queued never rose above 0: the peak stays at the start.
        let q = w.summary(a, Which::Queued);
        assert_eq!((q.first_peak_at, q.last_peak_at), (t(0), t(0)));
        assert!(!w.reset("1.2.3.4:5", None));
        assert!(w.reset(a, Some(t(9))));
        assert!(!w.reset(a, Some(t(9))), "nothing sampled since");
        let s = w.summary(a, Which::Active);
        assert_eq!((s.aggregate.count(), s.reset_at), (0, t(9)));
        assert_eq!(s.last_peak_at, t(5), "a reset keeps the peaks");
        assert_eq!(s.current, 2);
        // An address not in the last sample: Ruby's empty summary.
        let s = w.summary("/nope", Which::Queued);
        assert_eq!((s.aggregate.count(), s.reset_at, s.current), (0, t(0), 0));
    }

    #[test]
    fn duplicates_and_order() {
        let mut w = WatcherState::new(t(0), Duration::from_secs(1));
        w.record(
            t(1),
            [
                ("b", ListenStats::new(1, 1)),
                ("/a", ListenStats::new(2, 2)),
                ("b", ListenStats::new(3, 3)),
            ],
        );
        let names: Vec<_> = w
            .last_sample()
            .iter()
            .map(|(n, s)| (n.as_str(), s.active))
            .collect();
        assert_eq!(names, [("/a", 2), ("b", 3)]);
        assert_eq!(w.current("b").map(|s| s.queued), Some(3));
        assert_eq!(w.current("c"), None);
    }
}
