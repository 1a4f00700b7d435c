//! Prometheus text exposition 0.0.4 and OpenMetrics 1.0.

use core::fmt;
use core::ops::ControlFlow;

use raindrops_core::{Aggregate, Listener, SafeText};

use crate::fields::{Exposition, FieldSet, LISTENER_FIELDS, Value};
use crate::source::{Histogram, Metric, MetricKind, StatsSource, each_listener};
use crate::text;

/// The `Content-Type` of Prometheus text exposition 0.0.4.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The `Content-Type` of OpenMetrics 1.0 text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Prometheus,
    OpenMetrics,
}

/// Writes the metrics in Prometheus text exposition format 0.0.4
/// (`Content-Type` [`PROMETHEUS_CONTENT_TYPE`]).
///
/// Families, each with `# HELP` and `# TYPE`:
/// - `raindrops_calling`, `raindrops_writing` (gauges, when known);
/// - one family per metric row of [`LISTENER_FIELDS`] that any listener
///   knows: `raindrops_listener_active`, `raindrops_listener_queued`,
///   `raindrops_listener_backlog`, `raindrops_listener_syn_recv` (gauges)
///   and `raindrops_listener_drops_total` (a counter), each sample with
///   the label rows of the table (`listener`, ...) that any listener
///   knows, in the source's order;
/// - the source's [`Metric`]s (counters get a `_total` suffix) and
///   [`Histogram`]s: the power-of-two buckets of an [`Aggregate`] become
///   cumulative buckets `le="0"`, `le="1"`, `le="3"`, `le="7"`, ...
///   (`2^(k+1) - 1`, exact for integer samples) up to the highest non-empty
///   one, or the caller's [`FixedBuckets`](crate::FixedBuckets) bounds when
///   given, then `+Inf`, `_sum` and `_count`.
///
/// Label values are escaped, names sanitised. Allocates nothing.
pub fn render_prometheus<S, W>(source: &S, w: &mut W) -> fmt::Result
where
    S: StatsSource + ?Sized,
    W: fmt::Write + ?Sized,
{
    render(source, w, Flavor::Prometheus)
}

/// Writes the metrics in OpenMetrics 1.0 text format (`Content-Type`
/// [`OPENMETRICS_CONTENT_TYPE`]): the families of [`render_prometheus`],
/// with counter families named without `_total` (their samples keep it),
/// `le` values as floats (`"1.0"`), `"` escaped in HELP text and the
/// closing `# EOF`. Allocates nothing.
pub fn render_openmetrics<S, W>(source: &S, w: &mut W) -> fmt::Result
where
    S: StatsSource + ?Sized,
    W: fmt::Write + ?Sized,
{
    render(source, w, Flavor::OpenMetrics)?;
    w.write_str("# EOF\n")
}

/// Writes `# HELP` and `# TYPE` for a family. `base` is the name without a
/// counter's `_total`.
fn header<W: fmt::Write + ?Sized>(
    w: &mut W,
    flavor: Flavor,
    base: &str,
    kind: &str,
    help: &str,
) -> fmt::Result {
    let counter = kind == "counter";
    let name = |w: &mut W| -> fmt::Result {
        text::name(w, base, true)?;
        if counter && flavor == Flavor::Prometheus {
            w.write_str("_total")?;
        }
        Ok(())
    };
    w.write_str("# HELP ")?;
    name(w)?;
    w.write_char(' ')?;
    text::help_text(w, help, flavor == Flavor::OpenMetrics)?;
    w.write_str("\n# TYPE ")?;
    name(w)?;
    writeln!(w, " {kind}")
}

/// Writes `{a="x",b="y"` (without the closing brace, so that `le` can
/// follow), or nothing for no labels and no `le`.
fn labels<W: fmt::Write + ?Sized>(w: &mut W, labels: &[(&str, &str)]) -> fmt::Result {
    for (i, (k, v)) in labels.iter().enumerate() {
        w.write_str(if i == 0 { "{" } else { "," })?;
        text::name(w, k, false)?;
        w.write_str("=\"")?;
        fmt::Write::write_fmt(
            &mut text::LabelEscaper(&mut *w),
            format_args!("{}", SafeText(v)),
        )?;
        w.write_char('"')?;
    }
    Ok(())
}

