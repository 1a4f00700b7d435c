//! Streaming statistics of integer samples with a power-of-two histogram.

use core::fmt;

use crate::math;

/// The number of histogram buckets: bucket `k` holds samples in
/// `[2^k, 2^(k+1))`, so 64 buckets cover every non-zero `u64`.
pub const HISTOGRAM_BUCKETS: usize = 64;

/// Streaming statistics over `u64` samples: count, min, max, sum, mean,
/// standard deviation and a binary logarithmic histogram, in constant space
/// with no allocation (the equivalent of the `Aggregate` Ruby gem that
/// raindrops uses).
///
/// - The mean and variance come from exact integer moments (the sum and
///   the sum of squares as `u128`), so they are correctly rounded, with no
///   cancellation even for samples with a large common offset. Should the
///   sum of squares overflow (samples near `u64::MAX`), the aggregate falls
///   back to Welford's streaming update, which it keeps alongside, and to
///   Chan et al.'s formula for [`merge`](Self::merge).
/// - The histogram has the layout of the Ruby gem's default: bucket `k`
///   counts samples `v` with `2^k <= v < 2^(k+1)`; a sample of 0 is below
///   the lowest bucket and is counted in
///   [`outliers_low`](Self::outliers_low) instead (for a queue length, "how
///   often was it empty"). Every sample, outlier or not, counts in the
///   statistics. The Ruby gem finds the bucket with floating-point `log2`,
///   which misplaces values just below `2^48` and higher; this one is exact.
///
/// ```
/// use raindrops_core::Aggregate;
/// let mut a = Aggregate::new();
/// for v in [0, 1, 2, 3, 10] {
///     a.push(v);
/// }
/// assert_eq!(a.count(), 5);
/// assert_eq!((a.min(), a.max()), (Some(0), Some(10)));
/// assert_eq!(a.mean(), Some(3.2));
/// assert_eq!(a.outliers_low(), 1);
/// // buckets: [1,2) has 1, [2,4) has 2, [8,16) has 1
/// let nonzero: Vec<_> = a.histogram().filter(|b| b.count > 0).map(|b| (b.low, b.count)).collect();
/// assert_eq!(nonzero, [(1, 1), (2, 2), (8, 1)]);
/// ```
#[derive(Clone, PartialEq)]
pub struct Aggregate {
    count: u64,
    min: u64,
    max: u64,
    sum: u128,
    sum_squares: u128,
    squares_saturated: bool,
    mean: f64,
    m2: f64,
    outliers_low: u64,
    outliers_high: u64,
    buckets: [u64; HISTOGRAM_BUCKETS],
}

/// One bucket of an [`Aggregate`]'s histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistogramBucket {
    /// The bucket's index `k`.
    pub index: usize,
    /// The smallest value the bucket holds, `2^k` (what Ruby prints).
    pub low: u64,
    /// The number of samples in `[2^k, 2^(k+1))`.
    pub count: u64,
}

impl Aggregate {
    /// An empty aggregate.
    pub const fn new() -> Self {
        Aggregate {
            count: 0,
            min: 0,
            max: 0,
            sum: 0,
            sum_squares: 0,
            squares_saturated: false,
            mean: 0.0,
            m2: 0.0,
            outliers_low: 0,
            outliers_high: 0,
            buckets: [0; HISTOGRAM_BUCKETS],
        }
    }

    /// The histogram bucket a sample falls into, or `None` for 0, which is
    /// below the lowest bucket (a low outlier).
    pub const fn bucket_of(value: u64) -> Option<usize> {
        if value == 0 {
            None
        } else {
            Some(value.ilog2() as usize)
        }
    }

    /// Adds one sample (Ruby's `<<`).
    pub fn push(&mut self, value: u64) {
        if self.count == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += 1;
        let x = value as f64;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
        self.sum = self.sum.saturating_add(u128::from(value));
        let sq = u128::from(value) * u128::from(value);
        match self.sum_squares.checked_add(sq) {
            Some(s) => self.sum_squares = s,
            None => {
                self.sum_squares = u128::MAX;
                self.squares_saturated = true;
            }
        }
        match Self::bucket_of(value) {
            Some(k) => self.buckets[k] += 1,
            None => self.outliers_low += 1,
        }
    }

    /// The number of samples.
    pub const fn count(&self) -> u64 {
        self.count
    }

