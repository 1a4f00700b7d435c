//! Whole dump requests (netlink header, request structure, filter
//! bytecode attribute) written into a caller's buffer.

use super::inet_diag::{INET_DIAG_REQ_BYTECODE, InetDiagReq, InetDiagReqV2};
use super::nlmsg::{self, NlFlags, NlMsgHeader, NlMsgType};
use super::rtattr;
use super::unix_diag::UnixDiagReq;
use super::{WireError, align4};

/// An inet_diag dump request, in either format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InetRequest {
    /// `SOCK_DIAG_BY_FAMILY` with `struct inet_diag_req_v2` (one family).
    V2(InetDiagReqV2),
    /// `TCPDIAG_GETSOCK` with the legacy `struct inet_diag_req`: IPv4 and
    /// IPv6 TCP sockets in one walk.
    Legacy(InetDiagReq),
}

impl InetRequest {
    /// The bytes [`inet_dump`] writes for this request and `bytecode_len`
    /// bytes of filter.
    pub const fn buffer_len(&self, bytecode_len: usize) -> usize {
        let body = match self {
            InetRequest::V2(_) => InetDiagReqV2::LEN,
            InetRequest::Legacy(_) => InetDiagReq::LEN,
        };
        let attr = if bytecode_len == 0 {
            0
        } else {
            align4(rtattr::HEADER_LEN + bytecode_len)
        };
        nlmsg::HEADER_LEN + body + attr
    }

    /// Where [`inet_dump_in_place`] expects the filter bytecode.
    pub const fn bytecode_offset(&self) -> usize {
        let body = match self {
            InetRequest::V2(_) => InetDiagReqV2::LEN,
            InetRequest::Legacy(_) => InetDiagReq::LEN,
        };
        nlmsg::HEADER_LEN + body + rtattr::HEADER_LEN
    }
}

/// Writes a dump request with sequence number `seq` and the optional
/// filter `bytecode` (an empty slice means none) into `buf`; returns the
/// message length.
///
/// # Errors
///
/// [`WireError::BufferTooSmall`] if `buf` is too short.
pub fn inet_dump(
    buf: &mut [u8],
    seq: u32,
    req: &InetRequest,
    bytecode: &[u8],
) -> Result<usize, WireError> {
    let total = req.buffer_len(bytecode.len());
    if buf.len() < total {
        return Err(WireError::BufferTooSmall { need: total });
    }
    let at = req.bytecode_offset();
    buf[at..at + bytecode.len()].copy_from_slice(bytecode);
    inet_dump_in_place(buf, seq, req, bytecode.len())
}

/// Like [`inet_dump`], for bytecode the caller already wrote at
/// [`InetRequest::bytecode_offset`] in `buf` (`bytecode_len` bytes, 0 for
/// none): writes the rest of the message around it.
///
/// # Errors
///
/// [`WireError::BufferTooSmall`] if `buf` is too short.
pub fn inet_dump_in_place(
    buf: &mut [u8],
    seq: u32,
    req: &InetRequest,
    bytecode_len: usize,
) -> Result<usize, WireError> {
    let total = req.buffer_len(bytecode_len);
    if buf.len() < total {
        return Err(WireError::BufferTooSmall { need: total });
    }
    let msg_type = match req {
        InetRequest::V2(_) => NlMsgType::SockDiagByFamily,
        InetRequest::Legacy(_) => NlMsgType::TcpDiagGetSock,
    };
    NlMsgHeader {
        msg_type,
        flags: NlFlags::REQUEST | NlFlags::DUMP,
        seq,
        pid: 0,
        payload_len: total - nlmsg::HEADER_LEN,
    }
    .emit(buf)?;
    let mut at = nlmsg::HEADER_LEN;
    match req {
        InetRequest::V2(r) => {
            r.emit(&mut buf[at..])?;
            at += InetDiagReqV2::LEN;
        }
        InetRequest::Legacy(r) => {
            r.emit(&mut buf[at..])?;
            at += InetDiagReq::LEN;
        }
    }
    if bytecode_len != 0 {
        // Only the header: the payload is in place, the padding is zeroed.
        let end = at + rtattr::HEADER_LEN + bytecode_len;
        let len16 = u16::try_from(rtattr::HEADER_LEN + bytecode_len)
            .map_err(|_| WireError::BufferTooSmall { need: total })?;
        buf[at..at + 2].copy_from_slice(&len16.to_ne_bytes());
        buf[at + 2..at + 4].copy_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        buf[end..total].fill(0);
    }
    Ok(total)
}

