//! unix_diag (`linux/unix_diag.h`): the request `struct unix_diag_req`,
//! the reply `struct unix_diag_msg` and its attributes.

use super::meminfo::SkMemInfo;
use super::rtattr::RtAttrs;
use super::tcp_state::{TcpState, TcpStates};
use super::{Field, WireError, ne_u32, ne_u32_at, put};
use bitflags::bitflags;

/// Unix sockets use the TCP state numbers (`TCP_LISTEN`, `TCP_ESTABLISHED`,
/// `TCP_CLOSE`) in `udiag_states`.
pub type UnixStates = TcpStates;

pub(crate) mod field {
    use super::Field;
    // struct unix_diag_req
    pub(crate) const REQ_FAMILY: usize = 0;
    pub(crate) const REQ_PROTOCOL: usize = 1;
    pub(crate) const REQ_PAD: Field = 2..4;
    pub(crate) const REQ_STATES: Field = 4..8;
    pub(crate) const REQ_INO: Field = 8..12;
    pub(crate) const REQ_SHOW: Field = 12..16;
    pub(crate) const REQ_COOKIE0: Field = 16..20;
    pub(crate) const REQ_COOKIE1: Field = 20..24;
    pub(crate) const REQ_LEN: usize = 24;
    // struct unix_diag_msg
    pub(crate) const FAMILY: usize = 0;
    pub(crate) const TYPE: usize = 1;
    pub(crate) const STATE: usize = 2;
    pub(crate) const PAD: usize = 3;
    pub(crate) const INO: Field = 4..8;
    pub(crate) const COOKIE0: Field = 8..12;
    pub(crate) const COOKIE1: Field = 12..16;
    pub(crate) const MSG_LEN: usize = 16;
}

bitflags! {
    /// What a unix_diag request asks the kernel to report (`udiag_show`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct UnixShow: u32 {
        /// `UDIAG_SHOW_NAME`: the bound name (`UNIX_DIAG_NAME`).
        const NAME = 1 << 0;
        /// `UDIAG_SHOW_VFS`: inode and device of the bound file.
        const VFS = 1 << 1;
        /// `UDIAG_SHOW_PEER`: the peer's inode.
        const PEER = 1 << 2;
        /// `UDIAG_SHOW_ICONS`: inodes of connections waiting in a
        /// listener's queue.
        const ICONS = 1 << 3;
        /// `UDIAG_SHOW_RQLEN`: queue lengths (for a listener: waiting
        /// connections and backlog).
        const RQLEN = 1 << 4;
        /// `UDIAG_SHOW_MEMINFO`: `sk_meminfo`.
        const MEMINFO = 1 << 5;
        /// `UDIAG_SHOW_UID`: the owner's user id.
        const UID = 1 << 6;
        const _ = !0;
    }
}

/// `struct unix_diag_req`: a `SOCK_DIAG_BY_FAMILY` request for Unix
/// sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UnixDiagReq {
    /// `sdiag_family`: `AF_UNIX`.
    pub family: u8,
    /// `sdiag_protocol`: 0.
    pub protocol: u8,
    /// `pad`.
    pub pad: u16,
    /// `udiag_states`: which states to report.
    pub states: UnixStates,
    /// `udiag_ino`: a socket's inode, for a request about one socket.
    pub ino: u32,
    /// `udiag_show`: which attributes to report.
    pub show: UnixShow,
    /// `udiag_cookie`.
    pub cookie: [u32; 2],
}

impl UnixDiagReq {
    /// Size of `struct unix_diag_req`, in bytes.
    pub const LEN: usize = field::REQ_LEN;

