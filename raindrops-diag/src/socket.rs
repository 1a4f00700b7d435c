//! The `NETLINK_SOCK_DIAG` socket: one request, one multi-part reply, with
//! the hygiene rules of `docs/netlink.md` of the repository.

use crate::error::Error;
use crate::unix_backlogs::UnixBacklogs;
use crate::wire::nlmsg::{NlMsg, Reply};
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
/// buffer (`MSG_TRUNC`) is [`Error::Truncated`] (the replies are walked by
/// [`Reply`](crate::wire::nlmsg::Reply)). A dump that was not read
/// to its end (an error, or an iterator dropped early) leaves the socket
/// marked, and the next request opens a fresh socket rather than read the
/// stale tail.
///
/// The socket owns no buffer: the caller passes one (see
/// [`RECV_BUFFER_LEN`]), so this type needs no allocator. It remembers
/// the backlogs of the Unix listeners its queries met (by inode, for up
/// to 256 listeners), which the default Unix query reads again every few
/// queries (see [`UnixQuery::backlog`](crate::UnixQuery::backlog)).
#[derive(Debug)]
pub struct DiagSocket {
    fd: OwnedFd,
    seq: u32,
    dirty: bool,
    v2_only: bool,
    pub(crate) unix_backlogs: UnixBacklogs,
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
            unix_backlogs: UnixBacklogs::default(),
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

    /// Receives one datagram into `buf`: the length `recvfrom` reported
    /// (with `MSG_TRUNC`, the datagram's full length, which may exceed
    /// `buf`) and the sender's netlink port id, for [`Reply::datagram`];
    /// `EINTR` is retried.
    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> Result<(usize, Option<u32>), Error> {
        loop {
            match rustix::net::recvfrom(&self.fd, &mut *buf, RecvFlags::TRUNC) {
                Ok((_, len, from)) => {
                    // A netlink socket only hears netlink senders; any
                    // other address gets a port id that is not the
                    // kernel's.
                    let port =
                        from.map(|a| SocketAddrNetlink::try_from(a).map_or(u32::MAX, |a| a.pid()));
                    return Ok((len, port));
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
    /// data message of the reply (never `NLMSG_DONE`, `NLMSG_ERROR` or
    /// `NLMSG_NOOP`), reusing `buf` to receive; the replies are walked by
    /// [`Reply`].
    ///
    /// # Errors
    ///
    /// Those of [`DiagSocket`]'s rules, [`Error::Interrupted`] when the
    /// kernel flagged the dump `NLM_F_DUMP_INTR` (the caller restarts it),
    /// and whatever `each` returns.
    #[inline]
    pub fn dump(
        &mut self,
        buf: &mut [u8],
        len: usize,
        mut each: impl FnMut(NlMsg<&[u8]>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut reply = Reply::new(self.send(buf, len)?);
        loop {
            let (n, sender) = self.recv(buf)?;
            if reply.feed(buf, n, sender, &mut each)? {
                self.done();
                return reply.finish();
            }
        }
    }
}

impl AsFd for DiagSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_is_cloexec_and_reusable() {
        let s = DiagSocket::new().unwrap();
        let flags = rustix::io::fcntl_getfd(&s).unwrap();
        assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
    }
}
