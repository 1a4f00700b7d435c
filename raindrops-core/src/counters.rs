//! Arrays of counters over any storage, sharing one set of operations.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::error::Error;
use crate::slot::{Counter, PaddedSlot};

/// The counter operations of Ruby's `Raindrops` object, for any storage.
///
/// Implementors provide [`len`](Self::len) and [`counter`](Self::counter);
/// every other operation is provided here, once, so a `static`
/// [`Counters`], a [`CounterView`] over a stack array and one over shared
/// memory all run the same code. An index out of range is an
/// [`Error::IndexOutOfRange`], never a panic and never a memory access.
pub trait CounterArray {
    /// The number of counters (Ruby's `size`).
    fn len(&self) -> usize;

    /// The counter at `index`, or `None` when `index >= len()`.
    fn counter(&self, index: usize) -> Option<&Counter>;

    /// Whether the array holds no counters.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The counter at `index`, or an [`Error::IndexOutOfRange`].
    #[inline]
    fn try_counter(&self, index: usize) -> Result<&Counter, Error> {
        match self.counter(index) {
            Some(c) => Ok(c),
            None => Err(Error::IndexOutOfRange {
                index,
                len: self.len(),
            }),
        }
    }

    /// Adds `n` to counter `index` and returns the new value (wrapping), like
    /// Ruby's `incr(index, n)`.
    #[inline]
    fn incr(&self, index: usize, n: usize) -> Result<usize, Error> {
        Ok(self.try_counter(index)?.incr(n))
    }

    /// Subtracts `n` from counter `index` and returns the new value
    /// (wrapping: 0 - 1 is [`MAX`](crate::MAX)), like Ruby's `decr(index, n)`.
    #[inline]
    fn decr(&self, index: usize, n: usize) -> Result<usize, Error> {
        Ok(self.try_counter(index)?.decr(n))
    }

    /// The value of counter `index` (Ruby's `[index]`).
    #[inline]
    fn get(&self, index: usize) -> Result<usize, Error> {
        Ok(self.try_counter(index)?.get())
    }

    /// Stores `value` in counter `index` (Ruby's `[index] = value`).
    #[inline]
    fn set(&self, index: usize, value: usize) -> Result<(), Error> {
        self.try_counter(index)?.set(value);
        Ok(())
    }

    /// Copies every value into `out` and returns the number written
    /// (Ruby's `to_ary`, without allocating).
    ///
    /// Each value is read atomically; the copy as a whole is not a
    /// consistent cut while other threads update the counters. A buffer
    /// shorter than [`len`](Self::len) is an [`Error::BufferTooSmall`] and
    /// nothing is written.
    fn snapshot(&self, out: &mut [usize]) -> Result<usize, Error> {
        let len = self.len();
        if out.len() < len {
            return Err(Error::BufferTooSmall {
                needed: len,
                len: out.len(),
            });
        }
        for (i, slot) in out.iter_mut().take(len).enumerate() {
            *slot = self.counter(i).map_or(0, Counter::get);
        }
        Ok(len)
    }

    /// An iterator over the current values, in index order.
    fn values(&self) -> Values<'_, Self>
    where
        Self: Sized,
    {
        Values {
            array: self,
            next: 0,
        }
    }

    /// Sets every counter to zero.
    fn clear(&self) {
        for i in 0..self.len() {
            if let Some(c) = self.counter(i) {
                c.set(0);
            }
        }
    }

    /// The current values in a new `Vec` (Ruby's `to_ary`).
    #[cfg(feature = "alloc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
    fn to_vec(&self) -> alloc::vec::Vec<usize> {
        (0..self.len())
            .filter_map(|i| self.counter(i).map(Counter::get))
            .collect()
    }
}

/// Iterator over the values of a [`CounterArray`], from
/// [`CounterArray::values`].
pub struct Values<'a, A: ?Sized> {
    array: &'a A,
    next: usize,
}

