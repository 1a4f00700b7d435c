//! Where listener statistics accumulate: the fixed-capacity
//! [`ListenerTable`] for callers without an allocator, and (with `std`) a
//! hash-indexed table; plus the rules that attribute each dumped socket to
//! a listener (SPEC §2), shared by both.

use crate::error::Error;
use crate::name::UnixName;
use crate::wire::inet_diag::{InetDiagAttr, InetDiagMsg};
use crate::wire::tcp_state::TcpState;
use crate::wire::unix_diag::{UnixDiagMsg, attr as unix_attr};
use crate::wire::{WireError, ne_u32_at};
use core::net::SocketAddr;
use raindrops_core::{ListenStats, any_addr_of};

/// One row while a query runs: the stats and whether a listening socket
/// was seen for the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Row<K> {
    pub(crate) key: K,
    pub(crate) stats: ListenStats,
    pub(crate) listening: bool,
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
/// Filled by the `…_into` queries of [`DiagSocket`](crate::DiagSocket);
/// lookups are linear, which is what a small `N` wants.
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
            .push(Row {
                key,
                stats,
                listening: false,
            })
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
        self.rows.push(Row {
            key,
            stats,
            listening: false,
        });
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

/// Which listeners a TCP query is about.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TcpTarget<'a> {
    /// One address: the kernel filters on it and every reported socket
    /// counts.
    One(SocketAddr),
    /// Several: each socket is attributed to a requested listener.
    Some(&'a [SocketAddr]),
    /// Every listener.
    All,
}

/// The attribution rules of SPEC §2 for TCP.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TcpTally<'a> {
    pub(crate) target: TcpTarget<'a>,
    pub(crate) drops: bool,
    pub(crate) syn_recv: bool,
}

impl TcpTally<'_> {
    fn empty(&self) -> ListenStats {
        let s = ListenStats::new(0, 0);
        if self.syn_recv { s.with_syn_recv(0) } else { s }
    }

    /// Resets `slots` to the state before the first dump: the requested
    /// addresses in the caller's order (duplicates once), or nothing.
    pub(crate) fn start<S: Slots<SocketAddr>>(&self, slots: &mut S) -> Result<(), Error> {
        slots.clear();
        match self.target {
            TcpTarget::One(a) => {
                slots.push(a, self.empty())?;
            }
            TcpTarget::Some(addrs) => {
                for a in addrs {
                    if slots.find(a).is_none() {
                        slots.push(*a, self.empty())?;
                    }
                }
            }
            TcpTarget::All => {}
        }
        Ok(())
    }

    /// Counts one LISTEN socket: its accept queue, backlog and drops.
    pub(crate) fn listener<S: Slots<SocketAddr>>(
        &self,
        slots: &mut S,
        m: &InetDiagMsg<&[u8]>,
    ) -> Result<(), Error> {
        if m.state() != TcpState::Listen {
            return Ok(());
        }
        let Some(key) = m.local() else {
            return Ok(());
        };
        let i = match self.target {
            TcpTarget::One(_) => 0,
            TcpTarget::Some(_) => match slots.find(&key) {
                Some(i) => i,
                None => return Ok(()),
            },
            TcpTarget::All => match slots.find(&key) {
                Some(i) => i,
                None => slots.push(key, self.empty())?,
            },
        };
        let mut add = ListenStats::new(0, m.rqueue()).with_backlog(m.wqueue());
        if self.drops {
            for a in m.attrs() {
                if let InetDiagAttr::SkMemInfo(mem) = a? {
                    if let Some(d) = mem.drops() {
                        add = add.with_drops(u64::from(d));
                    }
                }
            }
        }
        let row = slots.row(i);
        row.stats.accumulate(&add);
        row.listening = true;
        Ok(())
    }

    /// Counts one connection: accepted established ones as active,
    /// request sockets as half-open.
    pub(crate) fn connection<S: Slots<SocketAddr>>(&self, slots: &mut S, m: &InetDiagMsg<&[u8]>) {
        let syn = matches!(m.state(), TcpState::SynRecv | TcpState::NewSynRecv);
        let active = m.state() == TcpState::Established && m.inode() != 0;
        if !(active || (syn && self.syn_recv)) {
            return;
        }
        let i = match self.target {
            TcpTarget::One(_) => Some(0),
            _ => m.local().and_then(|local| {
                let listening = |i: &usize| slots.rows()[*i].listening;
                slots
                    .find(&local)
                    .filter(listening)
                    .or_else(|| slots.find(&any_addr_of(&local)).filter(listening))
            }),
        };
        let Some(i) = i else { return };
        let s = &mut slots.row(i).stats;
        if active {
            s.active = s.active.saturating_add(1);
        } else {
            s.syn_recv = Some(s.syn_recv.unwrap_or(0).saturating_add(1));
        }
    }

    /// Applies the final rules: several addresses drop those not
    /// listening; all listeners are sorted by address.
    pub(crate) fn finish<S: Slots<SocketAddr>>(&self, slots: &mut S) {
        match self.target {
            TcpTarget::One(_) => {}
            TcpTarget::Some(_) => slots.retain(|r| r.listening),
            TcpTarget::All => slots.sort(),
        }
    }
}

