//! The attribution rules: which listener each dumped socket counts for,
//! and how (the contract is `docs/listener-stats.md` of the repository).
//!
//! The socket queries, the public counters and the fuzz targets all call
//! these; nothing else decides what a socket counts for.

use crate::error::Error;
use crate::name::UnixName;
use crate::proc_unix::UnixLine;
use crate::query::{TcpQuery, UnixQuery};
use crate::table::Slots;
use crate::unix_backlogs::UnixBacklogs;
use crate::waiting::Waiting;
use crate::wire::inet_diag::{
    InetDiagAttr, InetDiagMsg, attr as inet_attr, tcp_info_last_data_sent,
};
use crate::wire::rtattr::RtAttr;
use crate::wire::tcp_state::TcpState;
use crate::wire::unix_diag::{UnixDiagMsg, attr as unix_attr};
use crate::wire::{WireError, ne_u32_at};
use core::net::SocketAddr;
use raindrops_core::{ListenStats, any_addr_of};

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

impl<'a> TcpTarget<'a> {
    /// The target of a query for `addrs` (every listener when empty).
    pub(crate) const fn of(addrs: &'a [SocketAddr]) -> Self {
        match addrs {
            [] => TcpTarget::All,
            [one] => TcpTarget::One(*one),
            many => TcpTarget::Some(many),
        }
    }
}

/// The attribution rules for TCP listeners.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TcpTally<'a> {
    pub(crate) target: TcpTarget<'a>,
    pub(crate) query: TcpQuery,
}

impl<'a> TcpTally<'a> {
    /// The rules of `query` for `addrs` (every listener when empty).
    pub(crate) const fn new(addrs: &'a [SocketAddr], query: &TcpQuery) -> Self {
        TcpTally {
            target: TcpTarget::of(addrs),
            query: *query,
        }
    }

    fn empty(&self) -> ListenStats {
        let mut s = ListenStats::new(0, 0);
        if self.query.syn_recv {
            s = s.with_syn_recv(0);
        }
        if self.query.queue_wait {
            s = s.with_queue_wait_oldest(0);
        }
        s
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
        if self.query.drops {
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
    /// connections still in the accept queue (inode 0; `ESTABLISHED`, or
    /// `CLOSE_WAIT` when the client gave up) as waiting, with their age
    /// from `INET_DIAG_INFO`, request sockets as half-open.
    pub(crate) fn connection<S: Slots<SocketAddr>>(&self, slots: &mut S, m: &InetDiagMsg<&[u8]>) {
        let state = m.state();
        let established = state == TcpState::Established;
        let active = self.query.active && established && m.inode() != 0;
        let waiting = self.query.queue_wait
            && (established || state == TcpState::CloseWait)
            && m.inode() == 0;
        if !(active || waiting || (self.query.syn_recv && state.is_syn_recv())) {
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
        } else if waiting {
            // Without INET_DIAG_INFO (not asked for, as no listener had a
            // queue when the dump started) the age is unknown.
            let Some(age_ms) = waiting_age(m) else { return };
            s.queue_wait_oldest_ms = Some(s.queue_wait_oldest_ms.unwrap_or(0).max(age_ms));
            let [lo, hi] = m.id().cookie;
            let cookie = u64::from(hi) << 32 | u64::from(lo);
            slots.waiting(i, Waiting { age_ms, cookie });
        } else {
            s.syn_recv = Some(s.syn_recv.unwrap_or(0).saturating_add(1));
        }
    }

    /// Applies the final rules: several addresses drop those not
    /// listening; all listeners are sorted by address; the wait
    /// percentiles are computed where the table keeps the waits.
    pub(crate) fn finish<S: Slots<SocketAddr>>(&self, slots: &mut S) {
        match self.target {
            TcpTarget::One(_) => {}
            TcpTarget::Some(_) => slots.retain(|r| r.listening),
            TcpTarget::All => slots.sort(),
        }
        if self.query.queue_wait {
            slots.finish_waits();
        }
    }
}

/// The attribution rules for Unix listeners.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UnixTally<'a> {
    /// The requested names, in their printed form (every listener when
    /// empty).
    names: &'a [UnixName],
    pub(crate) query: UnixQuery,
}

impl<'a> UnixTally<'a> {
    /// The rules of `query` for `names` (every listener when empty).
    pub(crate) const fn new(names: &'a [UnixName], query: &UnixQuery) -> Self {
        UnixTally {
            names,
            query: *query,
        }
    }