impl<A: CounterArray + ?Sized> Iterator for Values<'_, A> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let c = self.array.counter(self.next)?;
        self.next += 1;
        Some(c.get())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.array.len().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl<A: CounterArray + ?Sized> ExactSizeIterator for Values<'_, A> {}

impl<A: ?Sized> fmt::Debug for Values<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Values").field("next", &self.next).finish()
    }
}

/// `N` padded counters in one value, constructible in a `const` context so it
/// can be a `static` on a machine without an allocator.
///
/// ```
/// use raindrops_core::{CounterArray, Counters};
/// static STATS: Counters<4> = Counters::new();
/// STATS.incr(3, 2).unwrap();
/// let mut buf = [0usize; 4];
/// STATS.snapshot(&mut buf).unwrap();
/// assert_eq!(buf, [0, 0, 0, 2]);
/// ```
#[repr(transparent)]
pub struct Counters<const N: usize> {
    slots: [PaddedSlot; N],
}

impl<const N: usize> Counters<N> {
    /// The number of counters, `N`.
    pub const LEN: usize = N;

    /// `N` counters at zero.
    pub const fn new() -> Self {
        Counters {
            slots: [const { PaddedSlot::new(0) }; N],
        }
    }

    /// `N` counters holding `values`. A wrong number of values does not
    /// compile; [`from_slice`](Self::from_slice) takes a run-time slice.
    pub const fn with_values(values: [usize; N]) -> Self {
        let mut slots = [const { PaddedSlot::new(0) }; N];
        let mut i = 0;
        while i < N {
            slots[i] = PaddedSlot::new(values[i]);
            i += 1;
        }
        Counters { slots }
    }

    /// Counters initialised from the start of `values`; the rest are zero.
    /// More than `N` values is an [`Error::TooManyValues`].
    pub fn from_slice(values: &[usize]) -> Result<Self, Error> {
        if values.len() > N {
            return Err(Error::TooManyValues {
                given: values.len(),
                max: N,
            });
        }
        let c = Self::new();
        for (slot, &v) in c.slots.iter().zip(values) {
            slot.set(v);
        }
        Ok(c)
    }

    /// The first `N` slots of `slots`, seen as a `Counters<N>`; fewer than
    /// `N` slots is an [`Error::IndexOutOfRange`] naming index `N - 1`.
    ///
    /// This is how named counters and fixed layouts sit on memory that
    /// someone else owns (a shared memory region, a larger array).
    pub fn from_slots(slots: &[PaddedSlot]) -> Result<&Self, Error> {
        let Some(array) = slots.first_chunk::<N>() else {
            return Err(Error::IndexOutOfRange {
                index: N.saturating_sub(1),
                len: slots.len(),
            });
        };
        // SAFETY: `Counters<N>` is `repr(transparent)` over `[PaddedSlot; N]`,
        // so the two references have the same layout and validity; the
        // lifetime is carried over unchanged.
        Ok(unsafe { &*core::ptr::from_ref(array).cast::<Self>() })
    }

    /// The padded slots.
    pub const fn as_slots(&self) -> &[PaddedSlot; N] {
        &self.slots
    }

    /// A [`CounterView`] of these counters.
    pub fn as_view(&self) -> CounterView<'_> {
        CounterView::from_slots(&self.slots)
    }

    /// An independent copy of the current values in fresh counters (Ruby's
    /// `dup`).
    pub fn snapshot_copy(&self) -> Self {
        let c = Self::new();
        for (dst, src) in c.slots.iter().zip(&self.slots) {
            dst.set(src.get());
        }
        c
    }
}

impl<const N: usize> CounterArray for Counters<N> {
    #[inline]
    fn len(&self) -> usize {
        N
    }

    #[inline]
    fn counter(&self, index: usize) -> Option<&Counter> {
        self.slots.get(index).map(PaddedSlot::counter)
    }
}

impl<const N: usize> Default for Counters<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for Counters<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.values()).finish()
    }
}