/// Writes a unix_diag dump request with sequence number `seq` into `buf`;
/// returns the message length.
///
/// # Errors
///
/// [`WireError::BufferTooSmall`] if `buf` is too short.
pub fn unix_dump(buf: &mut [u8], seq: u32, req: &UnixDiagReq) -> Result<usize, WireError> {
    let total = nlmsg::HEADER_LEN + UnixDiagReq::LEN;
    if buf.len() < total {
        return Err(WireError::BufferTooSmall { need: total });
    }
    NlMsgHeader {
        msg_type: NlMsgType::SockDiagByFamily,
        flags: NlFlags::REQUEST | NlFlags::DUMP,
        seq,
        pid: 0,
        payload_len: UnixDiagReq::LEN,
    }
    .emit(buf)?;
    req.emit(&mut buf[nlmsg::HEADER_LEN..])?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::bytecode::{Bytecode, local_addr_filter};
    use crate::wire::inet_diag::{AF_INET6, Extensions, IPPROTO_TCP, SockId};
    use crate::wire::nlmsg::NlMsg;
    use crate::wire::rtattr::RtAttrs;
    use crate::wire::tcp_state::TcpStates;
    use crate::wire::unix_diag::UnixShow;

    #[test]
    fn v2_with_bytecode_roundtrips() {
        let mut bc = [0u8; 32];
        let n = local_addr_filter(&mut bc, &"[::1]:80".parse().unwrap()).unwrap();
        let req = InetRequest::V2(InetDiagReqV2 {
            family: AF_INET6,
            protocol: IPPROTO_TCP,
            ext: Extensions::SKMEMINFO,
            pad: 0,
            states: TcpStates::LISTEN,
            id: SockId {
                sport: 80,
                ..SockId::any()
            },
        });
        let mut buf = [0u8; 128];
        let len = inet_dump(&mut buf, 9, &req, &bc[..n]).unwrap();
        assert_eq!(len, req.buffer_len(n));
        let m = NlMsg::new_checked(&buf[..len]).unwrap();
        assert_eq!(m.seq(), 9);
        assert_eq!(m.flags(), NlFlags::REQUEST | NlFlags::DUMP);
        let InetRequest::V2(r) = req else {
            unreachable!()
        };
        assert_eq!(InetDiagReqV2::parse(m.payload()).unwrap(), r);
        let a = RtAttrs::new(&m.payload()[56..]).next().unwrap().unwrap();
        assert_eq!(a.kind(), INET_DIAG_REQ_BYTECODE);
        Bytecode::new(a.payload()).validate().unwrap();
        assert_eq!(
            inet_dump(&mut buf[..len - 1], 9, &req, &bc[..n]),
            Err(WireError::BufferTooSmall { need: len })
        );
    }

    #[test]
    fn unix_request() {
        let req = UnixDiagReq {
            family: 1,
            protocol: 0,
            pad: 0,
            states: TcpStates::LISTEN | TcpStates::ESTABLISHED,
            ino: 0,
            show: UnixShow::NAME | UnixShow::RQLEN,
            cookie: [!0, !0],
        };
        let mut buf = [0u8; 40];
        assert_eq!(unix_dump(&mut buf, 1, &req), Ok(40));
        let m = NlMsg::new_checked(&buf[..]).unwrap();
        assert_eq!(UnixDiagReq::parse(m.payload()), Ok(req));
        assert!(unix_dump(&mut buf[..39], 1, &req).is_err());
    }
}