/// The attribution rules of SPEC §2 for Unix sockets.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UnixTally {
    /// Every listener (else only the rows the caller put in the table).
    pub(crate) all: bool,
}

impl UnixTally {
    /// Counts one socket of a LISTEN+ESTABLISHED dump with names and
    /// queue lengths.
    pub(crate) fn message<S: Slots<UnixName>>(
        &self,
        slots: &mut S,
        m: &UnixDiagMsg<&[u8]>,
    ) -> Result<(), Error> {
        let state = m.state();
        if state != TcpState::Listen && state != TcpState::Established {
            return Ok(());
        }
        if state == TcpState::Established && !self.all {
            // The hottest path (every connected socket of the machine, a
            // few requested names): the kernel puts the name first, and a
            // socket without one (a client) has none.
            let Some(first) = m.attrs_raw().next() else {
                return Ok(());
            };
            let a = first.map_err(|e| e.at(UnixDiagMsg::<&[u8]>::LEN))?;
            if a.kind() == unix_attr::NAME {
                let raw = a.into_payload();
                if let Some(i) = slots.rows().iter().position(|r| r.key.eq_sun_path(raw)) {
                    let s = &mut slots.row(i).stats;
                    s.active = s.active.saturating_add(1);
                }
                return Ok(());
            }
        }
        // The hot loop of a Unix query (every socket of the machine):
        // undecoded attributes, only the two we use. A connected socket
        // needs only its name, which the kernel puts first.
        let mut raw = None;
        let mut rq = None;
        for a in m.attrs_raw() {
            let a = a.map_err(|e| e.at(UnixDiagMsg::<&[u8]>::LEN))?;
            match a.kind() {
                unix_attr::NAME => {
                    raw = Some(a.into_payload());
                    if state == TcpState::Established {
                        break;
                    }
                }
                unix_attr::RQLEN if state == TcpState::Listen => {
                    let p = a.into_payload();
                    match (ne_u32_at(p, 0), ne_u32_at(p, 1)) {
                        (Some(r), Some(w)) => rq = Some((r, Some(w))),
                        _ => return Err(WireError::Truncated { offset: 0 }.into()),
                    }
                }
                unix_attr::ICONS if state == TcpState::Listen && rq.is_none() => {
                    // One inode per waiting connection.
                    let n = a.into_payload().len() / 4;
                    rq = Some((u32::try_from(n).unwrap_or(u32::MAX), None));
                }
                _ => {}
            }
        }
        let Some(raw) = raw else { return Ok(()) };
        let i = if self.all {
            let Some(name) = UnixName::from_sun_path(raw) else {
                return Ok(());
            };
            match slots.find(&name) {
                Some(i) => i,
                None => slots.push(name, ListenStats::new(0, 0))?,
            }
        } else {
            // A few requested names: comparing in place beats hashing.
            match slots.rows().iter().position(|r| r.key.eq_sun_path(raw)) {
                Some(i) => i,
                None => return Ok(()),
            }
        };
        let row = slots.row(i);
        if state == TcpState::Listen {
            let add = match rq {
                Some((q, Some(backlog))) => ListenStats::new(0, q).with_backlog(backlog),
                Some((q, None)) => ListenStats::new(0, q),
                None => ListenStats::new(0, 0),
            };
            row.stats.accumulate(&add);
            row.listening = true;
        } else {
            row.stats.active = row.stats.active.saturating_add(1);
        }
        Ok(())
    }

