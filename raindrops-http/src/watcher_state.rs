//! [`WatcherState`]: the sampled history behind the Watcher pages.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::ControlFlow;
use core::time::Duration;

use raindrops_core::{Aggregate, ListenStats, Listener};

use crate::chart::ChartVisitor;
use crate::history::History;
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
/// its history until it comes back — within bounds, unlike Ruby: the
/// history of listeners absent from the last sample is forgotten after
/// [`forget_after`](Self::set_retention) or, past
/// [`max_absent`](Self::set_retention) of them, oldest-seen first, so that
/// memory stays bounded however many short-lived listeners come and go.
///
/// It also keeps the last [`CHART_SAMPLES`](crate::CHART_SAMPLES) samples
/// of each listener for the charts of its page ([`Watcher::recent`]).
///
/// It is also a [`StatsSource`]: the last sample as listeners, and each
/// listener's aggregates as the histograms `raindrops_watcher_active` and
/// `raindrops_watcher_queued`.
///
/// ```
/// use core::time::Duration;
/// use raindrops_core::{Family, ListenStats, Listener};
/// use raindrops_http::{Timestamp, Watcher, WatcherState, Which};
///
/// let mut w = WatcherState::new(Timestamp::new(1_700_000_000, 0), Duration::from_secs(1));
/// for (i, q) in [0u32, 3, 1].into_iter().enumerate() {
///     let now = Timestamp::new(1_700_000_001 + i as i64, 0);
///     w.record(now, [Listener::new("127.0.0.1:8080", Family::Tcp4, ListenStats::new(1, q))]);
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
    snapshot: Vec<Listener<String>>,
    entries: BTreeMap<String, Entry>,
    max_absent: usize,
    forget_after: Duration,
}

