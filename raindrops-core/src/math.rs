//! Floating-point helpers that `core` lacks without `std`.

/// The correctly rounded square root of `x`: the IEEE 754 result, the same
/// bits as `std`'s `f64::sqrt`, computed with integer arithmetic so that it
/// works without `std` or `libm`. NaN for negative `x` and NaN.
///
/// ```
/// assert_eq!(raindrops_core::sqrt(2.0), 2f64.sqrt());
/// ```
pub fn sqrt(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 || x.is_infinite() {
        return x;
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    // x = mant * 2^exp with mant a 53-bit integer (normalised for subnormals).
    let (mant, mut exp) = if biased == 0 {
        let shift = frac.leading_zeros() - 11;
        (frac << shift, 1 - 1075 - shift as i32)
    } else {
        (frac | (1u64 << 52), biased - 1075)
    };
    let mut m = u128::from(mant);
    if exp & 1 != 0 {
        m <<= 1;
        exp -= 1;
    }
    // Scale so that the integer root has 58 or 59 bits: 53 kept plus
    // rounding bits.
    m <<= 64;
    exp -= 64;
    let r = isqrt(m);
    let exact = r * r == m;
    let width = 128 - r.leading_zeros() as i32;
    let mut drop = width - 53;
    let mut keep = r >> drop;
    let rem = r & ((1u128 << drop) - 1);
    let half = 1u128 << (drop - 1);
    // The true root lies in [r, r + 1): above `half` of the dropped part, or
    // at exactly `half` with more below, rounds up; an exact tie goes to even.
    if rem > half || (rem == half && (!exact || keep & 1 == 1)) {
        keep += 1;
        if keep == 1u128 << 53 {
            keep >>= 1;
            drop += 1;
        }
    }
    let e = drop + exp / 2; // result = keep * 2^e, keep in [2^52, 2^53)
    let biased = (e + 52 + 1023) as u64;
    f64::from_bits((biased << 52) | (keep as u64 & ((1u64 << 52) - 1)))
}

/// The integer square root: the largest `r` with `r * r <= n`.
fn isqrt(n: u128) -> u128 {
    if n < 2 {
        return n;
    }
    // Newton's method from a power of two above the root; it decreases
    // monotonically to the floor of the root.
    let bits = 128 - n.leading_zeros();
    let mut x = 1u128 << bits.div_ceil(2);
    loop {
        let y = (x + n / x) / 2;
        if y >= x {
            return x;
        }
        x = y;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn special_values() {
        assert!(sqrt(-1.0).is_nan());
        assert!(sqrt(f64::NAN).is_nan());
        assert_eq!(sqrt(0.0), 0.0);
        assert_eq!(sqrt(f64::INFINITY), f64::INFINITY);
        assert_eq!(sqrt(4.0), 2.0);
        assert_eq!(sqrt(2.0), std::f64::consts::SQRT_2);
        assert_eq!(sqrt(f64::MIN_POSITIVE), f64::MIN_POSITIVE.sqrt());
        assert_eq!(sqrt(f64::MAX), f64::MAX.sqrt());
        assert_eq!(sqrt(5e-324), 5e-324f64.sqrt());
    }

    #[test]
    fn isqrt_edges() {
        for n in 0u128..2000 {
            let r = isqrt(n);
            assert!(r * r <= n && (r + 1) * (r + 1) > n, "{n}");
        }
        assert_eq!(isqrt(u128::MAX), u64::MAX as u128);
    }

    proptest! {
        #[test]
        fn same_bits_as_std(bits in 0u64..0x7ff0_0000_0000_0000) {
            let x = f64::from_bits(bits);
            prop_assert_eq!(sqrt(x).to_bits(), x.sqrt().to_bits());
        }

        #[test]
        fn same_bits_on_integers(n in 0u64..) {
            let x = n as f64;
            prop_assert_eq!(sqrt(x).to_bits(), x.sqrt().to_bits());
        }
    }
}
