//! Errors of queries: a small `Copy` [`Error`] for everything that needs no
//! allocation, and (with `std`) [`QueryError`], which also names the
//! offending input string.

use crate::wire::WireError;
use core::fmt;
use raindrops_core::{AddrError, Errno};

/// Why a statistics query or a dump failed.
///
/// A small `Copy` value that allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// A system call on the netlink socket failed (`socket`, `bind`,
    /// `sendto`, `recvfrom`).
    Sys(Errno),
    /// The kernel answered the request with `NLMSG_ERROR` (or ended the
    /// dump with an error): for example `EINVAL` for a request it does not
    /// accept. The listener and connection queries report `ENOENT` as
    /// [`Error::MissingModule`]; [`DiagSocket::dump`](crate::DiagSocket::dump),
    /// which does not know the protocol, as `Kernel(ENOENT)`.
    Kernel(Errno),
    /// The kernel has no sock_diag handler for the query's protocol (it
    /// answered `ENOENT`): the module is not loaded, which kernels before
    /// 4.x (and some configurations) do not do on demand. Loading the
    /// module named by [`DiagModule::name`] (`modprobe tcp_diag`) fixes it.
    MissingModule(DiagModule),
    /// A reply was malformed.
    Wire(WireError),
    /// A datagram was longer than the receive buffer (`MSG_TRUNC`); its
    /// tail was lost, so counts would be short.
    Truncated {
        /// The datagram's length.
        len: usize,
        /// The receive buffer's length.
        capacity: usize,
    },
    /// The kernel kept flagging the dump as inconsistent
    /// (`NLM_F_DUMP_INTR`) after every restart.
    Interrupted,
    /// A fixed-capacity table could not hold every listener.
    TableFull {
        /// The table's capacity.
        capacity: usize,
    },
    /// A listener address string was refused.
    Addr(AddrError),
    /// The dump ended without `NLMSG_DONE`, or a reply made no sense for
    /// the request.
    Protocol,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sys(e) => write!(f, "netlink socket: {e}"),
            Error::Kernel(e) => write!(f, "kernel refused the sock_diag request: {e}"),
            Error::MissingModule(m) => write!(
                f,
                "the kernel has no sock_diag handler for {} sockets ({}): load it with `modprobe {}`",
                m.sockets(),
                crate::errno::NOENT,
                m.name()
            ),
            Error::Wire(e) => write!(f, "malformed sock_diag reply: {e}"),
            Error::Truncated { len, capacity } => write!(
                f,
                "netlink datagram of {len} bytes truncated by a {capacity}-byte buffer"
            ),
            Error::Interrupted => f.write_str("the socket dump kept being interrupted"),
            Error::TableFull { capacity } => {
                write!(f, "more listeners than the table's capacity of {capacity}")
            }
            Error::Addr(e) => write!(f, "bad listener address: {e}"),
            Error::Protocol => f.write_str("unexpected netlink reply"),
        }
    }
}

impl core::error::Error for Error {}

impl Error {
    /// The errno behind the error, if it has one: that of [`Error::Sys`]
    /// and [`Error::Kernel`], and `ENOENT` for [`Error::MissingModule`].
    pub const fn errno(&self) -> Option<Errno> {
        match self {
            Error::Sys(e) | Error::Kernel(e) => Some(*e),
            Error::MissingModule(_) => Some(crate::errno::NOENT),
            _ => None,
        }
    }

    /// The error of a query about `module`'s sockets: `ENOENT` from the
    /// kernel means that module is missing.
    #[cfg_attr(not(feature = "socket"), allow(dead_code))]
    pub(crate) fn in_module(self, module: DiagModule) -> Self {
        match self {
            Error::Kernel(e) if e == crate::errno::NOENT => Error::MissingModule(module),
            e => e,
        }
    }
}

/// A kernel module that answers sock_diag requests for one kind of socket
/// (see [`Error::MissingModule`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DiagModule {
    /// `tcp_diag` (with `inet_diag`, which it pulls in): TCP sockets over
    /// IPv4 and IPv6.
    Tcp,
    /// `unix_diag`: Unix sockets.
    Unix,
}