    /// Reads it from the first 24 bytes of `b`.
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`] if `b` is shorter.
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        if b.len() < Self::LEN {
            return Err(WireError::Truncated { offset: 0 });
        }
        Ok(UnixDiagReq {
            family: b[field::REQ_FAMILY],
            protocol: b[field::REQ_PROTOCOL],
            pad: u16::from_ne_bytes([b[2], b[3]]),
            states: TcpStates::from_bits_retain(ne_u32(b, field::REQ_STATES)),
            ino: ne_u32(b, field::REQ_INO),
            show: UnixShow::from_bits_retain(ne_u32(b, field::REQ_SHOW)),
            cookie: [ne_u32(b, field::REQ_COOKIE0), ne_u32(b, field::REQ_COOKIE1)],
        })
    }

    /// The bytes [`UnixDiagReq::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// Writes it into the first 24 bytes of `b`.
    ///
    /// # Errors
    ///
    /// [`WireError::BufferTooSmall`] if `b` is shorter.
    pub fn emit(&self, b: &mut [u8]) -> Result<(), WireError> {
        let Some(b) = b.get_mut(..Self::LEN) else {
            return Err(WireError::BufferTooSmall { need: Self::LEN });
        };
        b[field::REQ_FAMILY] = self.family;
        b[field::REQ_PROTOCOL] = self.protocol;
        put(b, field::REQ_PAD, &self.pad.to_ne_bytes());
        put(b, field::REQ_STATES, &self.states.bits().to_ne_bytes());
        put(b, field::REQ_INO, &self.ino.to_ne_bytes());
        put(b, field::REQ_SHOW, &self.show.bits().to_ne_bytes());
        put(b, field::REQ_COOKIE0, &self.cookie[0].to_ne_bytes());
        put(b, field::REQ_COOKIE1, &self.cookie[1].to_ne_bytes());
        Ok(())
    }
}

