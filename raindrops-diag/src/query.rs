//! Listener statistics over a [`DiagSocket`] without allocation: the
//! requests each query sends and how the replies are counted.
//!
//! Speed comes from asking the kernel less:
//!
//! - `queued`, `backlog` and `drops` come from LISTEN sockets only; a dump
//!   with the LISTEN state alone never walks the established-socket table,
//!   and `INET_DIAG_SKMEMINFO` (for `drops`) is asked of that dump only;
//! - `active` (and, on request, `syn_recv`) need a second dump of
//!   ESTABLISHED (and request) sockets, filtered in the kernel by the
//!   listener's port in the request header and by filter bytecode, so the
//!   kernel copies only sockets that can count;
//! - both dumps use the legacy `TCPDIAG_GETSOCK` request, which reports
//!   IPv4 and IPv6 sockets in one walk (IPv4 clients of a dual-stack
//!   listener are IPv6 sockets), falling back to one `inet_diag_req_v2`
//!   per family where the kernel refuses it.

use crate::error::{Errno, Error};
use crate::name::UnixName;
use crate::socket::DiagSocket;
use crate::table::{Slots, TcpTable, TcpTally, TcpTarget, UnixTable, UnixTally};
use crate::wire::bytecode::{self, PORT_FILTER_LEN, local_addr_filter};
use crate::wire::inet_diag::{
    AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC, Extensions, IPPROTO_TCP, InetDiagMsg, InetDiagReq,
    InetDiagReqV2, SockId,
};
use crate::wire::nlmsg;
use crate::wire::request::{InetRequest, inet_dump_in_place, unix_dump};
use crate::wire::tcp_state::TcpStates;
use crate::wire::unix_diag::{UnixDiagMsg, UnixDiagReq, UnixShow};
use core::net::SocketAddr;

/// How often a dump flagged `NLM_F_DUMP_INTR` is restarted before
/// [`Error::Interrupted`].
const MAX_RESTARTS: usize = 8;

/// What a TCP listener query counts.
///
/// [`TcpQuery::new`] (the default) counts `active`, `queued`, `backlog`
/// and `drops`; [`TcpQuery::queued_only`] skips `active` and with it the
/// walk of established sockets; `syn_recv` is counted only when asked
/// ([`TcpQuery::with_syn_recv`]), as it needs that walk too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TcpQuery {
    /// Count accepted established connections (`active`); when false,
    /// `active` is 0.
    pub active: bool,
    /// Ask LISTEN sockets for `INET_DIAG_SKMEMINFO` to fill `drops`.
    pub drops: bool,
    /// Count half-open handshakes (`syn_recv`).
    pub syn_recv: bool,
}

impl TcpQuery {
    /// `active`, `queued`, `backlog` and `drops`.
    pub const fn new() -> Self {
        TcpQuery {
            active: true,
            drops: true,
            syn_recv: false,
        }
    }

    /// `queued`, `backlog` and `drops` only, from one LISTEN-only dump
    /// (`active` is 0).
    pub const fn queued_only() -> Self {
        TcpQuery {
            active: false,
            drops: true,
            syn_recv: false,
        }
    }

    /// The same query, counting `active` or not.
    #[must_use]
    pub const fn with_active(mut self, on: bool) -> Self {
        self.active = on;
        self
    }

    /// The same query, reading `drops` or not.
    #[must_use]
    pub const fn with_drops(mut self, on: bool) -> Self {
        self.drops = on;
        self
    }

    /// The same query, counting `syn_recv` or not.
    #[must_use]
    pub const fn with_syn_recv(mut self, on: bool) -> Self {
        self.syn_recv = on;
        self
    }
}

impl Default for TcpQuery {
    fn default() -> Self {
        Self::new()
    }
}

/// What a Unix listener query counts.
///
/// [`UnixQuery::new`] (the default) counts `active` and `queued` from one
/// dump of listening and connected sockets; [`UnixQuery::queued_only`]
/// asks for listening sockets only, which also reports each listener's
/// `backlog` and costs a fraction (the kernel still walks every Unix
/// socket, but builds no message for connected ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct UnixQuery {
    /// Count accepted connections (`active`); when false, `active` is 0 and
    /// `backlog` is filled instead.
    pub active: bool,
}