fn close_labels<W: fmt::Write + ?Sized>(w: &mut W, labels: &[(&str, &str)]) -> fmt::Result {
    if labels.is_empty() {
        Ok(())
    } else {
        w.write_char('}')
    }
}

fn render<S, W>(source: &S, w: &mut W, flavor: Flavor) -> fmt::Result
where
    S: StatsSource + ?Sized,
    W: fmt::Write + ?Sized,
{
    for (name, help, value) in [
        (
            "raindrops_calling",
            "Requests inside the application right now.",
            source.calling(),
        ),
        (
            "raindrops_writing",
            "Responses whose body is still being written.",
            source.writing(),
        ),
    ] {
        if let Some(v) = value {
            header(w, flavor, name, "gauge", help)?;
            writeln!(w, "{name} {v}")?;
        }
    }
    let measured = source.measured();
    // One pass finds every field some listener knows; the label rows of
    // those are written on every sample.
    let known = known_rows(source, measured);
    let mut labels = heapless::Vec::<(usize, &str), 64>::new();
    for (i, field) in LISTENER_FIELDS.iter().enumerate() {
        if let Exposition::Label(name) = field.exposition {
            if known & (1 << i) != 0 {
                let _ = labels.push((i, name));
            }
        }
    }
    for (i, field) in LISTENER_FIELDS.iter().enumerate() {
        let (base, kind, help, seconds) = match field.exposition {
            Exposition::Gauge { name, help } => (name, "gauge", help, false),
            Exposition::GaugeSeconds { name, help } => (name, "gauge", help, true),
            Exposition::Counter { name, help } => (name, "counter", help, false),
            Exposition::None | Exposition::Label(_) => continue,
        };
        if known & (1 << i) == 0 {
            continue;
        }
        header(w, flavor, base, kind, help)?;
        let suffix = if kind == "counter" { "_total" } else { "" };
        each_listener(source, |l| {
            let Value::Int(v) = field.get(i, measured, l) else {
                return Ok(());
            };
            w.write_str(base)?;
            w.write_str(suffix)?;
            listener_labels(w, &labels, measured, l)?;
            w.write_char(' ')?;
            if seconds {
                text::milli(w, v.into())?;
            } else {
                text::uint(w, v)?;
            }
            w.write_char('\n')
        })?;
    }
    metrics(source, w, flavor)?;
    histograms(source, w, flavor)
}

/// The rows of [`LISTENER_FIELDS`] that some listener knows, as bits: a
/// metric family is written for each, and a label is on every sample of a
/// family or on none.
fn known_rows<S: StatsSource + ?Sized>(source: &S, measured: FieldSet) -> u64 {
    let all = u64::MAX >> (64 - LISTENER_FIELDS.len());
    let mut rows = 0u64;
    let _ = source.listeners(&mut |l| {
        for (i, field) in LISTENER_FIELDS.iter().enumerate() {
            if rows & (1 << i) == 0 && field.get(i, measured, l).is_known() {
                rows |= 1 << i;
            }
        }
        if rows == all {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    rows
}

/// Writes `{listener="...",...}` for `l`: the label rows of `labels`, an
/// unknown value as the empty string (which Prometheus reads as absent).
fn listener_labels<W: fmt::Write + ?Sized>(
    w: &mut W,
    labels: &[(usize, &str)],
    measured: FieldSet,
    l: &Listener<&str>,
) -> fmt::Result {
    for (k, &(i, name)) in labels.iter().enumerate() {
        w.write_char(if k == 0 { '{' } else { ',' })?;
        w.write_str(name)?;
        w.write_str("=\"")?;
        match LISTENER_FIELDS[i].get(i, measured, l) {
            // A display name passes SafeText unchanged; a name from a
            // source that did not escape it cannot put a raw control
            // character into the scrape.
            Value::Str(s) => SafeText(s).write_to(&mut text::LabelEscaper(&mut *w))?,
            Value::Int(v) => text::uint(w, v)?,
            Value::Unknown => {}
        }
        w.write_char('"')?;
    }
    if !labels.is_empty() {
        w.write_char('}')?;
    }
    Ok(())
}

/// `name` without a trailing `_total`.
fn counter_base(name: &str) -> &str {
    name.strip_suffix("_total").unwrap_or(name)
}

fn metrics<S, W>(source: &S, w: &mut W, flavor: Flavor) -> fmt::Result
where
    S: StatsSource + ?Sized,
    W: fmt::Write + ?Sized,
{
    let mut res = Ok(());
    let mut prev: Option<(usize, u64)> = None; // (name length, hash) of the family
    let mut one = |m: &Metric<'_>| -> fmt::Result {
        let (base, kind) = match m.kind {
            MetricKind::Counter => (counter_base(m.name), "counter"),
            MetricKind::Gauge => (m.name, "gauge"),
        };
        let id = (base.len(), fnv(base));
        if prev != Some(id) {
            header(w, flavor, base, kind, m.help)?;
            prev = Some(id);
        }
        text::name(w, base, true)?;
        if m.kind == MetricKind::Counter {
            w.write_str("_total")?;
        }
        labels(w, m.labels)?;
        close_labels(w, m.labels)?;
        writeln!(w, " {}", m.value)
    };
    let _ = source.metrics(&mut |m| match one(m) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            res = Err(e);
            ControlFlow::Break(())
        }
    });
    res
}