/// A view of `struct unix_diag_msg` and its attributes: one Unix socket
/// of a dump.
///
/// [`UnixDiagMsg::new_checked`] makes sure the 16-byte structure fits;
/// accessors of a checked view never panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnixDiagMsg<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UnixDiagMsg<T> {
    /// Size of `struct unix_diag_msg`, in bytes.
    pub const LEN: usize = field::MSG_LEN;

    /// Wraps `buffer` without checking; accessors may panic if it is
    /// shorter than 16 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        UnixDiagMsg { buffer }
    }

    /// Wraps the payload of a netlink message.
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`] if it is shorter than 16 bytes.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < Self::LEN {
            return Err(WireError::Truncated { offset: 0 });
        }
        Ok(UnixDiagMsg { buffer })
    }

    /// `udiag_family`: `AF_UNIX`.
    pub fn family(&self) -> u8 {
        self.buffer.as_ref()[field::FAMILY]
    }
    /// `udiag_type`: `SOCK_STREAM` (1), `SOCK_DGRAM` (2), `SOCK_SEQPACKET` (5).
    pub fn sock_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    /// `udiag_state`: `TCP_LISTEN`, `TCP_ESTABLISHED` or `TCP_CLOSE`.
    #[inline]
    pub fn state(&self) -> TcpState {
        TcpState::from(self.buffer.as_ref()[field::STATE])
    }
    /// `udiag_ino`: the socket's inode (never 0 in a dump: connections not
    /// yet accepted are left out by the kernel).
    pub fn ino(&self) -> u32 {
        ne_u32(self.buffer.as_ref(), field::INO)
    }
    /// `udiag_cookie`.
    pub fn cookie(&self) -> [u32; 2] {
        let b = self.buffer.as_ref();
        [ne_u32(b, field::COOKIE0), ne_u32(b, field::COOKIE1)]
    }
    /// The message's bytes: the structure and its attributes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The attributes after the structure, undecoded (offsets count from
    /// the end of the 16-byte structure).
    #[inline]
    pub fn attrs_raw(&self) -> RtAttrs<'_> {
        RtAttrs::new(&self.buffer.as_ref()[Self::LEN..])
    }

    /// The attributes after the structure.
    pub fn attrs(&self) -> UnixDiagAttrs<'_> {
        UnixDiagAttrs {
            inner: RtAttrs::new(&self.buffer.as_ref()[Self::LEN..]),
        }
    }
}

/// The fixed part of a unix_diag reply, for building test data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct UnixDiagMsgRepr {
    /// `udiag_family`.
    pub family: u8,
    /// `udiag_type`.
    pub sock_type: u8,
    /// `udiag_state` (raw).
    pub state: u8,
    /// `pad`.
    pub pad: u8,
    /// `udiag_ino`.
    pub ino: u32,
    /// `udiag_cookie`.
    pub cookie: [u32; 2],
}

impl UnixDiagMsgRepr {
    /// Reads the fixed part of a checked message.
    pub fn parse<T: AsRef<[u8]>>(m: &UnixDiagMsg<T>) -> Self {
        UnixDiagMsgRepr {
            family: m.family(),
            sock_type: m.sock_type(),
            state: m.state().into(),
            pad: m.buffer.as_ref()[field::PAD],
            ino: m.ino(),
            cookie: m.cookie(),
        }
    }

    /// The bytes [`UnixDiagMsgRepr::emit`] writes (16).
    pub const fn buffer_len(&self) -> usize {
        field::MSG_LEN
    }

    /// Writes the 16-byte structure at the start of `b`.
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
        b[field::TYPE] = self.sock_type;
        b[field::STATE] = self.state;
        b[field::PAD] = self.pad;
        put(b, field::INO, &self.ino.to_ne_bytes());
        put(b, field::COOKIE0, &self.cookie[0].to_ne_bytes());
        put(b, field::COOKIE1, &self.cookie[1].to_ne_bytes());
        Ok(())
    }
}

/// Attribute types of unix_diag replies (`UNIX_DIAG_*`).
pub mod attr {
    /// `UNIX_DIAG_NAME`.
    pub const NAME: u16 = 0;
    /// `UNIX_DIAG_VFS`.
    pub const VFS: u16 = 1;
    /// `UNIX_DIAG_PEER`.
    pub const PEER: u16 = 2;
    /// `UNIX_DIAG_ICONS`.
    pub const ICONS: u16 = 3;
    /// `UNIX_DIAG_RQLEN`.
    pub const RQLEN: u16 = 4;
    /// `UNIX_DIAG_MEMINFO`.
    pub const MEMINFO: u16 = 5;
    /// `UNIX_DIAG_SHUTDOWN`.
    pub const SHUTDOWN: u16 = 6;
    /// `UNIX_DIAG_UID`.
    pub const UID: u16 = 7;
}

/// One attribute of a unix_diag reply, decoded where its type is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnixDiagAttr<'a> {
    /// `UNIX_DIAG_NAME`: the raw `sun_path` bytes; an abstract name starts
    /// with a NUL byte.
    Name(&'a [u8]),
    /// `UNIX_DIAG_VFS`: the bound file.
    Vfs {
        /// Its inode number.
        ino: u32,
        /// Its device (kernel `new_encode_dev` encoding).
        dev: u32,
    },
    /// `UNIX_DIAG_PEER`: the peer socket's inode.
    Peer(u32),
    /// `UNIX_DIAG_ICONS`: inodes of connections waiting in a listener's
    /// queue, as native-endian `u32`s (see [`UnixDiagAttr::icons`]).
    Icons(&'a [u8]),
    /// `UNIX_DIAG_RQLEN`: for a listener, waiting connections and the
    /// backlog; otherwise bytes queued to receive and to send.
    RqLen {
        /// `udiag_rqueue`.
        rqueue: u32,
        /// `udiag_wqueue`.
        wqueue: u32,
    },
    /// `UNIX_DIAG_MEMINFO`, read by length.
    MemInfo(SkMemInfo<'a>),
    /// `UNIX_DIAG_SHUTDOWN`.
    Shutdown(u8),
    /// `UNIX_DIAG_UID`.
    Uid(u32),
    /// Any other attribute, kept with its type and payload.
    Other {
        /// The attribute type.
        kind: u16,
        /// The payload.
        payload: &'a [u8],
    },
}

impl<'a> UnixDiagAttr<'a> {
    /// Decodes attribute `kind` with `payload`.
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`] if a fixed-size attribute is too short.
    pub fn parse(kind: u16, p: &'a [u8]) -> Result<Self, WireError> {
        let t = WireError::Truncated { offset: 0 };
        let w = |i: usize| ne_u32_at(p, i).ok_or(t);
        Ok(match kind {
            attr::NAME => UnixDiagAttr::Name(p),
            attr::VFS => UnixDiagAttr::Vfs {
                ino: w(0)?,
                dev: w(1)?,
            },
            attr::PEER => UnixDiagAttr::Peer(w(0)?),
            attr::ICONS => UnixDiagAttr::Icons(p),
            attr::RQLEN => UnixDiagAttr::RqLen {
                rqueue: w(0)?,
                wqueue: w(1)?,
            },
            attr::MEMINFO => UnixDiagAttr::MemInfo(SkMemInfo::new(p)),
            attr::SHUTDOWN => UnixDiagAttr::Shutdown(*p.first().ok_or(t)?),
            attr::UID => UnixDiagAttr::Uid(w(0)?),
            kind => UnixDiagAttr::Other { kind, payload: p },
        })
    }

    /// For [`UnixDiagAttr::Icons`], the inodes; empty for anything else.
    pub fn icons(&self) -> impl Iterator<Item = u32> + 'a {
        let p: &'a [u8] = match self {
            UnixDiagAttr::Icons(p) => p,
            _ => &[],
        };
        (0..p.len() / 4).filter_map(move |i| ne_u32_at(p, i))
    }
}

