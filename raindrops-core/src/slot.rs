//! One atomic counter word, and the same word padded to a cache line.

use core::fmt;

#[cfg(not(feature = "portable-atomic"))]
use core::sync::atomic::AtomicUsize as AtomicWord;
#[cfg(feature = "portable-atomic")]
use portable_atomic::AtomicUsize as AtomicWord;

use core::sync::atomic::Ordering::Relaxed;

use crate::guard::GaugeGuard;

/// The largest value a counter holds (Ruby's `Raindrops::MAX`, C's `ULONG_MAX`
/// on Linux). Incrementing it gives 0; decrementing 0 gives it.
pub const MAX: usize = usize::MAX;

/// Bytes in one counter word (`sizeof(unsigned long)`: 8 on 64-bit Linux).
pub const WORD: usize = core::mem::size_of::<usize>();

/// The cache line size assumed for this target, in bytes: the size and
/// alignment of a [`PaddedSlot`].
///
/// This is the best known guess per architecture, the same table crossbeam's
/// `CachePadded` uses, not a measurement of the machine the program runs on:
///
/// | architecture | bytes | why |
/// |---|---|---|
/// | x86_64, aarch64, arm64ec, powerpc64 | 128 | Intel's spatial prefetcher pulls pairs of 64-byte lines; big.LITTLE "big" cores and POWER have 128-byte lines |
/// | arm, mips, mips64, sparc, hexagon | 32 | the Linux and Go per-arch cache.h / cpu tables |
/// | m68k | 16 | Linux `arch/m68k/include/asm/cache.h` |
/// | s390x | 256 | Linux `arch/s390/include/asm/cache.h` |
/// | everything else (x86, riscv, wasm, sparc64, ...) | 64 | |
///
/// Ruby's raindrops asks the running machine instead (`sysconf(_SC_LEVEL1_DCACHE_LINESIZE)`,
/// 64 on x86_64); a region shared with Ruby uses Ruby's stride through a
/// [`CounterView`](crate::CounterView), not this constant.
pub const CACHE_LINE: usize = core::mem::align_of::<PaddedSlot>();

/// One atomic counter: a machine word updated without locks.
///
/// A `Counter` is the unit every counter container hands out. It has the size
/// and alignment of a `usize`, so it can sit in any memory that holds such
/// words, including memory shared between processes. All operations are
/// atomic with `Relaxed` ordering: each counter is always consistent on its
/// own, but updates to different counters are not ordered with each other.
///
/// Arithmetic wraps: [`incr`](Self::incr) and [`decr`](Self::decr) return the
/// new value modulo 2<sup>`usize::BITS`</sup>, like the C `__sync_add_and_fetch`
/// the Ruby gem uses.
#[repr(transparent)]
pub struct Counter {
    word: AtomicWord,
}

impl Counter {
    /// A counter holding `value`.
    pub const fn new(value: usize) -> Self {
        Counter {
            word: AtomicWord::new(value),
        }
    }

    /// Adds `n` and returns the new value (wrapping).
    #[inline]
    pub fn incr(&self, n: usize) -> usize {
        self.word.fetch_add(n, Relaxed).wrapping_add(n)
    }

    /// Subtracts `n` and returns the new value (wrapping: `0 - 1` is [`MAX`]).
    #[inline]
    pub fn decr(&self, n: usize) -> usize {
        self.word.fetch_sub(n, Relaxed).wrapping_sub(n)
    }

    /// The current value.
    #[inline]
    pub fn get(&self) -> usize {
        self.word.load(Relaxed)
    }

    /// Stores `value`.
    #[inline]
    pub fn set(&self, value: usize) {
        self.word.store(value, Relaxed)
    }

    /// Stores `value` and returns the previous one.
    #[inline]
    pub fn swap(&self, value: usize) -> usize {
        self.word.swap(value, Relaxed)
    }

    /// Sets the counter to 0 and returns the value it had.
    #[inline]
    pub fn reset(&self) -> usize {
        self.swap(0)
    }

