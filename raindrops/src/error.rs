//! [`Error`]: why a listener query of this crate failed, as a small `Copy`
//! value.

use ::core::fmt;

use raindrops_core::{AddrError, Errno};

/// Why naming, finding or querying listeners failed.
///
/// A small `Copy` value that allocates nothing; a bad name is identified by
/// its position in the caller's list, which the caller still has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The listener name at `index` of the caller's list is neither a Unix
    /// socket name (`/path`, `@abstract`) nor a TCP address
    /// (`127.0.0.1:8080`, `[::1]:8080`).
    Name {
        /// Its position in the list.
        index: usize,
        /// Why it is not a TCP address.
        error: AddrError,
    },
    /// A netlink sock_diag query failed.
    Diag(raindrops_diag::Error),
    /// A system call failed: `call` says which (for example
    /// `"readlink /proc/self/fd"`).
    Sys {
        /// What was called.
        call: &'static str,
        /// The error number.
        errno: Errno,
    },
}

impl Error {
    /// The [`Error::Sys`] for an I/O error of `call`.
    pub(crate) fn io(call: &'static str, e: &std::io::Error) -> Self {
        Error::Sys {
            call,
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        }
    }

    /// The error number, if a system call or the kernel reported one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Sys { errno, .. } => Some(*errno),
            Error::Diag(raindrops_diag::Error::Sys(e) | raindrops_diag::Error::Kernel(e)) => {
                Some(*e)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Name { index, error } => write!(
                f,
                "listener name #{index} is neither a Unix socket name (/path, @name) \
                 nor a TCP address: {error}"
            ),
            Error::Diag(e) => e.fmt(f),
            Error::Sys { call, errno } => write!(f, "{call} failed: {errno}"),
        }
    }
}

impl ::core::error::Error for Error {}

impl From<raindrops_diag::Error> for Error {
    fn from(e: raindrops_diag::Error) -> Self {
        Error::Diag(e)
    }
}

impl From<raindrops_diag::QueryError> for Error {
    fn from(e: raindrops_diag::QueryError) -> Self {
        match e {
            raindrops_diag::QueryError::Diag(e) => Error::Diag(e),
            raindrops_diag::QueryError::Address { error, .. } => Error::Name { index: 0, error },
            raindrops_diag::QueryError::Io(e) => Error::io("resolving a Unix socket path", &e),
            // A variant added later: the query failed, without more to say.
            _ => Error::Diag(raindrops_diag::Error::Protocol),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn messages_name_the_cause() {
        let e = Error::Name {
            index: 2,
            error: AddrError::MissingPort,
        };
        assert!(e.to_string().contains("#2"), "{e}");
        let e = Error::Sys {
            call: "readlink /proc/self/fd",
            errno: Errno::from_raw(13),
        };
        assert!(e.to_string().starts_with("readlink /proc/self/fd failed: "));
        assert_eq!(e.errno(), Some(Errno::from_raw(13)));
    }
}
