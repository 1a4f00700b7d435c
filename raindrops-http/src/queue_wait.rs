//! The accept-queue wait histogram of `raindrops serve` and the embedded
//! Watcher: one fixed bucket set for every listener, so that Prometheus can
//! add listeners up and compute quantiles.

use core::ops::ControlFlow;

use raindrops_core::Aggregate;

use crate::source::{FixedBuckets, Histogram};

/// The name of the queue-wait histogram (one per TCP listener, label
/// `listener`).
pub const QUEUE_WAIT_HISTOGRAM: &str = "raindrops_listener_queue_wait_seconds";

/// The `# HELP` of [`QUEUE_WAIT_HISTOGRAM`].
pub const QUEUE_WAIT_HELP: &str = "How long connections waited in the accept queue before they were accepted, followed from outside the server sample after sample (resolution: the sampling interval; see docs/queue-wait.md).";

/// The bucket bounds of the queue-wait histograms, in milliseconds, the
/// same for every listener at every scrape: `2^k - 1`, which the
/// power-of-two buckets of an [`Aggregate`] of whole milliseconds fill
/// exactly, up to about a minute (longer waits count only in `+Inf`).
pub const QUEUE_WAIT_BOUNDS_MS: [u64; 17] = [
    0, 1, 3, 7, 15, 31, 63, 127, 255, 511, 1023, 2047, 4095, 8191, 16383, 32767, 65535,
];

/// The counts of `waits` (whole milliseconds) in the
/// [`QUEUE_WAIT_BOUNDS_MS`] buckets, not cumulative: zeros in the first,
/// then one power-of-two bucket of the aggregate per bound.
///
/// ```
/// use raindrops_core::Aggregate;
/// use raindrops_http::queue_wait_counts;
/// let waits: Aggregate = [0u64, 1, 2, 3, 100, 70_000].into_iter().collect();
/// let c = queue_wait_counts(&waits);
/// assert_eq!(&c[..4], &[1, 1, 2, 0]); // 0 | 1 | 2..=3 | 4..=7
/// assert_eq!(c[7], 1); // 64..=127
/// assert_eq!(c.iter().sum::<u64>(), 5); // 70 s counts only in +Inf
/// ```
pub fn queue_wait_counts(waits: &Aggregate) -> [u64; 17] {
    let mut counts = [0u64; 17];
    counts[0] = waits.outliers_low();
    for (k, c) in waits.buckets().iter().take(16).enumerate() {
        counts[k + 1] = *c;
    }
    counts
}

/// Visits one [`QUEUE_WAIT_HISTOGRAM`] per listener of `waits` (its name
/// and the waits of its connections in milliseconds, as raindrops-diag's
/// `QueueWaitTracker::iter` gives them), with the fixed
/// [`QUEUE_WAIT_BOUNDS_MS`] buckets exported in seconds: what a
/// [`StatsSource::histograms`](crate::StatsSource::histograms) that follows
/// queue waits visits.
///
/// ```
/// use raindrops_core::Aggregate;
/// use raindrops_http::visit_queue_wait_histograms;
/// let waits: Aggregate = [5u64, 40].into_iter().collect();
/// let mut seen = Vec::new();
/// let _ = visit_queue_wait_histograms([("127.0.0.1:80", &waits)], &mut |h| {
///     let f = h.fixed.unwrap();
///     seen.push((h.name.to_string(), h.labels[0].1.to_string(), f.counts[3], f.milliseconds));
///     core::ops::ControlFlow::Continue(())
/// });
/// let name = "raindrops_listener_queue_wait_seconds".to_string();
/// // 5 ms is in the bucket up to 7 ms (40 ms in the one up to 63 ms).
/// assert_eq!(seen, [(name, "127.0.0.1:80".to_string(), 1, true)]);
/// ```
pub fn visit_queue_wait_histograms<'a, I>(
    waits: I,
    visit: &mut dyn FnMut(&Histogram<'_>) -> ControlFlow<()>,
) -> ControlFlow<()>
where
    I: IntoIterator<Item = (&'a str, &'a Aggregate)>,
{
    for (name, agg) in waits {
        let counts = queue_wait_counts(agg);
        let labels = [("listener", name)];
        visit(&Histogram {
            fixed: Some(FixedBuckets {
                bounds: &QUEUE_WAIT_BOUNDS_MS,
                counts: &counts,
                milliseconds: true,
            }),
            ..Histogram::new(QUEUE_WAIT_HISTOGRAM, QUEUE_WAIT_HELP, &labels, agg)
        })?;
    }
    ControlFlow::Continue(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Snapshot, render_prometheus};
    use proptest::prelude::*;
    use std::string::String;
    use std::vec::Vec;

    #[test]
    fn renders_the_fixed_buckets_in_seconds() {
        let waits: Aggregate = [0u64, 2, 1500].into_iter().collect();
        let mut hists = Vec::new();
        let _ = visit_queue_wait_histograms([("a:1", &waits)], &mut |h| {
            let counts = h.fixed.map(|f| f.counts.to_vec()).unwrap_or_default();
            hists.push(counts);
            ControlFlow::Continue(())
        });
        let counts = &hists[0];
        let bounds = QUEUE_WAIT_BOUNDS_MS;
        let h = [Histogram {
            fixed: Some(FixedBuckets {
                bounds: &bounds,
                counts,
                milliseconds: true,
            }),
            ..Histogram::new(QUEUE_WAIT_HISTOGRAM, QUEUE_WAIT_HELP, &[], &waits)
        }];
        let mut s = String::new();
        render_prometheus(
            &Snapshot::<&str> {
                histograms: &h,
                ..Snapshot::new()
            },
            &mut s,
        )
        .unwrap();
        assert!(s.contains("_bucket{le=\"0\"} 1\n"), "{s}");
        assert!(s.contains("_bucket{le=\"0.003\"} 2\n"), "{s}");
        assert!(s.contains("_bucket{le=\"1.023\"} 2\n"), "{s}");
        assert!(s.contains("_bucket{le=\"2.047\"} 3\n"), "{s}");
        assert!(s.contains("_bucket{le=\"+Inf\"} 3\n"), "{s}");
    }

    proptest! {
        /// Each wait below the last bound counts in the one bucket whose
        /// bound is the first at or above it; longer ones in none.
        #[test]
        fn every_wait_in_its_bucket(waits in proptest::collection::vec(0u64..200_000, 0..50)) {
            let agg: Aggregate = waits.iter().copied().collect();
            let counts = queue_wait_counts(&agg);
            let mut expected = [0u64; 17];
            for w in &waits {
                if let Some(i) = QUEUE_WAIT_BOUNDS_MS.iter().position(|b| w <= b) {
                    expected[i] += 1;
                }
            }
            prop_assert_eq!(counts, expected);
        }
    }
}