    /// Counts one line of `/proc/net/unix` the way the Ruby gem does.
    pub(crate) fn proc_line<S: Slots<UnixName>>(
        &self,
        slots: &mut S,
        l: &crate::proc_unix::UnixLine<'_>,
    ) -> Result<(), Error> {
        use crate::proc_unix::{SS_CONNECTED, SS_CONNECTING};
        let Some(name) = l.path.and_then(UnixName::new) else {
            return Ok(());
        };
        let counts = !l.is_listener() && (l.state == SS_CONNECTING || l.state == SS_CONNECTED);
        if !(l.is_listener() || counts) {
            return Ok(());
        }
        let i = match slots.find(&name) {
            Some(i) => i,
            None if self.all => slots.push(name, ListenStats::new(0, 0))?,
            None => return Ok(()),
        };
        let row = slots.row(i);
        if l.is_listener() {
            row.listening = true;
        } else if l.state == SS_CONNECTING {
            row.stats.queued = row.stats.queued.saturating_add(1);
        } else {
            row.stats.active = row.stats.active.saturating_add(1);
        }
        Ok(())
    }

    /// With every listener: keeps only listening names, sorted.
    pub(crate) fn finish<S: Slots<UnixName>>(&self, slots: &mut S) {
        if self.all {
            slots.retain(|r| r.listening);
            slots.sort();
        }
    }
}

/// The attribution rules of TCP listener statistics (SPEC §2), for
/// callers who run the dumps themselves (without the `socket` feature, or
/// over their own transport) and want the result in a fixed table.
///
/// Feed it the replies of a LISTEN dump ([`TcpCounter::listener`]) and
/// then of an ESTABLISHED (and, for `syn_recv`, `SYN_RECV`) dump
/// ([`TcpCounter::connection`]); in that order, since connections are
/// attributed to listeners already seen.
///
/// ```
/// use raindrops_diag::{TcpCounter, TcpTable};
/// use raindrops_diag::wire::{InetDiagMsg, InetDiagMsgRepr, SockId};
///
/// let mut id = SockId::any();
/// id.set_local(&"0.0.0.0:80".parse().unwrap());
/// let mut listener = [0u8; 72];
/// InetDiagMsgRepr { family: 2, state: 10, rqueue: 3, wqueue: 128, id, ..Default::default() }
///     .emit(&mut listener).unwrap();
/// id.set_local(&"127.0.0.1:80".parse().unwrap());
/// let mut conn = [0u8; 72];
/// InetDiagMsgRepr { family: 2, state: 1, inode: 99, id, ..Default::default() }
///     .emit(&mut conn).unwrap();
///
/// let counter = TcpCounter::new(&[], false, false); // every listener
/// let mut table = TcpTable::<4>::new();
/// counter.start(&mut table).unwrap();
/// counter.listener(&mut table, &InetDiagMsg::new_checked(&listener[..]).unwrap()).unwrap();
/// counter.connection(&mut table, &InetDiagMsg::new_checked(&conn[..]).unwrap());
/// counter.finish(&mut table);
/// let s = table.get(&"0.0.0.0:80".parse().unwrap()).unwrap();
/// assert_eq!((s.active, s.queued, s.backlog), (1, 3, Some(128)));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TcpCounter<'a> {
    tally: TcpTally<'a>,
}

impl<'a> TcpCounter<'a> {
    /// Counts for `addrs` (every listener when empty; one address means
    /// the dumps were filtered on it and every reply counts), reading
    /// `drops` from `INET_DIAG_SKMEMINFO` and counting `syn_recv` when
    /// asked.
    pub const fn new(addrs: &'a [SocketAddr], drops: bool, syn_recv: bool) -> Self {
        let target = match addrs {
            [] => TcpTarget::All,
            [one] => TcpTarget::One(*one),
            many => TcpTarget::Some(many),
        };
        TcpCounter {
            tally: TcpTally {
                target,
                drops,
                syn_recv,
            },
        }
    }

    /// Empties `table` and puts the requested addresses in, in order.
    ///
    /// # Errors
    ///
    /// [`Error::TableFull`] if they do not fit.
    pub fn start<const N: usize>(&self, table: &mut TcpTable<N>) -> Result<(), Error> {
        self.tally.start(table)
    }

    /// Counts one socket of the LISTEN dump.
    ///
    /// # Errors
    ///
    /// [`Error::TableFull`], or [`Error::Wire`] for a malformed attribute.
    pub fn listener<const N: usize>(
        &self,
        table: &mut TcpTable<N>,
        msg: &InetDiagMsg<&[u8]>,
    ) -> Result<(), Error> {
        self.tally.listener(table, msg)
    }

