//! inet_diag (`linux/inet_diag.h`): the socket id, the requests
//! (`struct inet_diag_req_v2` and the legacy `struct inet_diag_req`), the
//! reply `struct inet_diag_msg` and its attributes.

use super::meminfo::{MemInfo, SkMemInfo};
use super::rtattr::RtAttrs;
use super::tcp_state::{TcpState, TcpStates};
use super::{Field, WireError, be_u16, ne_u32, put};
use bitflags::bitflags;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// `AF_UNSPEC`.
pub const AF_UNSPEC: u8 = 0;
/// `AF_UNIX`.
pub const AF_UNIX: u8 = 1;
/// `AF_INET`.
pub const AF_INET: u8 = 2;
/// `AF_INET6`.
pub const AF_INET6: u8 = 10;
/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: u8 = 6;
/// `INET_DIAG_NOCOOKIE`: both cookie words of a request that names no
/// particular socket.
pub const NO_COOKIE: [u32; 2] = [!0, !0];
/// `INET_DIAG_REQ_BYTECODE`: the request attribute holding filter bytecode.
pub const INET_DIAG_REQ_BYTECODE: u16 = 1;

pub(crate) mod field {
    use super::Field;
    // struct inet_diag_sockid
    pub(crate) const SPORT: Field = 0..2;
    pub(crate) const DPORT: Field = 2..4;
    pub(crate) const SRC: Field = 4..20;
    pub(crate) const DST: Field = 20..36;
    pub(crate) const IF: Field = 36..40;
    pub(crate) const COOKIE0: Field = 40..44;
    pub(crate) const COOKIE1: Field = 44..48;
    pub(crate) const SOCKID_LEN: usize = 48;

    // struct inet_diag_msg
    pub(crate) const FAMILY: usize = 0;
    pub(crate) const STATE: usize = 1;
    pub(crate) const TIMER: usize = 2;
    pub(crate) const RETRANS: usize = 3;
    pub(crate) const ID: Field = 4..52;
    pub(crate) const EXPIRES: Field = 52..56;
    pub(crate) const RQUEUE: Field = 56..60;
    pub(crate) const WQUEUE: Field = 60..64;
    pub(crate) const UID: Field = 64..68;
    pub(crate) const INODE: Field = 68..72;
    pub(crate) const MSG_LEN: usize = 72;

    // struct inet_diag_req_v2
    pub(crate) const V2_FAMILY: usize = 0;
    pub(crate) const V2_PROTOCOL: usize = 1;
    pub(crate) const V2_EXT: usize = 2;
    pub(crate) const V2_PAD: usize = 3;
    pub(crate) const V2_STATES: Field = 4..8;
    pub(crate) const V2_ID: Field = 8..56;
    pub(crate) const V2_LEN: usize = 56;

    // struct inet_diag_req (legacy, TCPDIAG_GETSOCK)
    pub(crate) const V1_FAMILY: usize = 0;
    pub(crate) const V1_SRC_LEN: usize = 1;
    pub(crate) const V1_DST_LEN: usize = 2;
    pub(crate) const V1_EXT: usize = 3;
    pub(crate) const V1_ID: Field = 4..52;
    pub(crate) const V1_STATES: Field = 52..56;
    pub(crate) const V1_DBS: Field = 56..60;
    pub(crate) const V1_LEN: usize = 60;
}

/// `struct inet_diag_sockid`: which socket, by addresses, ports, bound
/// interface and cookie.
///
/// Ports are in host order here (big-endian on the wire); addresses are
/// the raw 16 bytes (an IPv4 address in the first 4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SockId {
    /// `idiag_sport`: the local port.
    pub sport: u16,
    /// `idiag_dport`: the remote port.
    pub dport: u16,
    /// `idiag_src`: the local address.
    pub src: [u8; 16],
    /// `idiag_dst`: the remote address.
    pub dst: [u8; 16],
    /// `idiag_if`: the interface the socket is bound to, or 0.
    pub ifindex: u32,
    /// `idiag_cookie`: the socket cookie ([`NO_COOKIE`] in a dump request).
    pub cookie: [u32; 2],
}

impl SockId {
    /// Size of `struct inet_diag_sockid`, in bytes.
    pub const LEN: usize = field::SOCKID_LEN;

    /// A socket id that names nothing in particular: for dump requests,
    /// with [`NO_COOKIE`].
    pub const fn any() -> Self {
        SockId {
            sport: 0,
            dport: 0,
            src: [0; 16],
            dst: [0; 16],
            ifindex: 0,
            cookie: NO_COOKIE,
        }
    }

