//! Where listener statistics accumulate: the fixed-capacity
//! [`ListenerTable`] for callers without an allocator and (with `std`) a
//! hash-indexed table, both behind the [`Slots`] interface that the
//! attribution rules (`tally`) write through.

use crate::error::Error;
use crate::name::UnixName;
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
}

/// A fixed-capacity table of listener statistics, in order, for callers
/// without an allocator (capacity `N`, in the type, like heapless).
///
/// Filled by the `…_into` queries of `DiagSocket` (feature `socket`) or by
/// the counters; lookups are linear, which is what a small `N` wants.
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

/// A growable table with a hash index, for the `std` queries.
#[cfg(feature = "std")]
#[derive(Clone, Debug)]
pub(crate) struct IndexedTable<K> {
    rows: std::vec::Vec<Row<K>>,
    index: std::collections::HashMap<K, usize>,
}

#[cfg(feature = "std")]
impl<K> Default for IndexedTable<K> {
    fn default() -> Self {
        IndexedTable {
            rows: std::vec::Vec::new(),
            index: std::collections::HashMap::new(),
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
    }
    fn retain(&mut self, f: impl FnMut(&Row<K>) -> bool) {
        self.rows.retain(f);
        self.reindex();
    }
    fn sort(&mut self) {
        self.rows.sort_unstable_by_key(|a| a.key);
        self.reindex();
    }
}