    /// Whether every listener is wanted.
    const fn all(&self) -> bool {
        self.names.is_empty()
    }

    /// Resets `slots` to the state before the first dump: the requested
    /// names in the caller's order (duplicates once), or nothing.
    pub(crate) fn start<S: Slots<UnixName>>(&self, slots: &mut S) -> Result<(), Error> {
        slots.clear();
        for n in self.names {
            if slots.find(n).is_none() {
                slots.push(*n, ListenStats::new(0, 0))?;
            }
        }
        Ok(())
    }

    /// Counts one socket of a unix_diag dump of LISTEN (and, for
    /// `active`, ESTABLISHED) sockets with `UDIAG_SHOW_NAME` and
    /// `UDIAG_SHOW_ICONS` or `UDIAG_SHOW_RQLEN`.
    #[inline]
    pub(crate) fn message<S: Slots<UnixName>>(
        &self,
        slots: &mut S,
        m: &UnixDiagMsg<&[u8]>,
    ) -> Result<(), Error> {
        self.message_remembering(slots, m, None)
    }

    /// [`UnixTally::message`], with the backlogs of listeners remembered
    /// in `backlogs`: a counted listener with `UNIX_DIAG_RQLEN` fills it,
    /// one without takes its backlog from it.
    #[inline]
    pub(crate) fn message_remembering<S: Slots<UnixName>>(
        &self,
        slots: &mut S,
        m: &UnixDiagMsg<&[u8]>,
        backlogs: Option<&mut UnixBacklogs>,
    ) -> Result<(), Error> {
        let state = m.state();
        if state == TcpState::Established {
            if !self.query.active {
                return Ok(());
            }
            if !self.all() {
                // The hottest path (every connected socket of the machine,
                // a few requested names): read the name in place.
                let p = m.as_bytes();
                if p.len() == UnixDiagMsg::<&[u8]>::LEN {
                    // No attribute, no name: a client socket.
                    return Ok(());
                }
                if let Some(raw) = first_name(p) {
                    if let Some(i) = slots.rows().iter().position(|r| r.key.eq_sun_path(raw)) {
                        let s = &mut slots.row(i).stats;
                        s.active = s.active.saturating_add(1);
                    }
                    return Ok(());
                }
            }
        } else if state != TcpState::Listen {
            return Ok(());
        }
        // Every listener, and what the hot path leaves (listeners,
        // unusual messages): undecoded attributes, only the two we use.
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
        let i = if self.all() {
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
            let (queued, backlog) = match (rq, backlogs) {
                (Some((q, Some(b))), Some(mem)) => {
                    mem.fill(m.ino(), b);
                    (q, Some(b))
                }
                (Some((q, None)), Some(mem)) => (q, mem.get(m.ino())),
                (Some((q, b)), None) => (q, b),
                (None, _) => (0, None),
            };
            let mut add = ListenStats::new(0, queued);
            if let Some(b) = backlog {
                add = add.with_backlog(b);
            }
            row.stats.accumulate(&add);
            row.listening = true;
        } else {
            row.stats.active = row.stats.active.saturating_add(1);
        }
        Ok(())
    }

