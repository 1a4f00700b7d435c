//! This process's own listening sockets, TCP and Unix, found by inode:
//! what Ruby's middleware gets from unicorn (`Unicorn.listener_names`),
//! for any server.
//!
//! `/proc/self/fd` lists this process's descriptors; a socket's link reads
//! `socket:[INODE]`. One LISTEN-only dump of each kind (inet_diag, unix_diag)
//! gives every listener of the machine with its inode and address or name;
//! the ones whose inode is ours are our listeners. A listener inherited from
//! a parent (a preforking master) counts too: it is one of our descriptors.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStringExt;
use std::vec::Vec;

use raindrops_diag::wire::inet_diag::AF_UNIX;
use raindrops_diag::wire::nlmsg;
use raindrops_diag::wire::request::unix_dump;
use raindrops_diag::wire::{TcpStates, UnixDiagAttr, UnixDiagMsg, UnixDiagReq, UnixShow};
use raindrops_diag::{ConnQuery, Diag, UnixName};

use crate::error::Error;
use crate::proc_fd::socket_inodes;

/// The listening sockets of this process, in the forms
/// [`KernelSource::new`](crate::KernelSource::new) and
/// [`Diag`] take: TCP addresses sorted (IPv4 first), Unix names (`/path`,
/// `@abstract`) as bytes, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OwnListeners {
    /// The local addresses of TCP listeners (one per `SO_REUSEPORT` group
    /// of this process).
    pub tcp: Vec<SocketAddr>,
    /// The names of Unix listeners, as bytes (not always UTF-8).
    pub unix: Vec<OsString>,
}

/// Finds this process's listening sockets, TCP and Unix, on `diag`'s
/// socket: a listener bound by any thread, or inherited from a parent.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let l = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let mut diag = raindrops::diag::Diag::new()?;
/// let own = raindrops::own_listeners(&mut diag)?;
/// assert!(own.tcp.contains(&l.local_addr()?));
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`Error::Sys`] if `/proc/self/fd` cannot be read, [`Error::Diag`] if a
/// dump fails.
pub fn own_listeners(diag: &mut Diag) -> Result<OwnListeners, Error> {
    let mut f = Finder::default();
    f.find(diag)?;
    Ok(OwnListeners {
        tcp: f.tcp,
        unix: f.unix.into_iter().map(OsString::from_vec).collect(),
    })
}

/// The buffers of a search, kept between searches.
#[derive(Debug, Default)]
pub(crate) struct Finder {
    inodes: Vec<u32>,
    pub(crate) tcp: Vec<SocketAddr>,
    pub(crate) unix: Vec<Vec<u8>>,
}

impl Finder {
    /// Finds this process's listeners into `tcp` and `unix`.
    pub(crate) fn find(&mut self, diag: &mut Diag) -> Result<(), Error> {
        socket_inodes(&mut self.inodes)?;
        self.tcp.clear();
        self.unix.clear();
        if self.inodes.is_empty() {
            return Ok(());
        }
        let inodes = &self.inodes;
        let ours = |ino: u32| inodes.binary_search(&ino).is_ok();
        let tcp = &mut self.tcp;
        diag.for_each_tcp_connection(&ConnQuery::new().with_states(TcpStates::LISTEN), |m| {
            if ours(m.inode()) {
                if let Some(a) = m.local() {
                    tcp.push(a);
                }
            }
            Ok(())
        })?;
        // IPv4 first, then by address: the order of "every listener".
        tcp.sort_by_key(|a| (a.is_ipv6(), *a));
        tcp.dedup();
        match unix_listeners(diag, &ours, &mut self.unix) {
            Err(raindrops_diag::Error::Kernel(e)) if e == raindrops_diag::errno::NOENT => {
                proc_unix_listeners(&ours, &mut self.unix)?;
            }
            r => r?,
        }
        self.unix.sort();
        self.unix.dedup();
        Ok(())
    }
}

/// The names of the listening Unix sockets whose inode is `ours`, from one
/// LISTEN-only unix_diag dump.
fn unix_listeners(
    diag: &mut Diag,
    ours: &impl Fn(u32) -> bool,
    out: &mut Vec<Vec<u8>>,
) -> Result<(), raindrops_diag::Error> {
    let (sock, buf) = diag.parts();
    let req = UnixDiagReq {
        family: AF_UNIX,
        protocol: 0,
        pad: 0,
        states: TcpStates::LISTEN,
        ino: 0,
        show: UnixShow::NAME,
        cookie: [!0, !0],
    };
    let len = unix_dump(buf, 0, &req)?;
    sock.dump(buf, len, |m| {
        let d = UnixDiagMsg::new_checked(m.payload()).map_err(|e| e.at(nlmsg::HEADER_LEN))?;
        if !ours(d.ino()) {
            return Ok(());
        }
        for a in d.attrs() {
            if let UnixDiagAttr::Name(raw) = a? {
                if let Some(n) = UnixName::from_sun_path(raw) {
                    out.push(n.as_bytes().to_vec());
                }
            }
        }
        Ok(())
    })
}

/// [`unix_listeners`] from `/proc/net/unix`, where the kernel has no
/// unix_diag.
fn proc_unix_listeners(ours: &impl Fn(u32) -> bool, out: &mut Vec<Vec<u8>>) -> Result<(), Error> {
    let text = std::fs::read(raindrops_diag::PROC_NET_UNIX)
        .map_err(|e| Error::io("reading /proc/net/unix", &e))?;
    for l in raindrops_diag::proc_unix::ProcNetUnix::new(&text).flatten() {
        let ino = u32::try_from(l.inode).ok();
        if let (true, Some(true), Some(p)) = (l.is_listener(), ino.map(ours), l.path) {
            out.push(p.to_vec());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn finds_tcp_and_unix_listeners_of_this_process_only() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dir = std::env::temp_dir().join(std::format!("raindrops-own-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(std::ffi::OsStr::from_bytes(b"own-\xff.sock"));
        let ul = std::os::unix::net::UnixListener::bind(&path).unwrap();
        // A connected (not listening) socket is not a listener.
        let _c = std::net::TcpStream::connect(v4.local_addr().unwrap()).unwrap();
        let mut diag = Diag::new().unwrap();
        let own = own_listeners(&mut diag).unwrap();
        assert!(own.tcp.contains(&v4.local_addr().unwrap()), "{own:?}");
        assert!(!own.tcp.iter().any(|a| a.port() == 0));
        assert!(own.unix.contains(&path.clone().into_os_string()), "{own:?}");
        // Closed: gone.
        let a = v4.local_addr().unwrap();
        drop((v4, ul));
        let own = own_listeners(&mut diag).unwrap();
        assert!(!own.tcp.contains(&a));
        assert!(!own.unix.contains(&path.into_os_string()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn proc_fallback_agrees() {
        let ul = std::os::unix::net::UnixListener::bind_addr(
            &<std::os::unix::net::SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(
                std::format!("raindrops-own-abs-{}", std::process::id()),
            )
            .unwrap(),
        )
        .unwrap();
        let mut inodes = Vec::new();
        socket_inodes(&mut inodes).unwrap();
        let ours = |i: u32| inodes.binary_search(&i).is_ok();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        unix_listeners(&mut Diag::new().unwrap(), &ours, &mut a).unwrap();
        proc_unix_listeners(&ours, &mut b).unwrap();
        a.sort();
        b.sort();
        assert_eq!(a, b);
        let want = std::format!("@raindrops-own-abs-{}", std::process::id());
        assert!(a.contains(&want.into_bytes()));
        drop(ul);
    }
}
