//! The error of the socket option calls.

use core::fmt;

use raindrops_core::Errno;

/// Why a TCP socket option could not be read or set.
///
/// A small `Copy` value carrying the kernel's [`Errno`]; [`fmt::Display`] says
/// what it means for the caller, and `std::io::Error::from` converts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The descriptor is a socket but not a TCP one: a Unix socket, a UDP
    /// socket or any other protocol. The kernel answers `EOPNOTSUPP` (or
    /// `ENOPROTOOPT` for some protocols); `errno` says which.
    NotTcp {
        /// The errno the kernel returned.
        errno: Errno,
    },
    /// The descriptor is not open (`EBADF`).
    BadFd,
    /// The descriptor is open but is not a socket (`ENOTSOCK`): a file, a
    /// pipe…
    NotSocket,
    /// Any other failure, with the kernel's errno.
    Os {
        /// The errno the kernel returned.
        errno: Errno,
    },
}

impl Error {
    /// Classifies the errno of a failed `getsockopt`/`setsockopt` at
    /// level `IPPROTO_TCP`.
    pub(crate) fn from_errno(errno: Errno) -> Error {
        match errno.raw() {
            libc::EOPNOTSUPP | libc::ENOPROTOOPT => Error::NotTcp { errno },
            libc::EBADF => Error::BadFd,
            libc::ENOTSOCK => Error::NotSocket,
            _ => Error::Os { errno },
        }
    }

    /// The errno behind the error (`EBADF` for [`BadFd`](Self::BadFd),
    /// `ENOTSOCK` for [`NotSocket`](Self::NotSocket)).
    pub fn errno(&self) -> Errno {
        match *self {
            Error::NotTcp { errno } | Error::Os { errno } => errno,
            Error::BadFd => Errno::from_raw(libc::EBADF),
            Error::NotSocket => Errno::from_raw(libc::ENOTSOCK),
        }
    }

    /// The number of [`Error::errno`], as `std::io::Error::raw_os_error`
    /// gives it.
    pub fn raw_os_error(&self) -> i32 {
        self.errno().raw()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let os = std::io::Error::from_raw_os_error(self.raw_os_error());
        match self {
            Error::NotTcp { .. } => write!(f, "not a TCP socket ({os})"),
            Error::BadFd => write!(f, "the file descriptor is not open ({os})"),
            Error::NotSocket => write!(f, "the file descriptor is not a socket ({os})"),
            Error::Os { .. } => write!(f, "TCP socket option failed ({os})"),
        }
    }
}

impl core::error::Error for Error {}

impl From<Error> for std::io::Error {
    /// An `io::Error` of the same errno, with this error as its source.
    fn from(e: Error) -> Self {
        let kind = std::io::Error::from_raw_os_error(e.raw_os_error()).kind();
        std::io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn errnos_are_classified_and_kept() {
        let n = Errno::from_raw;
        for (errno, want) in [
            (
                libc::EOPNOTSUPP,
                Error::NotTcp {
                    errno: n(libc::EOPNOTSUPP),
                },
            ),
            (
                libc::ENOPROTOOPT,
                Error::NotTcp {
                    errno: n(libc::ENOPROTOOPT),
                },
            ),
            (libc::EBADF, Error::BadFd),
            (libc::ENOTSOCK, Error::NotSocket),
            (
                libc::EINVAL,
                Error::Os {
                    errno: n(libc::EINVAL),
                },
            ),
        ] {
            let e = Error::from_errno(n(errno));
            assert_eq!(e, want);
            assert_eq!((e.raw_os_error(), e.errno()), (errno, n(errno)));
            let io = std::io::Error::from(e);
            assert_eq!(io.kind(), std::io::Error::from_raw_os_error(errno).kind());
        }
    }

    #[test]
    fn messages_say_what_is_wrong() {
        let e = Error::NotTcp {
            errno: Errno::from_raw(libc::EOPNOTSUPP),
        };
        let s = e.to_string();
        assert!(s.starts_with("not a TCP socket"), "{s}");
        let errno = std::format!("os error {}", libc::EOPNOTSUPP);
        assert!(s.contains(&errno), "{s}");
        assert!(Error::BadFd.to_string().contains("not open"));
        assert!(Error::NotSocket.to_string().contains("not a socket"));
    }
}
