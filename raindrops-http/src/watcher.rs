//! Ruby's `Raindrops::Watcher` pages and `Raindrops::LastDataRecv`.

use core::fmt;
use core::ops::ControlFlow;
use core::time::Duration;

use raindrops_core::{Aggregate, ListenStats};

use crate::chart::{ChartVisitor, render_chart};
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

    /// Visits the recent samples of `addr`, oldest first, for the charts
    /// of its page (none by default: the charts then say so).
    fn recent(&self, addr: &str, visit: &mut ChartVisitor<'_>) -> ControlFlow<()> {
        let _ = (addr, visit);
        ControlFlow::Continue(())
    }
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

/// The style sheet of the Watcher pages: readable on a phone (the
/// viewport is the device's, charts scale, long Unix paths wrap instead of
/// pushing the numbers off screen), numbers aligned.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1rem;color:#222;\
max-width:64rem}h1{font-size:1.3rem;overflow-wrap:anywhere;word-break:break-all}\
h2{font-size:1.05rem;margin-top:1.2rem}table{border-collapse:collapse}\
th,td{padding:.25rem .5rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}\
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
.addr{overflow-wrap:anywhere;word-break:break-all}form{margin:0}\
.chart{display:block;width:100%;max-width:600px;height:auto}\
nav,footer{color:#555;font-size:.9rem}footer{margin-top:1.5rem}\
pre{overflow-x:auto}@media (max-width:32rem){body{margin:.5rem;font-size:.9rem}\
th,td{padding:.2rem .3rem}.reset{display:none}}";

/// Seconds between automatic refreshes of a page: the sampling delay,
/// rounded up, at least 1 and at most an hour.
fn refresh_secs(delay: Duration) -> u64 {
    let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    secs.clamp(1, 3600)
}

/// The document head shared by the pages, up to and including `<body>`.
/// `title` writes the (escaped) title text.
fn head<W: fmt::Write + ?Sized>(
    w: &mut W,
    delay: Duration,
    title: impl FnOnce(&mut W) -> fmt::Result,
) -> fmt::Result {
    write!(
        w,
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>\
         <meta name='viewport' content='width=device-width, initial-scale=1'>\
         <meta http-equiv='refresh' content='{}'><title>",
        refresh_secs(delay)
    )?;
    title(w)?;
    write!(w, "</title><style>{STYLE}</style></head><body>")
}

/// Our footer: what serves the page, which host, how often it samples.
fn footer<W: fmt::Write + ?Sized>(w: &mut W, hostname: &str, delay: Duration) -> fmt::Result {
    w.write_str("<footer>raindrops-rs ")?;
    w.write_str(env!("CARGO_PKG_VERSION"))?;
    w.write_str(" on ")?;
    text::html(w, hostname)?;
    w.write_str(", sampling every ")?;
    write_seconds(w, delay)?;
    w.write_str("; this page refreshes itself. <a href='")?;
    w.write_str(env!("CARGO_PKG_REPOSITORY"))?;
    w.write_str("'>About</a></footer></body></html>")
}

/// `1s`, `0.5s`, `2.25s`.
fn write_seconds<W: fmt::Write + ?Sized>(w: &mut W, d: Duration) -> fmt::Result {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        write!(w, "{}s", ms / 1000)
    } else {
        let s = ms as f64 / 1000.0;
        write!(w, "{}s", crate::RubyFloat(s))
    }
}

/// A name in HTML text: the display form through [`SafeText`](raindrops_core::SafeText), escaped.
fn html_name<W: fmt::Write + ?Sized>(w: &mut W, name: &str) -> fmt::Result {
    fmt::Write::write_fmt(
        &mut HtmlEscaper(w),
        format_args!("{}", raindrops_core::SafeText(name)),
    )
}

/// A number a person reads: two decimals, `-` where there is none (NaN).
fn write_readable<W: fmt::Write + ?Sized>(w: &mut W, x: f64) -> fmt::Result {
    if x.is_finite() {
        write!(w, "{x:.2}")
    } else {
        w.write_char('-')
    }
}

