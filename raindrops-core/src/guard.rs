//! A guard that holds a gauge up for as long as it lives.

use core::fmt;

use crate::slot::Counter;

/// Increments a [`Counter`] when created and decrements it when dropped,
/// including when the stack unwinds through it.
///
/// This is how `calling` ("requests inside the application now") and
/// `writing` ("responses still being sent") stay right even when a handler
/// panics. Create it with [`Counter::enter`] or [`GaugeGuard::new`].
///
/// ```
/// use raindrops_core::{Counters, CounterArray};
/// static GAUGES: Counters<1> = Counters::new();
/// let calling = GAUGES.try_counter(0).unwrap();
/// let guard = calling.enter();
/// assert_eq!(calling.get(), 1);
/// drop(guard);
/// assert_eq!(calling.get(), 0);
/// ```
#[must_use = "the gauge is decremented as soon as the guard is dropped"]
pub struct GaugeGuard<'a> {
    counter: &'a Counter,
}

impl<'a> GaugeGuard<'a> {
    /// Increments `counter` by one and returns the guard that will decrement it.
    #[inline]
    pub fn new(counter: &'a Counter) -> Self {
        counter.incr(1);
        GaugeGuard { counter }
    }

    /// The counter this guard holds up.
    pub fn counter(&self) -> &'a Counter {
        self.counter
    }
}

impl Drop for GaugeGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.counter.decr(1);
    }
}

impl fmt::Debug for GaugeGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GaugeGuard")
            .field("value", &self.counter.get())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_guards() {
        let c = Counter::new(0);
        let a = c.enter();
        let b = GaugeGuard::new(&c);
        assert_eq!(c.get(), 2);
        drop(a);
        assert_eq!(b.counter().get(), 1);
        drop(b);
        assert_eq!(c.get(), 0);
    }

    #[test]
    fn decrements_while_unwinding() {
        static C: Counter = Counter::new(0);
        let r = std::panic::catch_unwind(|| {
            let _g = C.enter();
            assert_eq!(C.get(), 1);
            panic!("handler failed");
        });
        assert!(r.is_err());
        assert_eq!(C.get(), 0);
    }
}
