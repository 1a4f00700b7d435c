//! [`Errno`], the one operating-system error number type of the workspace.

use core::fmt;

/// An operating-system error number (`errno`, positive), as a system call
/// or a netlink `NLMSG_ERROR` reported it.
///
/// One type for every crate of the workspace, whatever reported the error
/// (rustix, libc, the kernel over netlink). Its numbers are the target's:
/// compare them with constants derived from the target's headers (for
/// example `raindrops_diag::errno` built on linux-raw-sys), never with
/// literals, which differ between architectures (`EOPNOTSUPP` is 95 on
/// x86 and 122 on mips).
///
/// ```
/// use raindrops_core::Errno;
/// let e = Errno::from_raw(2);
/// assert_eq!(e.raw(), 2);
/// assert_eq!(Errno::from_raw(-2), e); // kernels report negated numbers
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(i32);

impl Errno {
    /// The error number `n`; a negative `n` (as the kernel reports errors
    /// in `NLMSG_ERROR`) is negated (`i32::MIN` becomes `i32::MAX`).
    pub const fn from_raw(n: i32) -> Self {
        Errno(if n < 0 {
            match n.checked_neg() {
                Some(v) => v,
                None => i32::MAX,
            }
        } else {
            n
        })
    }

    /// The positive number.
    pub const fn raw(self) -> i32 {
        self.0
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Errno({})", self.0)
    }
}

impl fmt::Display for Errno {
    /// The system's message with the number (`No such file or directory
    /// (os error 2)`) with the `std` feature, else `errno 2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(feature = "std")]
        {
            extern crate std;
            write!(f, "{}", std::io::Error::from_raw_os_error(self.0))
        }
        #[cfg(not(feature = "std"))]
        {
            write!(f, "errno {}", self.0)
        }
    }
}

impl core::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negated_and_extreme() {
        assert_eq!(Errno::from_raw(-95).raw(), 95);
        assert_eq!(Errno::from_raw(i32::MIN).raw(), i32::MAX);
        assert_eq!(std::format!("{:?}", Errno::from_raw(4)), "Errno(4)");
    }
}
