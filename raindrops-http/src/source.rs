//! Where the numbers come from: the [`StatsSource`] trait the caller
//! implements, and [`Snapshot`], a ready-made source over slices.

use core::fmt;
use core::ops::ControlFlow;

use raindrops_core::{Aggregate, Errno, Listener};

use crate::fields::FieldSet;
use crate::watcher::Watcher;

/// The numbers the endpoints show, supplied by the caller.
///
/// The crate never queries the kernel itself: a server feeds it what
/// raindrops-diag (or anything else) measured, a test feeds it fixed
/// numbers. Every method has a default meaning "not available", so a source
/// implements only what it has.
///
/// The renderers read a source several times per page (Prometheus groups
/// samples by metric, so the listeners are visited once per metric): a
/// source that queries the kernel should do it in [`refresh`](Self::refresh),
/// which the [`Router`](crate::Router) calls once per request, and visit the
/// stored result.
///
/// Visitors return [`ControlFlow::Break`] to stop early (a renderer does
/// when its writer fails); a source passes that result back.
pub trait StatsSource {
    /// Brings the numbers up to date before a page is rendered (for example
    /// one netlink dump); the router answers 503 when it fails.
    fn refresh(&mut self) -> Result<(), SourceError> {
        Ok(())
    }

    /// Requests inside the application right now (`None`: not counted
    /// here; the middleware text then shows 0 as Ruby's fresh counters do,
    /// the metrics leave it out).
    fn calling(&self) -> Option<usize> {
        None
    }

    /// Responses whose body is still being written (`None`: not counted).
    fn writing(&self) -> Option<usize> {
        None
    }

    /// Visits each listener, in the order to show: TCP listeners first,
    /// then Unix ones (the order of Ruby's middleware and script).
    fn listeners(&self, visit: &mut ListenerVisitor<'_>) -> ControlFlow<()> {
        let _ = visit;
        ControlFlow::Continue(())
    }

    /// The per-listener fields this source measured; the renderers show
    /// the others as unknown (`null`, `-`, no metric family). All by
    /// default.
    fn measured(&self) -> FieldSet {
        FieldSet::ALL
    }

    /// Visits user-named counters and gauges (metrics and JSON only).
    /// Metrics with the same name must be visited one after the other.
    fn metrics(&self, visit: &mut dyn FnMut(&Metric<'_>) -> ControlFlow<()>) -> ControlFlow<()> {
        let _ = visit;
        ControlFlow::Continue(())
    }

    /// Visits aggregates shown as histograms (metrics and JSON only).
    /// Histograms with the same name must be visited one after the other.
    fn histograms(
        &self,
        visit: &mut dyn FnMut(&Histogram<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let _ = visit;
        ControlFlow::Continue(())
    }

    /// The `last_data_recv` aggregate (milliseconds a client waited before
    /// its first data was read), for Ruby's `LastDataRecv` page.
    fn last_data_recv(&self) -> Option<&Aggregate> {
        None
    }

    /// The sampled history behind the Watcher pages, if this source keeps
    /// one (without it the Watcher paths answer 404).
    fn watcher(&mut self) -> Option<&mut dyn Watcher> {
        None
    }
}

/// The visitor type of [`StatsSource::listeners`]: each listener as a
/// record with its name borrowed.
pub type ListenerVisitor<'a> = dyn FnMut(&Listener<&str>) -> ControlFlow<()> + 'a;

/// Why a [`StatsSource`] could not refresh its numbers; a small `Copy`
/// value the router shows in a 503 answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SourceError {
    /// What failed, for example `"netlink sock_diag dump"`.
    pub what: &'static str,
    /// The error number, if the failure was a system call.
    pub errno: Option<Errno>,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)?;
        match self.errno {
            Some(e) => write!(f, " failed: {e}"),
            None => f.write_str(" failed"),
        }
    }
}

impl core::error::Error for SourceError {}

/// Whether a [`Metric`] only grows (a counter) or goes up and down (a gauge).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// Only grows; exported with a `_total` suffix.
    Counter,
    /// Goes up and down.
    Gauge,
}

