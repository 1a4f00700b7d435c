//! An aggregate that many threads and processes update without locks.

use core::fmt;
use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::Relaxed;

use crate::aggregate::{Aggregate, HISTOGRAM_BUCKETS};

/// A 128-bit sum kept in two 64-bit atomics: the low word takes the addition,
/// and whoever carries out of it adds the carry to the high word.
#[repr(C)]
struct Wide {
    lo: AtomicU64,
    hi: AtomicU64,
}

impl Wide {
    const fn new() -> Self {
        Wide {
            lo: AtomicU64::new(0),
            hi: AtomicU64::new(0),
        }
    }

    fn add(&self, v: u128) {
        let (lo, hi) = (v as u64, (v >> 64) as u64);
        let old = self.lo.fetch_add(lo, Relaxed);
        let carry = u64::from(old.checked_add(lo).is_none());
        let hi = hi.wrapping_add(carry);
        if hi != 0 {
            self.hi.fetch_add(hi, Relaxed);
        }
    }

    fn load(&self) -> u128 {
        // Read high, low, high again so that a carry landing in between is
        // not mixed with the low word from before it.
        loop {
            let h1 = self.hi.load(Relaxed);
            let lo = self.lo.load(Relaxed);
            let h2 = self.hi.load(Relaxed);
            if h1 == h2 {
                return (u128::from(h1) << 64) | u128::from(lo);
            }
        }
    }

    fn clear(&self) {
        self.lo.store(0, Relaxed);
        self.hi.store(0, Relaxed);
    }
}

/// An [`Aggregate`] that any number of threads, or processes sharing the
/// memory, update at once without locks: count, exact sum and sum of
/// squares, min, max and the power-of-two histogram, all atomics.
///
/// This replaces the POSIX message queue aggregator of the Ruby gem
/// (`Raindrops::Aggregate::PMQ`): workers call [`push`](Self::push) on one
/// instance in shared memory, and any reader calls
/// [`snapshot`](Self::snapshot) to get an [`Aggregate`] with the mean and
/// standard deviation derived exactly from the integer moments.
///
/// # Layout and shared memory
///
/// The type is `repr(C)` and made only of `AtomicU64`s, and **all-zero
/// bytes are a valid empty aggregate** (the minimum is stored inverted for
/// that reason), so a freshly mapped zeroed region can be used as one.
/// [`SIZE`](Self::SIZE) gives its size in bytes.
///
/// # Consistency
///
/// Every field is updated atomically and exactly: with no writer running, a
/// snapshot is exact. While writers run, a snapshot reads the fields one
/// after another, so it may mix a sample's count with the sum from before
/// it; the next quiescent snapshot is exact again. [`reset`](Self::reset) is
/// not atomic as a whole either. Sums are exact up to 2^128, that is for
/// 2^64 samples of any size, or a sum of squares of 2^64 samples below
/// 2^32.
///
/// Available where the target has 64-bit atomics.
///
/// ```
/// use raindrops_core::AtomicAggregate;
/// static WAIT_MS: AtomicAggregate = AtomicAggregate::new();
/// std::thread::scope(|s| {
///     for t in 0..4u64 {
///         s.spawn(move || for i in 0..100 { WAIT_MS.push(t * 100 + i) });
///     }
/// });
/// let a = WAIT_MS.snapshot();
/// assert_eq!(a.count(), 400);
/// assert_eq!(a.sum(), (0..400u128).sum());
/// assert_eq!(a.max(), Some(399));
/// ```
#[repr(C)]
pub struct AtomicAggregate {
    count: AtomicU64,
    // Stored as `!min` so that zeroed memory means "no minimum yet" and
    // `fetch_max` of the inverse keeps the minimum.
    min_inverted: AtomicU64,
    max: AtomicU64,
    outliers_low: AtomicU64,
    sum: Wide,
    sum_squares: Wide,
    buckets: [AtomicU64; HISTOGRAM_BUCKETS],
}

impl AtomicAggregate {
    /// The size of the type in bytes (for laying it out in shared memory).
    pub const SIZE: usize = core::mem::size_of::<Self>();

