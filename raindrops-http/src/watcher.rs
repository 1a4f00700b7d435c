//! Ruby's `Raindrops::Watcher` pages and `Raindrops::LastDataRecv`.

use core::fmt;
use core::ops::ControlFlow;
use core::time::Duration;

use raindrops_core::{Aggregate, ListenStats};

use crate::float::{round_half_away, ruby_mean, ruby_std_dev};
use crate::histogram_text::write_histogram;
use crate::response::{HeaderValue, Headers};
use crate::source::ListenerVisitor;
use crate::text::{self, HtmlEscaper};
use crate::time::Timestamp;

/// The longest listener address the Watcher paths take, in bytes after
/// percent-decoding: the display form of any Unix socket name (at most
/// 108 bytes, each escaped in at most 4) fits.
pub const MAX_ADDR_LEN: usize = 512;

/// Which of a listener's two sampled numbers a summary is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Which {
    /// Established, accepted connections.
    Active,
    /// Connections waiting in the accept queue.
    Queued,
}

/// What a Watcher summary page shows for one listener and one number.
#[derive(Clone, Copy, Debug)]
pub struct Summary<'a> {
    /// When the last sample was taken.
    pub updated_at: Timestamp,
    /// When the history was last reset (the watcher's start if never).
    pub reset_at: Timestamp,
    /// The samples since then.
    pub aggregate: &'a Aggregate,
    /// The number in the last sample.
    pub current: u64,
    /// When the maximum was first reached.
    pub first_peak_at: Timestamp,
    /// When the maximum was last reached.
    pub last_peak_at: Timestamp,
}

/// The sampled history behind the Watcher pages, as Ruby's
/// `Raindrops::Watcher` keeps it; `WatcherState`
/// (feature `alloc`) is the ready-made implementation.
pub trait Watcher {
    /// When the last sample was taken.
    fn updated_at(&self) -> Timestamp;

    /// The interval between samples (pages expire after it).
    fn delay(&self) -> Duration;