/// A borrowed array of counters laid out with a fixed stride: every
/// `stride` bytes, one machine word.
///
/// Built safely over [`PaddedSlot`]s ([`from_slots`](Self::from_slots)), or
/// over raw memory with any stride ([`from_raw_parts`](Self::from_raw_parts)),
/// e.g. the 64-byte slots of a file written by Ruby's raindrops, or an mmap
/// region from `raindrops-shm`. Either way the operations are those of
/// [`CounterArray`].
#[derive(Clone, Copy)]
pub struct CounterView<'a> {
    base: NonNull<Counter>,
    len: usize,
    stride: usize,
    _borrow: PhantomData<&'a Counter>,
}

// SAFETY: a `CounterView` is a shared reference to `len` `Counter`s, which
// are atomics (`Sync`); sending or sharing it is like sending `&[Counter]`.
unsafe impl Send for CounterView<'_> {}
// SAFETY: as above; every access through it is an atomic operation.
unsafe impl Sync for CounterView<'_> {}

impl<'a> CounterView<'a> {
    /// A view of `slots`, with stride [`CACHE_LINE`](crate::CACHE_LINE).
    pub fn from_slots(slots: &'a [PaddedSlot]) -> Self {
        CounterView {
            // A slot's counter is at offset 0 (`repr(C)`), so the slot
            // pointer is a counter pointer.
            base: NonNull::from(slots).cast::<Counter>(),
            len: slots.len(),
            stride: core::mem::size_of::<PaddedSlot>(),
            _borrow: PhantomData,
        }
    }

    /// A view of plain, unpadded counters (stride of one word), e.g. for a
    /// single-CPU machine where padding buys nothing.
    pub fn from_counters(counters: &'a [Counter]) -> Self {
        CounterView {
            base: NonNull::from(counters).cast::<Counter>(),
            len: counters.len(),
            stride: core::mem::size_of::<Counter>(),
            _borrow: PhantomData,
        }
    }

    /// A view of `len` counters, one word every `stride` bytes from `base`.
    ///
    /// # Safety
    ///
    /// The caller promises, for the whole lifetime `'a`:
    /// - `stride` is a non-zero multiple of `align_of::<usize>()` no smaller
    ///   than `size_of::<usize>()`, and `base` is aligned to `usize`;
    /// - for every `i < len`, the `usize`-sized word at `base + i * stride`
    ///   lies in one live allocation (for example one mapping) that stays
    ///   mapped and readable and writable, and `len * stride` does not
    ///   overflow `isize`;
    /// - every access to those words, by this or any other process or
    ///   thread, is atomic (through this crate, C `__sync`/`__atomic`
    ///   builtins, or other atomics): no plain writes race with the view.
    pub const unsafe fn from_raw_parts(base: NonNull<u8>, len: usize, stride: usize) -> Self {
        CounterView {
            base: base.cast::<Counter>(),
            len,
            stride,
            _borrow: PhantomData,
        }
    }

    /// The distance in bytes between neighbouring counters.
    pub const fn stride(&self) -> usize {
        self.stride
    }

    /// The address of the first counter.
    pub const fn as_ptr(&self) -> *const u8 {
        self.base.as_ptr().cast::<u8>().cast_const()
    }

    /// The first `len` counters of this view (or all of them, if fewer).
    pub const fn prefix(self, len: usize) -> Self {
        CounterView {
            len: if len < self.len { len } else { self.len },
            ..self
        }
    }
}

impl CounterArray for CounterView<'_> {
    #[inline]
    fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn counter(&self, index: usize) -> Option<&Counter> {
        if index >= self.len {
            return None;
        }
        // SAFETY: `index < len`, and every constructor guarantees (the safe
        // ones by building from a slice, `from_raw_parts` by its contract)
        // that `base + index * stride` stays inside one live allocation.
        let ptr = unsafe { self.base.as_ptr().byte_add(index * self.stride) };
        // SAFETY: by the same guarantees, the word there is a live, aligned
        // `usize` for `'a` that is only accessed atomically: a valid `Counter`.
        Some(unsafe { &*ptr })
    }
}