/// A cheap fingerprint of a family name, to notice where a new family
/// starts without keeping the previous name (which the visitor only lends).
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn histograms<S, W>(source: &S, w: &mut W, flavor: Flavor) -> fmt::Result
where
    S: StatsSource + ?Sized,
    W: fmt::Write + ?Sized,
{
    let mut res = Ok(());
    let mut prev: Option<(usize, u64)> = None;
    let mut one = |h: &Histogram<'_>| -> fmt::Result {
        let id = (h.name.len(), fnv(h.name));
        if prev != Some(id) {
            header(w, flavor, h.name, "histogram", h.help)?;
            prev = Some(id);
        }
        histogram_samples(w, flavor, h)
    };
    let _ = source.histograms(&mut |h| match one(h) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            res = Err(e);
            ControlFlow::Break(())
        }
    });
    res
}

fn histogram_samples<W: fmt::Write + ?Sized>(
    w: &mut W,
    flavor: Flavor,
    h: &Histogram<'_>,
) -> fmt::Result {
    let (name, lbls, agg) = (h.name, h.labels, h.aggregate);
    let frac = if flavor == Flavor::OpenMetrics {
        ".0"
    } else {
        ""
    };
    let bucket = |w: &mut W, le: fmt::Arguments<'_>, count: u64| -> fmt::Result {
        text::name(w, name, true)?;
        w.write_str("_bucket")?;
        labels(w, lbls)?;
        w.write_str(if lbls.is_empty() { "{" } else { "," })?;
        writeln!(w, "le=\"{le}\"}} {count}")
    };
    let milli = h.fixed.is_some_and(|f| f.milliseconds);
    if let Some(fixed) = h.fixed {
        let mut cumulative = 0u64;
        for (i, le) in fixed.bounds.iter().enumerate() {
            let c = fixed.counts.get(i).copied().unwrap_or(0);
            cumulative = cumulative.saturating_add(c);
            if milli {
                let mut s = heapless::String::<32>::new();
                text::milli(&mut s, u128::from(*le))?;
                // A whole number of seconds still reads as a float here.
                let frac = if s.contains('.') { "" } else { frac };
                bucket(w, format_args!("{s}{frac}"), cumulative)?;
            } else {
                bucket(w, format_args!("{le}{frac}"), cumulative)?;
            }
        }
    } else {
        log2_buckets(w, agg, frac, &bucket)?;
    }
    bucket(w, format_args!("+Inf"), agg.count())?;
    for (suffix, value) in [("_sum", agg.sum()), ("_count", u128::from(agg.count()))] {
        text::name(w, name, true)?;
        w.write_str(suffix)?;
        labels(w, lbls)?;
        if milli && suffix == "_sum" {
            close_labels(w, lbls)?;
            w.write_char(' ')?;
            text::milli(w, value)?;
            w.write_char('\n')?;
            continue;
        }
        close_labels(w, lbls)?;
        writeln!(w, " {value}")?;
    }
    Ok(())
}

