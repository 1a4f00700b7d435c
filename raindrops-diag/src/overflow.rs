//! Accept-queue overflows per listener: the kernel's per-listener drop
//! counters split, with the namespace's `TcpExt` counters, into real
//! overflows and the drops that are normal for `TCP_DEFER_ACCEPT`.
//!
//! A listener's `drops` (`sk_drops`, what `ss -ltm` shows as `d`) counts
//! two very different things (see `docs/listener-stats.md`):
//!
//! - every handshake the kernel dropped because the accept queue was full
//!   (each also counts in the namespace's `ListenOverflows` and
//!   `ListenDrops`), which operators page on;
//! - on a `TCP_DEFER_ACCEPT` listener, every final handshake ACK that
//!   arrived without data (each also counts in `TCPDeferAcceptDrop`),
//!   which is how deferring works: a healthy unicorn grows `drops` with
//!   every connection.
//!
//! [`attribute`] splits the growth of the listeners' `drops` over one
//! interval into overflows, from the growth of those namespace counters;
//! [`OverflowTracker`] keeps the previous sample and a running total per
//! listener. The attribution is **exact** when the interval leaves no
//! choice:
//!
//! - no `ListenOverflows` in the namespace: no listener overflowed;
//! - one listener's `drops` grew: the namespace's overflows are its own;
//! - no `TCPDeferAcceptDrop` and as many overflows as the listeners'
//!   drops: every listener's drops are its overflows.
//!
//! Otherwise (several listeners' drops grew while both overflows and
//! deferred ACKs happened) it is an **estimate**: the overflows go first to
//! the listeners whose queue was full (`queued >= backlog`) at either end
//! of the interval, in proportion to their drops and never more than
//! them, the rest in proportion to the drops of the others. Without the
//! namespace counters (`/proc/net/netstat` unreadable), only the drops of
//! listeners found at capacity count, as an estimate.
//!
//! The attribution needs the drops of **every** TCP listener of the
//! namespace, since the namespace counters cover them all.
//! [`OverflowWatch`] does the whole round for a program sampling its own
//! namespace: the namespace counters, the dump of every TCP listener, the
//! running totals set in the sampled listeners.

pub use crate::overflow_watch::OverflowWatch;

use std::collections::HashMap;
use std::string::String;
use std::vec::Vec;

/// One listener over one interval, as [`attribute`] reads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interval {
    /// How much the listener's `drops` grew.
    pub drops: u64,
    /// Whether its accept queue was at capacity (`queued >= backlog`) at
    /// either end of the interval.
    pub at_capacity: bool,
}

/// How much the namespace's `TcpExt` counters grew over the interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NamespaceGrowth {
    /// `ListenOverflows`.
    pub listen_overflows: u64,
    /// `ListenDrops` (overflows included).
    pub listen_drops: u64,
    /// `TCPDeferAcceptDrop`.
    pub defer_accept_drops: u64,
}

/// The overflows of one listener over one interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overflows {
    /// Handshakes dropped because the accept queue was full.
    pub count: u64,
    /// Whether the count is exact (see the [module docs](self)).
    pub exact: bool,
}