    /// Visits every listener of the last sample, in byte order of the
    /// address (the order of the index page).
    fn sampled(&self, visit: &mut ListenerVisitor<'_>) -> ControlFlow<()>;

    /// The stats of `addr` in the last sample.
    fn current(&self, addr: &str) -> Option<ListenStats>;

    /// The summary of `addr`; for an address absent from the last sample,
    /// an empty one (Ruby answers with zero samples there, not 404).
    fn summary(&self, addr: &str, which: Which) -> Summary<'_>;

    /// Forgets the samples of `addr` (at `now`, or the last sample's time
    /// when unknown); `false` if `addr` was never sampled.
    fn reset(&mut self, addr: &str, now: Option<Timestamp>) -> bool;
}

/// The names of the `X-` headers of a summary, in Ruby's order.
pub const SUMMARY_HEADERS: [&str; 11] = [
    "X-Count",
    "X-Min",
    "X-Max",
    "X-Mean",
    "X-Std-Dev",
    "X-Outliers-Low",
    "X-Outliers-High",
    "X-Last-Reset",
    "X-Current",
    "X-First-Peak-At",
    "X-Last-Peak-At",
];

/// The values of [`SUMMARY_HEADERS`] for `s`, formatted as Ruby does:
/// integers, `Float#to_s` for the mean and standard deviation (computed
/// the `aggregate` gem's way, `NaN` without enough samples), an empty
/// min/max without samples, HTTP-dates.
pub fn summary_header_values(s: &Summary<'_>) -> [HeaderValue<'static>; 11] {
    let a = s.aggregate;
    let opt = |v: Option<u64>| match v {
        Some(v) => HeaderValue::format(format_args!("{v}")),
        None => HeaderValue::Static(""),
    };
    let float = |x: f64| HeaderValue::format(format_args!("{}", crate::RubyFloat(x)));
    [
        HeaderValue::format(format_args!("{}", a.count())),
        opt(a.min()),
        opt(a.max()),
        float(ruby_mean(a)),
        float(ruby_std_dev(a)),
        HeaderValue::format(format_args!("{}", a.outliers_low())),
        HeaderValue::format(format_args!("{}", a.outliers_high())),
        HeaderValue::format(format_args!("{}", s.reset_at.http_date())),
        HeaderValue::format(format_args!("{}", s.current)),
        HeaderValue::format(format_args!("{}", s.first_peak_at.http_date())),
        HeaderValue::format(format_args!("{}", s.last_peak_at.http_date())),
    ]
}

/// The headers of a summary page before `Content-Length`: the `X-`
/// headers, `Content-Type`, `Expires` (last sample + delay).
pub(crate) fn summary_headers(h: &mut Headers<'_>, s: &Summary<'_>, delay: Duration, html: bool) {
    for (name, value) in SUMMARY_HEADERS.iter().zip(summary_header_values(s)) {
        h.push(name, value);
    }
    h.push(
        "Content-Type",
        HeaderValue::Static(if html { "text/html" } else { "text/plain" }),
    );
    h.push(
        "Expires",
        HeaderValue::format(format_args!(
            "{}",
            s.updated_at.saturating_add(delay).http_date()
        )),
    );
}

/// Writes the body of `GET /active/ADDR.txt` (and `queued`): the text
/// histogram ([`HistogramText`](crate::HistogramText)).
pub fn render_summary_txt<W: fmt::Write + ?Sized>(s: &Summary<'_>, w: &mut W) -> fmt::Result {
    write_histogram(w, s.aggregate)
}

/// Writes the body of `GET /active/ADDR.html` (and `queued`) as Ruby does:
/// a table of the `X-` headers, the histogram and a reset button. The
/// hostname and address are HTML-escaped (Ruby leaves the hostname as is).
pub fn render_summary_html<W: fmt::Write + ?Sized>(
    hostname: &str,
    addr: &str,
    s: &Summary<'_>,
    w: &mut W,
) -> fmt::Result {
    w.write_str("<html><head><title>")?;
    text::html(w, hostname)?;
    w.write_str(" - ")?;
    fmt::Write::write_fmt(
        &mut HtmlEscaper(w),
        format_args!("{}", raindrops_core::SafeText(addr)),
    )?;
    w.write_str("</title></head><body><table>")?;
    for (name, value) in SUMMARY_HEADERS.iter().zip(summary_header_values(s)) {
        let name = name.strip_prefix("X-").unwrap_or(name);
        w.write_str("<tr><td>")?;
        w.write_str(name)?;
        w.write_str("</td><td>")?;
        text::html(w, value.as_str())?;
        w.write_str("</td></tr>")?;
    }
    w.write_str("</table><pre>")?;
    write_histogram(&mut HtmlEscaper(w), s.aggregate)?;
    w.write_str("</pre><form action='../reset/")?;
    text::form_encode(w, addr)?;
    w.write_str("' method='post'><input type='submit' name='x' value='reset' /></form></body>")
}

/// The documentation link of Ruby's index page.
const DOC_URL: &str = "https://yhbt.net/raindrops/Raindrops/Watcher.html";

/// Writes the Watcher index (`GET /`) as Ruby does: a table of every
/// listener of the last sample (address linking to its `tail`, active and
/// queued linking to their summaries, a reset button), in the order of
/// [`Watcher::sampled`].
///
/// Beyond Ruby: when any listener knows its `drops`, a `drops` column
/// follows `queued` (empty for listeners without it); otherwise the page
/// is byte for byte Ruby's, except that the hostname is escaped.
pub fn render_index<V: Watcher + ?Sized, W: fmt::Write + ?Sized>(
    watcher: &V,
    hostname: &str,
    w: &mut W,
) -> fmt::Result {
    let mut drops = false;
    let _ = watcher.sampled(&mut |l| {
        drops = l.stats.drops.is_some();
        if drops {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    w.write_str("<html><head><title>")?;
    text::html(w, hostname)?;
    write!(
        w,
        " - all interfaces</title></head><body><h3>Updated at {}</h3>\
         <table><tr><th>address</th><th>active</th><th>queued</th>",
        watcher.updated_at().iso8601()
    )?;
    if drops {
        w.write_str("<th>drops</th>")?;
    }
    w.write_str("<th>reset</th></tr>")?;
    let mut res = Ok(());
    let mut row = |addr: &str, s: &ListenStats| -> fmt::Result {
        let enc = |w: &mut W| text::form_encode(w, addr);
        w.write_str("<tr><td><a href='tail/")?;
        enc(w)?;
        w.write_str(".txt' title='&quot;tail&quot; output in real time'>")?;
        fmt::Write::write_fmt(
            &mut HtmlEscaper(w),
            format_args!("{}", raindrops_core::SafeText(addr)),
        )?;
        w.write_str("</a></td><td><a href='active/")?;
        enc(w)?;
        write!(
            w,
            ".html' title='show active connection stats'>{}</a></td><td><a href='queued/",
            s.active
        )?;
        enc(w)?;
        write!(
            w,
            ".html' title='show queued connection stats'>{}</a></td>",
            s.queued
        )?;
        if drops {
            match s.drops {
                Some(d) => write!(w, "<td>{d}</td>")?,
                None => w.write_str("<td></td>")?,
            }
        }
        w.write_str("<td><form action='reset/")?;
        enc(w)?;
        w.write_str(
            "' method='post'><input title='reset statistics' \
             type='submit' name='x' value='x' /></form></td></tr>",
        )
    };
    let _ = watcher.sampled(&mut |l| match row(l.name, &l.stats) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            res = Err(e);
            ControlFlow::Break(())
        }
    });
    res?;
    write!(
        w,
        "</table><p>This is running the Raindrops::Watcher</a> service, see \
         <a href='{DOC_URL}'>{DOC_URL}</a> for more information and options.</p>\
         </body></html>"
    )
}

/// Writes one line of `GET /tail/ADDR.txt` as Ruby's
/// `format("%20s % Ns % 10u % 10u\n", time.iso8601, addr, active, queued)`
/// with `N` the address length capped at 35 (longer addresses are not cut).
///
/// ```
/// use raindrops_http::{write_tail_line, Timestamp};
/// let mut s = String::new();
/// write_tail_line(&mut s, Timestamp::new(1_704_067_200, 0), "1.2.3.4:80", 5, 123).unwrap();
/// assert_eq!(s, "2024-01-01T00:00:00Z 1.2.3.4:80          5        123\n");
/// ```
pub fn write_tail_line<W: fmt::Write + ?Sized>(
    w: &mut W,
    time: Timestamp,
    addr: &str,
    active: u32,
    queued: u32,
) -> fmt::Result {
    // `% Ns` with N the address's own length (capped at 35) never pads.
    write!(
        w,
        "{:>20} {} ",
        time.iso8601(),
        raindrops_core::SafeText(addr)
    )?;
    // "% 10u": a sign column (a space), the whole right-aligned in 10.
    let field = |w: &mut W, n: u32| -> fmt::Result {
        text::spaces(
            w,
            10usize.saturating_sub(text::digits(u128::from(n))).max(1),
        )?;
        write!(w, "{n}")
    };
    field(w, active)?;
    w.write_char(' ')?;
    field(w, queued)?;
    w.write_char('\n')
}

/// The `tail` stream of one listener, as the router returns it: the caller
/// calls [`write_line`](Self::write_line) after each new sample and sends
/// what it writes (Ruby waits for the next sample, then writes a line if
/// the listener is in it and both minimums are reached).
///
/// It owns its data (`'static`), so a streaming body can keep it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tail {
    addr: heapless::String<MAX_ADDR_LEN>,
    active_min: u32,
    queued_min: u32,
}

impl Tail {
    /// A stream for `addr` with minimums (`None` if `addr` is longer than
    /// [`MAX_ADDR_LEN`]).
    pub fn new(addr: &str, active_min: u32, queued_min: u32) -> Option<Self> {
        Some(Tail {
            addr: heapless::String::try_from(addr).ok()?,
            active_min,
            queued_min,
        })
    }

