//! [`RequestCounts`]: where a stats source reads the `calling` and
//! `writing` numbers of Ruby's middleware.

use ::core::borrow::Borrow;

use raindrops_core::{Counters, Sharded};
use raindrops_http::{MiddlewareStats, RequestGauges};
use std::sync::Arc;

/// The `calling` and `writing` numbers shown by a
/// [`KernelSource`](crate::KernelSource) (the middleware text, the metrics,
/// JSON): read from wherever the application counts them.
///
/// Implemented for a [`MiddlewareStats`] (in a `static`, or in shared
/// memory through `raindrops_shm::SharedCounters`), a [`RequestGauges`]
/// pair of any two counters, a pair of [`Sharded`] gauges (summed over the
/// workers), [`CountsFn`] (any closure), and `Arc`s and `'static`
/// references of those.
///
/// ```
/// use raindrops::{MiddlewareStats, RequestCounts, RequestGauges};
/// static STATS: MiddlewareStats = MiddlewareStats::new();
/// let _in_app = RequestGauges::of(&STATS).enter();
/// assert_eq!((STATS.calling().get(), STATS.writing().get()), (1, 0));
/// let counts: &dyn RequestCounts = &STATS;
/// assert_eq!((counts.calling(), counts.writing()), (1, 0));
/// ```
pub trait RequestCounts: Send + Sync {
    /// Requests inside the application right now.
    fn calling(&self) -> usize;
    /// Responses whose body is still being written.
    fn writing(&self) -> usize;
}

impl<S> RequestCounts for MiddlewareStats<S>
where
    S: Borrow<Counters<2>> + Send + Sync,
{
    fn calling(&self) -> usize {
        MiddlewareStats::calling(self).get()
    }
    fn writing(&self) -> usize {
        MiddlewareStats::writing(self).get()
    }
}

impl RequestCounts for RequestGauges<'static> {
    fn calling(&self) -> usize {
        RequestGauges::calling(self).get()
    }
    fn writing(&self) -> usize {
        RequestGauges::writing(self).get()
    }
}

/// `(calling, writing)`, each sharded per worker: the sums.
impl RequestCounts for (Sharded<'static>, Sharded<'static>) {
    fn calling(&self) -> usize {
        self.0.sum()
    }
    fn writing(&self) -> usize {
        self.1.sum()
    }
}

impl<T: RequestCounts + ?Sized> RequestCounts for Arc<T> {
    fn calling(&self) -> usize {
        (**self).calling()
    }
    fn writing(&self) -> usize {
        (**self).writing()
    }
}

impl<T: RequestCounts + ?Sized> RequestCounts for &'static T {
    fn calling(&self) -> usize {
        (**self).calling()
    }
    fn writing(&self) -> usize {
        (**self).writing()
    }
}

/// [`RequestCounts`] from a closure returning `(calling, writing)`: for
/// counters kept anywhere else (a region the closure owns an `Arc` of).
///
/// ```
/// use std::sync::Arc;
/// use raindrops::{CounterArray, Counters, CountsFn, RequestCounts, Sharded};
/// // Two sharded gauges of two workers each, in memory the closure owns
/// // (a shared memory region in a preforking server).
/// let slots = Arc::new(Counters::<4>::new());
/// let s = Arc::clone(&slots);
/// let counts = CountsFn(move || {
///     let (calling, writing) = s.as_slots().split_at(2);
///     (Sharded::new(calling).sum(), Sharded::new(writing).sum())
/// });
/// slots.incr(1, 3)?; // worker 1 is calling
/// assert_eq!((counts.calling(), counts.writing()), (3, 0));
/// # Ok::<(), raindrops::core::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct CountsFn<F>(pub F);

impl<F: Fn() -> (usize, usize) + Send + Sync> RequestCounts for CountsFn<F> {
    fn calling(&self) -> usize {
        (self.0)().0
    }
    fn writing(&self) -> usize {
        (self.0)().1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raindrops_core::Counters;

    #[test]
    fn every_kind_reads_the_same_numbers() {
        static SLOTS: Counters<4> = Counters::new();
        let calling = Sharded::new(&SLOTS.as_slots()[..2]);
        let writing = Sharded::new(&SLOTS.as_slots()[2..]);
        let worker1 = RequestGauges::sharded(calling, writing, 1).unwrap();
        let _c = worker1.enter();
        let _w = RequestGauges::sharded(calling, writing, 0)
            .unwrap()
            .enter()
            .returned();
        static PAIR: (Sharded<'static>, Sharded<'static>) = (
            Sharded::new(SLOTS.as_slots().split_at(2).0),
            Sharded::new(SLOTS.as_slots().split_at(2).1),
        );
        let all: [&dyn RequestCounts; 4] = [
            &(calling, writing),
            &Arc::new((calling, writing)),
            &CountsFn(move || (calling.sum(), writing.sum())),
            &&PAIR,
        ];
        for c in all {
            assert_eq!((c.calling(), c.writing()), (1, 1));
        }
        let w1: &dyn RequestCounts = &worker1;
        assert_eq!((w1.calling(), w1.writing()), (1, 0), "one shard");
    }
}