/// An optional count: the number, or `-` where it is not known.
fn write_opt<W: fmt::Write + ?Sized, T: fmt::Display>(w: &mut W, v: Option<T>) -> fmt::Result {
    match v {
        Some(v) => write!(w, "{v}"),
        None => w.write_char('-'),
    }
}

/// Writes a listener's page, `GET /active/ADDR.html` (and `queued`): a
/// heading naming the listener, links back to the index and to its other
/// pages, its numbers in the last sample, charts of active and queued
/// (against the backlog) over the recent samples as inline SVG
/// ([`render_chart`]), the summary of `which` since the last reset (the
/// `X-` headers of the `.txt` page, means with two decimals), the
/// histogram and a reset button. The page refreshes itself every sampling
/// interval.
///
/// Unlike Ruby's page (a bare table), this one is made to be kept open;
/// the `.txt` page stays Ruby's. Every name is HTML-escaped.
pub fn render_summary_html<V: Watcher + ?Sized, W: fmt::Write + ?Sized>(
    watcher: &V,
    hostname: &str,
    addr: &str,
    which: Which,
    w: &mut W,
) -> fmt::Result {
    let s = watcher.summary(addr, which);
    let delay = watcher.delay();
    let which_name = match which {
        Which::Active => "active",
        Which::Queued => "queued",
    };
    head(w, delay, |w| {
        html_name(w, addr)?;
        write!(w, " {which_name} - ")?;
        text::html(w, hostname)
    })?;
    let enc = |w: &mut W| text::form_encode(w, addr);
    w.write_str("<nav><a href='../'>&larr; all listeners</a> &middot; <a href='../active/")?;
    enc(w)?;
    w.write_str(".html'>active</a> &middot; <a href='../queued/")?;
    enc(w)?;
    w.write_str(".html'>queued</a> &middot; <a href='../tail/")?;
    enc(w)?;
    w.write_str(".txt'>tail</a> &middot; <a href='../")?;
    w.write_str(which_name)?;
    w.write_char('/')?;
    enc(w)?;
    w.write_str(".txt'>text</a></nav><h1>")?;
    html_name(w, addr)?;
    w.write_str("</h1>")?;
    if let Some(c) = watcher.current(addr) {
        write!(
            w,
            "<p>Now: <b>{}</b> active, <b>{}</b> queued",
            c.active, c.queued
        )?;
        if let Some(b) = c.backlog {
            write!(w, " of a backlog of <b>{b}</b>")?;
        }
        if let Some(d) = c.drops {
            write!(w, ", <b>{d}</b> dropped")?;
        }
        if let Some(o) = c.overflows {
            write!(w, ", <b>{o}</b> overflows")?;
        }
        if let (Some(ms), true) = (c.queue_wait_oldest_ms, c.queued > 0) {
            write!(
                w,
                "; the oldest queued connection has waited <b>{ms} ms</b>"
            )?;
        }
        write!(w, " (updated at {}).</p>", s.updated_at.iso8601())?;
    }
    w.write_str("<h2>Active connections</h2>")?;
    render_chart(watcher, addr, Which::Active, w)?;
    w.write_str("<h2>Queued connections (dashed: backlog)</h2>")?;
    render_chart(watcher, addr, Which::Queued, w)?;
    write!(
        w,
        "<h2>{which_name} since {}</h2><table>",
        s.reset_at.http_date()
    )?;
    let a = s.aggregate;
    let row = |w: &mut W, name: &str, value: &dyn Fn(&mut W) -> fmt::Result| -> fmt::Result {
        write!(w, "<tr><th>{name}</th><td class='n'>")?;
        value(w)?;
        w.write_str("</td></tr>")
    };
    row(w, "current", &|w| write!(w, "{}", s.current))?;
    row(w, "samples", &|w| write!(w, "{}", a.count()))?;
    row(w, "min", &|w| write_opt(w, a.min()))?;
    row(w, "max", &|w| write_opt(w, a.max()))?;
    row(w, "mean", &|w| write_readable(w, ruby_mean(a)))?;
    row(w, "std dev", &|w| write_readable(w, ruby_std_dev(a)))?;
    row(w, "outliers low", &|w| write!(w, "{}", a.outliers_low()))?;
    row(w, "outliers high", &|w| write!(w, "{}", a.outliers_high()))?;
    let peaks = a.max().is_some_and(|m| m > 0);
    row(w, "first peak at", &|w| match peaks {
        true => write!(w, "{}", s.first_peak_at.http_date()),
        false => w.write_char('-'),
    })?;
    row(w, "last peak at", &|w| match peaks {
        true => write!(w, "{}", s.last_peak_at.http_date()),
        false => w.write_char('-'),
    })?;
    w.write_str("</table><pre>")?;
    write_histogram(&mut HtmlEscaper(w), s.aggregate)?;
    w.write_str("</pre><form action='../reset/")?;
    enc(w)?;
    w.write_str(
        "' method='post'><input type='submit' name='x' value='reset the summaries' /></form>",
    )?;
    footer(w, hostname, delay)
}