    /// The smallest sample, if any.
    pub const fn min(&self) -> Option<u64> {
        if self.count == 0 {
            None
        } else {
            Some(self.min)
        }
    }

    /// The largest sample, if any.
    pub const fn max(&self) -> Option<u64> {
        if self.count == 0 {
            None
        } else {
            Some(self.max)
        }
    }

    /// The exact sum of the samples (saturating at `u128::MAX`, which needs
    /// more than 2^64 samples).
    pub const fn sum(&self) -> u128 {
        self.sum
    }

    /// The exact sum of the squared samples, or `None` once it no longer fits
    /// a `u128` (samples near `u64::MAX`; the variance then comes from
    /// Welford's update, or, in a snapshot of an
    /// [`AtomicAggregate`](crate::AtomicAggregate), from the sums in
    /// floating point, where samples far from 0 with a small spread lose
    /// precision). The Ruby gem computes its standard
    /// deviation from this and [`sum`](Self::sum); renderers that must print
    /// Ruby's digits use them, everything else uses
    /// [`std_dev`](Self::std_dev).
    pub const fn sum_of_squares(&self) -> Option<u128> {
        if self.squares_saturated {
            None
        } else {
            Some(self.sum_squares)
        }
    }

    /// The arithmetic mean, if there are samples.
    pub fn mean(&self) -> Option<f64> {
        if self.count == 0 {
            None
        } else if self.sum < u128::MAX {
            Some(exact_mean(self.count, self.sum))
        } else {
            Some(self.mean)
        }
    }

    /// The sample variance (divided by `count - 1`, as Ruby's `std_dev`
    /// squared), if there are at least two samples.
    pub fn variance(&self) -> Option<f64> {
        if self.count < 2 {
            return None;
        }
        let m2 = if self.squares_saturated || self.sum == u128::MAX {
            self.m2
        } else {
            exact_m2(self.count, self.sum, self.sum_squares)
        };
        Some(m2 / (self.count - 1) as f64)
    }

    /// The sample standard deviation, if there are at least two samples
    /// (Ruby's gem gives NaN for one sample).
    pub fn std_dev(&self) -> Option<f64> {
        self.variance().map(math::sqrt)
    }

    /// Samples below the lowest histogram bucket (zeros).
    pub const fn outliers_low(&self) -> u64 {
        self.outliers_low
    }

    /// Samples above the highest histogram bucket: always 0 here, since the
    /// 64 buckets cover every `u64` (kept for the Ruby field of that name).
    pub const fn outliers_high(&self) -> u64 {
        self.outliers_high
    }

    /// The raw bucket counts; index `k` counts samples in `[2^k, 2^(k+1))`.
    pub const fn buckets(&self) -> &[u64; HISTOGRAM_BUCKETS] {
        &self.buckets
    }

    /// Every bucket, empty ones included, in increasing order.
    pub fn histogram(&self) -> impl ExactSizeIterator<Item = HistogramBucket> + '_ {
        self.buckets
            .iter()
            .enumerate()
            .map(|(index, &count)| HistogramBucket {
                index,
                low: 1u64 << index,
                count,
            })
    }

    /// Adds every sample of `other` to `self`, as if they had been pushed
    /// here; the mean and variance combine with Chan et al.'s formula.
    pub fn merge(&mut self, other: &Aggregate) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        let delta = other.mean - self.mean;
        self.mean += delta * (nb / n);
        self.m2 += other.m2 + delta * delta * (na * nb / n);
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum = self.sum.saturating_add(other.sum);
        match self.sum_squares.checked_add(other.sum_squares) {
            Some(s) if !other.squares_saturated => self.sum_squares = s,
            _ => {
                self.sum_squares = u128::MAX;
                self.squares_saturated = true;
            }
        }
        self.outliers_low += other.outliers_low;
        self.outliers_high += other.outliers_high;
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
    }

    /// Forgets every sample.
    pub fn clear(&mut self) {
        *self = Self::new();
    }

    /// Builds an aggregate from exact integer moments, as kept by
    /// [`AtomicAggregate`](crate::AtomicAggregate). The mean and `m2` are
    /// derived without cancellation: with `sum = q * n + r`,
    /// `m2 = sum_squares - q^2 n - 2 q r - r^2 / n` where every integer term
    /// is exact. A sum of squares beyond a `u128` comes as its `f64`
    /// rounding, and `m2` is then `sum_squares - sum^2 / n` in floating
    /// point.
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(not(target_has_atomic = "64"), allow(dead_code))]
    pub(crate) fn from_moments(
        count: u64,
        min: u64,
        max: u64,
        sum: u128,
        sum_squares: Result<u128, f64>,
        outliers_low: u64,
        buckets: [u64; HISTOGRAM_BUCKETS],
    ) -> Self {
        let mut a = Aggregate {
            count,
            min,
            max,
            sum,
            sum_squares: sum_squares.unwrap_or(u128::MAX),
            squares_saturated: sum_squares.is_err(),
            mean: 0.0,
            m2: 0.0,
            outliers_low,
            outliers_high: 0,
            buckets,
        };
        if count == 0 {
            return a;
        }
        a.mean = exact_mean(count, sum);
        a.m2 = match sum_squares {
            Ok(exact) => exact_m2(count, sum, exact),
            Err(approx) => {
                let m2 = approx - (sum as f64) * (sum as f64) / count as f64;
                if m2 > 0.0 { m2 } else { 0.0 }
            }
        };
        a
    }
}