/// The attributes of a [`UnixDiagMsg`], decoded. A malformed attribute
/// ends the iteration with one `Err` whose offset counts from the start of
/// the `unix_diag_msg`.
#[derive(Clone, Debug)]
pub struct UnixDiagAttrs<'a> {
    inner: RtAttrs<'a>,
}

impl<'a> Iterator for UnixDiagAttrs<'a> {
    type Item = Result<UnixDiagAttr<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        let base = field::MSG_LEN.saturating_add(self.inner.offset());
        Some(match self.inner.next()? {
            Ok(a) => {
                let kind = a.kind();
                UnixDiagAttr::parse(kind, a.into_payload()).map_err(|e| {
                    self.inner = RtAttrs::new(&[]);
                    e.at(base + super::rtattr::HEADER_LEN)
                })
            }
            Err(e) => Err(e.at(field::MSG_LEN)),
        })
    }
}

impl core::iter::FusedIterator for UnixDiagAttrs<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::rtattr::emit_attr;
    use proptest::prelude::*;

    #[test]
    fn listener_message() {
        let mut b = [0u8; 64];
        let r = UnixDiagMsgRepr {
            family: 1,
            sock_type: 1,
            state: 10,
            pad: 0,
            ino: 4242,
            cookie: [1, 2],
        };
        r.emit(&mut b).unwrap();
        let mut n = 16;
        n += emit_attr(&mut b[n..], attr::NAME, b"\0abstract").unwrap();
        let mut rq = [0u8; 8];
        rq[..4].copy_from_slice(&3u32.to_ne_bytes());
        rq[4..].copy_from_slice(&128u32.to_ne_bytes());
        n += emit_attr(&mut b[n..], attr::RQLEN, &rq).unwrap();
        n += emit_attr(&mut b[n..], attr::ICONS, &rq).unwrap();
        let m = UnixDiagMsg::new_checked(&b[..n]).unwrap();
        assert_eq!(UnixDiagMsgRepr::parse(&m), r);
        assert_eq!(m.state(), TcpState::Listen);
        let a: std::vec::Vec<_> = m.attrs().map(Result::unwrap).collect();
        assert_eq!(a[0], UnixDiagAttr::Name(b"\0abstract"));
        assert_eq!(
            a[1],
            UnixDiagAttr::RqLen {
                rqueue: 3,
                wqueue: 128
            }
        );
        assert_eq!(a[2].icons().collect::<std::vec::Vec<_>>(), [3, 128]);
        assert!(UnixDiagMsg::new_checked(&b[..15]).is_err());
        // A short RQLEN is an error with its offset.
        let n = 16 + emit_attr(&mut b[16..], attr::RQLEN, &[0; 4]).unwrap();
        let m = UnixDiagMsg::new_checked(&b[..n]).unwrap();
        assert_eq!(
            m.attrs().next(),
            Some(Err(WireError::Truncated { offset: 20 }))
        );
    }

    proptest! {
        #[test]
        fn req_roundtrip(family in any::<u8>(), protocol in any::<u8>(), pad in any::<u16>(),
                         states in any::<u32>(), ino in any::<u32>(), show in any::<u32>(),
                         cookie in any::<[u32; 2]>()) {
            let r = UnixDiagReq { family, protocol, pad, states: TcpStates::from_bits_retain(states),
                                  ino, show: UnixShow::from_bits_retain(show), cookie };
            let mut b = [0u8; 24];
            r.emit(&mut b).unwrap();
            prop_assert_eq!(UnixDiagReq::parse(&b), Ok(r));
            prop_assert!(UnixDiagReq::parse(&b[..23]).is_err());
        }

        #[test]
        fn msg_roundtrip(family in any::<u8>(), t in any::<u8>(), state in any::<u8>(), pad in any::<u8>(),
                         ino in any::<u32>(), cookie in any::<[u32; 2]>()) {
            let r = UnixDiagMsgRepr { family, sock_type: t, state, pad, ino, cookie };
            let mut b = [0u8; 16];
            r.emit(&mut b).unwrap();
            prop_assert_eq!(UnixDiagMsgRepr::parse(&UnixDiagMsg::new_checked(&b[..]).unwrap()), r);
        }

        #[test]
        fn attrs_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..100)) {
            let mut b = std::vec![0u8; 16];
            b.extend_from_slice(&tail);
            let m = UnixDiagMsg::new_checked(&b[..]).unwrap();
            for a in m.attrs().flatten() {
                let _ = a.icons().count();
            }
        }
    }
}