impl UnixQuery {
    /// `active` and `queued`.
    pub const fn new() -> Self {
        UnixQuery { active: true }
    }

    /// `queued` and `backlog` only, from a LISTEN-only dump.
    pub const fn queued_only() -> Self {
        UnixQuery { active: false }
    }
}

impl Default for UnixQuery {
    fn default() -> Self {
        Self::new()
    }
}

/// What the kernel should filter on.
enum Filter<'a> {
    None,
    Addr(SocketAddr),
    Ports(&'a mut dyn Iterator<Item = u16>),
}

/// A small sorted set of ports, for turning listener addresses into a
/// port filter without allocation. Past its capacity it gives up
/// (`count` becomes `usize::MAX`) and the dump goes unfiltered.
struct PortSet {
    ports: heapless::Vec<u16, 256>,
    count: usize,
}

impl PortSet {
    const fn new() -> Self {
        PortSet {
            ports: heapless::Vec::new(),
            count: 0,
        }
    }
    fn insert(&mut self, p: u16) {
        if self.count == usize::MAX {
            return;
        }
        if let Err(i) = self.ports.binary_search(&p) {
            if self.ports.insert(i, p).is_err() {
                self.count = usize::MAX;
                return;
            }
            self.count = self.ports.len();
        }
    }
    fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.ports.iter().copied()
    }
    fn single(&self) -> Option<u16> {
        if self.count == 1 {
            self.ports.first().copied()
        } else {
            None
        }
    }
}

/// Writes one inet_diag dump request into `buf`; returns its length.
fn tcp_request(
    buf: &mut [u8],
    family: u8,
    states: TcpStates,
    ext: Extensions,
    sport: u16,
    filter: Filter<'_>,
    ports: usize,
) -> Result<usize, Error> {
    let mut id = SockId::any();
    id.sport = sport;
    let req = if family == AF_UNSPEC {
        InetRequest::Legacy(InetDiagReq {
            family: AF_UNSPEC,
            src_len: 0,
            dst_len: 0,
            ext,
            id,
            states,
            dbs: 0,
        })
    } else {
        InetRequest::V2(InetDiagReqV2 {
            family,
            protocol: IPPROTO_TCP,
            ext,
            pad: 0,
            states,
            id,
        })
    };
    let at = req.bytecode_offset();
    let Some(bc) = buf.get_mut(at..) else {
        return Err(Error::Wire(crate::wire::WireError::BufferTooSmall {
            need: at,
        }));
    };
    let bc_len = match filter {
        Filter::None => 0,
        Filter::Addr(a) => local_addr_filter(bc, &a)?,
        Filter::Ports(it) => bytecode::ports_filter(bc, it, ports)?,
    };
    Ok(inet_dump_in_place(buf, 0, &req, bc_len)?)
}

/// For a unix_diag message of an established socket whose first
/// attribute is well-formed: its name, or an empty slice for a socket
/// without one. `None` sends the message down the general path (which
/// also reports malformed ones).
#[inline]
fn connected_name(p: &[u8]) -> Option<&[u8]> {
    const LEN: usize = UnixDiagMsg::<&[u8]>::LEN;
    if p.len() == LEN {
        // No attribute: no name (and, as ICONS is only for listeners with
        // waiting connections, nothing to count whatever the state).
        return Some(&[]);
    }
    if p.len() < LEN || p[2] != 1 {
        return None;
    }
    let h = p.get(LEN..LEN + 4)?;
    let alen = usize::from(u16::from_ne_bytes([h[0], h[1]]));
    let kind = u16::from_ne_bytes([h[2], h[3]]) & 0x3fff;
    if alen < 4 || LEN + alen > p.len() {
        return None;
    }
    if kind != crate::wire::unix_diag::attr::NAME {
        // The kernel writes the name first: there is none.
        return Some(&[]);
    }
    Some(&p[LEN + 4..LEN + alen])
}