/// The default bound on the histories of absent listeners kept.
const MAX_ABSENT: usize = 1024;
/// The default time after which an absent listener's history is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

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
    /// When the listener was last in a sample.
    seen_at: Timestamp,
    peak_active: Peak,
    peak_queued: Peak,
    /// The last samples, for the charts (a reset keeps them).
    history: History,
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
            max_absent: MAX_ABSENT,
            forget_after: FORGET_AFTER,
        }
    }

    /// Bounds the histories kept for listeners absent from the last
    /// sample: at most `max_absent` of them (the least recently seen go
    /// first), none absent for longer than `forget_after`. The defaults
    /// are 1024 and one hour.
    pub fn set_retention(&mut self, max_absent: usize, forget_after: Duration) {
        self.max_absent = max_absent;
        self.forget_after = forget_after;
        self.evict();
    }

    /// The number of listeners with a history (present or absent).
    pub fn histories(&self) -> usize {
        self.entries.len()
    }

    /// Forgets the histories of absent listeners beyond the retention.
    fn evict(&mut self) {
        let now = self.updated_at;
        let forget = self.forget_after;
        let present = &self.snapshot;
        let is_present = |name: &str| {
            present
                .binary_search_by(|l| l.name.as_str().cmp(name))
                .is_ok()
        };
        self.entries
            .retain(|name, e| is_present(name) || now.saturating_sub(e.seen_at) <= forget);
        let absent = self.entries.len().saturating_sub(present.len());
        if absent > self.max_absent {
            let mut seen: Vec<(Timestamp, String)> = self
                .entries
                .iter()
                .filter(|(n, _)| !is_present(n))
                .map(|(n, e)| (e.seen_at, n.clone()))
                .collect();
            seen.sort_unstable();
            for (_, name) in seen.into_iter().take(absent - self.max_absent) {
                self.entries.remove(&name);
            }
        }
    }

    /// Records one sampling round taken at `now`: every listener (TCP and
    /// Unix together; for a name given twice the last wins, as in Ruby's
    /// merged hash). The round becomes the last sample.
    pub fn record<N, I>(&mut self, now: Timestamp, listeners: I)
    where
        N: AsRef<str>,
        I: IntoIterator<Item = Listener<N>>,
    {
        self.snapshot.clear();
        for l in listeners {
            self.snapshot.push(l.map_name(|n| String::from(n.as_ref())));
        }
        // Stable sort, then keep the last of equal names.
        self.snapshot.sort_by(|a, b| a.name.cmp(&b.name));
        self.snapshot.reverse();
        self.snapshot.dedup_by(|a, b| a.name == b.name);
        self.snapshot.reverse();
        if self.snapshot.capacity() > 4 * self.snapshot.len() + 64 {
            self.snapshot.shrink_to_fit();
        }
        for l in &self.snapshot {
            let (name, stats) = (&l.name, &l.stats);
            let start = self.start;
            let e = self.entries.entry(name.clone()).or_insert_with(|| Entry {
                active: Aggregate::new(),
                queued: Aggregate::new(),
                sampled: false,
                reset_at: start,
                seen_at: now,
                peak_active: Peak {
                    first: start,
                    last: start,
                },
                peak_queued: Peak {
                    first: start,
                    last: start,
                },
                history: History::default(),
            });
            e.history.push(start, now, stats);
            e.sampled = true;
            e.seen_at = now;
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
        self.evict();
    }

    /// When the history started.
    pub const fn start(&self) -> Timestamp {
        self.start
    }

    /// The last sample, sorted by address.
    pub fn last_sample(&self) -> &[Listener<String>] {
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

    fn sampled(&self, visit: &mut ListenerVisitor<'_>) -> ControlFlow<()> {
        for l in &self.snapshot {
            visit(&l.as_ref())?;
        }
        ControlFlow::Continue(())
    }

    fn current(&self, addr: &str) -> Option<ListenStats> {
        self.snapshot
            .binary_search_by(|l| l.name.as_str().cmp(addr))
            .ok()
            .map(|i| self.snapshot[i].stats)
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

    fn recent(&self, addr: &str, visit: &mut ChartVisitor<'_>) -> ControlFlow<()> {
        match self.entries.get(addr) {
            Some(e) => e.history.visit(self.start, visit),
            None => ControlFlow::Continue(()),
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
    /// The last sample: TCP listeners, then Unix ones, each sorted by
    /// address.
    fn listeners(&self, visit: &mut ListenerVisitor<'_>) -> ControlFlow<()> {
        for tcp in [true, false] {
            for l in self.snapshot.iter().filter(|l| l.family.is_tcp() == tcp) {
                visit(&l.as_ref())?;
            }
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
            for l in &self.snapshot {
                let addr = &l.name;
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
    use raindrops_core::Family;

    fn t(s: i64) -> Timestamp {
        Timestamp::new(1_700_000_000 + s, 0)
    }

    fn tcp(name: &str, stats: ListenStats) -> Listener<&str> {
        Listener::new(name, Family::Tcp4, stats)
    }

    #[test]
    fn peaks_and_resets_follow_ruby() {
        let mut w = WatcherState::new(t(0), Duration::from_secs(1));
        let a = "127.0.0.1:80";
        for (i, n) in [0u32, 2, 2, 1, 2].into_iter().enumerate() {
            w.record(t(1 + i as i64), [tcp(a, ListenStats::new(n, 0))]);
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
                tcp("b", ListenStats::new(1, 1)),
                Listener::new("/a", Family::Unix, ListenStats::new(2, 2)),
                tcp("b", ListenStats::new(3, 3)),
            ],
        );
        let names: Vec<_> = w
            .last_sample()
            .iter()
            .map(|l| (l.name.as_str(), l.stats.active))
            .collect();
        assert_eq!(names, [("/a", 2), ("b", 3)]);
        assert_eq!(w.current("b").map(|s| s.queued), Some(3));
        assert_eq!(w.current("c"), None);
    }

    #[test]
    fn absent_histories_are_bounded() {
        let mut w = WatcherState::new(t(0), Duration::from_secs(1));
        w.set_retention(3, Duration::from_secs(100));
        let names: Vec<String> = (0..10).map(|i| std::format!("@transient-{i}")).collect();
        for (i, n) in names.iter().enumerate() {
            let l = Listener::new(n.as_str(), Family::Unix, ListenStats::new(0, 0));
            w.record(
                t(i as i64 + 1),
                [tcp("127.0.0.1:80", ListenStats::new(1, 0)), l],
            );
        }
        // The present two, and the three most recently seen absent ones.
        assert_eq!(w.histories(), 5);
        assert!(w.reset("@transient-8", None), "recent history kept");
        assert!(!w.reset("@transient-1", None), "old history forgotten");
        // Past forget_after, absent histories go whatever their number.
        w.record(t(200), [tcp("127.0.0.1:80", ListenStats::new(1, 0))]);
        assert_eq!(w.histories(), 1);
        // A listener that comes back within the retention keeps its history.
        w.record(t(201), [tcp("127.0.0.1:80", ListenStats::new(1, 0))]);
        assert_eq!(
            w.summary("127.0.0.1:80", Which::Active).aggregate.count(),
            12
        );
    }
}
