//! Sums wider than 64 bits in 64-bit atomics, added to and read without
//! locks, and read exactly: never torn between words.

use crate::sync::AtomicU64;
use crate::sync::Ordering::{Acquire, Relaxed, Release};

/// The bits of a sum that the low word of a [`Wide`] holds; every add to a
/// [`Wide`] is below `2^CHUNK`.
const CHUNK: u32 = 48;
const CHUNK_MASK: u64 = (1 << CHUNK) - 1;
/// The carries that may be unaccounted for while a reader decodes: carries
/// between their two steps (or lost with a killed adder, or racing a clear),
/// and carries completed during the read, each fewer than this; half of the
/// 2^15 that the 16-bit copy of the count decodes either way.
const WINDOW: u64 = 1 << 14;
/// Reads of one [`Wide`] before [`Wide::load`] gives up on proving its
/// decode (a reader descheduled between its loads while 2^14 carries pass).
const READ_ATTEMPTS: usize = 4;

/// A sum of values below 2^48, up to 2^112, in two atomic words that a
/// reader decodes exactly without locks.
///
/// `low` takes each add whole, in one `fetch_add` (wrapping modulo 2^64):
/// its bits 0..48 are the sum's, and its bits 48..64 count the carries out
/// of bit 47 modulo 2^16, so it always holds the exact sum modulo 2^64. An
/// add below 2^48 carries at most once; the adder that carried then adds 1
/// to `carries`, the full count, in a second step that a reader may or may
/// not see. The reader decodes the count from `carries` corrected by its
/// difference, modulo 2^16, to the copy in `low`: the result is the sum at
/// the instant of the reader's load of `low`, exact as long as the count in
/// `carries` is within 2^15 of that copy (see [`WINDOW`]).
///
/// That replaces a low/high pair where the high word got the carry in a
/// second step: a reader between the two steps saw the sum 2^64 too low.
#[repr(C)]
pub(super) struct Wide {
    low: AtomicU64,
    carries: AtomicU64,
}

impl Wide {
    #[cfg(not(all(loom, test)))]
    pub(super) const fn new() -> Self {
        Wide {
            low: AtomicU64::new(0),
            carries: AtomicU64::new(0),
        }
    }

    #[cfg(all(loom, test))]
    pub(super) fn new() -> Self {
        Wide {
            low: AtomicU64::new(0),
            carries: AtomicU64::new(0),
        }
    }

    /// Adds `x`, which must be below 2^48 (larger values are cut to their
    /// low 48 bits).
    fn add(&self, x: u64) {
        let x = x & CHUNK_MASK;
        if x == 0 {
            return;
        }
        let old = self.low.fetch_add(x, Relaxed);
        if (old & CHUNK_MASK) + x > CHUNK_MASK {
            // Release: a reader that acquires this carry also sees the add
            // that made it, so `carries` never runs ahead of `low` except
            // after a racing `clear`.
            self.carries.fetch_add(1, Release);
        }
    }

    /// The sum, and whether its decode is proven (see [`WINDOW`]); the
    /// value is the sum at the instant `low` was loaded.
    fn load(&self) -> (u128, bool) {
        let mut attempt = 0;
        loop {
            let before = self.carries.load(Acquire);
            let low = self.low.load(Relaxed);
            let after = self.carries.load(Relaxed);
            // Carries recorded in `low` but not yet (or, after a racing
            // clear, no longer) in `carries`: small either way.
            let pending = ((low >> CHUNK) as u16).wrapping_sub(before as u16) as i16;
            let count = u128::from(before)
                .checked_add_signed(i128::from(pending))
                .unwrap_or(0);
            let value = (count << CHUNK) | u128::from(low & CHUNK_MASK);
            attempt += 1;
            let proven = after.wrapping_sub(before) < WINDOW;
            if proven || attempt == READ_ATTEMPTS {
                return (value, proven);
            }
        }
    }

    /// Sets the sum to zero (two steps: an add racing with it may leave
    /// `carries` off by its carry, which [`load`](Self::load) absorbs).
    fn clear(&self) {
        super::clear(&self.low);
        super::clear(&self.carries);
    }
}

/// A sum of values below `2^(48 N)` in `N` [`Wide`]s, one per 48-bit chunk
/// of each value; exact up to `2^64` adds of any value, and read as a `u128`
/// (or as too large for one).
#[repr(C)]
pub(super) struct WideSum<const N: usize>([Wide; N]);