    /// Reads it from the first 48 bytes of `b`.
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`] if `b` is shorter.
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        if b.len() < Self::LEN {
            return Err(WireError::Truncated { offset: 0 });
        }
        let mut src = [0; 16];
        src.copy_from_slice(&b[field::SRC]);
        let mut dst = [0; 16];
        dst.copy_from_slice(&b[field::DST]);
        Ok(SockId {
            sport: be_u16(b, field::SPORT),
            dport: be_u16(b, field::DPORT),
            src,
            dst,
            ifindex: ne_u32(b, field::IF),
            cookie: [ne_u32(b, field::COOKIE0), ne_u32(b, field::COOKIE1)],
        })
    }

    /// The bytes [`SockId::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// Writes it into the first 48 bytes of `b`.
    ///
    /// # Errors
    ///
    /// [`WireError::BufferTooSmall`] if `b` is shorter.
    pub fn emit(&self, b: &mut [u8]) -> Result<(), WireError> {
        let Some(b) = b.get_mut(..Self::LEN) else {
            return Err(WireError::BufferTooSmall { need: Self::LEN });
        };
        put(b, field::SPORT, &self.sport.to_be_bytes());
        put(b, field::DPORT, &self.dport.to_be_bytes());
        put(b, field::SRC, &self.src);
        put(b, field::DST, &self.dst);
        put(b, field::IF, &self.ifindex.to_ne_bytes());
        put(b, field::COOKIE0, &self.cookie[0].to_ne_bytes());
        put(b, field::COOKIE1, &self.cookie[1].to_ne_bytes());
        Ok(())
    }

    /// The local address and port for a socket of `family`, or `None` for
    /// a family other than `AF_INET`/`AF_INET6`.
    pub fn local(&self, family: u8) -> Option<SocketAddr> {
        sock_addr(family, &self.src, self.sport)
    }

    /// The remote address and port, as [`SockId::local`].
    pub fn remote(&self, family: u8) -> Option<SocketAddr> {
        sock_addr(family, &self.dst, self.dport)
    }

    /// Sets the local address and port from `addr` (the scope id is not
    /// part of the socket id and is dropped).
    pub fn set_local(&mut self, addr: &SocketAddr) {
        self.src = addr_bytes(&addr.ip());
        self.sport = addr.port();
    }
}

/// The 16 bytes of `ip` as inet_diag stores it (IPv4 in the first 4).
pub fn addr_bytes(ip: &IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => {
            let mut b = [0; 16];
            b[..4].copy_from_slice(&v4.octets());
            b
        }
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The address family (`AF_INET`, `AF_INET6`) of `addr`.
pub const fn family_of(addr: &SocketAddr) -> u8 {
    match addr {
        SocketAddr::V4(_) => AF_INET,
        SocketAddr::V6(_) => AF_INET6,
    }
}

fn sock_addr(family: u8, a: &[u8; 16], port: u16) -> Option<SocketAddr> {
    match family {
        AF_INET => {
            let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
        }
        AF_INET6 => Some(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(*a),
            port,
            0,
            0,
        ))),
        _ => None,
    }
}

bitflags! {
    /// The attributes asked of the kernel (`idiag_ext`): bit
    /// `1 << (INET_DIAG_X - 1)` asks for attribute `INET_DIAG_X`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Extensions: u8 {
        /// `INET_DIAG_MEMINFO`.
        const MEMINFO = 1 << 0;
        /// `INET_DIAG_INFO` (`struct tcp_info`).
        const INFO = 1 << 1;
        /// `INET_DIAG_VEGASINFO`.
        const VEGASINFO = 1 << 2;
        /// `INET_DIAG_CONG` (congestion control name).
        const CONG = 1 << 3;
        /// `INET_DIAG_TOS`.
        const TOS = 1 << 4;
        /// `INET_DIAG_TCLASS`.
        const TCLASS = 1 << 5;
        /// `INET_DIAG_SKMEMINFO` (`sk_meminfo`, with the drop counter).
        const SKMEMINFO = 1 << 6;
        /// `INET_DIAG_SHUTDOWN`.
        const SHUTDOWN = 1 << 7;
    }
}