/// `sum / count`: correctly rounded while both fit an f64's mantissa, else
/// `q + r / count` with `sum = q * count + r` (two roundings, no overflow).
fn exact_mean(count: u64, sum: u128) -> f64 {
    const EXACT: u128 = 1 << f64::MANTISSA_DIGITS;
    if sum <= EXACT && u128::from(count) <= EXACT {
        // Both are exact as f64: one correctly rounded division.
        return sum as f64 / count as f64;
    }
    let n = u128::from(count);
    let (q, r) = (sum / n, sum % n);
    q as f64 + r as f64 / count as f64
}

/// The sum of squared deviations from the mean, from exact moments: with
/// `sum = q * n + r`, `m2 = sum_squares - q^2 n - 2 q r - r^2 / n`, where every
/// integer term is exact. Moments that cannot belong together (a torn read
/// under concurrent writers) saturate at 0 rather than wrapping.
fn exact_m2(count: u64, sum: u128, sum_squares: u128) -> f64 {
    let n = u128::from(count);
    let (q, r) = (sum / n, sum % n);
    let int_part = sum_squares
        .saturating_sub(q.saturating_mul(q).saturating_mul(n))
        .saturating_sub(q.saturating_mul(r).saturating_mul(2));
    let m2 = int_part as f64 - (r as f64 * r as f64) / count as f64;
    if m2 > 0.0 { m2 } else { 0.0 }
}

impl Default for Aggregate {
    fn default() -> Self {
        Self::new()
    }
}

impl Extend<u64> for Aggregate {
    fn extend<I: IntoIterator<Item = u64>>(&mut self, iter: I) {
        for v in iter {
            self.push(v);
        }
    }
}

impl FromIterator<u64> for Aggregate {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> Self {
        let mut a = Aggregate::new();
        a.extend(iter);
        a
    }
}

