//! JSON of the stats endpoint's data.

use core::fmt;
use core::ops::ControlFlow;

use raindrops_core::{Aggregate, SafeText};

use crate::fields::{LISTENER_FIELDS, Value};
use crate::source::{StatsSource, each_listener};
use crate::text;

/// The `Content-Type` of the JSON answer.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// Writes the stats as one JSON object (no whitespace, then a newline):
///
/// ```json
/// {"calling":0,"writing":0,
///  "listeners":[{"address":"127.0.0.1:8080","type":"tcp","active":1,"queued":0,
///                "backlog":128,"drops":0,"syn_recv":null}],
///  "metrics":[{"name":"jobs","help":"...","type":"counter","labels":{},"value":5}],
///  "histograms":[{"name":"...","help":"...","labels":{"listener":"..."},"count":3,
///                 "min":0,"max":4,"sum":5,"mean":1.6666666666666667,"std_dev":2.08,
///                 "outliers_low":1,"buckets":[{"low":1,"count":1},{"low":4,"count":1}]}]}
/// ```
///
/// Each listener object has one member per row of
/// [`LISTENER_FIELDS`](crate::LISTENER_FIELDS), in its order. Unknown
/// numbers (`calling` not counted, a Unix listener's `drops`, a field the
/// source did not measure, the standard deviation of fewer than two
/// samples) are `null`; the buckets are the non-empty power-of-two
/// buckets, `low` being `2^k`. Strings are escaped; a listener's
/// `address` is its display form (a Unix socket name with bytes that are
/// not printable UTF-8 escaped as `\\xHH`, reversibly: see
/// [`raindrops_core::EscapedName`]). Allocates nothing.
pub fn render_json<S, W>(source: &S, w: &mut W) -> fmt::Result
where
    S: StatsSource + ?Sized,
    W: fmt::Write + ?Sized,
{
    w.write_str("{\"calling\":")?;
    opt(w, source.calling().map(|v| v as u64))?;
    w.write_str(",\"writing\":")?;
    opt(w, source.writing().map(|v| v as u64))?;
    w.write_str(",\"listeners\":[")?;
    let measured = source.measured();
    let mut first = true;
    each_listener(source, |l| {
        w.write_str(if core::mem::take(&mut first) {
            "{"
        } else {
            ",{"
        })?;
        for (i, field) in LISTENER_FIELDS.iter().enumerate() {
            // The keys are identifiers: nothing to escape.
            w.write_str(if i > 0 { ",\"" } else { "\"" })?;
            w.write_str(field.key)?;
            w.write_str("\":")?;
            match field.get(i, measured, l) {
                Value::Int(v) => text::uint(w, v)?,
                Value::Str(s) => {
                    // Identity on display names; see docs/escaping.md.
                    w.write_char('"')?;
                    SafeText(s).write_to(&mut JsonEscaper(&mut *w))?;
                    w.write_char('"')?;
                }
                Value::Unknown => w.write_str("null")?,
            }
        }
        w.write_char('}')
    })?;
    w.write_str("],\"metrics\":[")?;
    let mut res = Ok(());
    let mut first = true;
    let _ = source.metrics(&mut |m| {
        let r = (|| {
            if !core::mem::take(&mut first) {
                w.write_char(',')?;
            }
            w.write_str("{\"name\":")?;
            string(w, m.name)?;
            w.write_str(",\"help\":")?;
            string(w, m.help)?;
            let kind = match m.kind {
                crate::MetricKind::Counter => "counter",
                crate::MetricKind::Gauge => "gauge",
            };
            write!(w, ",\"type\":\"{kind}\",\"labels\":")?;
            labels(w, m.labels)?;
            write!(w, ",\"value\":{}}}", m.value)
        })();
        stop_on_error(r, &mut res)
    });
    res?;
    w.write_str("],\"histograms\":[")?;
    let mut res = Ok(());
    let mut first = true;
    let _ = source.histograms(&mut |h| {
        let r = (|| {
            if !core::mem::take(&mut first) {
                w.write_char(',')?;
            }
            w.write_str("{\"name\":")?;
            string(w, h.name)?;
            w.write_str(",\"help\":")?;
            string(w, h.help)?;
            w.write_str(",\"labels\":")?;
            labels(w, h.labels)?;
            w.write_char(',')?;
            aggregate_fields(w, h.aggregate)?;
            w.write_char('}')
        })();
        stop_on_error(r, &mut res)
    });
    res?;
    w.write_str("]}\n")
}

fn stop_on_error(r: fmt::Result, res: &mut fmt::Result) -> ControlFlow<()> {
    match r {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            *res = Err(e);
            ControlFlow::Break(())
        }
    }
}

