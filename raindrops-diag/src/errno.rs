//! The errno values the crate compares against, as [`Errno`] constants
//! built from the target's uapi headers (linux-raw-sys), so that they are
//! right on every architecture (`EOPNOTSUPP` is 95 on x86 and 122 on mips).
//!
//! ```
//! use raindrops_diag::{Error, errno};
//! let e = Error::Kernel(errno::NOENT);
//! assert_eq!(e, Error::Kernel(raindrops_diag::Errno::from_raw(2)));
//! ```

use linux_raw_sys::errno as sys;
use raindrops_core::Errno;

/// Converts a linux-raw-sys constant (a small positive `u32`).
const fn errno(n: u32) -> Errno {
    Errno::from_raw(n as i32)
}

/// `ENOENT`: no such handler (for example no unix_diag in this kernel).
pub const NOENT: Errno = errno(sys::ENOENT);
/// `EINTR`: a system call was interrupted by a signal.
pub const INTR: Errno = errno(sys::EINTR);
/// `EINVAL`: a request the kernel does not accept.
pub const INVAL: Errno = errno(sys::EINVAL);
/// `EOPNOTSUPP`: an operation the socket does not support.
pub const OPNOTSUPP: Errno = errno(sys::EOPNOTSUPP);
/// `EPROTONOSUPPORT`: a protocol the kernel does not know.
pub const PROTONOSUPPORT: Errno = errno(sys::EPROTONOSUPPORT);
/// `ELOOP`: too many symbolic links.
pub const LOOP: Errno = errno(sys::ELOOP);
/// `EPERM`: an operation that needs a privilege (for example `setns`
/// without `CAP_SYS_ADMIN`).
pub const PERM: Errno = errno(sys::EPERM);
/// `EACCES`: a file that may not be opened or read.
pub const ACCES: Errno = errno(sys::EACCES);
/// `ESRCH`: no such process (it exited).
pub const SRCH: Errno = errno(sys::ESRCH);
/// `EIO`: an input/output error (also what an I/O error without an errno
/// becomes).
pub const IO: Errno = errno(sys::EIO);

/// The errno of a rustix error.
#[cfg(feature = "std")]
pub(crate) fn of_rustix(e: rustix::io::Errno) -> Errno {
    Errno::from_raw(e.raw_os_error())
}

/// The errno of an I/O error ([`IO`] when it carries none).
#[cfg(feature = "std")]
pub(crate) fn of_io(e: &std::io::Error) -> Errno {
    e.raw_os_error().map_or(IO, Errno::from_raw)
}

/// Whether `e` says the object is gone: [`NOENT`] (a file) or [`SRCH`]
/// (a process).
#[cfg(feature = "std")]
pub(crate) fn is_gone(e: Errno) -> bool {
    e == NOENT || e == SRCH
}

/// Whether `e` is a refusal: [`PERM`] or [`ACCES`].
#[cfg(feature = "std")]
pub(crate) fn is_denied(e: Errno) -> bool {
    e == PERM || e == ACCES
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn x86_64_numbers() {
        let got = [
            super::NOENT,
            super::INTR,
            super::INVAL,
            super::OPNOTSUPP,
            super::PROTONOSUPPORT,
            super::LOOP,
            super::PERM,
            super::ACCES,
            super::SRCH,
            super::IO,
        ]
        .map(raindrops_core::Errno::raw);
        assert_eq!(got, [2, 4, 22, 95, 93, 40, 1, 13, 3, 5]);
    }

    #[test]
    #[cfg(feature = "std")]
    fn same_numbers_as_std() {
        use std::io::ErrorKind;
        let kind = |e: raindrops_core::Errno| std::io::Error::from_raw_os_error(e.raw()).kind();
        assert_eq!(kind(super::NOENT), ErrorKind::NotFound);
        assert_eq!(kind(super::INTR), ErrorKind::Interrupted);
        assert_eq!(kind(super::INVAL), ErrorKind::InvalidInput);
        assert_eq!(kind(super::OPNOTSUPP), ErrorKind::Unsupported);
        assert_eq!(kind(super::PERM), ErrorKind::PermissionDenied);
        assert_eq!(kind(super::ACCES), ErrorKind::PermissionDenied);
        assert_eq!(super::of_io(&std::io::Error::other("x")), super::IO);
        assert!(super::is_gone(super::SRCH) && super::is_denied(super::ACCES));
    }
}
