//! [`Waiting`], a connection in a listener's accept queue as one dump saw
//! it, and the percentiles of their waits.

/// A connection waiting in a TCP listener's accept queue (established,
/// not yet accepted: inode 0), as one dump with
/// [`TcpQuery::queue_wait`](crate::TcpQuery::queue_wait) saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Waiting {
    /// How long it has waited, in milliseconds: the time since its
    /// handshake completed (`tcpi_last_data_sent`, in jiffies' resolution;
    /// see `docs/queue-wait.md` of the repository).
    pub age_ms: u32,
    /// The socket's cookie (`idiag_cookie`), which names the connection
    /// across dumps for as long as it lives.
    pub cookie: u64,
}

/// The `p`th percentile (nearest rank) of `ascending`, a sorted slice:
/// the smallest value with at least `p`% of the values at or below it;
/// 0 for an empty slice.
#[cfg(any(feature = "std", test))]
pub(crate) fn percentile(ascending: &[u32], p: usize) -> u32 {
    let n = ascending.len();
    if n == 0 {
        return 0;
    }
    let rank = (p.min(100) * n).div_ceil(100).max(1);
    ascending[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: std::vec::Vec<u32> = (1..=10).map(|i| i * 100).collect();
        assert_eq!(percentile(&v, 50), 500);
        assert_eq!(percentile(&v, 90), 900);
        assert_eq!(percentile(&v, 99), 1000);
        assert_eq!(percentile(&v, 100), 1000);
        assert_eq!(percentile(&v, 0), 100);
        assert_eq!(percentile(&[7], 50), 7);
        assert_eq!(percentile(&[], 50), 0);
        assert_eq!(percentile(&[1, 2], 50), 1);
    }

    proptest::proptest! {
        #[test]
        fn at_least_p_percent_at_or_below(mut v in proptest::collection::vec(proptest::num::u32::ANY, 1..200), p in 1usize..=100) {
            v.sort_unstable();
            let x = percentile(&v, p);
            let below = v.iter().filter(|&&y| y <= x).count();
            proptest::prop_assert!(below * 100 >= p * v.len());
            let strictly = v.iter().filter(|&&y| y < x).count();
            proptest::prop_assert!(strictly * 100 < p * v.len());
        }
    }
}