    /// An empty aggregate.
    pub const fn new() -> Self {
        AtomicAggregate {
            count: AtomicU64::new(0),
            min_inverted: AtomicU64::new(0),
            max: AtomicU64::new(0),
            outliers_low: AtomicU64::new(0),
            sum: Wide::new(),
            sum_squares: Wide::new(),
            buckets: [const { AtomicU64::new(0) }; HISTOGRAM_BUCKETS],
        }
    }

    /// Adds one sample.
    pub fn push(&self, value: u64) {
        self.min_inverted.fetch_max(!value, Relaxed);
        self.max.fetch_max(value, Relaxed);
        self.sum.add(u128::from(value));
        self.sum_squares.add(u128::from(value) * u128::from(value));
        match Aggregate::bucket_of(value) {
            Some(k) => {
                self.buckets[k].fetch_add(1, Relaxed);
            }
            None => {
                self.outliers_low.fetch_add(1, Relaxed);
            }
        }
        // Counted last, so a reader that sees the count sees the rest.
        self.count.fetch_add(1, Relaxed);
    }

    /// The number of samples.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// The current statistics as a plain [`Aggregate`].
    pub fn snapshot(&self) -> Aggregate {
        let count = self.count.load(Relaxed);
        let mut buckets = [0u64; HISTOGRAM_BUCKETS];
        for (dst, src) in buckets.iter_mut().zip(&self.buckets) {
            *dst = src.load(Relaxed);
        }
        Aggregate::from_moments(
            count,
            !self.min_inverted.load(Relaxed),
            self.max.load(Relaxed),
            self.sum.load(),
            self.sum_squares.load(),
            self.outliers_low.load(Relaxed),
            buckets,
        )
    }

    /// Forgets every sample (field by field; see the type's notes).
    pub fn reset(&self) {
        self.count.store(0, Relaxed);
        self.min_inverted.store(0, Relaxed);
        self.max.store(0, Relaxed);
        self.outliers_low.store(0, Relaxed);
        self.sum.clear();
        self.sum_squares.clear();
        for b in &self.buckets {
            b.store(0, Relaxed);
        }
    }
}

impl Default for AtomicAggregate {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for AtomicAggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.snapshot(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_carries() {
        let w = Wide::new();
        w.add(u128::from(u64::MAX));
        w.add(1);
        assert_eq!(w.load(), 1u128 << 64);
        w.add(u128::from(u64::MAX) * u128::from(u64::MAX));
        assert_eq!(
            w.load(),
            (1u128 << 64) + u128::from(u64::MAX) * u128::from(u64::MAX)
        );
    }

    #[test]
    fn matches_plain_aggregate() {
        let a = AtomicAggregate::new();
        let mut p = Aggregate::new();
        for v in [0u64, 5, 3, 3, 1 << 40, 17] {
            a.push(v);
            p.push(v);
        }
        let s = a.snapshot();
        assert_eq!(s.count(), p.count());
        assert_eq!(s.min(), p.min());
        assert_eq!(s.max(), p.max());
        assert_eq!(s.sum(), p.sum());
        assert_eq!(s.sum_of_squares(), p.sum_of_squares());
        assert_eq!(s.buckets(), p.buckets());
        assert_eq!(s.outliers_low(), 1);
        let rel = (s.std_dev().unwrap() - p.std_dev().unwrap()).abs() / p.std_dev().unwrap();
        assert!(rel < 1e-12);
        a.reset();
        assert_eq!(a.snapshot().count(), 0);
        assert_eq!(a.snapshot().min(), None);
    }

    #[test]
    fn zeroed_memory_is_empty() {
        // SAFETY: every field is an AtomicU64, for which all-zero bytes are
        // a valid value.
        let a: AtomicAggregate = unsafe { core::mem::zeroed() };
        assert_eq!(a.snapshot().count(), 0);
        a.push(9);
        a.push(4);
        assert_eq!(a.snapshot().min(), Some(4));
    }
}
