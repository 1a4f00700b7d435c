//! Where listener statistics accumulate: the fixed-capacity
//! [`ListenerTable`] for callers without an allocator and (with `std`) a
//! hash-indexed table, both behind the [`Slots`] interface that the
//! attribution rules (`tally`) write through.

use crate::error::Error;
use crate::name::UnixName;
use crate::waiting::Waiting;
use core::net::SocketAddr;
use raindrops_core::ListenStats;

/// One row while a query runs: the stats and whether a listening socket
/// was seen for the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Row<K> {
    pub(crate) key: K,
    pub(crate) stats: ListenStats,
    pub(crate) listening: bool,
}

impl<K> Row<K> {
    /// A row not (yet) seen listening.
    const fn new(key: K, stats: ListenStats) -> Self {
        Row {
            key,
            stats,
            listening: false,
        }
    }
}

/// The storage the attribution rules write into.
pub(crate) trait Slots<K> {
    fn find(&self, key: &K) -> Option<usize>;
    fn push(&mut self, key: K, stats: ListenStats) -> Result<usize, Error>;
    fn row(&mut self, i: usize) -> &mut Row<K>;
    fn rows(&self) -> &[Row<K>];
    fn clear(&mut self);
    /// Keeps only rows for which `f` is true (the index is rebuilt).
    fn retain(&mut self, f: impl FnMut(&Row<K>) -> bool);
    /// Sorts rows by key (the index is rebuilt).
    fn sort(&mut self);
    /// Records a connection waiting in row `i`'s accept queue; tables
    /// that keep only the oldest wait (which the rules write into the
    /// row) ignore it.
    fn waiting(&mut self, i: usize, w: Waiting) {
        let _ = (i, w);
    }
    /// Once the rows are in their final order: fills each row's wait
    /// percentiles from the recorded waits (0 where none waits), if the
    /// table keeps them.
    fn finish_waits(&mut self) {}
}

/// A fixed-capacity table of listener statistics, in order, for callers
/// without an allocator (capacity `N`, in the type, like heapless).
///
/// Filled by the `…_into` queries of `DiagSocket` (feature `socket`) or by
/// the counters; lookups are linear, which is what a small `N` wants. Of
/// the accept-queue waits it keeps the oldest (`queue_wait_oldest_ms`);
/// the percentiles need the list of every waiting connection, which the
/// `std` queries ([`Diag`](crate::Diag)) keep.
#[derive(Clone, Debug)]
pub struct ListenerTable<K, const N: usize> {
    rows: heapless::Vec<Row<K>, N>,
}

/// A [`ListenerTable`] of TCP listeners, keyed by address.
pub type TcpTable<const N: usize> = ListenerTable<SocketAddr, N>;
/// A [`ListenerTable`] of Unix listeners, keyed by name.
pub type UnixTable<const N: usize> = ListenerTable<UnixName, N>;

impl<K, const N: usize> ListenerTable<K, N> {
    /// An empty table.
    pub const fn new() -> Self {
        ListenerTable {
            rows: heapless::Vec::new(),
        }
    }

    /// The number of listeners in the table.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The capacity `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Empties the table.
    pub fn clear(&mut self) {
        self.rows.clear();
    }

    /// The listeners and their statistics, in the query's order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&K, &ListenStats)> + '_ {
        self.rows.iter().map(|r| (&r.key, &r.stats))
    }
}

impl<K: PartialEq, const N: usize> ListenerTable<K, N> {
    /// The statistics of `key`, if it is in the table.
    pub fn get(&self, key: &K) -> Option<&ListenStats> {
        self.rows.iter().find(|r| &r.key == key).map(|r| &r.stats)
    }
}