    /// Counts one line of `/proc/net/unix` the way the Ruby gem does
    /// (state `02` queued, `03` active).
    pub(crate) fn proc_line<S: Slots<UnixName>>(
        &self,
        slots: &mut S,
        l: &UnixLine<'_>,
    ) -> Result<(), Error> {
        use crate::proc_unix::{SS_CONNECTED, SS_CONNECTING};
        let Some(name) = l.path.and_then(UnixName::new) else {
            return Ok(());
        };
        let listener = l.is_listener();
        let queued = !listener && l.state == SS_CONNECTING;
        let active = !listener && l.state == SS_CONNECTED && self.query.active;
        if !(listener || queued || active) {
            return Ok(());
        }
        let i = match slots.find(&name) {
            Some(i) => i,
            None if self.all() => slots.push(name, ListenStats::new(0, 0))?,
            None => return Ok(()),
        };
        let row = slots.row(i);
        if listener {
            row.listening = true;
        } else if queued {
            row.stats.queued = row.stats.queued.saturating_add(1);
        } else {
            row.stats.active = row.stats.active.saturating_add(1);
        }
        Ok(())
    }

    /// Applies the final rules: with every listener, only listening names
    /// are kept, sorted.
    pub(crate) fn finish<S: Slots<UnixName>>(&self, slots: &mut S) {
        if self.all() {
            slots.retain(|r| r.listening);
            slots.sort();
        }
    }
}

/// How long a connection in an accept queue has waited: `tcp_info`'s
/// `last_data_sent` from its `INET_DIAG_INFO` attribute, if there is one
/// that long. (Not `last_data_recv` or `last_ack_recv`: data the client
/// sends while it waits resets those; the queue's connections have sent
/// nothing, so `last_data_sent` counts from the end of the handshake.)
fn waiting_age(m: &InetDiagMsg<&[u8]>) -> Option<u32> {
    m.attrs_raw()
        .filter_map(Result::ok)
        .find(|a| a.kind() == inet_attr::INFO)
        .and_then(|a| tcp_info_last_data_sent(a.into_payload()))
}

/// The name of a unix_diag message (its bytes `p`) whose first attribute
/// is a well-formed `UNIX_DIAG_NAME`, where the kernel puts it; `None`
/// sends the message down the general path (which also reports malformed
/// attributes).
#[inline]
fn first_name(p: &[u8]) -> Option<&[u8]> {
    let a = RtAttr::new_checked(p.get(UnixDiagMsg::<&[u8]>::LEN..)?).ok()?;
    (a.kind() == unix_attr::NAME).then(|| a.into_payload())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::TcpTable;
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
        let all = TcpTally::new(&[], &TcpQuery::new().with_syn_recv(true));
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
        let some = TcpTally::new(&want, &TcpQuery::new().with_drops(false));
        run(&some, &mut t, &msgs);
        let keys: Vec<_> = t.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys, ["[::]:82", "0.0.0.0:80"]);
        assert_eq!(t.get(&sa("0.0.0.0:80")).unwrap().drops, None);
        assert_eq!(t.get(&sa("0.0.0.0:80")).unwrap().active, 2);

        // A requested address that does not listen does not capture the
        // connections of the any-address listener.
        let want = [sa("127.0.0.1:80"), sa("0.0.0.0:80")];
        let some = TcpTally::new(&want, &TcpQuery::new().with_drops(false));
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

    /// A unix_diag message: a listener (with its queue as `RQLEN` and
    /// backlog, or as `ICONS`) or a connected socket, bound to `name`.
    fn unix_msg(ino: u32, name: Option<&[u8]>, listener: Option<(u32, u32, bool)>) -> Vec<u8> {
        use crate::wire::unix_diag::{UnixDiagMsgRepr, attr as ua};
        let mut b = std::vec![0u8; 4096];
        UnixDiagMsgRepr {
            family: 1,
            sock_type: 1,
            state: if listener.is_some() { 10 } else { 1 },
            ino,
            ..Default::default()
        }
        .emit(&mut b)
        .unwrap();
        let mut n = 16;
        if let Some(name) = name {
            n += emit_attr(&mut b[n..], ua::NAME, name).unwrap();
        }
        match listener {
            Some((q, backlog, true)) => {
                let mut rq = [0u8; 8];
                rq[..4].copy_from_slice(&q.to_ne_bytes());
                rq[4..].copy_from_slice(&backlog.to_ne_bytes());
                n += emit_attr(&mut b[n..], ua::RQLEN, &rq).unwrap();
            }
            Some((q, _, false)) => {
                let icons: Vec<u8> = (0..q).flat_map(|i| (1000 + i).to_ne_bytes()).collect();
                n += emit_attr(&mut b[n..], ua::ICONS, &icons).unwrap();
            }
            None => {}
        }
        b.truncate(n);
        b
    }