/// The power-of-two buckets of `agg` up to its highest non-empty one.
fn log2_buckets<W: fmt::Write + ?Sized>(
    w: &mut W,
    agg: &Aggregate,
    frac: &str,
    bucket: &dyn Fn(&mut W, fmt::Arguments<'_>, u64) -> fmt::Result,
) -> fmt::Result {
    let mut cumulative = agg.outliers_low();
    bucket(w, format_args!("0{frac}"), cumulative)?;
    let top = agg.buckets().iter().rposition(|&c| c > 0);
    if let Some(top) = top {
        for (k, &c) in agg.buckets().iter().enumerate().take(top + 1) {
            cumulative = cumulative.saturating_add(c);
            // Integer samples in [2^k, 2^(k+1)) are all <= 2^(k+1) - 1.
            let le = (2u128 << k) - 1;
            bucket(w, format_args!("{le}{frac}"), cumulative)?;
        }
    }
    Ok(())
}

/// The representations the stats endpoints can answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Ruby's `Raindrops::Middleware` text (`text/plain`).
    MiddlewareText,
    /// Prometheus text exposition 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0.
    OpenMetrics,
    /// JSON.
    Json,
}

impl Format {
    /// The `Content-Type` of an answer in this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::MiddlewareText => crate::middleware::MIDDLEWARE_CONTENT_TYPE,
            Format::Prometheus => PROMETHEUS_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Json => crate::json::JSON_CONTENT_TYPE,
        }
    }

    /// Chooses among `offered` (in the server's order of preference, the
    /// first being the default) from an `Accept` header value: the format
    /// whose best matching media range has the highest `q`, ties going to
    /// the earlier offer. A missing, empty or unparsable header, or one
    /// that accepts none of them, gives the default (a stats endpoint
    /// answers rather than sending 406).
    ///
    /// `text/plain` with `version=0.0.4` selects Prometheus; a bare
    /// `text/plain` matches both text formats; `application/openmetrics-text`
    /// with `version=1.0.0` or no version selects OpenMetrics.
    ///
    /// ```
    /// use raindrops_http::Format::{self, *};
    /// let offered = [MiddlewareText, Prometheus, OpenMetrics, Json];
    /// let prometheus_server = "application/openmetrics-text;version=1.0.0,\
    ///     application/openmetrics-text;version=0.0.1;q=0.75,\
    ///     text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(Format::negotiate(Some(prometheus_server), &offered), OpenMetrics);
    /// assert_eq!(Format::negotiate(Some("text/plain; version=0.0.4"), &offered), Prometheus);
    /// assert_eq!(Format::negotiate(Some("application/json"), &offered), Json);
    /// assert_eq!(Format::negotiate(Some("*/*"), &offered), MiddlewareText);
    /// assert_eq!(Format::negotiate(None, &offered), MiddlewareText);
    /// ```
    pub fn negotiate(accept: Option<&str>, offered: &[Format]) -> Format {
        let default = offered.first().copied().unwrap_or(Format::MiddlewareText);
        let Some(accept) = accept else {
            return default;
        };
        let mut best: Option<(u16, Format)> = None;
        for &f in offered {
            let q = accept
                .split(',')
                .filter_map(|range| match_range(range, f))
                .max_by_key(|&(specificity, _)| specificity)
                .map_or(0, |(_, q)| q);
            if q > 0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, f));
            }
        }
        best.map_or(default, |(_, f)| f)
    }
}

