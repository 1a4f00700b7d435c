//! An aggregate that many threads and processes update without locks.

mod wide;

use core::fmt;

use crate::aggregate::{Aggregate, HISTOGRAM_BUCKETS};
use crate::sync::Ordering::{Acquire, Relaxed, Release};
use crate::sync::{AtomicU64, fence};
use wide::WideSum;

/// Reads that [`AtomicAggregate::snapshot`] makes before it settles for one
/// it could not prove consistent (2 in the loom model, whose cost grows
/// with every load).
const SNAPSHOT_ATTEMPTS: usize = if cfg!(all(loom, test)) { 2 } else { 8 };

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
/// The type is `repr(C)` and made only of `AtomicU64`s, holds no pointer
/// and no lock, and **all-zero bytes are a valid empty aggregate** (the
/// minimum is stored inverted for that reason), so a freshly mapped zeroed
/// region can be used as one. [`SIZE`](Self::SIZE) gives its size in bytes.
///
/// # What a snapshot guarantees
///
/// [`push`](Self::push) is a handful of atomic read-modify-writes, lock-free
/// (wait-free but for the `fetch_max` of a new minimum or maximum); it
/// announces itself in a count of pushes begun before its first update and
/// counts itself finished after its last. A reader reads every field, then
/// the count of pushes begun:
///
/// - **Consistent cut.** A read that can prove it saw exactly the pushes
///   finished when it began, and nothing of any other, is a consistent cut:
///   count, sums, minimum, maximum and histogram agree exactly. A read
///   during which no push (or [`reset`](Self::reset)) was under way is one.
///   [`try_snapshot`](Self::try_snapshot) returns only consistent cuts;
///   [`snapshot`](Self::snapshot) tries 8 reads for one.
/// - **Otherwise** (writers running throughout the reads, or a writer
///   killed inside `push`, see below), `snapshot` returns its last read, in
///   which each field holds a value it had during the call (the sums chunk
///   by chunk: between their values at the start and at the end of the
///   read, never torn), and every sample in the
///   [`count`](Aggregate::count) is also in every other field; the sums,
///   minimum, maximum and histogram may already hold some of the pushes
///   under way.
///
/// Either way, between resets, a snapshot taken after another never has a
/// smaller count or smaller sums.
///
/// The sums are exact for up to 2^64 samples of any size; the sum of
/// squares is exact while it fits a `u128` (2^64 samples below 2^32, or
/// fewer larger ones), and the standard deviation beyond that is computed in
/// floating point (see [`Aggregate::sum_of_squares`]). Reading a sum
/// exactly assumes that fewer than 16,384 carries between its 48-bit words
/// are in flight at once, counting those of writers killed between their two
/// steps over the aggregate's life: a bound no real set of writers reaches.
///
/// **A writer killed inside `push`** (between two of its atomic steps)
/// leaves its sample partly recorded, and from then on no read can tell
/// that no push is under way: every `try_snapshot` returns `None` and
/// every `snapshot` is the "otherwise" case above, after 8 reads. Readers
/// never wait on it. Recreate the aggregate to return to exact snapshots.
///
/// **[`reset`](Self::reset)** is not atomic with respect to pushes that run
/// at the same time: those may be partly forgotten (their count kept and
/// some of their fields cleared, or the reverse), and snapshots do not
/// detect that. Snapshots taken while `reset` runs are never consistent
/// cuts. Resets should not race with each other.
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
/// let a = WAIT_MS.try_snapshot().expect("no push under way");
/// assert_eq!(a.count(), 400);
/// assert_eq!(a.sum(), (0..400u128).sum());
/// assert_eq!(a.max(), Some(399));
/// ```
#[repr(C)]
pub struct AtomicAggregate {
    /// Pushes and resets begun, since the memory was zeroed; never reset.
    started: AtomicU64,
    /// Pushes and resets finished; never reset. The samples are the pushes
    /// finished after the last reset: `finished - base`.
    finished: AtomicU64,
    /// `finished` as the last reset left it.
    base: AtomicU64,
    // Stored as `!min` so that zeroed memory means "no minimum yet" and
    // `fetch_max` of the inverse keeps the minimum.
    min_inverted: AtomicU64,
    max: AtomicU64,
    outliers_low: AtomicU64,
    sum: WideSum<2>,
    sum_squares: WideSum<3>,
    buckets: [AtomicU64; HISTOGRAM_BUCKETS],
}