impl fmt::Debug for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aggregate")
            .field("count", &self.count)
            .field("min", &self.min())
            .field("max", &self.max())
            .field("mean", &self.mean())
            .field("std_dev", &self.std_dev())
            .field("outliers_low", &self.outliers_low)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn two_pass(xs: &[u64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var)
    }

    fn close(a: f64, b: f64) -> bool {
        let scale = a.abs().max(b.abs());
        scale == 0.0 || (a - b).abs() / scale < 1e-9 || (a - b).abs() < 1e-9
    }

    #[test]
    fn mean_is_correctly_rounded() {
        let a: Aggregate = [1u64, 2, 2].into_iter().collect();
        assert_eq!(a.mean(), Some(5.0 / 3.0));
    }

    #[test]
    fn empty_and_single() {
        let mut a = Aggregate::new();
        assert_eq!(
            (a.count(), a.min(), a.max(), a.mean()),
            (0, None, None, None)
        );
        assert_eq!(a.std_dev(), None);
        a.push(7);
        assert_eq!(a.mean(), Some(7.0));
        assert_eq!(a.std_dev(), None);
        a.push(9);
        assert_eq!(a.std_dev(), Some(2f64.sqrt()));
        assert_eq!(a.sum(), 16);
        assert_eq!(a.sum_of_squares(), Some(130));
    }

    #[test]
    fn bucket_edges() {
        assert_eq!(Aggregate::bucket_of(0), None);
        assert_eq!(Aggregate::bucket_of(1), Some(0));
        assert_eq!(Aggregate::bucket_of(2), Some(1));
        assert_eq!(Aggregate::bucket_of(3), Some(1));
        assert_eq!(Aggregate::bucket_of(4), Some(2));
        assert_eq!(Aggregate::bucket_of(u64::MAX), Some(63));
        let a: Aggregate = [u64::MAX, u64::MAX, 0].into_iter().collect();
        assert_eq!(a.buckets()[63], 2);
        assert_eq!(a.sum_of_squares(), None);
        assert_eq!(a.sum(), 2 * u128::from(u64::MAX));
    }

    #[test]
    fn stable_for_large_offsets() {
        // A naive sum-of-squares formula loses everything here.
        let offsets: Vec<u64> = (0..1000).map(|i| i % 7).collect();
        let xs: Vec<u64> = offsets.iter().map(|i| 1_000_000_000_000 + i).collect();
        let a: Aggregate = xs.iter().copied().collect();
        // The variance does not depend on the offset; the small values are
        // exact in a two-pass f64 computation.
        let (mean, var) = two_pass(&offsets);
        assert!(close(a.mean().unwrap(), mean + 1e12));
        assert!(close(a.variance().unwrap(), var));
        let m = Aggregate::from_moments(
            a.count(),
            a.min().unwrap(),
            a.max().unwrap(),
            a.sum(),
            Ok(a.sum_of_squares().unwrap()),
            a.outliers_low(),
            *a.buckets(),
        );
        assert!(close(m.variance().unwrap(), var));
    }

    proptest! {
        #[test]
        fn matches_two_pass(xs in proptest::collection::vec(0u64..1u64 << 40, 2..300)) {
            let a: Aggregate = xs.iter().copied().collect();
            let (mean, var) = two_pass(&xs);
            prop_assert!(close(a.mean().unwrap(), mean), "{} {}", a.mean().unwrap(), mean);
            prop_assert!(close(a.variance().unwrap(), var), "{} {}", a.variance().unwrap(), var);
            prop_assert_eq!(a.min(), xs.iter().copied().min());
            prop_assert_eq!(a.max(), xs.iter().copied().max());
            prop_assert_eq!(a.sum(), xs.iter().map(|&x| u128::from(x)).sum::<u128>());
            let hist: u64 = a.buckets().iter().sum();
            prop_assert_eq!(hist + a.outliers_low(), xs.len() as u64);
            let m = Aggregate::from_moments(a.count(), a.min().unwrap(), a.max().unwrap(),
                a.sum(), Ok(a.sum_of_squares().unwrap()), a.outliers_low(), *a.buckets());
            prop_assert!(close(m.mean().unwrap(), mean));
            prop_assert!(close(m.variance().unwrap(), var), "{} {}", m.variance().unwrap(), var);
        }

        #[test]
        fn merge_is_concatenation(
            xs in proptest::collection::vec(0u64..1_000_000, 0..200),
            ys in proptest::collection::vec(0u64..1_000_000, 0..200),
        ) {
            let mut a: Aggregate = xs.iter().copied().collect();
            let b: Aggregate = ys.iter().copied().collect();
            a.merge(&b);
            let all: Aggregate = xs.iter().chain(&ys).copied().collect();
            prop_assert_eq!(a.count(), all.count());
            prop_assert_eq!(a.min(), all.min());
            prop_assert_eq!(a.max(), all.max());
            prop_assert_eq!(a.sum(), all.sum());
            prop_assert_eq!(a.sum_of_squares(), all.sum_of_squares());
            prop_assert_eq!(a.buckets(), all.buckets());
            prop_assert_eq!(a.outliers_low(), all.outliers_low());
            match (a.mean(), all.mean()) {
                (Some(x), Some(y)) => prop_assert!(close(x, y)),
                (x, y) => prop_assert_eq!(x, y),
            }
            match (a.variance(), all.variance()) {
                (Some(x), Some(y)) => prop_assert!(close(x, y), "{} {}", x, y),
                (x, y) => prop_assert_eq!(x, y),
            }
        }
    }
}
