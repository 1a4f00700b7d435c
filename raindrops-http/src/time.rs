//! Timestamps supplied by the caller and their HTTP and ISO 8601 forms.

use core::fmt;
use core::time::Duration;

/// A point in time as seconds and nanoseconds since the Unix epoch (UTC).
///
/// The crate never reads a clock: callers pass the time of each sample and,
/// for resets, of the request (with the `std` feature,
/// `Timestamp::now` and `From<SystemTime>` do it for them).
///
/// ```
/// use raindrops_http::Timestamp;
/// let t = Timestamp::new(1_700_000_003, 500_000_000);
/// assert_eq!(t.http_date().to_string(), "Tue, 14 Nov 2023 22:13:23 GMT");
/// assert_eq!(t.iso8601().to_string(), "2023-11-14T22:13:23Z");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years an HTTP-date
/// and `%Y` can show with four digits.
const MIN_SECS: i64 = -62_167_219_200;
const MAX_SECS: i64 = 253_402_300_799;

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp { secs: 0, nanos: 0 };

    /// `secs` seconds and `nanos` nanoseconds after the epoch; nanoseconds
    /// of a second or more carry into the seconds.
    pub const fn new(secs: i64, nanos: u32) -> Self {
        Timestamp {
            secs: secs.saturating_add((nanos / 1_000_000_000) as i64),
            nanos: nanos % 1_000_000_000,
        }
    }

    /// The current time from the system clock.
    #[cfg(feature = "std")]
    pub fn now() -> Self {
        std::time::SystemTime::now().into()
    }

    /// Whole seconds since the epoch (negative before it).
    pub const fn secs(&self) -> i64 {
        self.secs
    }

    /// Nanoseconds within the second, below 1,000,000,000.
    pub const fn subsec_nanos(&self) -> u32 {
        self.nanos
    }

    /// This time plus `d`, saturating at the ends of the `i64` range.
    #[must_use]
    pub fn saturating_add(self, d: Duration) -> Self {
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let nanos = self.nanos + d.subsec_nanos();
        Timestamp::new(self.secs.saturating_add(secs), nanos)
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_sub(self, earlier: Timestamp) -> Duration {
        if self <= earlier {
            return Duration::ZERO;
        }
        let nanos = |t: Timestamp| i128::from(t.secs) * 1_000_000_000 + i128::from(t.nanos);
        let d = nanos(self) - nanos(earlier);
        let secs = u64::try_from(d / 1_000_000_000).unwrap_or(u64::MAX);
        Duration::new(secs, (d % 1_000_000_000) as u32)
    }

    /// The HTTP-date form, `Sun, 06 Nov 1994 08:49:37 GMT` (Ruby's
    /// `Time#httpdate`; fractions of a second are dropped, years outside
    /// 0 to 9999 are clamped).
    pub const fn http_date(self) -> HttpDate {
        HttpDate(self)
    }

    /// The ISO 8601 form in UTC, `1994-11-06T08:49:37Z` (Ruby's
    /// `Time#utc.iso8601`; same truncation and clamping).
    pub const fn iso8601(self) -> Iso8601 {
        Iso8601(self)
    }

    fn civil(self) -> Civil {
        let secs = self.secs.clamp(MIN_SECS, MAX_SECS);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        // Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month: month as usize,
            day,
            hour: sod / 3600,
            min: sod / 60 % 60,
            sec: sod % 60,
            // 1970-01-01 was a Thursday; 0 is Sunday.
            weekday: (days + 4).rem_euclid(7) as usize,
        }
    }
}

#[cfg(feature = "std")]
impl From<std::time::SystemTime> for Timestamp {
    fn from(t: std::time::SystemTime) -> Self {
        match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => Timestamp::UNIX_EPOCH.saturating_add(d),
            Err(e) => {
                let d = e.duration();
                let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                if d.subsec_nanos() == 0 {
                    Timestamp::new(-secs, 0)
                } else {
                    Timestamp::new(-secs - 1, 1_000_000_000 - d.subsec_nanos())
                }
            }
        }
    }
}

struct Civil {
    year: i64,
    month: usize,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    weekday: usize,
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A [`Timestamp`] displayed as an HTTP-date (IMF-fixdate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpDate(Timestamp);

impl fmt::Display for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0.civil();
        write!(
            f,
            "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
            DAYS[c.weekday % 7],
            c.day,
            MONTHS[(c.month + 11) % 12],
            c.year,
            c.hour,
            c.min,
            c.sec
        )
    }
}

/// A [`Timestamp`] displayed as ISO 8601 UTC with whole seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iso8601(Timestamp);

impl fmt::Display for Iso8601 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0.civil();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            c.year, c.month, c.day, c.hour, c.min, c.sec
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::ToString;

    #[test]
    fn known_dates() {
        let t = Timestamp::new(784_111_777, 0);
        assert_eq!(t.http_date().to_string(), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(t.iso8601().to_string(), "1994-11-06T08:49:37Z");
        assert_eq!(
            Timestamp::UNIX_EPOCH.http_date().to_string(),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(
            Timestamp::new(951_782_400, 0).iso8601().to_string(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            Timestamp::new(-1, 999_999_999).iso8601().to_string(),
            "1969-12-31T23:59:59Z"
        );
        assert_eq!(
            Timestamp::new(i64::MAX, 0).http_date().to_string(),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
        assert_eq!(
            Timestamp::new(i64::MIN, 0).iso8601().to_string(),
            "0000-01-01T00:00:00Z"
        );
        let t = Timestamp::new(10, 1_500_000_000);
        assert_eq!((t.secs(), t.subsec_nanos()), (11, 500_000_000));
        let t = t.saturating_add(Duration::from_millis(600));
        assert_eq!((t.secs(), t.subsec_nanos()), (12, 100_000_000));
    }

    #[cfg(feature = "std")]
    #[test]
    fn system_time() {
        let t = Timestamp::from(std::time::UNIX_EPOCH - Duration::from_millis(1500));
        assert_eq!((t.secs(), t.subsec_nanos()), (-2, 500_000_000));
        assert!(Timestamp::now().secs() > 1_600_000_000);
    }

    proptest! {
        /// Against a day-by-day walk from the epoch.
        #[test]
        fn civil_matches_naive(days in -719_528i64..2_932_897) {
            let c = Timestamp::new(days * 86_400 + 3723, 0).civil();
            // Naive: step years, then months.
            let (mut y, mut d) = (1970i64, days);
            let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let ylen = |y: i64| if leap(y) { 366 } else { 365 };
            while d < 0 { y -= 1; d += ylen(y); }
            while d >= ylen(y) { d -= ylen(y); y += 1; }
            let mlen = [31, if leap(y) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            let mut m = 0;
            while d >= mlen[m] { d -= mlen[m]; m += 1; }
            prop_assert_eq!((c.year, c.month, c.day), (y, m + 1, d + 1));
            prop_assert_eq!((c.hour, c.min, c.sec), (1, 2, 3));
            prop_assert_eq!(c.weekday as i64, (days + 4).rem_euclid(7));
        }
    }
}
