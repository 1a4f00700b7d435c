//! The listening sockets of a network namespace with their inodes and
//! cgroup ids: what owner and cgroup attribution need to know about each
//! listener.
//!
//! One LISTEN-only dump per protocol: the kernel walks only its listening
//! hash for TCP, and builds no message for connected Unix sockets. TCP
//! messages of full sockets carry `INET_DIAG_CGROUP_ID` (the cgroup v2 id
//! of the socket, set when it was created) without being asked: the
//! kernel adds it to every full socket's message where it keeps socket
//! cgroup data (`CONFIG_SOCK_CGROUP_DATA`, Linux 5.7 or later); unix_diag
//! has no cgroup attribute.

use crate::error::Error;
use crate::name::UnixName;
use crate::socket::DiagSocket;
use crate::wire::inet_diag::{
    AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC, Extensions, IPPROTO_TCP, InetDiagAttr, InetDiagMsg,
    InetDiagReq, InetDiagReqV2, SockId,
};
use crate::wire::nlmsg;
use crate::wire::request::{InetRequest, inet_dump, unix_dump};
use crate::wire::tcp_state::TcpStates;
use crate::wire::unix_diag::{UnixDiagAttr, UnixDiagMsg, UnixDiagReq, UnixShow};
use raindrops_core::{EscapedName, Family};
use std::string::{String, ToString};
use std::vec::Vec;

/// How often a dump flagged `NLM_F_DUMP_INTR` is restarted.
const MAX_RESTARTS: usize = 8;

/// One listening socket: the listener it belongs to (by family and name,
/// as the listener query names it), its inode and its cgroup.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ListenSocket {
    /// TCP over IPv4 or IPv6, or Unix.
    pub family: Family,
    /// The listener's name: its canonical address, or its Unix name in
    /// display form ([`EscapedName`]).
    pub name: String,
    /// The socket's inode (the `socket:[INODE]` of `/proc/PID/fd`).
    pub inode: u32,
    /// The cgroup v2 id the socket was created in (TCP only, where the
    /// kernel reports it).
    pub cgroup_id: Option<u64>,
}

/// Appends the listening TCP sockets (IPv4 and IPv6) seen by `sock` to
/// `out`, with `buf` for the request and the replies.
///
/// # Errors
///
/// The errors of [`DiagSocket::dump`]; [`Error::Interrupted`] if the dump
/// kept being interrupted.
pub fn tcp_listen_sockets(
    sock: &mut DiagSocket,
    buf: &mut [u8],
    out: &mut Vec<ListenSocket>,
) -> Result<(), Error> {
    let start = out.len();
    for _ in 0..MAX_RESTARTS {
        out.truncate(start);
        let r = if sock.legacy_refused() {
            v2_dumps(sock, buf, out)
        } else {
            match inet_listen_dump(sock, buf, legacy(), out) {
                Err(e) if legacy_refusal(&e) => {
                    out.truncate(start);
                    v2_dumps(sock, buf, out)
                }
                r => r,
            }
        };
        match r {
            Err(Error::Interrupted) => continue,
            r => return r,
        }
    }
    Err(Error::Interrupted)
}

/// Appends the listening Unix stream sockets that have a name to `out`.
///
/// # Errors
///
/// As [`tcp_listen_sockets`]; [`Error::Kernel`] with `ENOENT` where the
/// kernel has no unix_diag.
pub fn unix_listen_sockets(
    sock: &mut DiagSocket,
    buf: &mut [u8],
    out: &mut Vec<ListenSocket>,
) -> Result<(), Error> {
    let start = out.len();
    let req = UnixDiagReq {
        family: AF_UNIX,
        protocol: 0,
        pad: 0,
        states: TcpStates::LISTEN,
        ino: 0,
        show: UnixShow::NAME,
        cookie: [!0, !0],
    };
    for _ in 0..MAX_RESTARTS {
        out.truncate(start);
        let len = unix_dump(buf, 0, &req)?;
        let r = sock.dump(buf, len, |m| {
            let d = UnixDiagMsg::new_checked(m.payload()).map_err(|e| e.at(nlmsg::HEADER_LEN))?;
            for a in d.attrs() {
                if let UnixDiagAttr::Name(raw) = a? {
                    if let Some(n) =
                        UnixName::from_sun_path(raw).filter(|n| !n.as_bytes().is_empty())
                    {
                        out.push(ListenSocket {
                            family: Family::Unix,
                            name: EscapedName(n.as_bytes()).to_string(),
                            inode: d.ino(),
                            cgroup_id: None,
                        });
                    }
                    break;
                }
            }
            Ok(())
        });
        match r {
            Err(Error::Interrupted) => continue,
            r => return r,
        }
    }
    Err(Error::Interrupted)
}

