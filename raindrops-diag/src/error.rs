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
    /// dump with an error): for example `ENOENT` when the diag module for
    /// the protocol is missing, `EINVAL` for a request it does not accept.
    Kernel(Errno),
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
