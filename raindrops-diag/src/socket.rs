//! The `NETLINK_SOCK_DIAG` socket: one request, one multi-part reply, with
//! the hygiene rules of SPEC §2.

use crate::error::{Errno, Error};
use crate::wire::WireError;
use crate::wire::nlmsg::{self, NlFlags, NlMsg, NlMsgErr, NlMsgType, NlMsgs};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno as RErrno;
use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

/// The receive buffer size the queries want: the kernel fills netlink dump
/// datagrams up to 32 KiB (less overhead) when the reader's buffer is at
/// least that large, so fewer, fuller datagrams cross per query.
pub const RECV_BUFFER_LEN: usize = 32 * 1024;

/// A netlink `NETLINK_SOCK_DIAG` socket, reusable for any number of
/// queries.
///
/// It is created with `SOCK_CLOEXEC`; each request carries a new sequence
/// number; replies with another sequence number, or from a sender other
/// than the kernel (port id 0), are ignored; `NLMSG_ERROR` becomes
/// [`Error::Kernel`]; `EINTR` is retried; a datagram longer than the
/// buffer (`MSG_TRUNC`) is [`Error::Truncated`]. A dump that was not read
/// to its end (an error, or an iterator dropped early) leaves the socket
/// marked, and the next request opens a fresh socket rather than read the
/// stale tail.
///
/// The socket owns no buffer: the caller passes one (see
/// [`RECV_BUFFER_LEN`]), so this type needs no allocator.
#[derive(Debug)]
pub struct DiagSocket {
    fd: OwnedFd,
    seq: u32,
    dirty: bool,
    v2_only: bool,
}

fn open() -> Result<OwnedFd, Error> {
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        Some(netlink::SOCK_DIAG),
    )?;
    rustix::net::bind(&fd, &SocketAddrNetlink::new(0, 0))?;
    Ok(fd)
}

impl DiagSocket {
    /// Opens a socket: `socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
    /// NETLINK_SOCK_DIAG)`, bound to a port id of the kernel's choosing.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] if the socket cannot be created or bound.
    pub fn new() -> Result<Self, Error> {
        Ok(DiagSocket {
            fd: open()?,
            seq: 0,
            dirty: false,
            v2_only: false,
        })
    }

    /// Whether the kernel refused a legacy `TCPDIAG_GETSOCK` request, so
    /// that queries send one `inet_diag_req_v2` per family instead.
    pub const fn legacy_refused(&self) -> bool {
        self.v2_only
    }

    pub(crate) fn set_legacy_refused(&mut self) {
        self.v2_only = true;
    }

    /// The sequence number of the last request sent.
    pub const fn seq(&self) -> u32 {
        self.seq
    }