impl DiagSocket {
    /// TCP listener statistics for `addrs` (all listeners when empty),
    /// written into `table` without allocating; `buf` receives the
    /// kernel's replies (at least [`RECV_BUFFER_LEN`](crate::RECV_BUFFER_LEN)
    /// bytes is best; a smaller one may fail with [`Error::Truncated`]).
    ///
    /// The rules are those of [`Diag::tcp_listener_stats`](crate::Diag::tcp_listener_stats)
    /// (SPEC §2), with `SocketAddr` keys.
    ///
    /// # Errors
    ///
    /// [`Error::TableFull`] if more listeners than `N` must be kept, and
    /// the errors of the socket.
    pub fn tcp_listener_stats_into<const N: usize>(
        &mut self,
        buf: &mut [u8],
        query: &TcpQuery,
        addrs: &[SocketAddr],
        table: &mut TcpTable<N>,
    ) -> Result<(), Error> {
        let target = match addrs {
            [] => TcpTarget::All,
            [one] => TcpTarget::One(*one),
            many => TcpTarget::Some(many),
        };
        self.tcp_query(buf, query, target, table)
    }

    /// Unix listener statistics for the names in `names` (all listeners
    /// when empty), written into `table` without allocating. Names are in
    /// their printed form (`/path`, `@abstract`); symlinks are not
    /// resolved here (the `std` API does that).
    ///
    /// # Errors
    ///
    /// [`Error::TableFull`], [`Error::Kernel`] with `ENOENT` where the
    /// kernel has no unix_diag, and the errors of the socket.
    pub fn unix_listener_stats_into<const N: usize>(
        &mut self,
        buf: &mut [u8],
        names: &[UnixName],
        query: &UnixQuery,
        table: &mut UnixTable<N>,
    ) -> Result<(), Error> {
        self.unix_query(buf, names, query, table)
    }

    pub(crate) fn tcp_query<S: Slots<SocketAddr>>(
        &mut self,
        buf: &mut [u8],
        query: &TcpQuery,
        target: TcpTarget<'_>,
        slots: &mut S,
    ) -> Result<(), Error> {
        let tally = TcpTally {
            target,
            drops: query.drops,
            syn_recv: query.syn_recv,
        };
        for _ in 0..MAX_RESTARTS {
            tally.start(slots)?;
            let r = if self.legacy_refused() {
                let fams: &[u8] = match target {
                    TcpTarget::One(SocketAddr::V6(_)) => &[AF_INET6],
                    _ => &[AF_INET, AF_INET6],
                };
                self.tcp_dumps(buf, query, &tally, fams, slots)
            } else {
                match self.tcp_dumps(buf, query, &tally, &[AF_UNSPEC], slots) {
                    Err(Error::Kernel(e))
                        if e == Errno::INVAL || e == Errno::NOENT || e == Errno::OPNOTSUPP =>
                    {
                        // No TCPDIAG_GETSOCK here: one v2 request per family.
                        self.set_legacy_refused();
                        tally.start(slots)?;
                        self.tcp_dumps(buf, query, &tally, &[AF_INET, AF_INET6], slots)
                    }
                    r => r,
                }
            };
            match r {
                Err(Error::Interrupted) => continue,
                Err(e) => return Err(e),
                Ok(()) => {
                    tally.finish(slots);
                    return Ok(());
                }
            }
        }
        Err(Error::Interrupted)
    }