/// How well one media range matches `f`: `(specificity, q in thousandths)`,
/// or `None` if it does not match.
fn match_range(range: &str, f: Format) -> Option<(u8, u16)> {
    let mut parts = range.split(';');
    let media = parts.next()?.trim();
    let (ty, sub) = media.split_once('/')?;
    let (ty, sub) = (ty.trim(), sub.trim());
    let mut q = 1000u16;
    let mut version: Option<&str> = None;
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim().trim_matches('"'));
        if k.eq_ignore_ascii_case("q") {
            q = parse_q(v)?;
        } else if k.eq_ignore_ascii_case("version") {
            version = Some(v);
        }
    }
    let (fty, fsub, fversion) = match f {
        Format::MiddlewareText => ("text", "plain", None),
        Format::Prometheus => ("text", "plain", Some("0.0.4")),
        Format::OpenMetrics => ("application", "openmetrics-text", Some("1.0.0")),
        Format::Json => ("application", "json", None),
    };
    let specificity = if ty == "*" && sub == "*" {
        1
    } else if ty.eq_ignore_ascii_case(fty) && sub == "*" {
        2
    } else if ty.eq_ignore_ascii_case(fty) && sub.eq_ignore_ascii_case(fsub) {
        match (version, fversion) {
            (None, _) => 3,
            (Some(v), Some(fv)) if v == fv => 4,
            _ => return None,
        }
    } else {
        return None;
    };
    Some((specificity, q))
}

/// `q` as thousandths (`"0.5"` is 500); `None` if it is not a valid qvalue.
fn parse_q(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let mut scale = 100;
    for b in frac.bytes() {
        thousandths += u16::from(b - b'0') * scale;
        scale /= 10;
    }
    (thousandths <= 1000).then_some(thousandths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Snapshot;
    use std::string::String;

    #[test]
    fn q_values() {
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("0.5"), Some(500));
        assert_eq!(parse_q("0.125"), Some(125));
        assert_eq!(parse_q("1.0"), Some(1000));
        assert_eq!(parse_q("1.5"), None);
        assert_eq!(parse_q("0.1234"), None);
        assert_eq!(parse_q("x"), None);
    }

    #[test]
    fn negotiation() {
        use Format::*;
        let all = [MiddlewareText, Prometheus, OpenMetrics, Json];
        let metrics = [Prometheus, OpenMetrics];
        let n = |a: &str, o: &[Format]| Format::negotiate(Some(a), o);
        assert_eq!(n("text/plain", &all), MiddlewareText);
        assert_eq!(n("text/plain", &metrics), Prometheus);
        assert_eq!(n("text/*", &metrics), Prometheus);
        assert_eq!(n("application/openmetrics-text", &metrics), OpenMetrics);
        assert_eq!(
            n("application/openmetrics-text; version=0.0.1", &metrics),
            Prometheus
        );
        assert_eq!(n("application/json;q=0.9, text/plain;q=0.5", &all), Json);
        assert_eq!(n("application/json;q=0, */*", &all), MiddlewareText);
        assert_eq!(n("image/png", &all), MiddlewareText);
        assert_eq!(n("", &all), MiddlewareText);
        assert_eq!(n(",,;;/", &all), MiddlewareText);
        assert_eq!(n("text/html,*/*;q=0.8", &metrics), Prometheus);
        assert_eq!(Format::negotiate(Some("x"), &[]), MiddlewareText);
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let agg: Aggregate = [0u64, 1, 2, 3, 9].into_iter().collect();
        let hist = [Histogram {
            name: "h",
            help: "help",
            labels: &[("listener", "a\"b")],
            aggregate: &agg,
            fixed: None,
        }];
        let snap = Snapshot::<&str> {
            histograms: &hist,
            ..Snapshot::new()
        };
        let mut s = String::new();
        render_prometheus(&snap, &mut s).unwrap();
        assert_eq!(
            s,
            "# HELP h help\n# TYPE h histogram\n\
             h_bucket{listener=\"a\\\"b\",le=\"0\"} 1\n\
             h_bucket{listener=\"a\\\"b\",le=\"1\"} 2\n\
             h_bucket{listener=\"a\\\"b\",le=\"3\"} 4\n\
             h_bucket{listener=\"a\\\"b\",le=\"7\"} 4\n\
             h_bucket{listener=\"a\\\"b\",le=\"15\"} 5\n\
             h_bucket{listener=\"a\\\"b\",le=\"+Inf\"} 5\n\
             h_sum{listener=\"a\\\"b\"} 15\n\
             h_count{listener=\"a\\\"b\"} 5\n"
        );
    }
}
