//! Named counters: the equivalent of Ruby's `Raindrops::Struct`.

/// Declares a type of named counters, the equivalent of Ruby's
/// `Raindrops::Struct.new(:calling, :writing)`.
///
/// ```
/// raindrops_core::named_counters! {
///     /// Requests in the application and responses being written.
///     pub struct Stats {
///         /// Requests inside the application right now.
///         calling,
///         /// Responses whose body is still being sent.
///         writing,
///     }
/// }
///
/// static STATS: Stats = Stats::new();
///
/// assert_eq!(STATS.calling().incr(1), 1);  // Ruby: incr_calling
/// STATS.writing().set(5);                  // Ruby: writing = 5
/// assert_eq!(STATS.writing().decr(1), 4);  // Ruby: decr_writing
/// assert_eq!(STATS.get(1), Ok(4));         // Ruby: [1]
/// assert_eq!(Stats::MEMBERS, ["calling", "writing"]);
/// let pairs: Vec<_> = STATS.iter().collect(); // Ruby: to_hash
/// assert_eq!(pairs, [("calling", 1), ("writing", 4)]);
///
/// let s = Stats::with_values([5, 6]);    // Ruby: Stats.new(5, 6)
/// assert_eq!(s.calling().get(), 5);
/// assert!(Stats::from_slice(&[1, 2, 3]).is_err()); // too many values
/// ```
///
/// Every member is a method returning its [`Counter`](crate::Counter), so a
/// misspelt name, a duplicate member or a wrong number of values for
/// `with_values` does not compile:
///
/// ```compile_fail
/// raindrops_core::named_counters! { struct S { a, b } }
/// let s = S::with_values([1, 2, 3]);
/// ```
///
/// ```compile_fail
/// raindrops_core::named_counters! { struct S { a, a } }
/// ```
///
/// The type is generic over where its counters live: by default it owns a
/// [`Counters<N>`](crate::Counters) (so it can be a `static`), and
/// `from_slots` lays it over [`PaddedSlot`](crate::PaddedSlot)s someone else
/// owns, such as a shared memory region from `raindrops-shm`:
///
/// ```
/// use raindrops_core::{Counters, PaddedSlot};
/// raindrops_core::named_counters! { pub struct Pair { left, right } }
///
/// let region = [PaddedSlot::new(0), PaddedSlot::new(0), PaddedSlot::new(0)];
/// let pair = Pair::from_slots(&region).unwrap();
/// pair.right().incr(2);
/// assert_eq!(region[1].get(), 2);
/// ```
#[macro_export]
macro_rules! named_counters {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name<
            S = $crate::Counters<{ [$(stringify!($field)),+].len() }>
        > {
            storage: S,
        }

        const _: () = {
            use $crate::__private::Borrow;
            use $crate::{Counter, CounterArray, Counters, Error, PaddedSlot};

            const N: usize = [$(stringify!($field)),+].len();
            const NAMES: [&str; N] = [$(stringify!($field)),+];

            // One variant per member: its discriminant is the member's index,
            // and a duplicate member is a duplicate variant (a compile error).
            #[allow(non_camel_case_types, dead_code)]
            #[repr(usize)]
            enum Index { $($field),+ }

            #[allow(dead_code, unreachable_pub)]
            impl $name {
                /// The member names, in index order (Ruby's `MEMBERS`).
                pub const MEMBERS: [&'static str; N] = NAMES;

                /// The number of members.
                pub const LEN: usize = N;

                /// The index of the member called `name`.
                pub fn index_of(name: &str) -> Option<usize> {
                    NAMES.iter().position(|m| *m == name)
                }

                /// All counters at zero.
                pub const fn new() -> Self {
                    $name { storage: Counters::new() }
                }

                /// Counters holding `values`, in member order (Ruby's
                /// `new(5, 6)`); a wrong number of values does not compile.
                pub const fn with_values(values: [usize; N]) -> Self {
                    $name { storage: Counters::with_values(values) }
                }

                /// Counters holding the first `values` in member order, the
                /// rest zero; more values than members is an error.
                pub fn from_slice(values: &[usize]) -> Result<Self, Error> {
                    Ok($name { storage: Counters::from_slice(values)? })
                }
            }

            impl ::core::default::Default for $name {
                fn default() -> Self {
                    Self::new()
                }
            }

            #[allow(dead_code, unreachable_pub)]
            impl<'a> $name<&'a Counters<N>> {
                /// Named counters laid over the first slots of `slots`
                /// (memory someone else owns); too few slots is an error.
                pub fn from_slots(slots: &'a [PaddedSlot]) -> Result<Self, Error> {
                    Ok($name { storage: Counters::<N>::from_slots(slots)? })
                }
            }

            #[allow(dead_code, unreachable_pub)]
            impl<S: Borrow<Counters<N>>> $name<S> {
                /// Named counters over `storage`.
                pub const fn from_storage(storage: S) -> Self {
                    $name { storage }
                }

                /// The storage (for example to duplicate it with its own
                /// `dup`).
                pub const fn storage(&self) -> &S {
                    &self.storage
                }

                /// The storage, given back.
                pub fn into_storage(self) -> S {
                    self.storage
                }

                /// The underlying counter array (index order = member order).
                pub fn counters(&self) -> &Counters<N> {
                    self.storage.borrow()
                }

                /// The value of the member at `index` (Ruby's `[index]`).
                pub fn get(&self, index: usize) -> Result<usize, Error> {
                    self.counters().get(index)
                }

                /// Stores `value` in the member at `index` (Ruby's `[index] = value`).
                pub fn set(&self, index: usize, value: usize) -> Result<(), Error> {
                    self.counters().set(index, value)
                }

                /// A copy of the values in storage made by `copy` (Ruby's
                /// `dup`): `copy` gets the counters and returns new storage
                /// holding their values, such as raindrops-shm's
                /// `SharedCounters::copy_of` (fresh shared memory) or
                /// `|c| Ok(c.snapshot_copy())` (process memory).
                pub fn dup_into<T, E>(
                    &self,
                    copy: impl FnOnce(&Counters<N>) -> Result<T, E>,
                ) -> Result<$name<T>, E>
                where
                    T: Borrow<Counters<N>>,
                {
                    Ok($name { storage: copy(self.counters())? })
                }

                /// `(name, value)` for every member in order (Ruby's `to_hash`).
                pub fn iter(&self) -> impl Iterator<Item = (&'static str, usize)> + '_ {
                    NAMES.iter().copied().zip(self.counters().values())
                }

                $(
                    $(#[$fmeta])*
                    #[doc = concat!("\n\nThe `", stringify!($field), "` counter.")]
                    #[inline]
                    pub fn $field(&self) -> &Counter {
                        self.counters().as_slots()[Index::$field as usize].counter()
                    }
                )+
            }

            impl<S: Borrow<Counters<N>>> ::core::fmt::Debug for $name<S> {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    let mut d = f.debug_struct(stringify!($name));
                    $( d.field(stringify!($field), &self.$field().get()); )+
                    d.finish()
                }
            }
        };
    };
}

#[cfg(test)]
mod tests {
    use crate::{CounterArray, Error, PaddedSlot};
    use std::format;
    use std::vec::Vec;

    crate::named_counters! {
        /// Test type.
        pub(crate) struct Gauges {
            /// First.
            calling,
            writing,
            third
        }
    }

    #[test]
    fn members_in_order() {
        assert_eq!(Gauges::MEMBERS, ["calling", "writing", "third"]);
        assert_eq!(Gauges::LEN, 3);
        assert_eq!(Gauges::index_of("writing"), Some(1));
        assert_eq!(Gauges::index_of("nope"), None);
        let g = Gauges::new();
        g.calling().incr(1);
        g.writing().incr(2);
        g.third().decr(1);
        assert_eq!(g.counters().get(0), Ok(1));
        assert_eq!(g.get(1), Ok(2));
        assert_eq!(g.get(2), Ok(usize::MAX));
        assert_eq!(g.get(3), Err(Error::IndexOutOfRange { index: 3, len: 3 }));
        assert_eq!(g.set(0, 9), Ok(()));
        assert_eq!(g.calling().get(), 9);
        let v: Vec<_> = g.iter().collect();
        assert_eq!(v, [("calling", 9), ("writing", 2), ("third", usize::MAX)]);
        assert!(format!("{g:?}").starts_with("Gauges { calling: 9, writing: 2"));
    }

    #[test]
    fn initial_values_and_slots() {
        let g = Gauges::with_values([1, 2, 3]);
        assert_eq!(g.third().get(), 3);
        let g = Gauges::from_slice(&[4]).unwrap();
        assert_eq!((g.calling().get(), g.writing().get()), (4, 0));
        assert_eq!(
            Gauges::from_slice(&[1, 2, 3, 4]).unwrap_err(),
            Error::TooManyValues { given: 4, max: 3 }
        );
        let slots = [PaddedSlot::new(0), PaddedSlot::new(0)];
        assert!(Gauges::from_slots(&slots).is_err());
        let slots = [const { PaddedSlot::new(0) }; 5];
        let g = Gauges::from_slots(&slots).unwrap();
        g.third().incr(7);
        assert_eq!(slots[2].get(), 7);
        // A dup holds the values in storage of its own.
        let copy = g.dup_into(|c| Ok::<_, Error>(c.snapshot_copy())).unwrap();
        g.third().incr(1);
        assert_eq!((copy.third().get(), g.third().get()), (7, 8));
    }
}