    /// The listener address.
    pub fn addr(&self) -> &str {
        self.addr.as_str()
    }

    /// The `active_min` query parameter.
    pub const fn active_min(&self) -> u32 {
        self.active_min
    }

    /// The `queued_min` query parameter.
    pub const fn queued_min(&self) -> u32 {
        self.queued_min
    }

    /// Writes the line for the watcher's last sample, if the listener is
    /// in it and reaches both minimums; returns whether it wrote.
    pub fn write_line<V: Watcher + ?Sized, W: fmt::Write + ?Sized>(
        &self,
        watcher: &V,
        w: &mut W,
    ) -> Result<bool, fmt::Error> {
        let Some(s) = watcher.current(self.addr()) else {
            return Ok(false);
        };
        if s.queued < self.queued_min || s.active < self.active_min {
            return Ok(false);
        }
        write_tail_line(w, watcher.updated_at(), self.addr(), s.active, s.queued)?;
        Ok(true)
    }
}

/// The headers of Ruby's `Raindrops::LastDataRecv` before
/// `Content-Length`: `Content-Type`, `X-Count`, and with more than one
/// sample `X-Min`, `X-Max`, `X-Mean` and `X-Std-Dev` (both rounded to
/// integers, halves away from zero), `X-Outliers-Low`, `X-Outliers-High`.
pub(crate) fn last_data_recv_headers(h: &mut Headers<'_>, a: &Aggregate) {
    h.push("Content-Type", HeaderValue::Static("text/plain"));
    h.push(
        "X-Count",
        HeaderValue::format(format_args!("{}", a.count())),
    );
    if a.count() > 1 {
        let round = |x: f64| match round_half_away(x) {
            Some(v) => HeaderValue::format(format_args!("{v}")),
            None => HeaderValue::format(format_args!("{}", crate::RubyFloat(x))),
        };
        let int = |v: u64| HeaderValue::format(format_args!("{v}"));
        h.push("X-Min", int(a.min().unwrap_or(0)));
        h.push("X-Max", int(a.max().unwrap_or(0)));
        h.push("X-Mean", round(ruby_mean(a)));
        h.push("X-Std-Dev", round(ruby_std_dev(a)));
        h.push("X-Outliers-Low", int(a.outliers_low()));
        h.push("X-Outliers-High", int(a.outliers_high()));
    }
}

/// Writes the headers of Ruby's `Raindrops::LastDataRecv` page except
/// `Content-Length`, as `name: value` lines, for callers that serve it
/// without the router; its body is [`HistogramText`](crate::HistogramText).
pub fn render_last_data_recv_headers<W: fmt::Write + ?Sized>(
    a: &Aggregate,
    w: &mut W,
) -> fmt::Result {
    let mut h = Headers::new();
    last_data_recv_headers(&mut h, a);
    for header in h.iter() {
        writeln!(w, "{}: {}", header.name, header.value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn tail_lines() {
        let t = Timestamp::new(1_704_067_200, 0);
        let mut s = String::new();
        write_tail_line(&mut s, t, "1.2.3.4:80", 5, 123).unwrap();
        write_tail_line(
            &mut s,
            t,
            "/a/very/long/unix/socket/path/that/is/long.sock",
            0,
            u32::MAX,
        )
        .unwrap();
        assert_eq!(
            s,
            "2024-01-01T00:00:00Z 1.2.3.4:80          5        123\n\
             2024-01-01T00:00:00Z /a/very/long/unix/socket/path/that/is/long.sock          0  4294967295\n"
        );
        assert!(Tail::new(&"x".repeat(MAX_ADDR_LEN + 1), 0, 0).is_none());
    }

    #[test]
    fn last_data_recv() {
        let a: Aggregate = [1u64, 2].into_iter().collect();
        let mut s = String::new();
        render_last_data_recv_headers(&a, &mut s).unwrap();
        assert_eq!(
            s,
            "Content-Type: text/plain\nX-Count: 2\nX-Min: 1\nX-Max: 2\nX-Mean: 2\n\
             X-Std-Dev: 1\nX-Outliers-Low: 0\nX-Outliers-High: 0\n"
        );
        let mut s = String::new();
        render_last_data_recv_headers(&Aggregate::new(), &mut s).unwrap();
        assert_eq!(s, "Content-Type: text/plain\nX-Count: 0\n");
    }
}