/// Whether the kernel refused the legacy `TCPDIAG_GETSOCK` request.
fn legacy_refusal(e: &Error) -> bool {
    use crate::errno::{INVAL, NOENT, OPNOTSUPP};
    matches!(e, Error::Kernel(k) if *k == INVAL || *k == NOENT || *k == OPNOTSUPP)
}

fn legacy() -> InetRequest {
    InetRequest::Legacy(InetDiagReq {
        family: AF_UNSPEC,
        src_len: 0,
        dst_len: 0,
        ext: Extensions::empty(),
        id: SockId::any(),
        states: TcpStates::LISTEN,
        dbs: 0,
    })
}

fn v2_dumps(
    sock: &mut DiagSocket,
    buf: &mut [u8],
    out: &mut Vec<ListenSocket>,
) -> Result<(), Error> {
    for family in [AF_INET, AF_INET6] {
        let req = InetRequest::V2(InetDiagReqV2 {
            family,
            protocol: IPPROTO_TCP,
            ext: Extensions::empty(),
            pad: 0,
            states: TcpStates::LISTEN,
            id: SockId::any(),
        });
        inet_listen_dump(sock, buf, req, out)?;
    }
    Ok(())
}

fn inet_listen_dump(
    sock: &mut DiagSocket,
    buf: &mut [u8],
    req: InetRequest,
    out: &mut Vec<ListenSocket>,
) -> Result<(), Error> {
    let len = inet_dump(buf, 0, &req, &[])?;
    sock.dump(buf, len, |m| {
        let d = InetDiagMsg::new_checked(m.payload()).map_err(|e| e.at(nlmsg::HEADER_LEN))?;
        let Some(addr) = d.local() else {
            return Ok(());
        };
        let mut cgroup_id = None;
        for a in d.attrs() {
            if let InetDiagAttr::CgroupId(id) = a? {
                cgroup_id = Some(id);
            }
        }
        out.push(ListenSocket {
            family: Family::of_addr(&addr),
            name: addr.to_string(),
            inode: d.inode(),
            cgroup_id,
        });
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn sockets_of_this_process() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let name = l.local_addr().unwrap().to_string();
        let ino = std::fs::metadata(std::format!("/proc/self/fd/{}", l.as_raw_fd()))
            .unwrap()
            .ino();
        let abs = std::format!("\0rd-ls-{}", std::process::id());
        let u = {
            use std::os::linux::net::SocketAddrExt;
            let a =
                std::os::unix::net::SocketAddr::from_abstract_name(&abs.as_bytes()[1..]).unwrap();
            std::os::unix::net::UnixListener::bind_addr(&a).unwrap()
        };
        let uino = std::fs::metadata(std::format!("/proc/self/fd/{}", u.as_raw_fd()))
            .unwrap()
            .ino();
        let mut sock = DiagSocket::new().unwrap();
        let mut buf = std::vec![0u8; crate::RECV_BUFFER_LEN];
        let mut out = Vec::new();
        tcp_listen_sockets(&mut sock, &mut buf, &mut out).unwrap();
        let me = out.iter().find(|s| s.name == name).unwrap();
        assert_eq!((me.family, u64::from(me.inode)), (Family::Tcp4, ino));
        // This kernel keeps socket cgroups: the id of our cgroup's directory.
        if let Some(id) = me.cgroup_id {
            assert!(id >= 1);
        }
        out.clear();
        unix_listen_sockets(&mut sock, &mut buf, &mut out).unwrap();
        let want = std::format!("@rd-ls-{}", std::process::id());
        let me = out.iter().find(|s| s.name == want).unwrap();
        assert_eq!((me.family, u64::from(me.inode)), (Family::Unix, uino));
        assert!(out.iter().all(|s| s.family == Family::Unix));
    }
}