/// Writes the page answering `GET /active/ADDR.html` (and `queued`) for a
/// listener that is not in the last sample (the router sends it with
/// status 404): it says so, links back to the index, and refreshes
/// itself, so that a page left open comes back when the listener does.
pub fn render_unknown_listener_html<V: Watcher + ?Sized, W: fmt::Write + ?Sized>(
    watcher: &V,
    hostname: &str,
    addr: &str,
    w: &mut W,
) -> fmt::Result {
    let delay = watcher.delay();
    head(w, delay, |w| {
        w.write_str("Not found: ")?;
        html_name(w, addr)?;
        w.write_str(" - ")?;
        text::html(w, hostname)
    })?;
    w.write_str("<nav><a href='../'>&larr; all listeners</a></nav><h1>No listener ")?;
    html_name(w, addr)?;
    write!(
        w,
        "</h1><p>It is not in the last sample (updated at {}): nothing listens there, \
         or it is not watched.</p>",
        watcher.updated_at().iso8601()
    )?;
    footer(w, hostname, delay)
}

/// Writes the Watcher index (`GET /`): a table of every listener of the
/// last sample in the order of [`Watcher::sampled`], with its address
/// (linking to its page), active and queued (linking to their pages),
/// backlog and drops (`-` where not known, as drops for Unix sockets), and
/// a reset button. The page refreshes itself every sampling interval.
///
/// Unlike Ruby's index, it has the backlog and drops columns, a viewport
/// for phones, long names that wrap, and our own footer. The hostname and
/// every address are HTML-escaped.
pub fn render_index<V: Watcher + ?Sized, W: fmt::Write + ?Sized>(
    watcher: &V,
    hostname: &str,
    w: &mut W,
) -> fmt::Result {
    let delay = watcher.delay();
    head(w, delay, |w| {
        text::html(w, hostname)?;
        w.write_str(" - listeners")
    })?;
    w.write_str("<h1>Listeners of ")?;
    text::html(w, hostname)?;
    write!(
        w,
        "</h1><p>Updated at {}.</p><table><tr><th>address</th><th class='n'>active</th>\
         <th class='n'>queued</th><th class='n'>backlog</th><th class='n'>drops</th>\
         <th class='reset'>reset</th></tr>",
        watcher.updated_at().iso8601()
    )?;
    let mut res = Ok(());
    let mut row = |addr: &str, s: &ListenStats| -> fmt::Result {
        let enc = |w: &mut W| text::form_encode(w, addr);
        w.write_str("<tr><td class='addr'><a href='queued/")?;
        enc(w)?;
        w.write_str(".html'>")?;
        html_name(w, addr)?;
        w.write_str("</a></td><td class='n'><a href='active/")?;
        enc(w)?;
        write!(
            w,
            ".html' title='active connections'>{}</a></td><td class='n'><a href='queued/",
            s.active
        )?;
        enc(w)?;
        write!(
            w,
            ".html' title='queued connections'>{}</a></td><td class='n'>",
            s.queued
        )?;
        write_opt(w, s.backlog)?;
        w.write_str("</td><td class='n'>")?;
        write_opt(w, s.drops)?;
        w.write_str("</td><td class='reset'><form action='reset/")?;
        enc(w)?;
        w.write_str(
            "' method='post'><input title='reset the summaries' \
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
    w.write_str("</table>")?;
    footer(w, hostname, delay)
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
