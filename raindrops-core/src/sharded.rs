//! One counter per worker for the same metric, summed when read.

use core::fmt;

use crate::error::Error;
use crate::slot::{Counter, PaddedSlot};

/// A metric split into one padded slot per worker (shard), so that forked
/// workers never contend for one cache line; readers sum the shards.
///
/// Each worker updates only its own shard ([`shard`](Self::shard)). When a
/// worker dies in the middle of a request, its gauges would stay up forever
/// in a single shared counter; here the master clears that worker's shard
/// with [`reset`](Self::reset) and the sum is right again.
///
/// The sum wraps like the counters do; with the per-worker discipline of
/// increments matched by decrements in the same shard, each shard and the
/// sum stay small.
///
/// ```
/// use raindrops_core::{Counters, Sharded};
/// static SLOTS: Counters<4> = Counters::new();
/// let calling = Sharded::new(SLOTS.as_slots());
/// calling.shard(0).unwrap().incr(1);
/// calling.shard(3).unwrap().incr(2);
/// assert_eq!(calling.sum(), 3);
/// assert_eq!(calling.reset(3), Ok(2)); // worker 3 died; its gauge goes
/// assert_eq!(calling.sum(), 1);
/// ```
#[derive(Clone, Copy)]
pub struct Sharded<'a> {
    shards: &'a [PaddedSlot],
}

impl<'a> Sharded<'a> {
    /// One shard per slot of `shards`.
    pub const fn new(shards: &'a [PaddedSlot]) -> Self {
        Sharded { shards }
    }

    /// The number of shards (workers).
    pub const fn workers(&self) -> usize {
        self.shards.len()
    }

    /// The counter of `worker`, or an [`Error::IndexOutOfRange`].
    #[inline]
    pub fn shard(&self, worker: usize) -> Result<&'a Counter, Error> {
        match self.shards.get(worker) {
            Some(s) => Ok(s.counter()),
            None => Err(Error::IndexOutOfRange {
                index: worker,
                len: self.shards.len(),
            }),
        }
    }

    /// The sum over all shards (wrapping).
    pub fn sum(&self) -> usize {
        self.shards
            .iter()
            .fold(0usize, |acc, s| acc.wrapping_add(s.get()))
    }

    /// Sets `worker`'s shard to zero and returns what it held.
    pub fn reset(&self, worker: usize) -> Result<usize, Error> {
        Ok(self.shard(worker)?.reset())
    }

    /// Sets every shard to zero.
    pub fn reset_all(&self) {
        for s in self.shards {
            s.set(0);
        }
    }

    /// The current value of each shard, in worker order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = usize> + 'a {
        self.shards.iter().map(|s| s.get())
    }
}

impl fmt::Debug for Sharded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sharded")
            .field("workers", &self.workers())
            .field("sum", &self.sum())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_and_reset() {
        let slots = [PaddedSlot::new(0), PaddedSlot::new(0)];
        let s = Sharded::new(&slots);
        assert_eq!(s.workers(), 2);
        s.shard(0).unwrap().incr(5);
        s.shard(1).unwrap().incr(1);
        assert_eq!(s.sum(), 6);
        assert_eq!(
            s.shard(2).unwrap_err(),
            Error::IndexOutOfRange { index: 2, len: 2 }
        );
        assert_eq!(s.reset(0), Ok(5));
        assert!(s.reset(9).is_err());
        assert_eq!(s.values().collect::<std::vec::Vec<_>>(), [0, 1]);
        s.reset_all();
        assert_eq!(s.sum(), 0);
    }
}
