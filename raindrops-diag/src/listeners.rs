//! [`Listeners`], the ordered result of a listener query of the `std` API.

use crate::waiting::Waiting;
use raindrops_core::{ListenStats, Listener};
use std::string::String;
use std::vec::Vec;

/// The listeners a query found, in a defined order: raindrops-core's
/// [`Listener`] records, each with its name in display form, its family
/// and its statistics.
///
/// Names are the canonical address of a TCP listener (`127.0.0.1:8080`,
/// `[::1]:8080`, IPv6 scope ids removed) or the display form of a Unix
/// socket name (`/path`, `@abstract`, escaped by
/// [`EscapedName`](raindrops_core::EscapedName)); the
/// [`Family`](raindrops_core::Family) comes from the query (TCP over IPv4
/// or IPv6 from the listener's address, Unix), never from the name.
///
/// Requested names keep the caller's order; "all listeners" are sorted
/// (TCP: IPv4 before IPv6, then by address and port; Unix: by name, as
/// bytes).
///
/// A TCP query with [`TcpQuery::queue_wait`](crate::TcpQuery::queue_wait)
/// also keeps every connection it saw waiting in each accept queue
/// ([`Listeners::waiting`]), from which the stats' wait percentiles come.
///
/// ```
/// use raindrops_core::{Family, ListenStats, Listener};
/// use raindrops_diag::Listeners;
/// let l: Listeners = [
///     Listener::new("127.0.0.1:80".to_string(), Family::Tcp4, ListenStats::new(1, 2)),
///     Listener::new("/run/app.sock".to_string(), Family::Unix, ListenStats::new(3, 0)),
/// ]
/// .into_iter()
/// .collect();
/// assert_eq!(l.get("127.0.0.1:80").map(|s| s.queued), Some(2));
/// assert_eq!(l.listener("/run/app.sock").map(|l| l.family), Some(Family::Unix));
/// assert_eq!(l.total().active, 4);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listeners {
    entries: Vec<Listener<String>>,
    /// The waiting connections of every listener, oldest first within
    /// each; `spans[i]` is entry `i`'s range (all empty when not measured).
    waiting: Vec<Waiting>,
    spans: Vec<(u32, u32)>,
}

impl Listeners {
    /// An empty result.
    pub const fn new() -> Self {
        Listeners {
            entries: Vec::new(),
            waiting: Vec::new(),
            spans: Vec::new(),
        }
    }

    /// Appends a listener and the connections waiting in its accept queue
    /// (oldest first), as a query does; for example to feed a
    /// [`QueueWaitTracker`](crate::QueueWaitTracker) samples of one's own.
    pub fn push(&mut self, l: Listener<String>, waiting: impl IntoIterator<Item = Waiting>) {
        let start = self.waiting.len();
        self.waiting.extend(waiting);
        // Past u32::MAX waiting connections (never: a queue holds at most
        // 2^31) the span saturates rather than wraps.
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        self.spans
            .push((clamp(start), clamp(self.waiting.len() - start)));
        self.entries.push(l);
    }

    /// The connections waiting in the accept queue of the listener whose
    /// display name is `name`, oldest first, as the query saw them (empty
    /// unless it measured the waits).
    pub fn waiting(&self, name: &str) -> &[Waiting] {
        match self.entries.iter().position(|l| l.name == name) {
            Some(i) => self.waiting_at(i),
            None => &[],
        }
    }

    /// Each listener with the connections waiting in its accept queue.
    pub fn iter_waiting(&self) -> impl ExactSizeIterator<Item = (&Listener<String>, &[Waiting])> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, l)| (l, self.waiting_at(i)))
    }

    fn waiting_at(&self, i: usize) -> &[Waiting] {
        match self.spans.get(i) {
            Some(&(start, len)) => {
                let start = start as usize;
                self.waiting
                    .get(start..start.saturating_add(len as usize))
                    .unwrap_or_default()
            }
            None => &[],
        }
    }

    /// The number of listeners.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no listener.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The record of the listener whose display name is `name` (linear
    /// search).
    pub fn listener(&self, name: &str) -> Option<&Listener<String>> {
        self.entries.iter().find(|l| l.name == name)
    }

    /// The statistics of the listener whose display name is `name`.
    pub fn get(&self, name: &str) -> Option<&ListenStats> {
        self.listener(name).map(|l| &l.stats)
    }

    /// Whether `name` is in the result.
    pub fn contains(&self, name: &str) -> bool {
        self.listener(name).is_some()
    }

    /// The listeners, in order.
    pub fn iter(&self) -> core::slice::Iter<'_, Listener<String>> {
        self.entries.iter()
    }

    /// The names, in order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.entries.iter().map(|l| l.name.as_str())
    }

    /// The listeners as a slice.
    pub fn as_slice(&self) -> &[Listener<String>] {
        &self.entries
    }

    /// The listeners.
    pub fn into_vec(self) -> Vec<Listener<String>> {
        self.entries
    }

    /// The sum over every listener (with [`ListenStats::accumulate`]).
    pub fn total(&self) -> ListenStats {
        let mut t = ListenStats::new(0, 0);
        for l in &self.entries {
            t.accumulate(&l.stats);
        }
        t
    }
}

impl<'a> IntoIterator for &'a Listeners {
    type Item = &'a Listener<String>;
    type IntoIter = core::slice::Iter<'a, Listener<String>>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl IntoIterator for Listeners {
    type Item = Listener<String>;
    type IntoIter = std::vec::IntoIter<Listener<String>>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl FromIterator<Listener<String>> for Listeners {
    /// Listeners without waiting connections.
    fn from_iter<I: IntoIterator<Item = Listener<String>>>(iter: I) -> Self {
        Listeners {
            entries: iter.into_iter().collect(),
            waiting: Vec::new(),
            spans: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raindrops_core::Family;

    #[test]
    fn ordered_lookup() {
        let s: Listeners = [
            Listener::new("b".into(), Family::Unix, ListenStats::new(1, 2)),
            Listener::new(
                "a".into(),
                Family::Tcp4,
                ListenStats::new(3, 4).with_backlog(5),
            ),
        ]
        .into_iter()
        .collect();
        assert_eq!(s.names().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(s.get("a").unwrap().queued, 4);
        assert!(!s.contains("c"));
        let t = s.total();
        assert_eq!((t.active, t.queued, t.backlog), (4, 6, Some(5)));
        assert_eq!(s.len(), 2);
        assert_eq!(s.listener("b").unwrap().family, Family::Unix);
    }
}
