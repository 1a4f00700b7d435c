//! The atomics of [`AtomicAggregate`](crate::AtomicAggregate), swapped for
//! loom's in its model tests (`RUSTFLAGS="--cfg loom"`; see the `loom`
//! section of `.ci/run`).

#[cfg(not(all(loom, test)))]
pub(crate) use core::sync::atomic::{AtomicU64, Ordering, fence};
#[cfg(all(loom, test))]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering, fence};