impl fmt::Debug for CounterView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CounterView")
            .field("len", &self.len)
            .field("stride", &self.stride)
            .field("values", &DebugValues(self))
            .finish()
    }
}

struct DebugValues<'a, 'b>(&'a CounterView<'b>);

impl fmt::Debug for DebugValues<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.values()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX;

    #[test]
    fn static_counters() {
        static C: Counters<3> = Counters::new();
        assert_eq!(C.incr(0, 1), Ok(1));
        assert_eq!(C.incr(0, 1), Ok(2));
        assert_eq!(C.decr(2, 1), Ok(MAX));
        assert_eq!(C.get(0), Ok(2));
        assert_eq!(C.set(1, 9), Ok(()));
        assert_eq!(
            C.incr(3, 1),
            Err(Error::IndexOutOfRange { index: 3, len: 3 })
        );
        assert_eq!(
            C.get(usize::MAX).unwrap_err(),
            Error::IndexOutOfRange {
                index: usize::MAX,
                len: 3
            }
        );
        let mut out = [0; 3];
        assert_eq!(C.snapshot(&mut out), Ok(3));
        assert_eq!(out, [2, 9, MAX]);
        let mut short = [7; 2];
        assert_eq!(
            C.snapshot(&mut short),
            Err(Error::BufferTooSmall { needed: 3, len: 2 })
        );
        assert_eq!(short, [7, 7]);
    }

    #[test]
    fn views_share_logic() {
        let slots = [PaddedSlot::new(1), PaddedSlot::new(2)];
        let v = CounterView::from_slots(&slots);
        assert_eq!(v.stride(), crate::CACHE_LINE);
        assert_eq!(v.incr(1, 3), Ok(5));
        assert_eq!(slots[1].get(), 5);
        assert!(v.get(2).is_err());
        assert_eq!(v.prefix(1).len(), 1);
        assert_eq!(v.prefix(9).len(), 2);

        let plain = [Counter::new(0), Counter::new(0), Counter::new(0)];
        let v = CounterView::from_counters(&plain);
        assert_eq!(v.stride(), crate::WORD);
        v.incr(2, 4).unwrap();
        assert_eq!(plain[2].get(), 4);
    }

    #[test]
    fn raw_view_with_ruby_stride() {
        // 64-byte slots, as Ruby lays them out on x86_64.
        #[repr(C, align(64))]
        struct Line([usize; 8]);
        let lines = [Line([0; 8]), Line([0; 8]), Line([0; 8])];
        let base = NonNull::from(&lines).cast::<u8>();
        // SAFETY: three 64-byte, usize-aligned lines live for this scope and
        // are only touched through the view.
        let v = unsafe { CounterView::from_raw_parts(base, 3, 64) };
        v.incr(2, 7).unwrap();
        v.set(0, 1).unwrap();
        assert_eq!(v.get(2), Ok(7));
        assert_eq!(v.values().collect::<std::vec::Vec<_>>(), [1, 0, 7]);
    }

    #[test]
    fn from_slice_and_slots() {
        let c = Counters::<2>::from_slice(&[5]).unwrap();
        assert_eq!(c.get(0), Ok(5));
        assert_eq!(c.get(1), Ok(0));
        assert_eq!(
            Counters::<2>::from_slice(&[1, 2, 3]).unwrap_err(),
            Error::TooManyValues { given: 3, max: 2 }
        );
        let slots = [PaddedSlot::new(1), PaddedSlot::new(2), PaddedSlot::new(3)];
        let two = Counters::<2>::from_slots(&slots).unwrap();
        two.incr(1, 1).unwrap();
        assert_eq!(slots[1].get(), 3);
        assert!(Counters::<4>::from_slots(&slots).is_err());
        let d = two.snapshot_copy();
        d.incr(0, 10).unwrap();
        assert_eq!(two.get(0), Ok(1));
        assert_eq!(Counters::<3>::with_values([4, 5, 6]).get(2), Ok(6));
    }
}