impl<const N: usize> WideSum<N> {
    #[cfg(not(all(loom, test)))]
    pub(super) const fn new() -> Self {
        WideSum([const { Wide::new() }; N])
    }

    #[cfg(all(loom, test))]
    pub(super) fn new() -> Self {
        WideSum(core::array::from_fn(|_| Wide::new()))
    }

    /// Adds `v`, chunk by chunk (chunks of zero cost nothing).
    pub(super) fn add(&self, v: u128) {
        for (i, w) in self.0.iter().enumerate() {
            let chunk = v.checked_shr(CHUNK * i as u32).unwrap_or(0);
            w.add(chunk as u64);
        }
    }

    /// The sum (or, if it does not fit a `u128`, its `f64` rounding), and
    /// whether every chunk's decode is proven. Each chunk is read at its own
    /// instant, so with adds running the value lies between the sums at the
    /// start and at the end of the read.
    pub(super) fn load(&self) -> (Result<u128, f64>, bool) {
        let mut chunks = [0u128; N];
        let mut proven = true;
        for (c, w) in chunks.iter_mut().zip(&self.0) {
            let (v, p) = w.load();
            *c = v;
            proven &= p;
        }
        let mut value = Some(0u128);
        for (i, &c) in chunks.iter().enumerate() {
            let shift = CHUNK as usize * i;
            let part = (c <= u128::MAX >> shift).then(|| c << shift);
            value = value.zip(part).and_then(|(t, p)| t.checked_add(p));
        }
        let value = value.ok_or_else(|| {
            // 2^(48 i) as an f64 is exact (i is at most 2 here).
            chunks.iter().enumerate().fold(0.0, |t, (i, &c)| {
                t + c as f64 * f64::from_bits((1023 + u64::from(CHUNK) * i as u64) << 52)
            })
        });
        (value, proven)
    }

    pub(super) fn clear(&self) {
        for w in &self.0 {
            w.clear();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn carries_decode_exactly() {
        let w = Wide::new();
        for _ in 0..1000 {
            w.add(CHUNK_MASK);
        }
        assert_eq!(w.load(), (1000 * u128::from(CHUNK_MASK), true));
        assert_eq!(w.carries.load(Relaxed), 999);
    }

    #[test]
    fn pending_carries_are_counted_from_the_low_word() {
        // Adders that carried in `low` and died before adding to `carries`
        // (or have not got there yet): the decode still counts them.
        let w = Wide::new();
        let mut expected = 0u128;
        for _ in 0..5000 {
            w.low.fetch_add(CHUNK_MASK, Relaxed);
            expected += u128::from(CHUNK_MASK);
        }
        assert!(w.carries.load(Relaxed) == 0);
        assert_eq!(w.load(), (expected, true));
        // And far past the 16-bit copy's wrap, with `carries` current.
        let w = Wide::new();
        w.carries.store(0x3_0000_0002, Relaxed);
        w.low.store(0x0002_0000_0000_0007, Relaxed);
        assert_eq!(w.load().0, (0x3_0000_0002u128 << 48) | 7);
    }

    #[test]
    fn carries_ahead_after_a_racing_clear_decode() {
        // clear() zeroed `low`, then an adder that had carried before it
        // added its carry: `carries` is one ahead of the copy in `low`.
        let w = Wide::new();
        w.carries.store(1, Relaxed);
        w.low.store(5, Relaxed);
        assert_eq!(w.load(), (5, true));
    }

    #[test]
    fn sums_of_u128_split_into_chunks() {
        let s = WideSum::<3>::new();
        let v = u128::from(u64::MAX) * u128::from(u64::MAX);
        s.add(v);
        assert_eq!(s.load(), (Ok(v), true));
        s.add(v);
        // 2 (2^64 - 1)^2 no longer fits a u128.
        assert_eq!(s.load(), (Err(2.0 * (v as f64)), true));
        s.clear();
        assert_eq!(s.load(), (Ok(0), true));
        let t = WideSum::<2>::new();
        for _ in 0..3 {
            t.add(u128::from(u64::MAX));
        }
        assert_eq!(t.load(), (Ok(3 * u128::from(u64::MAX)), true));
    }
}
