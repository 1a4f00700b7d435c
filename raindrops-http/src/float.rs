//! Floating-point output as Ruby prints it, and the arithmetic of Ruby's
//! `aggregate` gem, without `std`.

use core::fmt::{self, Write};

use raindrops_core::Aggregate;

/// Formats an `f64` exactly as Ruby's `Float#to_s`: the shortest digits that
/// read back to the same value (as Rust's `{}`), written `100.0` (never
/// `100`) for decimal exponents from -4 to 15 and `1.0e+16`, `1.5e-05`
/// outside that range; `NaN`, `Infinity`, `-Infinity`.
///
/// ```
/// use raindrops_http::RubyFloat;
/// assert_eq!(RubyFloat(1.0).to_string(), "1.0");
/// assert_eq!(RubyFloat(1e16).to_string(), "1.0e+16");
/// assert_eq!(RubyFloat(0.00012).to_string(), "0.00012");
/// assert_eq!(RubyFloat(1.2e-5).to_string(), "1.2e-05");
/// assert_eq!(RubyFloat(2.0f64 / 3.0).to_string(), "0.6666666666666666");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RubyFloat(pub f64);

impl fmt::Display for RubyFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_ruby_float(f, self.0)
    }
}

pub(crate) fn write_ruby_float<W: fmt::Write + ?Sized>(w: &mut W, x: f64) -> fmt::Result {
    if x.is_nan() {
        return w.write_str("NaN");
    }
    if x.is_infinite() {
        return w.write_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
    }
    if x.is_sign_negative() {
        w.write_char('-')?;
    }
    let x = x.abs();
    if x == 0.0 {
        return w.write_str("0.0");
    }
    // Rust's `{:e}` gives the same shortest round-trip digits as Ruby's
    // dtoa mode 0: "d.ddde-N" or "de N".
    let mut sci = heapless::String::<40>::new();
    write!(sci, "{x:e}")?;
    let (mant, exp) = sci.split_once('e').ok_or(fmt::Error)?;
    let exp: i32 = exp.parse().map_err(|_| fmt::Error)?;
    let mut digits = heapless::String::<24>::new();
    for part in mant.split('.') {
        digits.write_str(part)?;
    }
    let d = digits.as_str();
    let n = d.len() as i32;
    let decpt = exp + 1; // value = 0.DIGITS * 10^decpt
    if decpt > 0 && decpt <= 15 {
        if n > decpt {
            let (int, frac) = d.split_at(decpt as usize);
            w.write_str(int)?;
            w.write_char('.')?;
            w.write_str(frac)
        } else {
            w.write_str(d)?;
            crate::text::repeat(w, '0', (decpt - n) as usize)?;
            w.write_str(".0")
        }
    } else if decpt <= 0 && decpt > -4 {
        w.write_str("0.")?;
        crate::text::repeat(w, '0', (-decpt) as usize)?;
        w.write_str(d)
    } else {
        let (first, rest) = d.split_at(1);
        w.write_str(first)?;
        w.write_char('.')?;
        w.write_str(if rest.is_empty() { "0" } else { rest })?;
        let e = decpt - 1;
        write!(
            w,
            "e{}{:02}",
            if e < 0 { '-' } else { '+' },
            e.unsigned_abs()
        )
    }
}

/// The mean as the Ruby `aggregate` gem computes it: the floating-point
/// sum divided by the count (NaN without samples). Print it with
/// [`RubyFloat`] for Ruby's digits.
pub fn ruby_mean(a: &Aggregate) -> f64 {
    a.sum() as f64 / a.count() as f64
}

/// The standard deviation as the Ruby `aggregate` gem computes it:
/// `sqrt((sum2 - sum * sum / count) / (count - 1))` in floating point, NaN
/// for fewer than two samples. For samples whose sums stay below 2^53 (any
/// connection count) the gem's running float sums are exact, so feeding the
/// exact integer moments gives Ruby's digits. Where Ruby would raise
/// (a negative radicand from rounding), this gives NaN.
pub fn ruby_std_dev(a: &Aggregate) -> f64 {
    let n = a.count() as f64;
    let s = a.sum() as f64;
    let s2 = match a.sum_of_squares() {
        Some(v) => v as f64,
        None => f64::INFINITY,
    };
    sqrt((s2 - (s * s) / n) / (n - 1.0))
}

/// Ruby's `Float#round` to an integer: halves away from zero. `None` for
/// NaN and infinities (where Ruby raises `FloatDomainError`).
pub(crate) fn round_half_away(x: f64) -> Option<i128> {
    if !x.is_finite() {
        return None;
    }
    // |x| >= 2^52 is already an integer (and `as` saturates far beyond).
    let t = x as i128;
    if x.abs() >= 4_503_599_627_370_496.0 {
        return Some(t);
    }
    let frac = x - t as f64;
    Some(if frac >= 0.5 {
        t + 1
    } else if frac <= -0.5 {
        t - 1
    } else {
        t
    })
}

pub(crate) use raindrops_core::sqrt;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::ToString;

    #[test]
    fn ruby_forms() {
        // Each pair printed by `ruby -e 'p X'` (Ruby 3.1).
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (1e16, "1.0e+16"),
            (1e15, "1.0e+15"),
            (1e14, "100000000000000.0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (1e20, "1.0e+20"),
            (1.0 / 3.0, "0.3333333333333333"),
            (2.5e-300, "2.5e-300"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (1e100, "1.0e+100"),
            (100.0, "100.0"),
            (1234567890123456.0, "1.234567890123456e+15"),
            (999999999999999.9, "999999999999999.9"),
            (5e-324, "5.0e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
        ];
        for &(x, s) in cases {
            assert_eq!(RubyFloat(x).to_string(), s, "{x:e}");
        }
    }

    #[test]
    fn rounding() {
        assert_eq!(round_half_away(2.5), Some(3));
        assert_eq!(round_half_away(-2.5), Some(-3));
        assert_eq!(round_half_away(2.4999), Some(2));
        assert_eq!(round_half_away(1e300), Some(i128::MAX));
        assert_eq!(round_half_away(f64::NAN), None);
    }

    #[test]
    fn ruby_moments() {
        let a: Aggregate = [1u64, 3, 3].into_iter().collect();
        // Printed by Ruby's Aggregate for the same samples.
        assert_eq!(RubyFloat(ruby_mean(&a)).to_string(), "2.3333333333333335");
        assert_eq!(
            RubyFloat(ruby_std_dev(&a)).to_string(),
            "1.1547005383792517"
        );
        let one: Aggregate = [5u64].into_iter().collect();
        assert!(ruby_std_dev(&one).is_nan());
        assert!(ruby_mean(&Aggregate::new()).is_nan());
    }

    proptest! {
        #[test]
        fn roundtrips(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            let s = RubyFloat(x).to_string();
            if x.is_finite() {
                prop_assert_eq!(s.parse::<f64>().unwrap().to_bits(), x.to_bits());
            }
        }
    }
}
