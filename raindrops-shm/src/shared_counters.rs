//! [`SharedCounters`]: a fixed number of counters in a region of their own,
//! the owned storage for `named_counters!` types in shared memory (and for
//! their `dup`).

use core::borrow::Borrow;
use core::fmt;
use core::ptr::NonNull;

use raindrops_core::{CounterArray, Counters};

use crate::error::Error;
use crate::options::Options;
use crate::region::Region;

/// `N` counters in a [`Region`] this value owns, usable wherever a
/// [`Counters<N>`] is: a `named_counters!` type built with `from_storage`
/// owns its shared memory instead of borrowing it, and can be duplicated
/// (Ruby's `Raindrops::Struct#dup`).
///
/// ```
/// use raindrops_shm::SharedCounters;
///
/// raindrops_core::named_counters! { pub struct Stats { calling, writing } }
///
/// // Stats in anonymous shared memory, named in the region for tools.
/// let stats = Stats::from_storage(SharedCounters::<{ Stats::LEN }>::named(&Stats::MEMBERS)?);
/// stats.calling().incr(2);
///
/// // A fresh region holding a copy of the values and names (Ruby's dup).
/// let copy = Stats::from_storage(stats.storage().dup()?);
/// stats.calling().incr(1);
/// assert_eq!((copy.calling().get(), stats.calling().get()), (2, 3));
///
/// // Any named set, wherever it lives, copies into shared memory.
/// static LOCAL: Stats = Stats::new();
/// let shared = LOCAL.dup_into(SharedCounters::copy_of)?;
/// assert_eq!(shared.writing().get(), 0);
/// # Ok::<(), raindrops_shm::Error>(())
/// ```
pub struct SharedCounters<const N: usize> {
    region: Region,
    counters: NonNull<Counters<N>>,
}

// SAFETY: `counters` points into the mapping `region` owns, whose memory is
// only accessed through atomics; `Region` is Send and Sync, and so is
// `Counters<N>` (atomic words).
unsafe impl<const N: usize> Send for SharedCounters<N> {}
// SAFETY: as above; `&SharedCounters` only hands out `&Counters<N>`.
unsafe impl<const N: usize> Sync for SharedCounters<N> {}

impl<const N: usize> SharedCounters<N> {
    /// `N` counters at zero in fresh anonymous shared memory, shared with
    /// every child forked afterwards.
    pub fn anonymous() -> Result<Self, Error> {
        Self::from_region(Options::new().anonymous(N)?)
    }

    /// Like [`anonymous`](Self::anonymous), with slot names kept with the
    /// region (see [`Options::names`]): a `named_counters!` type's
    /// `MEMBERS`.
    pub fn named(names: &[&str]) -> Result<Self, Error> {
        Self::from_region(Options::new().names(names).anonymous(N)?)
    }

    /// Fresh anonymous shared memory holding a copy of `counters`' values:
    /// the duplicate of any `Counters<N>`, wherever it lives (a `static`,
    /// a region, another `SharedCounters`).
    pub fn copy_of(counters: &Counters<N>) -> Result<Self, Error> {
        let copy = Self::anonymous()?;
        for (i, v) in counters.values().enumerate() {
            // In range: both hold N counters.
            let _ = copy.region.set(i, v);
        }
        Ok(copy)
    }

    /// The counters of an existing region, which must have the default
    /// stride ([`Region::slots`]) and at least `N` counters (else
    /// [`Error::Counter`] with the shortfall, or
    /// [`LayoutError::Stride`](crate::LayoutError::Stride)).
    pub fn from_region(region: Region) -> Result<Self, Error> {
        let Some(slots) = region.slots() else {
            return Err(Error::BadLayout(crate::LayoutError::Stride {
                stride: region.stride() as u64,
            }));
        };
        let counters = NonNull::from(Counters::<N>::from_slots(slots)?);
        Ok(SharedCounters { region, counters })
    }

    /// A fresh region holding a copy of the current values and the slot
    /// names (Ruby's `dup`): shared with the children forked after it is
    /// made, independent of `self`.
    pub fn dup(&self) -> Result<Self, Error> {
        Self::from_region(self.region.dup()?)
    }

    /// The region behind the counters (for its descriptor, names or
    /// [`Region::dup`]).
    pub fn region(&self) -> &Region {
        &self.region
    }
}

impl<const N: usize> Borrow<Counters<N>> for SharedCounters<N> {
    fn borrow(&self) -> &Counters<N> {
        // SAFETY: `counters` was made from the region's slots, which lie in
        // the mapping `self.region` owns. That mapping stays in place while
        // `self` exists: the region is never handed out mutably, so it is
        // never grown or remapped, and it is unmapped only when `self` is
        // dropped, which ends this borrow first.
        unsafe { self.counters.as_ref() }
    }
}

impl<const N: usize> fmt::Debug for SharedCounters<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedCounters")
            .field("region", &self.region)
            .field("counters", Borrow::<Counters<N>>::borrow(self))
            .finish()
    }
}