/// `struct inet_diag_req_v2`: a `SOCK_DIAG_BY_FAMILY` request for one
/// address family and protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InetDiagReqV2 {
    /// `sdiag_family`: `AF_INET` or `AF_INET6` (`AF_UNSPEC` is refused).
    pub family: u8,
    /// `sdiag_protocol`: `IPPROTO_TCP`, …
    pub protocol: u8,
    /// `idiag_ext`: attributes wanted in the replies.
    pub ext: Extensions,
    /// `pad` (the kernel uses it for raw sockets' protocol).
    pub pad: u8,
    /// `idiag_states`: which socket states to report.
    pub states: TcpStates,
    /// `id`: ports here (when non-zero) prefilter the dump.
    pub id: SockId,
}

impl InetDiagReqV2 {
    /// Size of `struct inet_diag_req_v2`, in bytes.
    pub const LEN: usize = field::V2_LEN;

    /// Reads it from the first 56 bytes of `b`.
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`] if `b` is shorter.
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        if b.len() < Self::LEN {
            return Err(WireError::Truncated { offset: 0 });
        }
        Ok(InetDiagReqV2 {
            family: b[field::V2_FAMILY],
            protocol: b[field::V2_PROTOCOL],
            ext: Extensions::from_bits_retain(b[field::V2_EXT]),
            pad: b[field::V2_PAD],
            states: TcpStates::from_bits_retain(ne_u32(b, field::V2_STATES)),
            id: SockId::parse(&b[field::V2_ID]).map_err(|e| e.at(field::V2_ID.start))?,
        })
    }

    /// The bytes [`InetDiagReqV2::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// Writes it into the first 56 bytes of `b`.
    ///
    /// # Errors
    ///
    /// [`WireError::BufferTooSmall`] if `b` is shorter.
    pub fn emit(&self, b: &mut [u8]) -> Result<(), WireError> {
        let Some(b) = b.get_mut(..Self::LEN) else {
            return Err(WireError::BufferTooSmall { need: Self::LEN });
        };
        b[field::V2_FAMILY] = self.family;
        b[field::V2_PROTOCOL] = self.protocol;
        b[field::V2_EXT] = self.ext.bits();
        b[field::V2_PAD] = self.pad;
        put(b, field::V2_STATES, &self.states.bits().to_ne_bytes());
        self.id.emit(&mut b[field::V2_ID])
    }
}

/// The legacy `struct inet_diag_req` of `TCPDIAG_GETSOCK` requests.
///
/// The kernel answers it with IPv4 *and* IPv6 sockets in one walk of its
/// tables (`AF_UNSPEC`), which is what a query for an IPv4 address needs:
/// IPv4 connections to a dual-stack `[::]` listener are IPv6 sockets with
/// IPv4-mapped addresses. It takes the same filter bytecode as
/// [`InetDiagReqV2`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InetDiagReq {
    /// `idiag_family` (ignored by the kernel's dump; informational).
    pub family: u8,
    /// `idiag_src_len` (unused by the kernel).
    pub src_len: u8,
    /// `idiag_dst_len` (unused by the kernel).
    pub dst_len: u8,
    /// `idiag_ext`: attributes wanted in the replies.
    pub ext: Extensions,
    /// `id`: ports here (when non-zero) prefilter the dump.
    pub id: SockId,
    /// `idiag_states`: which socket states to report.
    pub states: TcpStates,
    /// `idiag_dbs`: tables to dump (unused by current kernels).
    pub dbs: u32,
}

impl InetDiagReq {
    /// Size of `struct inet_diag_req`, in bytes.
    pub const LEN: usize = field::V1_LEN;

    /// Reads it from the first 60 bytes of `b`.
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`] if `b` is shorter.
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        if b.len() < Self::LEN {
            return Err(WireError::Truncated { offset: 0 });
        }
        Ok(InetDiagReq {
            family: b[field::V1_FAMILY],
            src_len: b[field::V1_SRC_LEN],
            dst_len: b[field::V1_DST_LEN],
            ext: Extensions::from_bits_retain(b[field::V1_EXT]),
            id: SockId::parse(&b[field::V1_ID]).map_err(|e| e.at(field::V1_ID.start))?,
            states: TcpStates::from_bits_retain(ne_u32(b, field::V1_STATES)),
            dbs: ne_u32(b, field::V1_DBS),
        })
    }

    /// The bytes [`InetDiagReq::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// Writes it into the first 60 bytes of `b`.
    ///
    /// # Errors
    ///
    /// [`WireError::BufferTooSmall`] if `b` is shorter.
    pub fn emit(&self, b: &mut [u8]) -> Result<(), WireError> {
        let Some(b) = b.get_mut(..Self::LEN) else {
            return Err(WireError::BufferTooSmall { need: Self::LEN });
        };
        b[field::V1_FAMILY] = self.family;
        b[field::V1_SRC_LEN] = self.src_len;
        b[field::V1_DST_LEN] = self.dst_len;
        b[field::V1_EXT] = self.ext.bits();
        self.id.emit(&mut b[field::V1_ID])?;
        put(b, field::V1_STATES, &self.states.bits().to_ne_bytes());
        put(b, field::V1_DBS, &self.dbs.to_ne_bytes());
        Ok(())
    }
}

