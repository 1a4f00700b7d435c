//! Socket memory attributes: `INET_DIAG_SKMEMINFO` / `UNIX_DIAG_MEMINFO`
//! (an array of `u32` indexed by `SK_MEMINFO_*` that grows with kernels)
//! and the older fixed `INET_DIAG_MEMINFO` (`struct inet_diag_meminfo`).

use super::{WireError, ne_u32_at};

/// Index of `SK_MEMINFO_RMEM_ALLOC`.
pub const SK_MEMINFO_RMEM_ALLOC: usize = 0;
/// Index of `SK_MEMINFO_RCVBUF`.
pub const SK_MEMINFO_RCVBUF: usize = 1;
/// Index of `SK_MEMINFO_WMEM_ALLOC`.
pub const SK_MEMINFO_WMEM_ALLOC: usize = 2;
/// Index of `SK_MEMINFO_SNDBUF`.
pub const SK_MEMINFO_SNDBUF: usize = 3;
/// Index of `SK_MEMINFO_FWD_ALLOC`.
pub const SK_MEMINFO_FWD_ALLOC: usize = 4;
/// Index of `SK_MEMINFO_WMEM_QUEUED`.
pub const SK_MEMINFO_WMEM_QUEUED: usize = 5;
/// Index of `SK_MEMINFO_OPTMEM`.
pub const SK_MEMINFO_OPTMEM: usize = 6;
/// Index of `SK_MEMINFO_BACKLOG`.
pub const SK_MEMINFO_BACKLOG: usize = 7;
/// Index of `SK_MEMINFO_DROPS`.
pub const SK_MEMINFO_DROPS: usize = 8;

/// A view of the `sk_meminfo` array (`INET_DIAG_SKMEMINFO` payload), read
/// by length: a field the kernel did not send is `None`.
///
/// Any length is accepted; a trailing partial `u32` is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkMemInfo<'a> {
    bytes: &'a [u8],
}

impl<'a> SkMemInfo<'a> {
    /// Views `bytes` (the attribute payload).
    pub const fn new(bytes: &'a [u8]) -> Self {
        SkMemInfo { bytes }
    }

    /// The number of complete `u32` values present.
    pub const fn len(&self) -> usize {
        self.bytes.len() / 4
    }

    /// Whether no value is present.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value at `SK_MEMINFO_*` index `i`, if present.
    pub fn get(&self, i: usize) -> Option<u32> {
        ne_u32_at(self.bytes, i)
    }

    /// `SK_MEMINFO_RMEM_ALLOC`: bytes in the receive queue.
    pub fn rmem_alloc(&self) -> Option<u32> {
        self.get(SK_MEMINFO_RMEM_ALLOC)
    }
    /// `SK_MEMINFO_RCVBUF`: receive buffer size, bytes.
    pub fn rcvbuf(&self) -> Option<u32> {
        self.get(SK_MEMINFO_RCVBUF)
    }
    /// `SK_MEMINFO_WMEM_ALLOC`: bytes in the send queue.
    pub fn wmem_alloc(&self) -> Option<u32> {
        self.get(SK_MEMINFO_WMEM_ALLOC)
    }
    /// `SK_MEMINFO_SNDBUF`: send buffer size, bytes.
    pub fn sndbuf(&self) -> Option<u32> {
        self.get(SK_MEMINFO_SNDBUF)
    }
    /// `SK_MEMINFO_FWD_ALLOC`: forward-allocated memory, bytes.
    pub fn fwd_alloc(&self) -> Option<u32> {
        self.get(SK_MEMINFO_FWD_ALLOC)
    }
    /// `SK_MEMINFO_WMEM_QUEUED`: bytes queued for sending.
    pub fn wmem_queued(&self) -> Option<u32> {
        self.get(SK_MEMINFO_WMEM_QUEUED)
    }
    /// `SK_MEMINFO_OPTMEM`: option memory, bytes.
    pub fn optmem(&self) -> Option<u32> {
        self.get(SK_MEMINFO_OPTMEM)
    }
    /// `SK_MEMINFO_BACKLOG`: bytes in the socket backlog.
    pub fn backlog(&self) -> Option<u32> {
        self.get(SK_MEMINFO_BACKLOG)
    }
    /// `SK_MEMINFO_DROPS`: packets dropped by this socket (`sk_drops`);
    /// for a listener, connections dropped because its queues were full.
    /// `ss -m` shows it as `d<N>`.
    pub fn drops(&self) -> Option<u32> {
        self.get(SK_MEMINFO_DROPS)
    }

    /// The raw payload.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// `struct inet_diag_meminfo` (`INET_DIAG_MEMINFO`), in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MemInfo {
    /// `idiag_rmem`: bytes in the receive queue.
    pub rmem: u32,
    /// `idiag_wmem`: bytes in the send queue not yet acknowledged.
    pub wmem: u32,
    /// `idiag_fmem`: forward-allocated memory.
    pub fmem: u32,
    /// `idiag_tmem`: bytes in the transmit queue.
    pub tmem: u32,
}

impl MemInfo {
    /// Size of `struct inet_diag_meminfo`, in bytes.
    pub const LEN: usize = 16;

    /// Reads it from an attribute payload.
    ///
    /// # Errors
    ///
    /// [`WireError::Truncated`] if `b` is shorter than 16 bytes.
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        match (
            ne_u32_at(b, 0),
            ne_u32_at(b, 1),
            ne_u32_at(b, 2),
            ne_u32_at(b, 3),
        ) {
            (Some(rmem), Some(wmem), Some(fmem), Some(tmem)) => Ok(MemInfo {
                rmem,
                wmem,
                fmem,
                tmem,
            }),
            _ => Err(WireError::Truncated { offset: 0 }),
        }
    }

    /// The bytes [`MemInfo::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// Writes it into the first 16 bytes of `b`.
    ///
    /// # Errors
    ///
    /// [`WireError::BufferTooSmall`] if `b` is shorter.
    pub fn emit(&self, b: &mut [u8]) -> Result<(), WireError> {
        let Some(b) = b.get_mut(..Self::LEN) else {
            return Err(WireError::BufferTooSmall { need: Self::LEN });
        };
        for (i, v) in [self.rmem, self.wmem, self.fmem, self.tmem]
            .into_iter()
            .enumerate()
        {
            b[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn read_by_length() {
        let mut b = [0u8; 36];
        for i in 0..9u32 {
            b[i as usize * 4..i as usize * 4 + 4].copy_from_slice(&(i * 10).to_ne_bytes());
        }
        let m = SkMemInfo::new(&b);
        assert_eq!(m.len(), 9);
        assert_eq!(m.drops(), Some(80));
        assert_eq!(m.backlog(), Some(70));
        // An older kernel without SK_MEMINFO_DROPS: absent, not zero.
        let old = SkMemInfo::new(&b[..32]);
        assert_eq!(old.drops(), None);
        assert_eq!(old.rcvbuf(), Some(10));
        assert_eq!(SkMemInfo::new(&b[..3]).rmem_alloc(), None);
    }

    proptest! {
        #[test]
        fn meminfo_roundtrip(rmem in any::<u32>(), wmem in any::<u32>(), fmem in any::<u32>(), tmem in any::<u32>()) {
            let m = MemInfo { rmem, wmem, fmem, tmem };
            let mut b = [0u8; 16];
            m.emit(&mut b).unwrap();
            prop_assert_eq!(MemInfo::parse(&b), Ok(m));
            prop_assert!(MemInfo::parse(&b[..15]).is_err());
        }
    }
}