/// Splits the drop growth of every TCP listener of a namespace over one
/// interval into accept-queue overflows, with the growth of the
/// namespace's counters when known. The result is in the order of
/// `listeners`; a listener never gets more overflows than its drops.
///
/// ```
/// use raindrops_diag::overflow::{attribute, Interval, NamespaceGrowth};
/// // A healthy TCP_DEFER_ACCEPT listener: drops grew by 40, all of them
/// // deferred ACKs; no overflow anywhere in the namespace.
/// let ns = NamespaceGrowth { defer_accept_drops: 40, ..Default::default() };
/// let o = attribute(&[Interval { drops: 40, at_capacity: false }], Some(&ns));
/// assert_eq!((o[0].count, o[0].exact), (0, true));
/// ```
pub fn attribute(listeners: &[Interval], ns: Option<&NamespaceGrowth>) -> Vec<Overflows> {
    let mut out = std::vec![Overflows::default(); listeners.len()];
    let dropping: Vec<usize> = (0..listeners.len())
        .filter(|&i| listeners[i].drops > 0)
        .collect();
    let Some(ns) = ns else {
        // No namespace counters: a listener found at capacity overflowed
        // (its drops), the others are not counted; an estimate either way.
        for (o, l) in out.iter_mut().zip(listeners) {
            o.count = if l.at_capacity { l.drops } else { 0 };
        }
        return out;
    };
    for o in &mut out {
        o.exact = true;
    }
    let overflows = ns.listen_overflows;
    if overflows == 0 || dropping.is_empty() {
        return out;
    }
    if let [only] = dropping[..] {
        out[only].count = overflows.min(listeners[only].drops);
        return out;
    }
    let total: u64 = dropping.iter().map(|&i| listeners[i].drops).sum();
    if ns.defer_accept_drops == 0 && overflows == total {
        // Every drop of a listener was an overflow.
        for &i in &dropping {
            out[i].count = listeners[i].drops;
        }
        return out;
    }
    for o in &mut out {
        o.exact = false;
    }
    let full: Vec<usize> = dropping
        .iter()
        .copied()
        .filter(|&i| listeners[i].at_capacity)
        .collect();
    let rest: Vec<usize> = dropping
        .iter()
        .copied()
        .filter(|&i| !listeners[i].at_capacity)
        .collect();
    let left = share(&mut out, listeners, &full, overflows);
    share(&mut out, listeners, &rest, left);
    out
}

/// Gives `amount` to `who` in proportion to their drops, never more than
/// their drops (largest remainders first, so the parts add up); returns
/// what could not be given.
fn share(out: &mut [Overflows], listeners: &[Interval], who: &[usize], amount: u64) -> u64 {
    let total: u64 = who.iter().map(|&i| listeners[i].drops).sum();
    if total == 0 || amount == 0 {
        return amount;
    }
    if amount >= total {
        for &i in who {
            out[i].count += listeners[i].drops;
        }
        return amount - total;
    }
    let mut given = 0u64;
    let mut rem: Vec<(u128, usize)> = Vec::with_capacity(who.len());
    for &i in who {
        let exact = u128::from(amount) * u128::from(listeners[i].drops);
        let part = (exact / u128::from(total)) as u64;
        out[i].count += part;
        given += part;
        rem.push((exact % u128::from(total), i));
    }
    rem.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in rem.into_iter().take((amount - given) as usize) {
        out[i].count += 1;
    }
    0
}

/// A listener's numbers at the previous sample.
#[derive(Clone, Copy, Debug)]
struct Previous {
    drops: u64,
    at_capacity: bool,
}

/// Running totals of one listener.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Overflows since the tracker first saw the listener.
    pub overflows: u64,
    /// The part of [`Totals::overflows`] that was estimated.
    pub estimated: u64,
}

/// Follows the TCP listeners of one namespace from sample to sample and
/// keeps, per listener, the accept-queue overflows [`attribute`] finds in
/// each interval, added up since the tracker first saw it.
///
/// Feed it every TCP listener of the namespace (name, `drops`, `queued`,
/// `backlog`) and the namespace's counters read at the same time. A
/// listener seen for the first time starts at zero; one whose `drops` went
/// down (the socket was closed and opened again) starts again from its
/// new value. Listeners absent from a sample are forgotten.
#[derive(Clone, Debug, Default)]
pub struct OverflowTracker {
    previous: HashMap<String, Previous>,
    totals: HashMap<String, Totals>,
    namespace: Option<NamespaceTotals>,
}