/// A view of `struct inet_diag_msg` and the attributes after it: one
/// socket of a dump.
///
/// [`InetDiagMsg::new_checked`] makes sure the 72-byte structure fits;
/// accessors of a checked view never panic. Attributes are checked as they
/// are iterated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InetDiagMsg<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> InetDiagMsg<T> {
    /// Size of `struct inet_diag_msg`, in bytes.
    pub const LEN: usize = field::MSG_LEN;

    /// Wraps `buffer` without checking; accessors may panic if it is
    /// shorter than 72 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        InetDiagMsg { buffer }
    }

    /// Wraps the payload of a netlink message.
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`] if it is shorter than 72 bytes.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < Self::LEN {
            return Err(WireError::Truncated { offset: 0 });
        }
        Ok(InetDiagMsg { buffer })
    }

    /// `idiag_family`: `AF_INET` or `AF_INET6`.
    pub fn family(&self) -> u8 {
        self.buffer.as_ref()[field::FAMILY]
    }
    /// `idiag_state`.
    #[inline]
    pub fn state(&self) -> TcpState {
        TcpState::from(self.buffer.as_ref()[field::STATE])
    }
    /// `idiag_timer`: which timer is pending (0 none, 1 retransmit, 2
    /// keepalive, 3 TIME_WAIT, 4 zero window probe).
    pub fn timer(&self) -> u8 {
        self.buffer.as_ref()[field::TIMER]
    }
    /// `idiag_retrans`: retransmits (or probes) of the pending timer.
    pub fn retrans(&self) -> u8 {
        self.buffer.as_ref()[field::RETRANS]
    }
    /// `id`: addresses, ports, interface and cookie.
    pub fn id(&self) -> SockId {
        // The range is inside the checked 72 bytes.
        SockId::parse(&self.buffer.as_ref()[field::ID]).unwrap_or_default()
    }
    /// The local port (`idiag_sport`), without decoding the whole id.
    pub fn sport(&self) -> u16 {
        be_u16(self.buffer.as_ref(), 4..6)
    }
    /// The local address and port, or `None` for another family.
    #[inline]
    pub fn local(&self) -> Option<SocketAddr> {
        let b = &self.buffer.as_ref()[field::ID];
        let mut a = [0; 16];
        a.copy_from_slice(&b[field::SRC]);
        sock_addr(self.family(), &a, be_u16(b, field::SPORT))
    }
    /// The remote address and port, or `None` for another family.
    pub fn remote(&self) -> Option<SocketAddr> {
        let b = &self.buffer.as_ref()[field::ID];
        let mut a = [0; 16];
        a.copy_from_slice(&b[field::DST]);
        sock_addr(self.family(), &a, be_u16(b, field::DPORT))
    }
    /// `idiag_expires`: milliseconds until the pending timer fires.
    pub fn expires(&self) -> u32 {
        ne_u32(self.buffer.as_ref(), field::EXPIRES)
    }
    /// `idiag_rqueue`: for a listener, connections in the accept queue;
    /// otherwise bytes received but not read.
    #[inline]
    pub fn rqueue(&self) -> u32 {
        ne_u32(self.buffer.as_ref(), field::RQUEUE)
    }
    /// `idiag_wqueue`: for a listener, the accept-queue limit (backlog);
    /// otherwise bytes sent but not acknowledged.
    #[inline]
    pub fn wqueue(&self) -> u32 {
        ne_u32(self.buffer.as_ref(), field::WQUEUE)
    }
    /// `idiag_uid`: the owner's user id.
    pub fn uid(&self) -> u32 {
        ne_u32(self.buffer.as_ref(), field::UID)
    }
    /// `idiag_inode`: the socket's inode, 0 while a connection waits in
    /// the accept queue (no process holds it yet).
    #[inline]
    pub fn inode(&self) -> u32 {
        ne_u32(self.buffer.as_ref(), field::INODE)
    }
    /// The attributes after the structure, undecoded (offsets count from
    /// the end of the 72-byte structure).
    #[inline]
    pub fn attrs_raw(&self) -> RtAttrs<'_> {
        RtAttrs::new(&self.buffer.as_ref()[Self::LEN..])
    }

    /// The attributes after the structure.
    pub fn attrs(&self) -> InetDiagAttrs<'_> {
        InetDiagAttrs {
            inner: RtAttrs::new(&self.buffer.as_ref()[Self::LEN..]),
        }
    }
}

/// The fixed part of an inet_diag reply, for building test data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct InetDiagMsgRepr {
    /// `idiag_family`.
    pub family: u8,
    /// `idiag_state` (raw).
    pub state: u8,
    /// `idiag_timer`.
    pub timer: u8,
    /// `idiag_retrans`.
    pub retrans: u8,
    /// `id`.
    pub id: SockId,
    /// `idiag_expires`, milliseconds.
    pub expires: u32,
    /// `idiag_rqueue`.
    pub rqueue: u32,
    /// `idiag_wqueue`.
    pub wqueue: u32,
    /// `idiag_uid`.
    pub uid: u32,
    /// `idiag_inode`.
    pub inode: u32,
}

impl InetDiagMsgRepr {
    /// Reads the fixed part of a checked message.
    pub fn parse<T: AsRef<[u8]>>(m: &InetDiagMsg<T>) -> Self {
        InetDiagMsgRepr {
            family: m.family(),
            state: m.state().into(),
            timer: m.timer(),
            retrans: m.retrans(),
            id: m.id(),
            expires: m.expires(),
            rqueue: m.rqueue(),
            wqueue: m.wqueue(),
            uid: m.uid(),
            inode: m.inode(),
        }
    }

    /// The bytes [`InetDiagMsgRepr::emit`] writes (72).
    pub const fn buffer_len(&self) -> usize {
        field::MSG_LEN
    }

    /// Writes the 72-byte structure at the start of `b`.
    ///
    /// # Errors
    ///
    /// [`WireError::BufferTooSmall`] if `b` is shorter.
    pub fn emit(&self, b: &mut [u8]) -> Result<(), WireError> {
        let Some(b) = b.get_mut(..field::MSG_LEN) else {
            return Err(WireError::BufferTooSmall {
                need: field::MSG_LEN,
            });
        };
        b[field::FAMILY] = self.family;
        b[field::STATE] = self.state;
        b[field::TIMER] = self.timer;
        b[field::RETRANS] = self.retrans;
        self.id.emit(&mut b[field::ID])?;
        put(b, field::EXPIRES, &self.expires.to_ne_bytes());
        put(b, field::RQUEUE, &self.rqueue.to_ne_bytes());
        put(b, field::WQUEUE, &self.wqueue.to_ne_bytes());
        put(b, field::UID, &self.uid.to_ne_bytes());
        put(b, field::INODE, &self.inode.to_ne_bytes());
        Ok(())
    }
}

/// Attribute types of inet_diag replies (`INET_DIAG_*`).
pub mod attr {
    /// `INET_DIAG_MEMINFO`.
    pub const MEMINFO: u16 = 1;
    /// `INET_DIAG_INFO`.
    pub const INFO: u16 = 2;
    /// `INET_DIAG_VEGASINFO`.
    pub const VEGASINFO: u16 = 3;
    /// `INET_DIAG_CONG`.
    pub const CONG: u16 = 4;
    /// `INET_DIAG_TOS`.
    pub const TOS: u16 = 5;
    /// `INET_DIAG_TCLASS`.
    pub const TCLASS: u16 = 6;
    /// `INET_DIAG_SKMEMINFO`.
    pub const SKMEMINFO: u16 = 7;
    /// `INET_DIAG_SHUTDOWN`.
    pub const SHUTDOWN: u16 = 8;
    /// `INET_DIAG_DCTCPINFO`.
    pub const DCTCPINFO: u16 = 9;
    /// `INET_DIAG_PROTOCOL`.
    pub const PROTOCOL: u16 = 10;
    /// `INET_DIAG_SKV6ONLY`.
    pub const SKV6ONLY: u16 = 11;
    /// `INET_DIAG_MARK`.
    pub const MARK: u16 = 15;
    /// `INET_DIAG_BBRINFO`.
    pub const BBRINFO: u16 = 16;
    /// `INET_DIAG_CLASS_ID`.
    pub const CLASS_ID: u16 = 17;
    /// `INET_DIAG_CGROUP_ID`.
    pub const CGROUP_ID: u16 = 21;
}

/// Where `tcpi_last_data_sent` sits in `struct tcp_info` (checked against
/// the uapi header in `layout`).
pub(crate) const TCPI_LAST_DATA_SENT: usize = 44;

/// `tcpi_last_data_sent` of a `struct tcp_info` (an `INET_DIAG_INFO`
/// payload): milliseconds since the socket last sent data, in jiffies'
/// resolution. For a connection still in a listener's accept queue, which
/// has sent nothing yet, the time since its handshake completed, which is
/// when it entered the queue. `None` if `info` is too short to hold it
/// (raindrops-tcpinfo decodes every field).
pub fn tcp_info_last_data_sent(info: &[u8]) -> Option<u32> {
    super::ne_u32_at(info, TCPI_LAST_DATA_SENT / 4)
}

/// One attribute of an inet_diag reply, decoded where its type is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InetDiagAttr<'a> {
    /// `INET_DIAG_MEMINFO`.
    MemInfo(MemInfo),
    /// `INET_DIAG_INFO`: the protocol's info structure (`struct tcp_info`
    /// for TCP), as many bytes as this kernel's version has; decode it with
    /// raindrops-tcpinfo.
    Info(&'a [u8]),
    /// `INET_DIAG_VEGASINFO` (`struct tcpvegas_info`).
    VegasInfo(&'a [u8]),
    /// `INET_DIAG_CONG`: the congestion control algorithm's name, without
    /// the terminating NUL.
    Cong(&'a [u8]),
    /// `INET_DIAG_TOS`.
    Tos(u8),
    /// `INET_DIAG_TCLASS`.
    TClass(u8),
    /// `INET_DIAG_SKMEMINFO`, read by length.
    SkMemInfo(SkMemInfo<'a>),
    /// `INET_DIAG_SHUTDOWN`: bit 0 receive side shut down, bit 1 send side.
    Shutdown(u8),
    /// `INET_DIAG_DCTCPINFO` (`struct tcp_dctcp_info`).
    DctcpInfo(&'a [u8]),
    /// `INET_DIAG_PROTOCOL`.
    Protocol(u8),
    /// `INET_DIAG_SKV6ONLY`.
    SkV6Only(u8),
    /// `INET_DIAG_MARK`.
    Mark(u32),
    /// `INET_DIAG_BBRINFO` (`struct tcp_bbr_info`).
    BbrInfo(&'a [u8]),
    /// `INET_DIAG_CLASS_ID`.
    ClassId(u32),
    /// `INET_DIAG_CGROUP_ID`.
    CgroupId(u64),
    /// Any other attribute, kept with its type (flags removed) and payload.
    Other {
        /// The attribute type.
        kind: u16,
        /// The payload.
        payload: &'a [u8],
    },
}

impl<'a> InetDiagAttr<'a> {
    /// Decodes attribute `kind` with `payload`.
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`] if a fixed-size attribute is too short.
    pub fn parse(kind: u16, p: &'a [u8]) -> Result<Self, WireError> {
        let u8_ = |p: &[u8]| p.first().copied().ok_or(WireError::Truncated { offset: 0 });
        let u32_ = |p: &[u8]| super::ne_u32_at(p, 0).ok_or(WireError::Truncated { offset: 0 });
        Ok(match kind {
            attr::MEMINFO => InetDiagAttr::MemInfo(MemInfo::parse(p)?),
            attr::INFO => InetDiagAttr::Info(p),
            attr::VEGASINFO => InetDiagAttr::VegasInfo(p),
            attr::CONG => {
                let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
                InetDiagAttr::Cong(&p[..end])
            }
            attr::TOS => InetDiagAttr::Tos(u8_(p)?),
            attr::TCLASS => InetDiagAttr::TClass(u8_(p)?),
            attr::SKMEMINFO => InetDiagAttr::SkMemInfo(SkMemInfo::new(p)),
            attr::SHUTDOWN => InetDiagAttr::Shutdown(u8_(p)?),
            attr::DCTCPINFO => InetDiagAttr::DctcpInfo(p),
            attr::PROTOCOL => InetDiagAttr::Protocol(u8_(p)?),
            attr::SKV6ONLY => InetDiagAttr::SkV6Only(u8_(p)?),
            attr::MARK => InetDiagAttr::Mark(u32_(p)?),
            attr::BBRINFO => InetDiagAttr::BbrInfo(p),
            attr::CLASS_ID => InetDiagAttr::ClassId(u32_(p)?),
            attr::CGROUP_ID => {
                let Some(b) = p.get(..8) else {
                    return Err(WireError::Truncated { offset: 0 });
                };
                let mut a = [0; 8];
                a.copy_from_slice(b);
                InetDiagAttr::CgroupId(u64::from_ne_bytes(a))
            }
            kind => InetDiagAttr::Other { kind, payload: p },
        })
    }

    /// The attribute type.
    pub fn kind(&self) -> u16 {
        match self {
            InetDiagAttr::MemInfo(_) => attr::MEMINFO,
            InetDiagAttr::Info(_) => attr::INFO,
            InetDiagAttr::VegasInfo(_) => attr::VEGASINFO,
            InetDiagAttr::Cong(_) => attr::CONG,
            InetDiagAttr::Tos(_) => attr::TOS,
            InetDiagAttr::TClass(_) => attr::TCLASS,
            InetDiagAttr::SkMemInfo(_) => attr::SKMEMINFO,
            InetDiagAttr::Shutdown(_) => attr::SHUTDOWN,
            InetDiagAttr::DctcpInfo(_) => attr::DCTCPINFO,
            InetDiagAttr::Protocol(_) => attr::PROTOCOL,
            InetDiagAttr::SkV6Only(_) => attr::SKV6ONLY,
            InetDiagAttr::Mark(_) => attr::MARK,
            InetDiagAttr::BbrInfo(_) => attr::BBRINFO,
            InetDiagAttr::ClassId(_) => attr::CLASS_ID,
            InetDiagAttr::CgroupId(_) => attr::CGROUP_ID,
            InetDiagAttr::Other { kind, .. } => *kind,
        }
    }
}