/// Writes the members of an aggregate's JSON object (no braces).
pub(crate) fn aggregate_fields<W: fmt::Write + ?Sized>(w: &mut W, a: &Aggregate) -> fmt::Result {
    write!(w, "\"count\":{},\"min\":", a.count())?;
    opt(w, a.min())?;
    w.write_str(",\"max\":")?;
    opt(w, a.max())?;
    write!(w, ",\"sum\":{},\"mean\":", a.sum())?;
    // sum / count rounded once (as the Watcher headers print it).
    float(w, (a.count() > 0).then(|| crate::float::ruby_mean(a)))?;
    w.write_str(",\"std_dev\":")?;
    float(w, a.std_dev())?;
    write!(w, ",\"outliers_low\":{},\"buckets\":[", a.outliers_low())?;
    let mut first = true;
    for b in a.histogram().filter(|b| b.count > 0) {
        if !core::mem::take(&mut first) {
            w.write_char(',')?;
        }
        write!(w, "{{\"low\":{},\"count\":{}}}", b.low, b.count)?;
    }
    w.write_char(']')
}

fn labels<W: fmt::Write + ?Sized>(w: &mut W, labels: &[(&str, &str)]) -> fmt::Result {
    w.write_char('{')?;
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            w.write_char(',')?;
        }
        string(w, k)?;
        w.write_char(':')?;
        string(w, v)?;
    }
    w.write_char('}')
}

/// A writer adapter that escapes everything written through it for the
/// inside of a JSON string.
struct JsonEscaper<'w, W: ?Sized>(&'w mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for JsonEscaper<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        text::json_string(self.0, s)
    }
}

fn string<W: fmt::Write + ?Sized>(w: &mut W, s: &str) -> fmt::Result {
    w.write_char('"')?;
    text::json_string(w, s)?;
    w.write_char('"')
}

fn opt<W: fmt::Write + ?Sized>(w: &mut W, v: Option<u64>) -> fmt::Result {
    match v {
        Some(v) => write!(w, "{v}"),
        None => w.write_str("null"),
    }
}

/// A finite float as a JSON number (Rust's shortest round-trip digits,
/// never an exponent), anything else as `null`.
fn float<W: fmt::Write + ?Sized>(w: &mut W, v: Option<f64>) -> fmt::Result {
    match v {
        Some(v) if v.is_finite() => write!(w, "{v}"),
        _ => w.write_str("null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Histogram, Metric, MetricKind, Snapshot};
    use raindrops_core::{Family, ListenStats, Listener};
    use std::string::String;

    #[test]
    fn shape() {
        let listeners = [
            Listener::new(
                "127.0.0.1:80",
                Family::Tcp4,
                ListenStats::new(1, 2).with_backlog(128).with_drops(3),
            ),
            Listener::new("/tmp/\"s\"", Family::Unix, ListenStats::new(0, 0)),
        ];
        let agg: Aggregate = [0u64, 4, 1].into_iter().collect();
        let metrics = [Metric {
            labels: &[("k", "v")],
            ..Metric::new("jobs", "Jobs done.", MetricKind::Counter, 5)
        }];
        let hist = [Histogram {
            name: "h",
            help: "x",
            labels: &[],
            aggregate: &agg,
            fixed: None,
        }];
        let snap = Snapshot {
            calling: Some(1),
            listeners: &listeners,
            metrics: &metrics,
            histograms: &hist,
            ..Snapshot::new()
        };
        let mut s = String::new();
        render_json(&snap, &mut s).unwrap();
        // The members of each listener object are the field table's (see
        // the tests in fields.rs); here, the document around them.
        let (head, rest) = s.split_once("\"listeners\":[").unwrap();
        assert_eq!(head, "{\"calling\":1,\"writing\":null,");
        let (objects, tail) = rest.split_once("],\"metrics\"").unwrap();
        assert_eq!(objects.matches("{\"address\":").count(), 2, "{objects}");
        assert!(
            objects.contains("\"address\":\"/tmp/\\\"s\\\"\""),
            "{objects}"
        );
        assert_eq!(
            tail,
            ":[{\"name\":\"jobs\",\"help\":\"Jobs done.\",\"type\":\"counter\",\"labels\":{\"k\":\"v\"},\"value\":5}],\
             \"histograms\":[{\"name\":\"h\",\"help\":\"x\",\"labels\":{},\"count\":3,\"min\":0,\"max\":4,\"sum\":5,\
             \"mean\":1.6666666666666667,\"std_dev\":2.0816659994661326,\"outliers_low\":1,\
             \"buckets\":[{\"low\":1,\"count\":1},{\"low\":4,\"count\":1}]}]}\n"
        );
    }
}