    proptest::proptest! {
        /// The default Unix query's two dumps agree: an `ICONS` dump with
        /// the backlogs remembered from an `RQLEN` dump of the same
        /// sockets gives the `RQLEN` dump's table, for every listener and
        /// for requested names; a listener not remembered leaves its
        /// backlog out and marks the query missed.
        #[test]
        fn remembered_backlogs_agree(
            listeners in proptest::collection::vec((0u8..4, 0u32..5, 1u32..200), 0..6),
            conns in proptest::collection::vec(proptest::option::of(0u8..5), 0..20),
            requested in proptest::collection::vec(0u8..5, 0..3),
        ) {
            use crate::table::UnixTable;
            let name = |i: u8| std::format!("/run/s{i}.sock").into_bytes();
            let dump = |rqlen: bool| -> Vec<Vec<u8>> {
                let mut v: Vec<Vec<u8>> = listeners
                    .iter()
                    .enumerate()
                    .map(|(i, (n, q, b))| unix_msg(100 + i as u32, Some(&name(*n)), Some((*q, *b, rqlen))))
                    .collect();
                v.extend(conns.iter().enumerate().map(|(i, n)| {
                    unix_msg(500 + i as u32, n.map(name).as_deref(), None)
                }));
                v
            };
            let names: Vec<UnixName> = requested.iter().map(|i| UnixName::new(&name(*i)).unwrap()).collect();
            for names in [&[][..], &names[..]] {
                let tally = UnixTally::new(names, &UnixQuery::new());
                let count = |msgs: &[Vec<u8>], mem: Option<&mut UnixBacklogs>| {
                    let mut t = UnixTable::<16>::new();
                    tally.start(&mut t).unwrap();
                    let mut mem = mem;
                    for m in msgs {
                        let m = UnixDiagMsg::new_checked(&m[..]).unwrap();
                        tally.message_remembering(&mut t, &m, mem.as_deref_mut()).unwrap();
                    }
                    tally.finish(&mut t);
                    t
                };
                let mut mem = UnixBacklogs::default();
                mem.begin_fill();
                let rqlen = count(&dump(true), Some(&mut mem));
                mem.end_fill();
                mem.begin_lookup();
                let icons = count(&dump(false), Some(&mut mem));
                proptest::prop_assert!(!mem.missed());
                let rows = |t: &UnixTable<16>| t.iter().map(|(k, s)| (*k, *s)).collect::<Vec<_>>();
                proptest::prop_assert_eq!(rows(&icons), rows(&rqlen));
                // Without the backlogs: the same, minus every backlog.
                let plain = count(&dump(false), None);
                for ((k, a), (_, b)) in plain.iter().zip(rqlen.iter()) {
                    proptest::prop_assert_eq!(a.backlog, None, "{:?}", k);
                    proptest::prop_assert_eq!((a.active, a.queued), (b.active, b.queued));
                }
                // Forgotten backlogs: missed when a counted listener asks.
                let mut empty = UnixBacklogs::default();
                empty.begin_lookup();
                let _ = count(&dump(false), Some(&mut empty));
                let counted = rqlen.iter().any(|(_, s)| s.backlog.is_some());
                proptest::prop_assert_eq!(empty.missed(), counted);
            }
        }
    }
}