/// The attributes of an [`InetDiagMsg`], decoded. A malformed attribute
/// ends the iteration with one `Err` whose offset counts from the start of
/// the `inet_diag_msg`.
#[derive(Clone, Debug)]
pub struct InetDiagAttrs<'a> {
    inner: RtAttrs<'a>,
}

impl<'a> Iterator for InetDiagAttrs<'a> {
    type Item = Result<InetDiagAttr<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        let at = self.inner.offset();
        let base = field::MSG_LEN.saturating_add(at);
        Some(match self.inner.next()? {
            Ok(a) => {
                let kind = a.kind();
                InetDiagAttr::parse(kind, a.into_payload()).map_err(|e| {
                    self.inner = RtAttrs::new(&[]);
                    e.at(base + super::rtattr::HEADER_LEN)
                })
            }
            Err(e) => Err(e.at(field::MSG_LEN)),
        })
    }
}

impl core::iter::FusedIterator for InetDiagAttrs<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::rtattr::emit_attr;
    use proptest::prelude::*;
    use std::string::ToString;

    fn arb_sockid() -> impl Strategy<Value = SockId> {
        (
            any::<u16>(),
            any::<u16>(),
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<u32>(),
            any::<[u32; 2]>(),
        )
            .prop_map(|(sport, dport, src, dst, ifindex, cookie)| SockId {
                sport,
                dport,
                src,
                dst,
                ifindex,
                cookie,
            })
    }

    #[test]
    fn sockid_wire_order() {
        let mut id = SockId::any();
        id.set_local(&"127.0.0.1:8080".parse().unwrap());
        let mut b = [0u8; 48];
        id.emit(&mut b).unwrap();
        assert_eq!(&b[..2], &[0x1f, 0x90]); // sport 8080, big-endian
        assert_eq!(&b[4..8], &[127, 0, 0, 1]); // idiag_src
        assert_eq!(&b[40..48], &[0xff; 8]); // INET_DIAG_NOCOOKIE
        assert_eq!(
            id.local(AF_INET).unwrap().to_string(),
            "127.0.0.1:8080".to_string()
        );
        assert_eq!(id.local(AF_UNIX), None);
        assert_eq!(
            id.local(AF_INET6).unwrap().to_string(),
            "[7f00:1::]:8080".to_string()
        );
    }

    #[test]
    fn message_with_attributes() {
        let mut b = [0u8; 160];
        let repr = InetDiagMsgRepr {
            family: AF_INET6,
            state: 10,
            rqueue: 3,
            wqueue: 128,
            inode: 77,
            id: SockId {
                sport: 443,
                src: core::net::Ipv6Addr::LOCALHOST.octets(),
                ..SockId::any()
            },
            ..Default::default()
        };
        repr.emit(&mut b).unwrap();
        let mut n = 72;
        let mut mem = [0u8; 36];
        mem[32..].copy_from_slice(&5u32.to_ne_bytes());
        n += emit_attr(&mut b[n..], attr::SKMEMINFO, &mem).unwrap();
        n += emit_attr(&mut b[n..], attr::CONG, b"cubic\0").unwrap();
        n += emit_attr(&mut b[n..], 99, &[1, 2]).unwrap();
        let m = InetDiagMsg::new_checked(&b[..n]).unwrap();
        assert_eq!(InetDiagMsgRepr::parse(&m), repr);
        assert_eq!(m.state(), TcpState::Listen);
        assert_eq!(m.local().unwrap().to_string(), "[::1]:443");
        assert_eq!(m.sport(), 443);
        let attrs: std::vec::Vec<_> = m.attrs().map(Result::unwrap).collect();
        match attrs[0] {
            InetDiagAttr::SkMemInfo(s) => assert_eq!(s.drops(), Some(5)),
            other => panic!("{other:?}"),
        }
        assert_eq!(attrs[1], InetDiagAttr::Cong(b"cubic"));
        assert_eq!(
            attrs[2],
            InetDiagAttr::Other {
                kind: 99,
                payload: &[1, 2]
            }
        );
        // A short fixed-size attribute is an error with its offset.
        let mut n2 = 72;
        n2 += emit_attr(&mut b[n2..], attr::MARK, &[1, 2]).unwrap();
        let m = InetDiagMsg::new_checked(&b[..n2]).unwrap();
        let mut it = m.attrs();
        assert_eq!(it.next(), Some(Err(WireError::Truncated { offset: 76 })));
        assert_eq!(it.next(), None);
        assert!(InetDiagMsg::new_checked(&b[..71]).is_err());
    }

    proptest! {
        #[test]
        fn sockid_roundtrip(id in arb_sockid()) {
            let mut b = [0u8; 48];
            id.emit(&mut b).unwrap();
            prop_assert_eq!(SockId::parse(&b), Ok(id));
        }

        #[test]
        fn req_v2_roundtrip(family in any::<u8>(), protocol in any::<u8>(), ext in any::<u8>(),
                            pad in any::<u8>(), states in any::<u32>(), id in arb_sockid()) {
            let r = InetDiagReqV2 { family, protocol, ext: Extensions::from_bits_retain(ext), pad,
                                    states: TcpStates::from_bits_retain(states), id };
            let mut b = [0u8; 56];
            r.emit(&mut b).unwrap();
            prop_assert_eq!(InetDiagReqV2::parse(&b), Ok(r));
            prop_assert!(r.emit(&mut [0u8; 55]).is_err());
        }

        #[test]
        fn req_v1_roundtrip(family in any::<u8>(), ext in any::<u8>(), states in any::<u32>(),
                            dbs in any::<u32>(), id in arb_sockid(), sl in any::<u8>(), dl in any::<u8>()) {
            let r = InetDiagReq { family, src_len: sl, dst_len: dl, ext: Extensions::from_bits_retain(ext),
                                  id, states: TcpStates::from_bits_retain(states), dbs };
            let mut b = [0u8; 60];
            r.emit(&mut b).unwrap();
            prop_assert_eq!(InetDiagReq::parse(&b), Ok(r));
        }

        #[test]
        fn msg_roundtrip(family in any::<u8>(), state in any::<u8>(), timer in any::<u8>(),
                         retrans in any::<u8>(), id in arb_sockid(), v in any::<[u32; 5]>()) {
            let r = InetDiagMsgRepr { family, state, timer, retrans, id, expires: v[0], rqueue: v[1],
                                      wqueue: v[2], uid: v[3], inode: v[4] };
            let mut b = [0u8; 72];
            r.emit(&mut b).unwrap();
            prop_assert_eq!(InetDiagMsgRepr::parse(&InetDiagMsg::new_checked(&b[..]).unwrap()), r);
        }

        #[test]
        fn attrs_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..120)) {
            let mut b = std::vec![0u8; 72];
            b.extend_from_slice(&tail);
            let m = InetDiagMsg::new_checked(&b[..]).unwrap();
            for a in m.attrs() {
                let _ = a.map(|a| a.kind());
            }
        }
    }
}
