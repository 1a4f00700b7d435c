//! Listener statistics over a [`DiagSocket`] without allocation: the
//! dumps each query sends; their replies go to the attribution rules of
//! `tally`.
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

use crate::errno;
use crate::error::{DiagModule, Error};
use crate::name::UnixName;
use crate::query::{TcpQuery, UnixQuery};
use crate::socket::DiagSocket;
use crate::table::{Slots, TcpTable, UnixTable};
use crate::tally::{TcpTally, TcpTarget, UnixTally};
use crate::unix_backlogs::UnixBacklogs;
use crate::wire::WireError;
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

/// Sees every LISTEN socket a listener query's dump reports, next to the
/// attribution rules: how the `std` API lists each listener's sockets
/// (inode, cgroup id) without a dump of its own. `()` sees nothing.
pub(crate) trait ListenSink {
    /// The dump starts (again, after an interrupted one): forget what was
    /// seen.
    fn restart(&mut self) {}
    /// A socket of the TCP LISTEN dump.
    fn tcp(&mut self, _m: &InetDiagMsg<&[u8]>) -> Result<(), Error> {
        Ok(())
    }
    /// A socket of the unix_diag dump (any state).
    fn unix(&mut self, _m: &UnixDiagMsg<&[u8]>) -> Result<(), Error> {
        Ok(())
    }
}

impl ListenSink for () {}

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

/// One inet_diag dump of a TCP query: the states and attributes asked
/// for, and what the kernel filters on.
struct Dump<'a> {
    states: TcpStates,
    ext: Extensions,
    /// One address: the kernel filters on it (and on its port in the
    /// request header).
    addr: Option<SocketAddr>,
    /// Otherwise these local ports, when there are some and they fit in
    /// `max_ports`; else the dump is unfiltered.
    ports: &'a PortSet,
    max_ports: usize,
}

impl Dump<'_> {
    /// Writes the request for `family` (`AF_UNSPEC`: the legacy request
    /// for both families) into `buf`; returns its length.
    fn request(&self, buf: &mut [u8], family: u8) -> Result<usize, Error> {
        let by_ports = self.addr.is_none() && (1..=self.max_ports).contains(&self.ports.count);
        let mut id = SockId::any();
        id.sport = match self.addr {
            Some(a) => a.port(),
            None if by_ports => self.ports.single().unwrap_or(0),
            None => 0,
        };
        let req = if family == AF_UNSPEC {
            InetRequest::Legacy(InetDiagReq {
                family: AF_UNSPEC,
                src_len: 0,
                dst_len: 0,
                ext: self.ext,
                id,
                states: self.states,
                dbs: 0,
            })
        } else {
            InetRequest::V2(InetDiagReqV2 {
                family,
                protocol: IPPROTO_TCP,
                ext: self.ext,
                pad: 0,
                states: self.states,
                id,
            })
        };
        let at = req.bytecode_offset();
        let Some(bc) = buf.get_mut(at..) else {
            return Err(WireError::BufferTooSmall { need: at }.into());
        };
        let bc_len = match self.addr {
            Some(a) => local_addr_filter(bc, &a)?,
            None if by_ports => bytecode::ports_filter(bc, self.ports.iter(), self.ports.count)?,
            None => 0,
        };
        Ok(inet_dump_in_place(buf, 0, &req, bc_len)?)
    }
}

impl DiagSocket {
    /// TCP listener statistics for `addrs` (all listeners when empty),
    /// counting what `query` asks for, written into `table` without
    /// allocating; `buf` receives the kernel's replies (at least
    /// [`RECV_BUFFER_LEN`](crate::RECV_BUFFER_LEN) bytes is best; a smaller
    /// one may fail with [`Error::Truncated`]).
    ///
    /// The rules are those of [`Diag::tcp_listener_stats`](crate::Diag::tcp_listener_stats)
    /// (`docs/listener-stats.md` of the repository), with `SocketAddr`
    /// keys.
    ///
    /// # Errors
    ///
    /// [`Error::TableFull`] if more listeners than `N` must be kept,
    /// [`Error::MissingModule`] where the kernel has no `tcp_diag`, and
    /// the errors of the socket.
    pub fn tcp_listener_stats_into<const N: usize>(
        &mut self,
        buf: &mut [u8],
        addrs: &[SocketAddr],
        query: &TcpQuery,
        table: &mut TcpTable<N>,
    ) -> Result<(), Error> {
        self.tcp_query(buf, &TcpTally::new(addrs, query), table, &mut ())
    }

