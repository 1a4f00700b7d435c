//! The listening sockets behind each listener of a query's result, with
//! their inodes and cgroup ids: what owner and cgroup attribution need,
//! taken from the query's own LISTEN dump ([`Diag::set_sockets`]).
//!
//! TCP messages of full sockets carry `INET_DIAG_CGROUP_ID` (the cgroup v2
//! id of the socket, set when it was created) without being asked: the
//! kernel adds it to every full socket's message where it keeps socket
//! cgroup data (`CONFIG_SOCK_CGROUP_DATA`, Linux 5.7 or later), so the
//! LISTEN dump needs no extension flag for it. unix_diag has no cgroup
//! attribute.
//!
//! [`Diag::set_sockets`]: crate::Diag::set_sockets

use crate::dumps::ListenSink;
use crate::error::Error;
use crate::name::UnixName;
use crate::wire::inet_diag::{InetDiagAttr, InetDiagMsg};
use crate::wire::tcp_state::TcpState;
use crate::wire::unix_diag::{UnixDiagAttr, UnixDiagMsg};
use core::net::SocketAddr;
use std::vec::Vec;

/// One listening socket of a listener in a query's result.
///
/// A `SO_REUSEPORT` group has one per member; a Unix socket asked for by
/// a symlink and by its target belongs to both rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct ListenSocket {
    /// The index of its listener in the result of the query.
    pub listener: usize,
    /// The socket's inode (the `socket:[INODE]` of `/proc/PID/fd`).
    pub inode: u64,
    /// The cgroup v2 id of the cgroup the socket was created in (TCP,
    /// where the kernel reports it).
    pub cgroup_id: Option<u64>,
}

impl ListenSocket {
    /// The socket `inode` of the listener at `listener`, with `cgroup_id`.
    pub const fn new(listener: usize, inode: u64, cgroup_id: Option<u64>) -> Self {
        ListenSocket {
            listener,
            inode,
            cgroup_id,
        }
    }
}

/// The LISTEN sockets a query's dump reported, keyed as the tally keys
/// them, before they are matched with the rows of the result.
#[derive(Clone, Debug, Default)]
pub(crate) struct Collector {
    pub(crate) tcp: Vec<(SocketAddr, u64, Option<u64>)>,
    pub(crate) unix: Vec<(UnixName, u64)>,
}

impl Collector {
    /// Notes a listening Unix socket of `/proc/net/unix`.
    pub(crate) fn unix_line(&mut self, name: UnixName, inode: u64) {
        self.unix.push((name, inode));
    }
}

impl ListenSink for Collector {
    fn restart(&mut self) {
        self.tcp.clear();
        self.unix.clear();
    }

    fn tcp(&mut self, m: &InetDiagMsg<&[u8]>) -> Result<(), Error> {
        if m.state() != TcpState::Listen {
            return Ok(());
        }
        let Some(local) = m.local() else {
            return Ok(());
        };
        let mut cgroup_id = None;
        for a in m.attrs() {
            if let InetDiagAttr::CgroupId(id) = a? {
                cgroup_id = Some(id);
            }
        }
        self.tcp.push((local, u64::from(m.inode()), cgroup_id));
        Ok(())
    }

    fn unix(&mut self, m: &UnixDiagMsg<&[u8]>) -> Result<(), Error> {
        if m.state() != TcpState::Listen {
            return Ok(());
        }
        for a in m.attrs() {
            if let UnixDiagAttr::Name(raw) = a? {
                if let Some(name) = UnixName::from_sun_path(raw) {
                    self.unix.push((name, u64::from(m.ino())));
                }
                break;
            }
        }
        Ok(())
    }
}

/// Sorts `out` by listener and inode, one entry per pair.
pub(crate) fn finish(out: &mut Vec<ListenSocket>) {
    out.sort_unstable();
    out.dedup();
}

/// The entries of `sockets` (sorted by listener) that belong to
/// `listener`.
pub(crate) fn of_listener(sockets: &[ListenSocket], listener: usize) -> &[ListenSocket] {
    let start = sockets.partition_point(|s| s.listener < listener);
    let len = sockets[start..].partition_point(|s| s.listener == listener);
    &sockets[start..start + len]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouped_by_listener() {
        let mut v = std::vec![
            ListenSocket::new(2, 9, None),
            ListenSocket::new(0, 5, Some(1)),
            ListenSocket::new(2, 7, None),
            ListenSocket::new(2, 7, None),
        ];
        finish(&mut v);
        assert_eq!(v.len(), 3);
        assert_eq!(of_listener(&v, 0), &[ListenSocket::new(0, 5, Some(1))]);
        assert!(of_listener(&v, 1).is_empty());
        let two: Vec<u64> = of_listener(&v, 2).iter().map(|s| s.inode).collect();
        assert_eq!(two, [7, 9]);
        assert!(of_listener(&v, 99).is_empty());
    }
}
