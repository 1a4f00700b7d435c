//! [`AggregateHandle`]: a shared [`AtomicAggregate`], wherever it lives.

use raindrops_core::AtomicAggregate;
use std::sync::Arc;

/// A handle to an [`AtomicAggregate`] that several owners share: the
/// accept hook pushes into it, a stats source or the Watcher shows it.
///
/// Implemented for the aggregate itself, for
/// `raindrops_shm::SharedAggregate` (one aggregate in shared memory that
/// every forked worker feeds; feature `shm`), and for `Arc`s and `'static`
/// references of either.
///
/// ```
/// use std::sync::Arc;
/// use raindrops::{AggregateHandle, AtomicAggregate};
/// static WAITED: AtomicAggregate = AtomicAggregate::new();
/// let a: Arc<AtomicAggregate> = Arc::default();
/// a.aggregate().push(3);
/// (&WAITED).aggregate().push(4);
/// assert_eq!((a.count(), WAITED.count()), (1, 1));
/// ```
pub trait AggregateHandle: Send + Sync + 'static {
    /// The aggregate.
    fn aggregate(&self) -> &AtomicAggregate;
}

impl AggregateHandle for AtomicAggregate {
    fn aggregate(&self) -> &AtomicAggregate {
        self
    }
}

#[cfg(feature = "shm")]
impl AggregateHandle for raindrops_shm::SharedAggregate {
    fn aggregate(&self) -> &AtomicAggregate {
        self
    }
}

impl<T: AggregateHandle + ?Sized> AggregateHandle for Arc<T> {
    fn aggregate(&self) -> &AtomicAggregate {
        (**self).aggregate()
    }
}

impl<T: AggregateHandle + ?Sized> AggregateHandle for &'static T {
    fn aggregate(&self) -> &AtomicAggregate {
        (**self).aggregate()
    }
}