impl AtomicAggregate {
    /// The size of the type in bytes (for laying it out in shared memory).
    pub const SIZE: usize = core::mem::size_of::<Self>();

    /// An empty aggregate.
    #[cfg(not(all(loom, test)))]
    pub const fn new() -> Self {
        AtomicAggregate {
            started: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            base: AtomicU64::new(0),
            min_inverted: AtomicU64::new(0),
            max: AtomicU64::new(0),
            outliers_low: AtomicU64::new(0),
            sum: WideSum::new(),
            sum_squares: WideSum::new(),
            buckets: [const { AtomicU64::new(0) }; HISTOGRAM_BUCKETS],
        }
    }

    /// An empty aggregate (loom's atomics are not `const`).
    #[cfg(all(loom, test))]
    pub fn new() -> Self {
        AtomicAggregate {
            started: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            base: AtomicU64::new(0),
            min_inverted: AtomicU64::new(0),
            max: AtomicU64::new(0),
            outliers_low: AtomicU64::new(0),
            sum: WideSum::new(),
            sum_squares: WideSum::new(),
            buckets: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Adds one sample.
    pub fn push(&self, value: u64) {
        self.begin();
        // A new extreme is rare: read before paying for the read-modify-write.
        if !value > self.min_inverted.load(Relaxed) {
            self.min_inverted.fetch_max(!value, Relaxed);
        }
        if value > self.max.load(Relaxed) {
            self.max.fetch_max(value, Relaxed);
        }
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
        // Release: a reader that acquires this count sees every update above.
        self.finished.fetch_add(1, Release);
    }

    /// Announces an update before its first store: a reader that sees any
    /// of the update's stores (through its acquire fence, which pairs with
    /// this release fence) also sees this count and knows the update is
    /// under way.
    fn begin(&self) {
        self.started.fetch_add(1, Relaxed);
        fence(Release);
    }

    /// The number of samples, read without the other fields.
    pub fn count(&self) -> u64 {
        let base = self.base.load(Relaxed);
        self.finished.load(Relaxed).saturating_sub(base)
    }

    /// The current statistics as a plain [`Aggregate`]: a consistent cut if
    /// one of 8 reads is, else the last read (see the type's notes for what
    /// each guarantees).
    pub fn snapshot(&self) -> Aggregate {
        let mut attempt = 1;
        loop {
            let (a, consistent) = self.read();
            if consistent || attempt == SNAPSHOT_ATTEMPTS {
                return a;
            }
            attempt += 1;
            core::hint::spin_loop();
        }
    }

    /// One read, returned only if it is a consistent cut (see the type's
    /// notes): `None` while pushes run throughout it, or forever after a
    /// writer died inside `push`.
    pub fn try_snapshot(&self) -> Option<Aggregate> {
        let (a, consistent) = self.read();
        consistent.then_some(a)
    }

    /// Reads every field, and says whether the read is a consistent cut.
    // Inlined so that the ~640-byte result is built in place, not copied
    // (about 15 % of a snapshot).
    #[inline(always)]
    fn read(&self) -> (Aggregate, bool) {
        // Acquire: every update of the pushes finished so far is visible.
        let finished = self.finished.load(Acquire);
        let base = self.base.load(Relaxed);
        let min = !self.min_inverted.load(Relaxed);
        let max = self.max.load(Relaxed);
        let outliers_low = self.outliers_low.load(Relaxed);
        let mut buckets = [0u64; HISTOGRAM_BUCKETS];
        for (dst, src) in buckets.iter_mut().zip(&self.buckets) {
            *dst = src.load(Relaxed);
        }
        let (sum, sum_proven) = self.sum.load();
        let (squares, squares_proven) = self.sum_squares.load();
        // Pairs with the release fence of `begin`: if any value read above
        // came from an update not yet finished, `started` now counts it.
        fence(Acquire);
        let started = self.started.load(Relaxed);
        let consistent = started == finished && sum_proven && squares_proven;
        let a = Aggregate::from_moments(
            finished.saturating_sub(base),
            min,
            max,
            sum.unwrap_or(u128::MAX),
            squares,
            outliers_low,
            buckets,
        );
        (a, consistent)
    }

    /// Forgets every sample. Not atomic with respect to pushes running at
    /// the same time (see the type's notes); two resets must not race.
    pub fn reset(&self) {
        self.begin();
        clear(&self.min_inverted);
        clear(&self.max);
        clear(&self.outliers_low);
        self.sum.clear();
        self.sum_squares.clear();
        for b in &self.buckets {
            clear(b);
        }
        // Finish like a push, with `base` at the count this leaves: a
        // reader that acquires the count sees the base that goes with it.
        let mut finished = self.finished.load(Relaxed);
        loop {
            let next = finished.wrapping_add(1);
            self.base.store(next, Relaxed);
            match self
                .finished
                .compare_exchange_weak(finished, next, Release, Relaxed)
            {
                Ok(_) => return,
                Err(now) => finished = now,
            }
        }
    }
}

/// Zeroes a field for [`AtomicAggregate::reset`] (and the sums'). A swap,
/// not a store: release sequences continue only through read-modify-writes,
/// so a reader that acquires a push's count still sees the push's other
/// updates when a reset wrote to those fields in between. A field already 0
/// is left alone (an update racing with the reset may be forgotten or not).
pub(super) fn clear(field: &AtomicU64) {
    if field.load(Relaxed) != 0 {
        field.swap(0, Relaxed);
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

#[cfg(all(test, loom))]
mod loom_model;

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn matches_plain_aggregate() {
        let a = AtomicAggregate::new();
        let mut p = Aggregate::new();
        for v in [0u64, 5, 3, 3, 1 << 40, 17, u64::MAX >> 1] {
            a.push(v);
            p.push(v);
        }
        let s = a.try_snapshot().unwrap();
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
        let s = a.try_snapshot().unwrap();
        assert_eq!((s.count(), s.min(), s.max(), s.sum()), (0, None, None, 0));
        assert_eq!(s.sum_of_squares(), Some(0));
        assert_eq!(a.count(), 0);
        a.push(7);
        assert_eq!(a.count(), 1);
        assert_eq!(a.snapshot().sum(), 7);
    }

    #[test]
    fn zeroed_memory_is_empty() {
        // SAFETY: every field is an AtomicU64, for which all-zero bytes are
        // a valid value.
        let a: AtomicAggregate = unsafe { core::mem::zeroed() };
        assert_eq!(a.try_snapshot().unwrap().count(), 0);
        a.push(9);
        a.push(4);
        assert_eq!(a.try_snapshot().unwrap().min(), Some(4));
    }

    #[test]
    fn squares_beyond_u128_fall_back_to_floating_point() {
        let a = AtomicAggregate::new();
        let mut p = Aggregate::new();
        for v in [u64::MAX, u64::MAX - 10, u64::MAX / 2] {
            a.push(v);
            p.push(v);
        }
        let s = a.snapshot();
        assert_eq!(s.sum(), p.sum());
        assert_eq!(s.sum_of_squares(), None);
        let (ours, plain) = (s.std_dev().unwrap(), p.std_dev().unwrap());
        assert!((ours - plain).abs() / plain < 1e-9, "{ours} vs {plain}");
    }

    #[test]
    fn an_update_under_way_is_never_a_consistent_cut() {
        // A writer killed after announcing its push: readers do not wait,
        // and say they cannot prove a cut.
        let a = AtomicAggregate::new();
        a.push(3);
        a.begin();
        a.sum.add(10);
        assert!(a.try_snapshot().is_none());
        let s = a.snapshot();
        assert_eq!((s.count(), s.sum()), (1, 13));
        // Its sample stays partly recorded; reset forgets it, but the push
        // still counts as under way.
        a.reset();
        assert!(a.try_snapshot().is_none());
        assert_eq!(a.snapshot().sum(), 0);
    }

    #[test]
    fn layout_is_words_only() {
        assert_eq!(AtomicAggregate::SIZE, 8 * (6 + 2 * 2 + 3 * 2 + 64));
        assert_eq!(core::mem::align_of::<AtomicAggregate>(), 8);
    }
}