    /// Counts one socket of the connections dump.
    pub fn connection<const N: usize>(&self, table: &mut TcpTable<N>, msg: &InetDiagMsg<&[u8]>) {
        self.tally.connection(table, msg);
    }

    /// Applies the final rules (drops requested addresses that do not
    /// listen; sorts "every listener" by address).
    pub fn finish<const N: usize>(&self, table: &mut TcpTable<N>) {
        self.tally.finish(table);
    }
}

/// The attribution rules of Unix listener statistics, for callers who run
/// the unix_diag dump themselves (states LISTEN and ESTABLISHED,
/// `UDIAG_SHOW_NAME` with `UDIAG_SHOW_ICONS` for the queue or
/// `UDIAG_SHOW_RQLEN` for the queue and backlog) or read `/proc/net/unix`.
///
/// ```
/// use raindrops_diag::{UnixCounter, UnixName, UnixTable};
/// use raindrops_diag::proc_unix::ProcNetUnix;
///
/// let text = b"Num       RefCount Protocol Flags    Type St Inode Path
/// 0000000000000000: 00000002 00000000 00010000 0001 01 21958 /run/app.sock
/// 0000000000000000: 00000003 00000000 00000000 0001 03 21962 /run/app.sock
/// 0000000000000000: 00000003 00000000 00000000 0001 02     0 /run/app.sock
/// ";
/// let counter = UnixCounter::new(&[]);
/// let mut table = UnixTable::<4>::new();
/// counter.start(&mut table).unwrap();
/// for line in ProcNetUnix::new(text) {
///     counter.proc_line(&mut table, &line.unwrap()).unwrap();
/// }
/// counter.finish(&mut table);
/// let s = table.get(&UnixName::new(b"/run/app.sock").unwrap()).unwrap();
/// assert_eq!((s.active, s.queued), (1, 1));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct UnixCounter<'a> {
    names: &'a [UnixName],
}

impl<'a> UnixCounter<'a> {
    /// Counts for `names` (every listener when empty).
    pub const fn new(names: &'a [UnixName]) -> Self {
        UnixCounter { names }
    }

    fn tally(&self) -> UnixTally {
        UnixTally {
            all: self.names.is_empty(),
        }
    }

    /// Empties `table` and puts the requested names in, in order.
    ///
    /// # Errors
    ///
    /// [`Error::TableFull`] if they do not fit.
    pub fn start<const N: usize>(&self, table: &mut UnixTable<N>) -> Result<(), Error> {
        table.clear();
        for n in self.names {
            if Slots::find(table, n).is_none() {
                table.push(*n, ListenStats::new(0, 0))?;
            }
        }
        Ok(())
    }

    /// Counts one socket of a unix_diag dump.
    ///
    /// # Errors
    ///
    /// [`Error::TableFull`], or [`Error::Wire`] for a malformed attribute.
    pub fn message<const N: usize>(
        &self,
        table: &mut UnixTable<N>,
        msg: &UnixDiagMsg<&[u8]>,
    ) -> Result<(), Error> {
        self.tally().message(table, msg)
    }

    /// Counts one line of `/proc/net/unix` (state `02` queued, `03`
    /// active, as the Ruby gem does).
    ///
    /// # Errors
    ///
    /// [`Error::TableFull`].
    pub fn proc_line<const N: usize>(
        &self,
        table: &mut UnixTable<N>,
        line: &crate::proc_unix::UnixLine<'_>,
    ) -> Result<(), Error> {
        self.tally().proc_line(table, line)
    }