/// A user-named counter or gauge, such as a member of a
/// [`named_counters!`](raindrops_core::named_counters) type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric<'a> {
    /// The metric name; characters Prometheus does not allow become `_`. For
    /// a counter, a `_total` suffix is added unless present.
    pub name: &'a str,
    /// One line saying what it counts (the `# HELP` text).
    pub help: &'a str,
    /// Counter or gauge.
    pub kind: MetricKind,
    /// Label names and values; the same names for every metric of one name.
    pub labels: &'a [(&'a str, &'a str)],
    /// The value.
    pub value: u64,
}

impl<'a> Metric<'a> {
    /// A metric without labels.
    pub const fn new(name: &'a str, help: &'a str, kind: MetricKind, value: u64) -> Self {
        Metric {
            name,
            help,
            kind,
            labels: &[],
            value,
        }
    }
}

/// An [`Aggregate`] exported as a histogram.
///
/// Without [`fixed`](Self::fixed) buckets, the renderers show the
/// aggregate's power-of-two buckets up to the highest non-empty one, so the
/// bucket set differs between histograms and grows over time; with them,
/// every histogram given the same bounds has the same `le` values at every
/// scrape, which is what `sum by (le)` and `histogram_quantile` need.
#[derive(Clone, Copy, Debug)]
pub struct Histogram<'a> {
    /// The metric name (sanitised like [`Metric::name`]).
    pub name: &'a str,
    /// The `# HELP` text.
    pub help: &'a str,
    /// Label names and values (no `le`, which the renderer adds).
    pub labels: &'a [(&'a str, &'a str)],
    /// The samples: count, sum and (without `fixed`) the buckets.
    pub aggregate: &'a Aggregate,
    /// Buckets with upper bounds chosen by the caller, shown instead of
    /// the aggregate's power-of-two ones.
    pub fixed: Option<FixedBuckets<'a>>,
}

impl<'a> Histogram<'a> {
    /// A histogram of `aggregate`'s power-of-two buckets.
    pub const fn new(
        name: &'a str,
        help: &'a str,
        labels: &'a [(&'a str, &'a str)],
        aggregate: &'a Aggregate,
    ) -> Self {
        Histogram {
            name,
            help,
            labels,
            aggregate,
            fixed: None,
        }
    }
}

/// Histogram buckets with fixed upper bounds: the counts of samples at or
/// below each bound and above the previous one (not cumulative; the
/// renderers add them up). Samples above the last bound count only in the
/// `+Inf` bucket, which is the aggregate's count.
///
/// ```
/// use raindrops_core::Aggregate;
/// use raindrops_http::{FixedBuckets, Histogram, Snapshot, render_prometheus};
/// let samples = [0u64, 1, 4, 9];
/// let agg: Aggregate = samples.into_iter().collect();
/// let bounds = [0, 1, 5];
/// let counts = [1, 1, 1]; // 0 | 1 | 4 (9 is above every bound)
/// let hist = [Histogram {
///     fixed: Some(FixedBuckets { bounds: &bounds, counts: &counts, milliseconds: false }),
///     ..Histogram::new("q", "Queue.", &[], &agg)
/// }];
/// let mut s = String::new();
/// render_prometheus(&Snapshot::<&str> { histograms: &hist, ..Snapshot::new() }, &mut s).unwrap();
/// assert!(s.contains("q_bucket{le=\"5\"} 3\nq_bucket{le=\"+Inf\"} 4\n"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedBuckets<'a> {
    /// The upper bounds (`le`), strictly increasing.
    pub bounds: &'a [u64],
    /// One count per bound; missing counts are 0, extra ones are ignored.
    pub counts: &'a [u64],
    /// Whether the samples, the bounds and so the sum are milliseconds,
    /// exported in seconds (Prometheus' base unit): `le` and `_sum` are
    /// divided by 1000.
    pub milliseconds: bool,
}