    /// Unix listener statistics for the names in `names` (all listeners
    /// when empty), counting what `query` asks for, written into `table`
    /// without allocating. Names are in their printed form (`/path`,
    /// `@abstract`); symlinks are not resolved here (the `std` API does
    /// that).
    ///
    /// # Errors
    ///
    /// [`Error::TableFull`], [`Error::MissingModule`] where the kernel
    /// has no `unix_diag`, and the errors of the socket.
    pub fn unix_listener_stats_into<const N: usize>(
        &mut self,
        buf: &mut [u8],
        names: &[UnixName],
        query: &UnixQuery,
        table: &mut UnixTable<N>,
    ) -> Result<(), Error> {
        self.unix_query(buf, &UnixTally::new(names, query), table, &mut ())
    }

    pub(crate) fn tcp_query<S: Slots<SocketAddr>>(
        &mut self,
        buf: &mut [u8],
        tally: &TcpTally<'_>,
        slots: &mut S,
        sink: &mut impl ListenSink,
    ) -> Result<(), Error> {
        let r = with_restarts(|| {
            tally.start(slots)?;
            sink.restart();
            if self.legacy_refused() {
                let fams: &[u8] = match tally.target {
                    TcpTarget::One(SocketAddr::V6(_)) => &[AF_INET6],
                    _ => &[AF_INET, AF_INET6],
                };
                self.tcp_dumps(buf, tally, fams, slots, sink)?;
            } else {
                match self.tcp_dumps(buf, tally, &[AF_UNSPEC], slots, sink) {
                    Err(Error::Kernel(e))
                        if e == errno::INVAL || e == errno::NOENT || e == errno::OPNOTSUPP =>
                    {
                        // No TCPDIAG_GETSOCK here: one v2 request per family.
                        self.set_legacy_refused();
                        tally.start(slots)?;
                        sink.restart();
                        self.tcp_dumps(buf, tally, &[AF_INET, AF_INET6], slots, sink)?;
                    }
                    r => r?,
                }
            }
            tally.finish(slots);
            Ok(())
        });
        r.map_err(|e| e.in_module(DiagModule::Tcp))
    }

    fn tcp_dumps<S: Slots<SocketAddr>>(
        &mut self,
        buf: &mut [u8],
        tally: &TcpTally<'_>,
        families: &[u8],
        slots: &mut S,
        sink: &mut impl ListenSink,
    ) -> Result<(), Error> {
        let room = buf
            .len()
            .saturating_sub(nlmsg::HEADER_LEN + InetDiagReq::LEN + 4);
        let max_ports = (room / PORT_FILTER_LEN).min(bytecode::MAX_FILTER_PORTS);
        let query = &tally.query;
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
        let one = match tally.target {
            TcpTarget::One(a) => Some(a),
            _ => None,
        };
        let listen = Dump {
            states: TcpStates::LISTEN,
            ext,
            addr: one,
            ports: &wanted,
            max_ports,
        };
        self.inet_dumps(buf, &listen, families, |d| {
            tally.listener(slots, d)?;
            sink.tcp(d)
        })?;
        // The waits need each queued connection's tcp_info: asked only when
        // some listener has a queue (it costs every socket of the walk
        // that matches the filter an attribute).
        let info = query.queue_wait
            && slots
                .rows()
                .iter()
                .any(|r| r.listening && r.stats.queued > 0);
        if !(query.active || query.syn_recv || info) {
            return Ok(());
        }
        // 2. Connections of those listeners: active, waiting (and
        // syn_recv).
        let mut states = TcpStates::empty();
        if query.active {
            states |= TcpStates::ESTABLISHED;
        }
        if info {
            // A client that gave up while waiting leaves its connection
            // in the queue, in CLOSE_WAIT.
            states |= TcpStates::ESTABLISHED | TcpStates::CLOSE_WAIT;
        }
        if query.syn_recv {
            states |= TcpStates::SYN_RECV | TcpStates::NEW_SYN_RECV;
        }
        let mut ports = PortSet::new();
        if one.is_none() {
            for r in slots.rows().iter().filter(|r| r.listening) {
                ports.insert(r.key.port());
            }
            if ports.count == 0 {
                // Nothing listens: nothing can be attributed.
                return Ok(());
            }
        }
        // Filtered on the ports of the listeners found.
        let conns = Dump {
            states,
            ext: if info {
                Extensions::INFO
            } else {
                Extensions::empty()
            },
            addr: one,
            ports: &ports,
            max_ports,
        };
        self.inet_dumps(buf, &conns, families, |d| {
            tally.connection(slots, d);
            Ok(())
        })
    }