    fn tcp_dumps<S: Slots<SocketAddr>>(
        &mut self,
        buf: &mut [u8],
        query: &TcpQuery,
        tally: &TcpTally<'_>,
        families: &[u8],
        slots: &mut S,
    ) -> Result<(), Error> {
        let room = buf
            .len()
            .saturating_sub(nlmsg::HEADER_LEN + InetDiagReq::LEN + 4);
        let max_ports = (room / PORT_FILTER_LEN).min(bytecode::MAX_FILTER_PORTS);
        // 1. LISTEN sockets: queued, backlog, drops.
        let ext = if query.drops {
            Extensions::SKMEMINFO
        } else {
            Extensions::empty()
        };
        let mut wanted = PortSet::new();
        if let TcpTarget::Some(addrs) = tally.target {
            for a in addrs {
                wanted.insert(a.port());
            }
        }
        for &family in families {
            let len = match tally.target {
                TcpTarget::One(a) => tcp_request(
                    buf,
                    family,
                    TcpStates::LISTEN,
                    ext,
                    a.port(),
                    Filter::Addr(a),
                    0,
                )?,
                TcpTarget::Some(_) if wanted.count <= max_ports => {
                    let sport = wanted.single().unwrap_or(0);
                    let mut it = wanted.iter();
                    let f = Filter::Ports(&mut it);
                    tcp_request(buf, family, TcpStates::LISTEN, ext, sport, f, wanted.count)?
                }
                _ => tcp_request(buf, family, TcpStates::LISTEN, ext, 0, Filter::None, 0)?,
            };
            self.dump(buf, len, |m| {
                let d =
                    InetDiagMsg::new_checked(m.payload()).map_err(|e| e.at(nlmsg::HEADER_LEN))?;
                tally.listener(slots, &d)
            })?;
        }
        if !(query.active || query.syn_recv) {
            return Ok(());
        }
        // 2. Connections of those listeners: active (and syn_recv).
        let mut states = TcpStates::empty();
        if query.active {
            states |= TcpStates::ESTABLISHED;
        }
        if query.syn_recv {
            states |= TcpStates::SYN_RECV | TcpStates::NEW_SYN_RECV;
        }
        let mut ports = PortSet::new();
        match tally.target {
            TcpTarget::One(_) => {}
            TcpTarget::Some(_) | TcpTarget::All => {
                for r in slots.rows().iter().filter(|r| r.listening) {
                    ports.insert(r.key.port());
                }
                if ports.count == 0 {
                    // Nothing listens: nothing can be attributed.
                    return Ok(());
                }
            }
        }
        for &family in families {
            let len = match tally.target {
                TcpTarget::One(a) => tcp_request(
                    buf,
                    family,
                    states,
                    Extensions::empty(),
                    a.port(),
                    Filter::Addr(a),
                    0,
                )?,
                _ if ports.count <= max_ports => {
                    let sport = ports.single().unwrap_or(0);
                    let mut it = ports.iter();
                    let f = Filter::Ports(&mut it);
                    tcp_request(
                        buf,
                        family,
                        states,
                        Extensions::empty(),
                        sport,
                        f,
                        ports.count,
                    )?
                }
                _ => tcp_request(buf, family, states, Extensions::empty(), 0, Filter::None, 0)?,
            };
            self.dump(buf, len, |m| {
                let d =
                    InetDiagMsg::new_checked(m.payload()).map_err(|e| e.at(nlmsg::HEADER_LEN))?;
                tally.connection(slots, &d);
                Ok(())
            })?;
        }
        Ok(())
    }