/// A [`StatsSource`] over numbers the caller already has in slices; `N` is
/// any string type (`&str`, `String`).
///
/// ```
/// use raindrops_core::{Family, ListenStats, Listener};
/// use raindrops_http::{render_middleware_text, Snapshot};
/// let listeners = [Listener::new("127.0.0.1:8080", Family::Tcp4, ListenStats::new(1, 0))];
/// let snap = Snapshot { calling: Some(2), listeners: &listeners, ..Snapshot::new() };
/// let mut body = String::new();
/// render_middleware_text(&snap, &mut body).unwrap();
/// assert_eq!(body, "calling: 2\nwriting: 0\n127.0.0.1:8080 active: 1\n127.0.0.1:8080 queued: 0\n");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Snapshot<'a, N = &'a str> {
    /// Requests inside the application.
    pub calling: Option<usize>,
    /// Responses being written.
    pub writing: Option<usize>,
    /// The listeners in display order (TCP first, then Unix).
    pub listeners: &'a [Listener<N>],
    /// The per-listener fields measured ([`StatsSource::measured`]).
    pub measured: FieldSet,
    /// User-named counters and gauges.
    pub metrics: &'a [Metric<'a>],
    /// Aggregates shown as histograms.
    pub histograms: &'a [Histogram<'a>],
    /// The `last_data_recv` aggregate.
    pub last_data_recv: Option<&'a Aggregate>,
}

impl<N> Snapshot<'_, N> {
    /// Nothing known.
    pub const fn new() -> Self {
        Snapshot {
            calling: None,
            writing: None,
            listeners: &[],
            measured: FieldSet::ALL,
            metrics: &[],
            histograms: &[],
            last_data_recv: None,
        }
    }
}

impl<N> Default for Snapshot<'_, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<N: AsRef<str>> StatsSource for Snapshot<'_, N> {
    fn calling(&self) -> Option<usize> {
        self.calling
    }
    fn writing(&self) -> Option<usize> {
        self.writing
    }
    fn listeners(&self, visit: &mut ListenerVisitor<'_>) -> ControlFlow<()> {
        for l in self.listeners {
            visit(&l.as_ref())?;
        }
        ControlFlow::Continue(())
    }
    fn measured(&self) -> FieldSet {
        self.measured
    }
    fn metrics(&self, visit: &mut dyn FnMut(&Metric<'_>) -> ControlFlow<()>) -> ControlFlow<()> {
        for m in self.metrics {
            visit(m)?;
        }
        ControlFlow::Continue(())
    }
    fn histograms(
        &self,
        visit: &mut dyn FnMut(&Histogram<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        for h in self.histograms {
            visit(h)?;
        }
        ControlFlow::Continue(())
    }
    fn last_data_recv(&self) -> Option<&Aggregate> {
        self.last_data_recv
    }
}

impl<S: StatsSource + ?Sized> StatsSource for &mut S {
    fn refresh(&mut self) -> Result<(), SourceError> {
        (**self).refresh()
    }
    fn calling(&self) -> Option<usize> {
        (**self).calling()
    }
    fn writing(&self) -> Option<usize> {
        (**self).writing()
    }
    fn listeners(&self, visit: &mut ListenerVisitor<'_>) -> ControlFlow<()> {
        (**self).listeners(visit)
    }
    fn measured(&self) -> FieldSet {
        (**self).measured()
    }
    fn metrics(&self, visit: &mut dyn FnMut(&Metric<'_>) -> ControlFlow<()>) -> ControlFlow<()> {
        (**self).metrics(visit)
    }
    fn histograms(
        &self,
        visit: &mut dyn FnMut(&Histogram<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        (**self).histograms(visit)
    }
    fn last_data_recv(&self) -> Option<&Aggregate> {
        (**self).last_data_recv()
    }
    fn watcher(&mut self) -> Option<&mut dyn Watcher> {
        (**self).watcher()
    }
}

/// Runs `f` on each listener in the source's order, turning a writer
/// error into a stop and giving it back.
pub(crate) fn each_listener<S: StatsSource + ?Sized>(
    source: &S,
    mut f: impl FnMut(&Listener<&str>) -> fmt::Result,
) -> fmt::Result {
    let mut res = Ok(());
    let _ = source.listeners(&mut |l| match f(l) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            res = Err(e);
            ControlFlow::Break(())
        }
    });
    res
}

/// Whether any listener has `pick(listener)` set.
pub(crate) fn any_listener<S: StatsSource + ?Sized>(
    source: &S,
    mut pick: impl FnMut(&Listener<&str>) -> bool,
) -> bool {
    let mut found = false;
    let _ = source.listeners(&mut |l| {
        if pick(l) {
            found = true;
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    found
}
