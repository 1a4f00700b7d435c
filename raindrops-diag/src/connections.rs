//! Per-connection TCP dumps: every socket of the chosen states, with its
//! queues and (on request) its raw `tcp_info`.

use crate::error::{DiagModule, Error};
use crate::handle::Diag;
use crate::wire::bytecode::local_addr_filter;
use crate::wire::inet_diag::{
    AF_UNSPEC, Extensions, InetDiagAttr, InetDiagMsg, InetDiagReq, SockId,
};
use crate::wire::nlmsg::{self, Reply};
use crate::wire::request::{InetRequest, inet_dump_in_place};
use crate::wire::tcp_state::{TcpState, TcpStates};
use core::net::SocketAddr;
use std::vec::Vec;

/// Which connections a dump reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ConnQuery {
    /// The states to report.
    pub states: TcpStates,
    /// Only sockets whose local address and port match this one (an
    /// any-address matches every address of its family on the port).
    pub local: Option<SocketAddr>,
    /// Ask for `INET_DIAG_INFO` (`struct tcp_info`) of each socket.
    pub info: bool,
}

impl ConnQuery {
    /// Established connections of every port, without `tcp_info`.
    pub const fn new() -> Self {
        ConnQuery {
            states: TcpStates::ESTABLISHED,
            local: None,
            info: false,
        }
    }

    /// The same query for these states.
    #[must_use]
    pub const fn with_states(mut self, states: TcpStates) -> Self {
        self.states = states;
        self
    }

    /// The same query limited to sockets local to `addr`.
    #[must_use]
    pub const fn with_local(mut self, addr: SocketAddr) -> Self {
        self.local = Some(addr);
        self
    }

    /// The same query asking for `tcp_info` or not.
    #[must_use]
    pub const fn with_info(mut self, on: bool) -> Self {
        self.info = on;
        self
    }
}

impl Default for ConnQuery {
    fn default() -> Self {
        Self::new()
    }
}

/// One TCP socket of a dump.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Connection {
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port.
    pub remote: SocketAddr,
    /// TCP state.
    pub state: TcpState,
    /// The socket's inode; 0 while it waits in an accept queue.
    pub inode: u32,
    /// The owner's user id.
    pub uid: u32,
    /// Bytes received and not read (for a listener: its accept queue).
    pub rqueue: u32,
    /// Bytes sent and not acknowledged (for a listener: its backlog).
    pub wqueue: u32,
    /// The pending timer (0 none, 1 retransmit, 2 keepalive, 3
    /// TIME_WAIT, 4 zero-window probe).
    pub timer: u8,
    /// Retransmits or probes of that timer.
    pub retrans: u8,
    /// Milliseconds until the timer fires.
    pub expires: u32,
    /// The raw `struct tcp_info` bytes (`INET_DIAG_INFO`) when asked for
    /// and reported, as many as the kernel knows; decode them with
    /// raindrops-tcpinfo.
    pub tcp_info: Option<Vec<u8>>,
}

impl Connection {
    /// Builds a connection from a dumped message; `None` for a family
    /// other than IPv4/IPv6.
    ///
    /// # Errors
    ///
    /// A malformed attribute.
    pub fn from_msg(m: &InetDiagMsg<&[u8]>) -> Result<Option<Self>, Error> {
        let (Some(local), Some(remote)) = (m.local(), m.remote()) else {
            return Ok(None);
        };
        let mut tcp_info = None;
        for a in m.attrs() {
            if let InetDiagAttr::Info(b) = a? {
                tcp_info = Some(b.to_vec());
            }
        }
        Ok(Some(Connection {
            local,
            remote,
            state: m.state(),
            inode: m.inode(),
            uid: m.uid(),
            rqueue: m.rqueue(),
            wqueue: m.wqueue(),
            timer: m.timer(),
            retrans: m.retrans(),
            expires: m.expires(),
            tcp_info,
        }))
    }
}