    /// Runs `dump` for each of `families`, handing every reported socket
    /// to `each`.
    fn inet_dumps(
        &mut self,
        buf: &mut [u8],
        dump: &Dump<'_>,
        families: &[u8],
        mut each: impl FnMut(&InetDiagMsg<&[u8]>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        for &family in families {
            let len = dump.request(buf, family)?;
            self.dump(buf, len, |m| {
                let d = InetDiagMsg::new_checked(m.into_payload())
                    .map_err(|e| e.at(nlmsg::HEADER_LEN))?;
                each(&d)
            })?;
        }
        Ok(())
    }

    pub(crate) fn unix_query<S: Slots<UnixName>>(
        &mut self,
        buf: &mut [u8],
        tally: &UnixTally<'_>,
        slots: &mut S,
        sink: &mut impl ListenSink,
    ) -> Result<(), Error> {
        let mut backlogs = core::mem::take(&mut self.unix_backlogs);
        let r = self.unix_dumps(buf, tally, slots, &mut backlogs, sink);
        self.unix_backlogs = backlogs;
        r.map_err(|e| e.in_module(DiagModule::Unix))
    }

    /// The dumps of a Unix query. Without `active`, one LISTEN-only dump
    /// with `RQLEN` (queue and backlog). With `active`, one dump of
    /// listening and connected sockets: the queue of a listener is the
    /// list of its waiting connections (`ICONS`, reported for listeners
    /// only), and its backlog is remembered in `backlogs` from the last
    /// dump with `RQLEN`, which costs every socket an attribute (about 40%
    /// more kernel time) and is therefore asked only when the remembered
    /// backlogs are due, or again when this dump met a listener they do
    /// not hold.
    fn unix_dumps<S: Slots<UnixName>>(
        &mut self,
        buf: &mut [u8],
        tally: &UnixTally<'_>,
        slots: &mut S,
        backlogs: &mut UnixBacklogs,
        sink: &mut impl ListenSink,
    ) -> Result<(), Error> {
        let query = tally.query;
        if !query.active {
            return self.unix_dump(buf, tally, slots, UnixShow::RQLEN, Some(backlogs), sink);
        }
        if !query.backlog {
            return self.unix_dump(buf, tally, slots, UnixShow::ICONS, None, sink);
        }
        if !backlogs.due() {
            self.unix_dump(buf, tally, slots, UnixShow::ICONS, Some(backlogs), sink)?;
            if !backlogs.missed() {
                return Ok(());
            }
            // A listener new since the backlogs were read: ask again.
        }
        // (The sink restarts with the second dump.)
        self.unix_dump(buf, tally, slots, UnixShow::RQLEN, Some(backlogs), sink)
    }

    /// One unix_diag dump of LISTEN (and, for `active`, ESTABLISHED)
    /// sockets with `NAME` and `queue` (`ICONS` or `RQLEN`), counted into
    /// `slots`; with `RQLEN` it refills `backlogs`, with `ICONS` it reads
    /// them.
    fn unix_dump<S: Slots<UnixName>>(
        &mut self,
        buf: &mut [u8],
        tally: &UnixTally<'_>,
        slots: &mut S,
        queue: UnixShow,
        mut backlogs: Option<&mut UnixBacklogs>,
        sink: &mut impl ListenSink,
    ) -> Result<(), Error> {
        let req = UnixDiagReq {
            family: AF_UNIX,
            protocol: 0,
            pad: 0,
            states: if tally.query.active {
                TcpStates::LISTEN | TcpStates::ESTABLISHED
            } else {
                TcpStates::LISTEN
            },
            ino: 0,
            show: UnixShow::NAME | queue,
            cookie: [!0, !0],
        };
        let fill = queue == UnixShow::RQLEN;
        with_restarts(|| {
            tally.start(slots)?;
            sink.restart();
            if let Some(b) = backlogs.as_deref_mut() {
                if fill {
                    b.begin_fill()
                } else {
                    b.begin_lookup()
                }
            }
            let len = unix_dump(buf, 0, &req)?;
            self.dump(buf, len, |m| {
                let d = UnixDiagMsg::new_checked(m.into_payload())
                    .map_err(|e| e.at(nlmsg::HEADER_LEN))?;
                tally.message_remembering(slots, &d, backlogs.as_deref_mut())?;
                sink.unix(&d)
            })?;
            if let Some(b) = backlogs.as_deref_mut() {
                if fill { b.end_fill() } else { b.end_lookup() }
            }
            tally.finish(slots);
            Ok(())
        })
    }
}

/// Runs `attempt` again while the kernel flags its dump inconsistent
/// (`NLM_F_DUMP_INTR`), at most [`MAX_RESTARTS`] times.
fn with_restarts(mut attempt: impl FnMut() -> Result<(), Error>) -> Result<(), Error> {
    for _ in 0..MAX_RESTARTS {
        match attempt() {
            Err(Error::Interrupted) => continue,
            r => return r,
        }
    }
    Err(Error::Interrupted)
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
            // Room for every listener of a busy host (other tests and
            // benches run at the same time), on the heap.
            let mut a = std::boxed::Box::new(TcpTable::<4096>::new());
            let mut b = std::boxed::Box::new(TcpTable::<4096>::new());
            legacy
                .tcp_listener_stats_into(&mut buf, addrs, &q, &mut a)
                .unwrap();
            v2.tcp_listener_stats_into(&mut buf, addrs, &q, &mut b)
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
            .tcp_listener_stats_into(&mut buf, &keys[..1], &q, &mut one)
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
