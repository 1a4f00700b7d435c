//! The netlink sock_diag wire formats: zero-copy views over received bytes
//! and representations that build requests, without allocation.
//!
//! Every format has two layers, as in smoltcp:
//!
//! - a *view* such as [`NlMsg<T>`](NlMsg) over any `T: AsRef<[u8]>`, whose
//!   `new_checked` validates the lengths once; after that its accessors
//!   cannot fail. `new_unchecked` skips the check, and its accessors may
//!   panic on a short buffer (never on a checked one);
//! - a *representation* (`…Repr`, or a plain struct for requests) with
//!   `parse`, `emit` and `buffer_len`, for building requests and for tests.
//!
//! Unknown enum values are kept (`Unknown(u8)`), and kernel structures that
//! grow with new kernels (`sk_meminfo`, `tcp_info`) are read by their
//! length: fields past the end are absent, never an error.
//!
//! All multi-byte fields are in host byte order except ports and addresses
//! of `inet_diag_sockid`, which are big-endian, as on the wire.

pub mod bytecode;
pub mod inet_diag;
mod layout;
pub mod meminfo;
pub mod nlmsg;
pub mod request;
pub mod rtattr;
pub mod tcp_state;
pub mod unix_diag;

#[cfg(any(test, feature = "bytecode-check"))]
pub use bytecode::Entry;
pub use bytecode::{Bytecode, BytecodeWriter, HostCond, Instr, Op};
pub use inet_diag::{
    Extensions, InetDiagAttr, InetDiagAttrs, InetDiagMsg, InetDiagMsgRepr, InetDiagReq,
    InetDiagReqV2, SockId, tcp_info_last_data_sent,
};
pub use meminfo::{MemInfo, SkMemInfo};
pub use nlmsg::{NlFlags, NlMsg, NlMsgErr, NlMsgHeader, NlMsgType, NlMsgs, Reply, ReplyMsgs};
pub use rtattr::{RtAttr, RtAttrs};
pub use tcp_state::{TcpState, TcpStates};
pub use unix_diag::{
    UnixDiagAttr, UnixDiagAttrs, UnixDiagMsg, UnixDiagMsgRepr, UnixDiagReq, UnixShow, UnixStates,
};

use core::fmt;

/// Why bytes could not be read or written as a netlink structure.
///
/// A small `Copy` value: the byte offset says where, relative to the start
/// of the buffer handed to the failing call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WireError {
    /// The buffer ends inside the structure that starts at `offset`.
    Truncated {
        /// Where the incomplete structure starts.
        offset: usize,
    },
    /// The length field of the structure at `offset` is smaller than its
    /// header or larger than what is left of the buffer.
    BadLength {
        /// Where the structure with the bad length starts.
        offset: usize,
    },
    /// The filter bytecode is invalid at `offset` (the kernel would refuse
    /// it with `EINVAL`).
    BadBytecode {
        /// Where the offending instruction starts.
        offset: usize,
    },
    /// A line of `/proc/net/unix` is malformed at `offset`.
    BadLine {
        /// Where in the input the parser gave up.
        offset: usize,
    },
    /// The output buffer is too small: `need` bytes are required.
    BufferTooSmall {
        /// The number of bytes the operation needs.
        need: usize,
    },
}

impl WireError {
    /// The same error with its offset moved by `base` bytes (for errors of
    /// nested structures reported relative to an outer buffer).
    #[must_use]
    pub const fn at(self, base: usize) -> Self {
        match self {
            WireError::Truncated { offset } => WireError::Truncated {
                offset: offset.saturating_add(base),
            },
            WireError::BadLength { offset } => WireError::BadLength {
                offset: offset.saturating_add(base),
            },
            WireError::BadBytecode { offset } => WireError::BadBytecode {
                offset: offset.saturating_add(base),
            },
            WireError::BadLine { offset } => WireError::BadLine {
                offset: offset.saturating_add(base),
            },
            e @ WireError::BufferTooSmall { .. } => e,
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated { offset } => write!(f, "truncated structure at byte {offset}"),
            WireError::BadLength { offset } => {
                write!(f, "invalid length field in structure at byte {offset}")
            }
            WireError::BadBytecode { offset } => {
                write!(f, "invalid filter bytecode at byte {offset}")
            }
            WireError::BadLine { offset } => write!(f, "malformed line at byte {offset}"),
            WireError::BufferTooSmall { need } => {
                write!(f, "output buffer too small: {need} bytes needed")
            }
        }
    }
}

impl core::error::Error for WireError {}

/// A byte range of a fixed layout (`mod field` of each view).
pub(crate) type Field = core::ops::Range<usize>;

/// Rounds `len` up to the netlink alignment of 4 bytes, saturating.
pub(crate) const fn align4(len: usize) -> usize {
    match len.checked_add(3) {
        Some(l) => l & !3,
        None => usize::MAX & !3,
    }
}

// Readers for fixed fields. The views call them only on ranges that
// `new_checked` validated; `new_unchecked` documents that they may panic.
#[inline]
pub(crate) fn ne_u16(b: &[u8], f: Field) -> u16 {
    let mut a = [0; 2];
    a.copy_from_slice(&b[f]);
    u16::from_ne_bytes(a)
}
#[inline]
pub(crate) fn be_u16(b: &[u8], f: Field) -> u16 {
    let mut a = [0; 2];
    a.copy_from_slice(&b[f]);
    u16::from_be_bytes(a)
}
#[inline]
pub(crate) fn ne_u32(b: &[u8], f: Field) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[f]);
    u32::from_ne_bytes(a)
}
#[inline]
pub(crate) fn ne_i32(b: &[u8], f: Field) -> i32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[f]);
    i32::from_ne_bytes(a)
}
#[inline]
pub(crate) fn put(b: &mut [u8], f: Field, v: &[u8]) {
    b[f].copy_from_slice(v);
}

/// Reads the `i`-th native-endian `u32` of `b`, if `b` is long enough.
#[inline]
pub(crate) fn ne_u32_at(b: &[u8], i: usize) -> Option<u32> {
    let start = i.checked_mul(4)?;
    let s = b.get(start..start.checked_add(4)?)?;
    let mut a = [0; 4];
    a.copy_from_slice(s);
    Some(u32::from_ne_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment() {
        assert_eq!(align4(0), 0);
        assert_eq!(align4(1), 4);
        assert_eq!(align4(4), 4);
        assert_eq!(align4(5), 8);
        assert_eq!(align4(usize::MAX), usize::MAX & !3);
    }

    #[test]
    fn errors_print_offsets() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(
            WireError::Truncated { offset: 3 }.at(16).to_string(),
            "truncated structure at byte 19"
        );
        assert_eq!(
            WireError::BufferTooSmall { need: 9 }.at(16),
            WireError::BufferTooSmall { need: 9 }
        );
        assert_eq!(ne_u32_at(&[1, 0, 0, 0, 2], 1), None);
    }
}