impl<K, const N: usize> Default for ListenerTable<K, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Copy + Ord, const N: usize> Slots<K> for ListenerTable<K, N> {
    fn find(&self, key: &K) -> Option<usize> {
        self.rows.iter().position(|r| &r.key == key)
    }
    fn push(&mut self, key: K, stats: ListenStats) -> Result<usize, Error> {
        self.rows
            .push(Row::new(key, stats))
            .map_err(|_| Error::TableFull { capacity: N })?;
        Ok(self.rows.len() - 1)
    }
    fn row(&mut self, i: usize) -> &mut Row<K> {
        &mut self.rows[i]
    }
    fn rows(&self) -> &[Row<K>] {
        &self.rows
    }
    fn clear(&mut self) {
        self.rows.clear();
    }
    fn retain(&mut self, f: impl FnMut(&Row<K>) -> bool) {
        self.rows.retain(f);
    }
    fn sort(&mut self) {
        self.rows.sort_unstable_by_key(|a| a.key);
    }
}

/// A growable table with a hash index, for the `std` queries; it keeps
/// every waiting connection, by the key of its listener.
#[cfg(feature = "std")]
#[derive(Clone, Debug)]
pub(crate) struct IndexedTable<K> {
    rows: std::vec::Vec<Row<K>>,
    index: std::collections::HashMap<K, usize>,
    /// The waiting connections and their listener's key; sorted by key,
    /// oldest first, once `finish_waits` ran.
    waits: std::vec::Vec<(K, Waiting)>,
}

#[cfg(feature = "std")]
impl<K> Default for IndexedTable<K> {
    fn default() -> Self {
        IndexedTable {
            rows: std::vec::Vec::new(),
            index: std::collections::HashMap::new(),
            waits: std::vec::Vec::new(),
        }
    }
}

#[cfg(feature = "std")]
impl<K: Copy + Ord + core::hash::Hash> IndexedTable<K> {
    fn reindex(&mut self) {
        self.index.clear();
        for (i, r) in self.rows.iter().enumerate() {
            self.index.insert(r.key, i);
        }
    }

    /// The connections waiting in `key`'s accept queue, oldest first
    /// (after `finish_waits`).
    pub(crate) fn waits_of(&self, key: &K) -> &[(K, Waiting)] {
        let start = self.waits.partition_point(|w| w.0 < *key);
        let len = self.waits[start..].partition_point(|w| w.0 == *key);
        &self.waits[start..start + len]
    }
}

#[cfg(feature = "std")]
impl<K: Copy + Ord + core::hash::Hash> Slots<K> for IndexedTable<K> {
    fn find(&self, key: &K) -> Option<usize> {
        self.index.get(key).copied()
    }
    fn push(&mut self, key: K, stats: ListenStats) -> Result<usize, Error> {
        let i = self.rows.len();
        self.rows.push(Row::new(key, stats));
        self.index.insert(key, i);
        Ok(i)
    }
    fn row(&mut self, i: usize) -> &mut Row<K> {
        &mut self.rows[i]
    }
    fn rows(&self) -> &[Row<K>] {
        &self.rows
    }
    fn clear(&mut self) {
        self.rows.clear();
        self.index.clear();
        self.waits.clear();
    }
    fn retain(&mut self, f: impl FnMut(&Row<K>) -> bool) {
        self.rows.retain(f);
        self.reindex();
    }
    fn sort(&mut self) {
        self.rows.sort_unstable_by_key(|a| a.key);
        self.reindex();
    }
    fn waiting(&mut self, i: usize, w: Waiting) {
        self.waits.push((self.rows[i].key, w));
    }
    fn finish_waits(&mut self) {
        use crate::waiting::percentile;
        // By listener, oldest first.
        self.waits
            .sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut ages = std::vec::Vec::new();
        for i in 0..self.rows.len() {
            ages.clear();
            ages.extend(
                self.waits_of(&self.rows[i].key)
                    .iter()
                    .rev()
                    .map(|w| w.1.age_ms),
            );
            let s = self.rows[i].stats;
            self.rows[i].stats = s.with_queue_wait_percentiles(
                percentile(&ages, 50),
                percentile(&ages, 90),
                percentile(&ages, 99),
            );
        }
    }
}
