//! The ordered result of a listener query.

use raindrops_core::ListenStats;
use std::string::String;
use std::vec::Vec;

/// Listener statistics in a defined order, keyed by the listener's name:
/// the canonical address (`127.0.0.1:8080`, `[::1]:8080`, IPv6 scope ids
/// removed) or the Unix socket name (`/path`, `@abstract`).
///
/// Requested names keep the caller's order; "all listeners" are sorted
/// (TCP: IPv4 before IPv6, then by address and port; Unix: by name, as
/// bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListenerStats {
    entries: Vec<(String, ListenStats)>,
}

impl ListenerStats {
    /// An empty result.
    pub const fn new() -> Self {
        ListenerStats {
            entries: Vec::new(),
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

    /// The statistics of `name` (linear search).
    pub fn get(&self, name: &str) -> Option<&ListenStats> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }

    /// Whether `name` is in the result.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Names and statistics, in order.
    pub fn iter(&self) -> core::slice::Iter<'_, (String, ListenStats)> {
        self.entries.iter()
    }

    /// The names, in order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// The entries as a slice.
    pub fn as_slice(&self) -> &[(String, ListenStats)] {
        &self.entries
    }

    /// The entries.
    pub fn into_vec(self) -> Vec<(String, ListenStats)> {
        self.entries
    }

    /// The sum over every listener (with [`ListenStats::accumulate`]).
    pub fn total(&self) -> ListenStats {
        let mut t = ListenStats::new(0, 0);
        for (_, s) in &self.entries {
            t.accumulate(s);
        }
        t
    }
}

impl<'a> IntoIterator for &'a ListenerStats {
    type Item = &'a (String, ListenStats);
    type IntoIter = core::slice::Iter<'a, (String, ListenStats)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl IntoIterator for ListenerStats {
    type Item = (String, ListenStats);
    type IntoIter = std::vec::IntoIter<(String, ListenStats)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl FromIterator<(String, ListenStats)> for ListenerStats {
    fn from_iter<I: IntoIterator<Item = (String, ListenStats)>>(iter: I) -> Self {
        ListenerStats {
            entries: iter.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_lookup() {
        let s: ListenerStats = [
            ("b".into(), ListenStats::new(1, 2)),
            ("a".into(), ListenStats::new(3, 4).with_backlog(5)),
        ]
        .into_iter()
        .collect();
        assert_eq!(s.names().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(s.get("a").unwrap().queued, 4);
        assert!(!s.contains("c"));
        let t = s.total();
        assert_eq!((t.active, t.queued, t.backlog), (4, 6, Some(5)));
        assert_eq!(s.len(), 2);
    }
}