    /// Applies the final rules (every listener: only listening names,
    /// sorted).
    pub fn finish<const N: usize>(&self, table: &mut UnixTable<N>) {
        self.tally().finish(table);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::inet_diag::{AF_INET, AF_INET6, InetDiagMsgRepr, SockId, attr};
    use crate::wire::rtattr::emit_attr;
    use std::string::ToString;
    use std::vec::Vec;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn msg(
        local: &str,
        state: TcpState,
        rq: u32,
        wq: u32,
        inode: u32,
        drops: Option<u32>,
    ) -> Vec<u8> {
        let a = sa(local);
        let mut id = SockId::any();
        id.set_local(&a);
        let r = InetDiagMsgRepr {
            family: if a.is_ipv4() { AF_INET } else { AF_INET6 },
            state: state.into(),
            rqueue: rq,
            wqueue: wq,
            inode,
            id,
            ..Default::default()
        };
        let mut b = std::vec![0u8; 200];
        r.emit(&mut b).unwrap();
        let mut n = 72;
        if let Some(d) = drops {
            let mut mem = [0u8; 36];
            mem[32..].copy_from_slice(&d.to_ne_bytes());
            n += emit_attr(&mut b[n..], attr::SKMEMINFO, &mem).unwrap();
        }
        b.truncate(n);
        b
    }

    fn run<const N: usize>(t: &TcpTally<'_>, table: &mut TcpTable<N>, msgs: &[Vec<u8>]) {
        t.start(table).unwrap();
        for m in msgs {
            let v = InetDiagMsg::new_checked(&m[..]).unwrap();
            if v.state() == TcpState::Listen {
                t.listener(table, &v).unwrap();
            } else {
                t.connection(table, &v);
            }
        }
        t.finish(table);
    }

    #[test]
    fn attribution_rules() {
        use TcpState::*;
        let msgs = [
            msg("0.0.0.0:80", Listen, 2, 128, 1, Some(3)),
            msg("127.0.0.1:81", Listen, 1, 5, 2, Some(0)),
            msg("127.0.0.1:81", Listen, 2, 5, 3, Some(1)), // SO_REUSEPORT member
            msg("[::]:82", Listen, 0, 10, 4, None),
            msg("127.0.0.2:80", Established, 0, 0, 10, None), // -> 0.0.0.0:80
            msg("127.0.0.1:80", Established, 0, 0, 11, None), // -> 0.0.0.0:80
            msg("127.0.0.1:80", Established, 0, 0, 0, None),  // not accepted
            msg("127.0.0.1:81", Established, 0, 0, 12, None),
            msg("127.0.0.2:81", Established, 0, 0, 13, None), // no listener
            msg("[::ffff:127.0.0.1]:82", Established, 0, 0, 14, None), // -> [::]:82
            msg("[::1]:82", SynRecv, 0, 0, 0, None),
        ];
        let all = TcpTally {
            target: TcpTarget::All,
            drops: true,
            syn_recv: true,
        };
        let mut t = TcpTable::<8>::new();
        run(&all, &mut t, &msgs);
        let keys: Vec<_> = t.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys, ["0.0.0.0:80", "127.0.0.1:81", "[::]:82"]);
        let s80 = t.get(&sa("0.0.0.0:80")).unwrap();
        assert_eq!(
            (s80.active, s80.queued, s80.backlog, s80.drops),
            (2, 2, Some(128), Some(3))
        );
        let s81 = t.get(&sa("127.0.0.1:81")).unwrap();
        assert_eq!(
            (s81.active, s81.queued, s81.backlog, s81.drops),
            (1, 3, Some(10), Some(1))
        );
        let s82 = t.get(&sa("[::]:82")).unwrap();
        assert_eq!((s82.active, s82.syn_recv, s82.drops), (1, Some(1), None));

        // Several: the caller's order, non-listening ones left out.
        let want = [
            sa("[::]:82"),
            sa("127.0.0.1:99"),
            sa("0.0.0.0:80"),
            sa("[::]:82"),
        ];
        let some = TcpTally {
            target: TcpTarget::Some(&want),
            drops: false,
            syn_recv: false,
        };
        run(&some, &mut t, &msgs);
        let keys: Vec<_> = t.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys, ["[::]:82", "0.0.0.0:80"]);
        assert_eq!(t.get(&sa("0.0.0.0:80")).unwrap().drops, None);
        assert_eq!(t.get(&sa("0.0.0.0:80")).unwrap().active, 2);

        // A requested address that does not listen does not capture the
        // connections of the any-address listener.
        let want = [sa("127.0.0.1:80"), sa("0.0.0.0:80")];
        let some = TcpTally {
            target: TcpTarget::Some(&want),
            drops: false,
            syn_recv: false,
        };
        run(&some, &mut t, &msgs);
        assert_eq!(t.len(), 1);
        assert_eq!(t.get(&sa("0.0.0.0:80")).unwrap().active, 2);

        // A table too small is an error, not a panic.
        let mut small = TcpTable::<1>::new();
        all.start(&mut small).unwrap();
        let m0 = InetDiagMsg::new_checked(&msgs[0][..]).unwrap();
        let m1 = InetDiagMsg::new_checked(&msgs[1][..]).unwrap();
        all.listener(&mut small, &m0).unwrap();
        assert_eq!(
            all.listener(&mut small, &m1),
            Err(Error::TableFull { capacity: 1 })
        );
    }
}