/// The namespace counters of the previous sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NamespaceTotals {
    /// `ListenOverflows`.
    pub listen_overflows: u64,
    /// `ListenDrops`.
    pub listen_drops: u64,
    /// `TCPDeferAcceptDrop`.
    pub defer_accept_drops: u64,
}

/// One listener of a sample, as [`OverflowTracker::observe`] reads it.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    /// The listener's name (its display name).
    pub name: &'a str,
    /// Its `drops`, if known.
    pub drops: Option<u64>,
    /// Its accept queue.
    pub queued: u32,
    /// Its accept-queue limit, if known.
    pub backlog: Option<u32>,
}

impl OverflowTracker {
    /// A tracker that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one sample: every TCP listener of the namespace and the
    /// namespace's counters (`None` where `/proc/net/netstat` could not be
    /// read). Returns, in the order of `listeners`, the overflows of each
    /// since the previous sample (zero, exact, for a listener seen for the
    /// first time or without `drops`).
    pub fn observe(
        &mut self,
        listeners: &[Observed<'_>],
        namespace: Option<NamespaceTotals>,
    ) -> Vec<Overflows> {
        let at_capacity = |l: &Observed<'_>| l.backlog.is_some_and(|b| b > 0 && l.queued >= b);
        let mut intervals = Vec::with_capacity(listeners.len());
        let mut known = Vec::with_capacity(listeners.len());
        for l in listeners {
            let prev = self.previous.get(l.name);
            let interval = match (prev, l.drops) {
                (Some(p), Some(d)) if d >= p.drops => Some(Interval {
                    drops: d - p.drops,
                    at_capacity: p.at_capacity || at_capacity(l),
                }),
                _ => None,
            };
            known.push(interval.is_some());
            intervals.push(interval.unwrap_or_default());
        }
        let growth = match (self.namespace, namespace) {
            (Some(a), Some(b)) => Some(NamespaceGrowth {
                listen_overflows: b.listen_overflows.saturating_sub(a.listen_overflows),
                listen_drops: b.listen_drops.saturating_sub(a.listen_drops),
                defer_accept_drops: b.defer_accept_drops.saturating_sub(a.defer_accept_drops),
            }),
            _ => None,
        };
        let mut result = if self.namespace.is_none() && namespace.is_some() {
            // The first sample with counters: nothing to compare yet.
            std::vec![
                Overflows {
                    count: 0,
                    exact: true
                };
                listeners.len()
            ]
        } else {
            attribute(&intervals, growth.as_ref())
        };
        self.namespace = namespace;
        self.previous.clear();
        let mut totals = HashMap::with_capacity(listeners.len());
        for ((l, o), known) in listeners.iter().zip(&mut result).zip(known) {
            if !known {
                *o = Overflows {
                    count: 0,
                    exact: true,
                };
            }
            let mut t = self.totals.get(l.name).copied().unwrap_or_default();
            t.overflows = t.overflows.saturating_add(o.count);
            if !o.exact {
                t.estimated = t.estimated.saturating_add(o.count);
            }
            totals.insert(String::from(l.name), t);
            if let Some(drops) = l.drops {
                self.previous.insert(
                    String::from(l.name),
                    Previous {
                        drops,
                        at_capacity: at_capacity(l),
                    },
                );
            }
        }
        self.totals = totals;
        result
    }

    /// The running totals of `name`, if it was in the last sample.
    pub fn totals(&self, name: &str) -> Option<Totals> {
        self.totals.get(name).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn iv(drops: u64, at_capacity: bool) -> Interval {
        Interval { drops, at_capacity }
    }

    fn ns(o: u64, l: u64, d: u64) -> NamespaceGrowth {
        NamespaceGrowth {
            listen_overflows: o,
            listen_drops: l,
            defer_accept_drops: d,
        }
    }

    fn counts(o: &[Overflows]) -> Vec<(u64, bool)> {
        o.iter().map(|o| (o.count, o.exact)).collect()
    }

    #[test]
    fn exact_cases() {
        // A deferring listener and a quiet one, no overflow anywhere.
        let o = attribute(&[iv(160, false), iv(0, false)], Some(&ns(0, 0, 160)));
        assert_eq!(counts(&o), [(0, true), (0, true)]);
        // One listener dropped: the namespace's overflows are its own,
        // even with deferred ACKs elsewhere... at most its drops.
        let o = attribute(&[iv(9, true), iv(0, false)], Some(&ns(9, 9, 0)));
        assert_eq!(counts(&o), [(9, true), (0, true)]);
        let o = attribute(&[iv(30, false)], Some(&ns(5, 5, 25)));
        assert_eq!(counts(&o), [(5, true)]);
        // No deferred ACKs and every listen drop an overflow.
        let o = attribute(&[iv(3, false), iv(4, true)], Some(&ns(7, 7, 0)));
        assert_eq!(counts(&o), [(3, true), (4, true)]);
    }

    #[test]
    fn estimates_favour_full_queues() {
        // A deferring listener (40 deferred ACKs) next to an overflowing
        // one (6 overflows, queue full): each gets its own verdict.
        let o = attribute(&[iv(40, false), iv(6, true)], Some(&ns(6, 6, 40)));
        assert_eq!(counts(&o), [(0, false), (6, false)]);
        // More overflows than the full listener's drops: the rest in
        // proportion to the others' drops.
        let o = attribute(
            &[iv(10, false), iv(30, false), iv(2, true)],
            Some(&ns(10, 10, 32)),
        );
        assert_eq!(counts(&o), [(2, false), (6, false), (2, false)]);
        // Without namespace counters: only listeners at capacity.
        let o = attribute(&[iv(10, false), iv(3, true)], None);
        assert_eq!(counts(&o), [(0, false), (3, false)]);
    }

    #[test]
    fn tracker_totals_and_restarts() {
        let mut t = OverflowTracker::new();
        let l = |drops, queued| Observed {
            name: "127.0.0.1:80",
            drops: Some(drops),
            queued,
            backlog: Some(4),
        };
        let nt = |o, d| NamespaceTotals {
            listen_overflows: o,
            listen_drops: o,
            defer_accept_drops: d,
        };
        assert_eq!(
            counts(&t.observe(&[l(100, 0)], Some(nt(50, 7)))),
            [(0, true)]
        );
        assert_eq!(
            counts(&t.observe(&[l(110, 5)], Some(nt(60, 7)))),
            [(10, true)]
        );
        assert_eq!(
            counts(&t.observe(&[l(150, 0)], Some(nt(60, 47)))),
            [(0, true)]
        );
        // The socket was opened again: its drops start over.
        assert_eq!(
            counts(&t.observe(&[l(2, 0)], Some(nt(62, 47)))),
            [(0, true)]
        );
        assert_eq!(
            t.totals("127.0.0.1:80"),
            Some(Totals {
                overflows: 10,
                estimated: 0
            })
        );
        t.observe(&[], Some(nt(62, 47)));
        assert_eq!(t.totals("127.0.0.1:80"), None);
    }

    proptest! {
        #[test]
        fn never_more_than_drops_or_overflows(
            drops in proptest::collection::vec((0u64..1000, any::<bool>()), 0..8),
            o in 0u64..2000, l in 0u64..2000, d in 0u64..2000,
        ) {
            let ivs: Vec<Interval> = drops.iter().map(|&(d, f)| iv(d, f)).collect();
            let out = attribute(&ivs, Some(&ns(o, l.max(o), d)));
            let sum: u64 = out.iter().map(|o| o.count).sum();
            prop_assert!(sum <= o);
            for (x, i) in out.iter().zip(&ivs) {
                prop_assert!(x.count <= i.drops);
            }
            let total: u64 = ivs.iter().map(|i| i.drops).sum();
            prop_assert_eq!(sum, o.min(total));
        }
    }
}