    /// Increments now and decrements when the returned guard is dropped
    /// (also while unwinding): the "requests in progress" pattern.
    ///
    /// ```
    /// use raindrops_core::Counter;
    /// let calling = Counter::new(0);
    /// {
    ///     let _g = calling.enter();
    ///     assert_eq!(calling.get(), 1);
    /// }
    /// assert_eq!(calling.get(), 0);
    /// ```
    #[inline]
    pub fn enter(&self) -> GaugeGuard<'_> {
        GaugeGuard::new(self)
    }
}

impl Default for Counter {
    fn default() -> Self {
        Counter::new(0)
    }
}

impl fmt::Debug for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.get(), f)
    }
}

impl From<usize> for Counter {
    fn from(value: usize) -> Self {
        Counter::new(value)
    }
}

/// A [`Counter`] alone on its cache line, so that processes or threads
/// updating neighbouring counters never contend for the same line.
///
/// Its size and alignment are [`CACHE_LINE`] bytes (see there for the
/// per-architecture table; the number is a best guess, not a guarantee). It
/// dereferences to its [`Counter`].
///
/// ```
/// use raindrops_core::{PaddedSlot, CACHE_LINE};
/// let slots = [PaddedSlot::new(0), PaddedSlot::new(0)];
/// let a = &slots[0] as *const _ as usize;
/// let b = &slots[1] as *const _ as usize;
/// assert_eq!(b - a, CACHE_LINE);
/// slots[1].incr(3);
/// assert_eq!(slots[1].get(), 3);
/// ```
#[cfg_attr(
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "arm64ec",
        target_arch = "powerpc64",
    ),
    repr(align(128))
)]
#[cfg_attr(
    any(
        target_arch = "arm",
        target_arch = "mips",
        target_arch = "mips32r6",
        target_arch = "mips64",
        target_arch = "mips64r6",
        target_arch = "sparc",
        target_arch = "hexagon",
    ),
    repr(align(32))
)]
#[cfg_attr(target_arch = "m68k", repr(align(16)))]
#[cfg_attr(target_arch = "s390x", repr(align(256)))]
#[cfg_attr(
    not(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "arm64ec",
        target_arch = "powerpc64",
        target_arch = "arm",
        target_arch = "mips",
        target_arch = "mips32r6",
        target_arch = "mips64",
        target_arch = "mips64r6",
        target_arch = "sparc",
        target_arch = "hexagon",
        target_arch = "m68k",
        target_arch = "s390x",
    )),
    repr(align(64))
)]
#[repr(C)]
#[derive(Default)]
pub struct PaddedSlot {
    counter: Counter,
}

// The counter must sit at offset 0 so that a slot pointer is a counter pointer.
const _: () = assert!(core::mem::size_of::<PaddedSlot>() == CACHE_LINE);
const _: () = assert!(CACHE_LINE % core::mem::align_of::<usize>() == 0);
const _: () = assert!(core::mem::size_of::<Counter>() == WORD);
const _: () = assert!(core::mem::align_of::<Counter>() == core::mem::align_of::<usize>());

impl PaddedSlot {
    /// A padded counter holding `value`.
    pub const fn new(value: usize) -> Self {
        PaddedSlot {
            counter: Counter::new(value),
        }
    }

    /// The counter in this slot.
    #[inline]
    pub const fn counter(&self) -> &Counter {
        &self.counter
    }
}

impl core::ops::Deref for PaddedSlot {
    type Target = Counter;
    #[inline]
    fn deref(&self) -> &Counter {
        &self.counter
    }
}

impl fmt::Debug for PaddedSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.counter, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_like_c() {
        let c = Counter::new(0);
        assert_eq!(c.decr(1), MAX);
        assert_eq!(c.incr(1), 0);
        assert_eq!(c.incr(MAX), MAX);
        assert_eq!(c.incr(2), 1);
        c.set(5);
        assert_eq!(c.swap(7), 5);
        assert_eq!(c.reset(), 7);
        assert_eq!(c.get(), 0);
    }

    #[test]
    fn slot_is_one_line() {
        assert_eq!(core::mem::size_of::<PaddedSlot>(), CACHE_LINE);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(CACHE_LINE, 128);
        let s = PaddedSlot::new(4);
        assert_eq!(s.get(), 4);
        assert_eq!(
            core::ptr::from_ref(&s).cast::<u8>(),
            core::ptr::from_ref(s.counter()).cast::<u8>()
        );
    }
}