    /// Sends the request in `buf[..len]` (a complete netlink message; its
    /// sequence number is set here) and returns the sequence number.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] if sending fails; [`Error::Wire`] if `buf[..len]`
    /// is not a netlink message.
    pub(crate) fn send(&mut self, buf: &mut [u8], len: usize) -> Result<u32, Error> {
        if self.dirty {
            self.fd = open()?;
            self.dirty = false;
        }
        let Some(req) = buf.get_mut(..len) else {
            return Err(Error::Protocol);
        };
        let mut msg = NlMsg::new_checked(req)?;
        self.seq = self.seq.wrapping_add(1);
        msg.set_seq(self.seq);
        msg.set_pid(0);
        let req = msg.into_inner();
        let kernel = SocketAddrNetlink::new(0, 0);
        loop {
            match rustix::net::sendto(&self.fd, req, SendFlags::empty(), &kernel) {
                Ok(_) => break,
                Err(RErrno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        // Until its NLMSG_DONE is read, the reply is pending.
        self.dirty = true;
        Ok(self.seq)
    }

    /// Receives one datagram into `buf`: its length, or `None` when it did
    /// not come from the kernel.
    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        loop {
            match rustix::net::recvfrom(&self.fd, &mut *buf, RecvFlags::TRUNC) {
                Ok((_, len, from)) => {
                    if len > buf.len() {
                        return Err(Error::Truncated {
                            len,
                            capacity: buf.len(),
                        });
                    }
                    let kernel = match from.map(SocketAddrNetlink::try_from) {
                        Some(Ok(a)) => a.pid() == 0,
                        Some(Err(_)) => false,
                        // Linux always reports the sender of a netlink
                        // datagram; were it missing, dropping the datagram
                        // could lose the end of the dump and block.
                        None => true,
                    };
                    return Ok(kernel.then_some(len));
                }
                Err(RErrno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Marks the pending reply as fully read.
    pub(crate) fn done(&mut self) {
        self.dirty = false;
    }

    /// Sends the dump request in `buf[..len]` and calls `each` with every
    /// reply message (never `NLMSG_DONE`, `NLMSG_ERROR` or `NLMSG_NOOP`),
    /// reusing `buf` to receive.
    ///
    /// # Errors
    ///
    /// Those of [`DiagSocket`]'s rules, [`Error::Interrupted`] when the
    /// kernel flagged the dump `NLM_F_DUMP_INTR` (the caller restarts it),
    /// and whatever `each` returns.
    pub fn dump(
        &mut self,
        buf: &mut [u8],
        len: usize,
        mut each: impl FnMut(NlMsg<&[u8]>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let seq = self.send(buf, len)?;
        let mut interrupted = false;
        loop {
            let Some(n) = self.recv(buf)? else { continue };
            match scan(&buf[..n], seq, &mut interrupted, &mut each)? {
                Scan::More => {}
                Scan::Done => return self.finish(interrupted),
            }
        }
    }

    /// The end of a dump: the socket is ready for the next request, and a
    /// dump the kernel flagged inconsistent is [`Error::Interrupted`].
    fn finish(&mut self, interrupted: bool) -> Result<(), Error> {
        self.done();
        if interrupted {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }
}

impl DiagSocket {
    /// [`DiagSocket::dump`] with a hot path: `hot` sees the payload of
    /// every plain data message of the reply first (a tight walk of the
    /// datagram without views) and returns whether it handled it; the
    /// others, and every special message, take the general path.
    pub(crate) fn dump_hot(
        &mut self,
        buf: &mut [u8],
        len: usize,
        mut hot: impl FnMut(&[u8]) -> bool,
        mut each: impl FnMut(NlMsg<&[u8]>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let seq = self.send(buf, len)?;
        let mut interrupted = false;
        loop {
            let Some(n) = self.recv(buf)? else { continue };
            let d = &buf[..n];
            let mut at = 0;
            let mut done = false;
            while at < n {
                let Some(h) = d.get(at..at + nlmsg::HEADER_LEN) else {
                    return Err(WireError::Truncated { offset: at }.into());
                };
                let mlen = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
                if mlen < nlmsg::HEADER_LEN || mlen > n - at {
                    return Err(WireError::BadLength { offset: at }.into());
                }
                let ty = u16::from_ne_bytes([h[4], h[5]]);
                let flags = u16::from_ne_bytes([h[6], h[7]]);
                let mseq = u32::from_ne_bytes([h[8], h[9], h[10], h[11]]);
                let plain = mseq == seq
                    && ty > nlmsg::NLMSG_OVERRUN
                    && flags & NlFlags::DUMP_INTR.bits() == 0;
                if !(plain && hot(&d[at + nlmsg::HEADER_LEN..at + mlen]))
                    && step(
                        NlMsg::new_unchecked(&d[at..]),
                        seq,
                        &mut interrupted,
                        &mut each,
                    )?
                {
                    done = true;
                    break;
                }
                at = at.saturating_add(crate::wire::align4(mlen)).min(n);
            }
            if done {
                return self.finish(interrupted);
            }
        }
    }
}

impl AsFd for DiagSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

pub(crate) enum Scan {
    More,
    Done,
}

/// Handles the messages of one datagram of the reply to `seq`.
pub(crate) fn scan(
    datagram: &[u8],
    seq: u32,
    interrupted: &mut bool,
    each: &mut impl FnMut(NlMsg<&[u8]>) -> Result<(), Error>,
) -> Result<Scan, Error> {
    for m in NlMsgs::new(datagram) {
        if step(m?, seq, interrupted, each)? {
            return Ok(Scan::Done);
        }
    }
    Ok(Scan::More)
}

/// Handles one message of the reply to `seq`: data goes to `each`, a
/// `DUMP_INTR` flag is noted; `Ok(true)` at the end of the dump.
#[inline]
fn step(
    m: NlMsg<&[u8]>,
    seq: u32,
    interrupted: &mut bool,
    each: &mut impl FnMut(NlMsg<&[u8]>) -> Result<(), Error>,
) -> Result<bool, Error> {
    let kind = classify(&m, seq)?;
    if !matches!(kind, Kind::Skip) && m.flags().contains(NlFlags::DUMP_INTR) {
        *interrupted = true;
    }
    match kind {
        Kind::Skip => Ok(false),
        Kind::Done => Ok(true),
        Kind::Data => {
            each(m)?;
            Ok(false)
        }
    }
}

pub(crate) enum Kind {
    Skip,
    Done,
    Data,
}

/// Sorts one message of the reply to `seq`: stale or foreign ones are
/// skipped, errors become `Err`.
#[inline]
pub(crate) fn classify(m: &NlMsg<&[u8]>, seq: u32) -> Result<Kind, Error> {
    if m.seq() != seq {
        return Ok(Kind::Skip);
    }
    match m.msg_type() {
        NlMsgType::Noop => Ok(Kind::Skip),
        NlMsgType::Error => {
            let e = NlMsgErr::new_checked(m.payload()).map_err(|e| e.at(nlmsg::HEADER_LEN))?;
            match e.errno() {
                None => Ok(Kind::Skip),
                Some(n) => Err(Error::Kernel(Errno(n))),
            }
        }
        NlMsgType::Done => {
            // The dump's own error, if it ended early (`dump_done_errno`).
            let p = m.payload();
            if p.len() >= 4 {
                let v = i32::from_ne_bytes([p[0], p[1], p[2], p[3]]);
                if v < 0 {
                    return Err(Error::Kernel(Errno(v.checked_neg().unwrap_or(i32::MAX))));
                }
            }
            Ok(Kind::Done)
        }
        NlMsgType::Overrun => Err(Error::Protocol),
        _ => Ok(Kind::Data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::nlmsg::NlMsgHeader;

    fn msg(buf: &mut [u8], t: NlMsgType, flags: NlFlags, seq: u32, payload: &[u8]) -> usize {
        let h = NlMsgHeader {
            msg_type: t,
            flags,
            seq,
            pid: 0,
            payload_len: payload.len(),
        };
        h.emit(buf).unwrap();
        buf[16..16 + payload.len()].copy_from_slice(payload);
        crate::wire::align4(h.buffer_len())
    }

    #[test]
    fn stream_rules() {
        let mut d = [0u8; 256];
        let mut n = 0;
        n += msg(
            &mut d[n..],
            NlMsgType::SockDiagByFamily,
            NlFlags::MULTI,
            6,
            &[1; 8],
        ); // stale
        n += msg(
            &mut d[n..],
            NlMsgType::SockDiagByFamily,
            NlFlags::MULTI,
            7,
            &[2; 8],
        );
        n += msg(&mut d[n..], NlMsgType::Noop, NlFlags::empty(), 7, &[]);
        n += msg(
            &mut d[n..],
            NlMsgType::SockDiagByFamily,
            NlFlags::MULTI | NlFlags::DUMP_INTR,
            7,
            &[3; 8],
        );
        n += msg(
            &mut d[n..],
            NlMsgType::Done,
            NlFlags::MULTI,
            7,
            &0i32.to_ne_bytes(),
        );
        let mut seen = std::vec::Vec::new();
        let mut intr = false;
        let r = scan(&d[..n], 7, &mut intr, &mut |m| {
            seen.push(m.payload()[0]);
            Ok(())
        });
        assert!(matches!(r, Ok(Scan::Done)));
        assert!(intr);
        assert_eq!(seen, [2, 3]);

        // NLMSG_ERROR carries the errno; an ACK (0) is skipped.
        let mut e = [0u8; 20];
        e[..4].copy_from_slice(&(-95i32).to_ne_bytes());
        let n = msg(&mut d, NlMsgType::Error, NlFlags::empty(), 7, &e);
        let r = scan(&d[..n], 7, &mut intr, &mut |_| Ok(()));
        assert!(matches!(r, Err(Error::Kernel(Errno(95)))));
        e[..4].copy_from_slice(&0i32.to_ne_bytes());
        let n = msg(&mut d, NlMsgType::Error, NlFlags::empty(), 7, &e);
        assert!(matches!(
            scan(&d[..n], 7, &mut intr, &mut |_| Ok(())),
            Ok(Scan::More)
        ));
        // A dump that ended with an error in NLMSG_DONE.
        let n = msg(
            &mut d,
            NlMsgType::Done,
            NlFlags::MULTI,
            7,
            &(-4i32).to_ne_bytes(),
        );
        assert!(matches!(
            scan(&d[..n], 7, &mut intr, &mut |_| Ok(())),
            Err(Error::Kernel(Errno(4)))
        ));
        // A truncated error payload is malformed, not a panic.
        let n = msg(&mut d, NlMsgType::Error, NlFlags::empty(), 7, &[0; 3]);
        assert!(matches!(
            scan(&d[..n], 7, &mut intr, &mut |_| Ok(())),
            Err(Error::Wire(_))
        ));
    }

    #[test]
    fn socket_is_cloexec_and_reusable() {
        let s = DiagSocket::new().unwrap();
        let flags = rustix::io::fcntl_getfd(&s).unwrap();
        assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
    }
}