impl DiagModule {
    /// The module's name, as `modprobe` takes it.
    pub const fn name(self) -> &'static str {
        match self {
            DiagModule::Tcp => "tcp_diag",
            DiagModule::Unix => "unix_diag",
        }
    }

    /// The sockets it reports on, for messages (`"TCP"`, `"Unix"`).
    pub const fn sockets(self) -> &'static str {
        match self {
            DiagModule::Tcp => "TCP",
            DiagModule::Unix => "Unix",
        }
    }
}

impl fmt::Display for DiagModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<WireError> for Error {
    fn from(e: WireError) -> Self {
        Error::Wire(e)
    }
}

impl From<AddrError> for Error {
    fn from(e: AddrError) -> Self {
        Error::Addr(e)
    }
}

#[cfg(feature = "socket")]
impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Self {
        Error::Sys(Errno::from_raw(e.raw_os_error()))
    }
}

/// Why a query with string arguments failed (`std` only): an [`Error`],
/// a bad address naming the offending string, or an I/O error of the
/// `/proc/net/unix` fallback or of resolving a symlink.
#[cfg(feature = "std")]
#[derive(Debug)]
#[non_exhaustive]
pub enum QueryError {
    /// A listener address string was refused.
    Address {
        /// The string as the caller gave it.
        input: std::string::String,
        /// Why it was refused.
        error: AddrError,
    },
    /// The query itself failed.
    Diag(Error),
    /// Reading `/proc/net/unix` or resolving a socket path failed.
    Io(std::io::Error),
}

#[cfg(feature = "std")]
impl QueryError {
    /// The [`Error`] inside, if this is a query failure.
    pub fn diag(&self) -> Option<Error> {
        match self {
            QueryError::Diag(e) => Some(*e),
            _ => None,
        }
    }
}

#[cfg(feature = "std")]
impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Address { input, error } => {
                write!(f, "bad listener address {input:?}: {error}")
            }
            QueryError::Diag(e) => e.fmt(f),
            QueryError::Io(e) => e.fmt(f),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for QueryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QueryError::Address { error, .. } => Some(error),
            QueryError::Diag(e) => Some(e),
            QueryError::Io(e) => Some(e),
        }
    }
}

#[cfg(feature = "std")]
impl From<Error> for QueryError {
    fn from(e: Error) -> Self {
        QueryError::Diag(e)
    }
}

#[cfg(feature = "std")]
impl From<std::io::Error> for QueryError {
    fn from(e: std::io::Error) -> Self {
        QueryError::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    /// `ENOENT` from the kernel names the module to load, for the family
    /// the query was about; other errors pass through. (The modules cannot
    /// be unloaded under test, so the mapping is tested here; the queries
    /// call it on every error they return.)
    #[test]
    fn missing_module_message() {
        let noent = Error::Kernel(crate::errno::NOENT);
        let tcp = noent.in_module(DiagModule::Tcp);
        assert_eq!(tcp, Error::MissingModule(DiagModule::Tcp));
        let msg = tcp.to_string();
        assert!(msg.contains("`modprobe tcp_diag`"), "{msg}");
        assert!(msg.contains("TCP sockets"), "{msg}");
        assert!(msg.contains(&crate::errno::NOENT.to_string()), "{msg}");
        let unix = noent.in_module(DiagModule::Unix).to_string();
        assert!(unix.contains("`modprobe unix_diag`"), "{unix}");
        assert_eq!(tcp.errno(), Some(crate::errno::NOENT));
        for other in [
            Error::Kernel(crate::errno::INVAL),
            Error::Sys(crate::errno::NOENT),
            Error::Interrupted,
        ] {
            assert_eq!(other.in_module(DiagModule::Tcp), other);
        }
    }

    #[test]
    fn messages() {
        assert_eq!(
            Error::Truncated {
                len: 9000,
                capacity: 4096
            }
            .to_string(),
            "netlink datagram of 9000 bytes truncated by a 4096-byte buffer"
        );
        assert!(
            Error::Kernel(crate::errno::NOENT)
                .to_string()
                .contains("refused")
        );
        assert_eq!(Error::Protocol.errno(), None);
        #[cfg(feature = "std")]
        {
            let e = QueryError::Address {
                input: "1.2.3.4".into(),
                error: AddrError::MissingPort,
            };
            assert!(e.to_string().contains("\"1.2.3.4\""), "{e}");
            assert!(std::error::Error::source(&e).is_some());
        }
    }
}