    pub(crate) fn unix_query<S: Slots<UnixName>>(
        &mut self,
        buf: &mut [u8],
        names: &[UnixName],
        query: &UnixQuery,
        slots: &mut S,
    ) -> Result<(), Error> {
        let tally = UnixTally {
            all: names.is_empty(),
        };
        let req = UnixDiagReq {
            family: AF_UNIX,
            protocol: 0,
            pad: 0,
            states: if query.active {
                TcpStates::LISTEN | TcpStates::ESTABLISHED
            } else {
                TcpStates::LISTEN
            },
            ino: 0,
            // With connected sockets in the dump, the queue of a listener
            // is the list of its waiting connections (ICONS, reported for
            // listeners only): RQLEN would add the backlog but costs every
            // socket an attribute and the kernel about 20% more time. A
            // LISTEN-only dump can afford RQLEN, which has the backlog.
            show: if query.active {
                UnixShow::NAME | UnixShow::ICONS
            } else {
                UnixShow::NAME | UnixShow::RQLEN
            },
            cookie: [!0, !0],
        };
        for _ in 0..MAX_RESTARTS {
            slots.clear();
            for n in names {
                if slots.find(n).is_none() {
                    slots.push(*n, raindrops_core::ListenStats::new(0, 0))?;
                }
            }
            let len = unix_dump(buf, 0, &req)?;
            let all = tally.all;
            let mut hits = [0u32; 8];
            let few: &[UnixName] = if names.len() <= hits.len() {
                names
            } else {
                &[]
            };
            let r = self.dump_hot(
                buf,
                len,
                // The hot path (every connected socket of the machine, a
                // few requested names): count matches in place.
                |p| {
                    if all || few.is_empty() {
                        return false;
                    }
                    match connected_name(p) {
                        Some([]) => true,
                        Some(name) => {
                            if let Some(i) = few.iter().position(|n| n.eq_sun_path(name)) {
                                hits[i] = hits[i].saturating_add(1);
                            }
                            true
                        }
                        None => false,
                    }
                },
                |m| {
                    let d = UnixDiagMsg::new_checked(m.into_payload())
                        .map_err(|e| e.at(nlmsg::HEADER_LEN))?;
                    tally.message(slots, &d)
                },
            );
            // Requested names are distinct in the table but may repeat in
            // `names`: count each table row once.
            let mut seen = [false; 8];
            for (k, n) in few.iter().enumerate() {
                if let Some(i) = slots.find(n) {
                    if i < seen.len() && !seen[i] {
                        seen[i] = true;
                        let s = &mut slots.row(i).stats;
                        s.active = s.active.saturating_add(hits[k]);
                    }
                }
            }
            match r {
                Err(Error::Interrupted) => continue,
                Err(e) => return Err(e),
                Ok(()) => {
                    tally.finish(slots);
                    return Ok(());
                }
            }
        }
        Err(Error::Interrupted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-family `inet_diag_req_v2` path (for kernels without the
    /// legacy request) gives the same answers as the legacy one.
    #[test]
    #[cfg(feature = "std")]
    fn v2_fallback_agrees_with_legacy() {
        use std::net::{TcpListener, TcpStream};
        use std::string::ToString;
        let dual = TcpListener::bind("[::]:0").unwrap();
        let p = dual.local_addr().unwrap().port();
        let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let _c: std::vec::Vec<_> = [
            std::format!("127.0.0.1:{p}"),
            std::format!("[::1]:{p}"),
            std::format!("127.0.0.1:{p}"),
            v4.local_addr().unwrap().to_string(),
        ]
        .iter()
        .map(|a| TcpStream::connect(a.as_str()).unwrap())
        .collect();
        let _s = (dual.accept().unwrap(), v4.accept().unwrap());
        let keys: [SocketAddr; 3] = [
            std::format!("[::]:{p}").parse().unwrap(),
            std::format!("0.0.0.0:{p}").parse().unwrap(),
            v4.local_addr().unwrap(),
        ];
        let q = TcpQuery::new().with_syn_recv(true);
        let mut buf = std::vec![0u8; crate::RECV_BUFFER_LEN];
        let mut legacy = DiagSocket::new().unwrap();
        let mut v2 = DiagSocket::new().unwrap();
        v2.set_legacy_refused();
        let targets: [&[SocketAddr]; 5] = [&keys[..1], &keys[1..2], &keys[2..], &keys, &[]];
        for addrs in targets {
            let mut a = TcpTable::<64>::new();
            let mut b = TcpTable::<64>::new();
            legacy
                .tcp_listener_stats_into(&mut buf, &q, addrs, &mut a)
                .unwrap();
            v2.tcp_listener_stats_into(&mut buf, &q, addrs, &mut b)
                .unwrap();
            for k in keys {
                // Other sessions' sockets may change between the two
                // queries; ours do not.
                assert_eq!(a.get(&k), b.get(&k), "{addrs:?} {k}");
            }
            if addrs.len() == 1 {
                assert_eq!(a.len(), 1);
            }
        }
        let mut one = TcpTable::<1>::new();
        legacy
            .tcp_listener_stats_into(&mut buf, &q, &keys[..1], &mut one)
            .unwrap();
        let s = one.get(&keys[0]).unwrap();
        assert_eq!((s.active, s.queued, s.syn_recv), (1, 2, Some(0)));
    }

    #[test]
    fn port_set() {
        let mut s = PortSet::new();
        for p in [80, 443, 80, 0, 65535] {
            s.insert(p);
        }
        assert_eq!(s.count, 4);
        assert_eq!(s.iter().collect::<std::vec::Vec<_>>(), [0, 80, 443, 65535]);
        assert_eq!(s.single(), None);
        let mut one = PortSet::new();
        one.insert(8080);
        assert_eq!(one.single(), Some(8080));
        let mut many = PortSet::new();
        for p in 0..300 {
            many.insert(p);
        }
        assert_eq!(many.count, usize::MAX);
    }
}