fn request(buf: &mut [u8], q: &ConnQuery) -> Result<usize, Error> {
    let mut id = SockId::any();
    if let Some(a) = q.local {
        id.sport = a.port();
    }
    let req = InetRequest::Legacy(InetDiagReq {
        family: AF_UNSPEC,
        src_len: 0,
        dst_len: 0,
        ext: if q.info {
            Extensions::INFO
        } else {
            Extensions::empty()
        },
        id,
        states: q.states,
        dbs: 0,
    });
    let at = req.bytecode_offset();
    let bc = match q.local {
        Some(a) => local_addr_filter(buf.get_mut(at..).unwrap_or_default(), &a)?,
        None => 0,
    };
    Ok(inet_dump_in_place(buf, 0, &req, bc)?)
}

impl Diag {
    /// Calls `each` with every TCP socket `query` selects, borrowed from
    /// the receive buffer (no copy, no allocation).
    ///
    /// # Errors
    ///
    /// The socket's errors, [`Error::MissingModule`] where the kernel has
    /// no `tcp_diag`, [`Error::Interrupted`] if the kernel flagged the
    /// dump inconsistent (`each` has then seen a partial dump), and
    /// whatever `each` returns.
    pub fn for_each_tcp_connection(
        &mut self,
        query: &ConnQuery,
        mut each: impl FnMut(&InetDiagMsg<&[u8]>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let (sock, buf) = self.parts();
        let len = request(buf, query)?;
        sock.dump(buf, len, |m| {
            let d = InetDiagMsg::new_checked(m.payload()).map_err(|e| e.at(nlmsg::HEADER_LEN))?;
            each(&d)
        })
        .map_err(|e| e.in_module(DiagModule::Tcp))
    }

    /// The TCP sockets `query` selects, as an iterator of owned
    /// [`Connection`]s (for `raindrops connections`).
    ///
    /// The dump is read as the iterator advances; dropping it early is
    /// fine (the next query opens a fresh socket). If the kernel flags the
    /// dump inconsistent, the last item is `Err(Error::Interrupted)`.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] if the request cannot be sent.
    pub fn tcp_connections(&mut self, query: &ConnQuery) -> Result<Connections<'_>, Error> {
        let (sock, buf) = self.parts();
        let len = request(buf, query)?;
        let seq = sock.send(buf, len)?;
        Ok(Connections {
            diag: self,
            reply: Reply::new(seq),
            finished: false,
        })
    }
}

/// The iterator of [`Diag::tcp_connections`].
#[derive(Debug)]
pub struct Connections<'d> {
    diag: &'d mut Diag,
    reply: Reply,
    finished: bool,
}

impl Connections<'_> {
    fn fail(&mut self, e: Error) -> Option<Result<Connection, Error>> {
        self.finished = true;
        Some(Err(e.in_module(DiagModule::Tcp)))
    }
}

impl Iterator for Connections<'_> {
    type Item = Result<Connection, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.finished {
            let (sock, buf) = self.diag.parts();
            match self.reply.next_msg(buf) {
                Some(Ok(m)) => {
                    let r = InetDiagMsg::new_checked(m.payload())
                        .map_err(|e| Error::from(e.at(nlmsg::HEADER_LEN)))
                        .and_then(|d| Connection::from_msg(&d));
                    match r {
                        Ok(Some(c)) => return Some(Ok(c)),
                        Ok(None) => {}
                        Err(e) => return self.fail(e),
                    }
                }
                Some(Err(e)) => return self.fail(e),
                None if self.reply.is_done() => {
                    sock.done();
                    self.finished = true;
                    return self.reply.finish().err().and_then(|e| self.fail(e));
                }
                None => {
                    let r = sock
                        .recv(buf)
                        .and_then(|(n, sender)| self.reply.datagram(buf.len(), n, sender));
                    if let Err(e) = r {
                        return self.fail(e);
                    }
                }
            }
        }
        None
    }
}

impl core::iter::FusedIterator for Connections<'_> {}
