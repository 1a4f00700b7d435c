//! [`KernelSource`]: a [`StatsSource`] whose numbers come from the kernel,
//! for Ruby's middleware (the tower layer), the Watcher and any page of
//! raindrops-http.

use ::core::fmt;
use ::core::ops::ControlFlow;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::string::String;
use std::sync::Arc;
use std::time::Instant;
use std::vec::Vec;

use raindrops_core::{Aggregate, Family, Listener};
use raindrops_diag::overflow::OverflowWatch;
use raindrops_diag::{Diag, Listeners, QueueWaitTracker, TcpQuery, UnixQuery};
use raindrops_http::{
    FieldSet, Histogram, ListenerVisitor, Metric, SourceError, StatsSource,
    visit_queue_wait_histograms,
};

use crate::error::Error;
use crate::listener_names::ListenerNames;
use crate::own::Finder;
use crate::request_counts::RequestCounts;

/// Which listeners a [`KernelSource`] shows.
#[derive(Debug)]
enum Target {
    /// The named ones.
    Named(ListenerNames),
    /// This process's own, found again at each refresh.
    Own(Finder),
    /// Every listener of the machine.
    All,
}

/// A [`StatsSource`] that asks the kernel: each
/// [`refresh`](StatsSource::refresh) queries the listeners' `active`,
/// `queued`, `backlog` and `drops` over one netlink sock_diag socket,
/// reused for every query (raindrops-diag's [`Diag`]).
///
/// The listeners are named ([`new`](Self::new), as Ruby's
/// `Raindrops::Middleware.new(app, listeners: [...])`), this process's own
/// ([`own`](Self::own), found by their inodes in `/proc/self/fd` at each
/// refresh, as Ruby finds unicorn's), or every listener of the machine
/// ([`all`](Self::all)). TCP listeners are shown first, then Unix ones;
/// Unix names in their display form
/// ([`EscapedName`](raindrops_core::EscapedName): reversible, so a name
/// that is not UTF-8 travels losslessly through JSON).
///
/// `calling` and `writing` come from the counters the application updates
/// ([`with_counts`](Self::with_counts)); the tower layer shows its own
/// instead. Ruby's `LastDataRecv` page comes from a shared aggregate
/// ([`with_last_data_recv`](Self::with_last_data_recv)).
///
/// Like `raindrops serve`, it follows its TCP listeners from refresh to
/// refresh (both can be turned off):
///
/// - **accept-queue waits** ([`follow_queue_waits`](Self::follow_queue_waits)):
///   the age of the connections waiting now (`queue_wait_oldest_ms` and
///   the percentiles of each listener) and, in the metrics, the histogram
///   `raindrops_listener_queue_wait_seconds` of how long the connections
///   that left a queue waited in it, measured from outside at the
///   resolution of the interval between refreshes;
/// - **overflows** ([`follow_overflows`](Self::follow_overflows)): each
///   listener's accept-queue overflows since it was first seen, told
///   apart from the drops that are normal for `TCP_DEFER_ACCEPT`, and the
///   network namespace's `TcpExt` counters as the
///   `raindrops_tcp_*_total` metrics.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use raindrops::{KernelSource, MiddlewareStats, StatsSource};
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let _client = std::net::TcpStream::connect(listener.local_addr()?)?;
/// static STATS: MiddlewareStats = MiddlewareStats::new();
///
/// let mut source = KernelSource::own()?.with_counts(&STATS);
/// source.refresh()?;
/// let mut body = String::new();
/// raindrops::http::render_middleware_text(&source, &mut body)?;
/// let addr = listener.local_addr()?;
/// assert!(body.contains(&format!("{addr} queued: 1\n")), "{body}");
/// # Ok(()) }
/// ```
pub struct KernelSource {
    diag: Diag,
    target: Target,
    tcp_query: TcpQuery,
    unix_query: UnixQuery,
    current: Vec<Listener<String>>,
    counts: Option<Arc<dyn RequestCounts>>,
    #[cfg(target_has_atomic = "64")]
    last_data_recv: Option<(Arc<dyn crate::AggregateHandle>, Aggregate)>,
    error: Option<Error>,
    /// Follows the connections through the TCP accept queues.
    queue_waits: Option<QueueWaitTracker>,
    /// Follows the TCP listeners' overflows and the namespace counters.
    overflows: Option<OverflowWatch>,
}

impl fmt::Debug for KernelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelSource")
            .field("target", &self.target)
            .field("tcp_query", &self.tcp_query)
            .field("unix_query", &self.unix_query)
            .field("current", &self.current)
            .field("error", &self.error)
            .field("queue_waits", &self.queue_waits.is_some())
            .field("overflows", &self.overflows.is_some())
            .finish_non_exhaustive()
    }
}

impl KernelSource {
    fn with_target(target: Target) -> Result<Self, Error> {
        Ok(KernelSource {
            diag: Diag::new()?,
            target,
            tcp_query: TcpQuery::new(),
            unix_query: UnixQuery::new(),
            current: Vec::new(),
            counts: None,
            #[cfg(target_has_atomic = "64")]
            last_data_recv: None,
            error: None,
            queue_waits: Some(QueueWaitTracker::new()),
            overflows: Some(OverflowWatch::new()),
        })
    }

    /// The listeners named in `names`: TCP addresses (`"127.0.0.1:8080"`,
    /// `"0.0.0.0:80"`, `"[::1]:8080"`) and Unix socket names (`"/path"`,
    /// `"@abstract"`, as `&str`, `&Path` or `&OsStr`: names that are not
    /// UTF-8 are asked for exactly). Repeats are shown once.
    ///
    /// Follows raindrops-diag: one TCP address is always shown (zeros if
    /// nothing listens there); of several, those that do not listen are
    /// left out; a named Unix path always is (zeros if nothing listens),
    /// and a symlink shows its target too.
    ///
    /// # Errors
    ///
    /// [`Error::Name`] for a name that is neither (`"localhost:80"`: host
    /// names are not resolved), [`Error::Diag`] if the netlink socket
    /// cannot be opened.
    pub fn new<I, S>(names: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::with_target(Target::Named(ListenerNames::parse(names)?))
    }

    /// This process's own listening sockets, TCP and Unix, found again at
    /// each refresh (a listener bound later appears, a closed one goes):
    /// its inodes in `/proc/self/fd` matched with the kernel's listeners
    /// (see [`own_listeners`](crate::own_listeners)). Listeners inherited
    /// from a parent, as forked workers have them, are this process's too.
    ///
    /// # Errors
    ///
    /// [`Error::Diag`] if the netlink socket cannot be opened.
    pub fn own() -> Result<Self, Error> {
        Self::with_target(Target::Own(Finder::default()))
    }

    /// Every TCP and Unix listener of the machine (what `raindrops serve`
    /// shows without arguments).
    ///
    /// # Errors
    ///
    /// [`Error::Diag`] if the netlink socket cannot be opened.
    pub fn all() -> Result<Self, Error> {
        Self::with_target(Target::All)
    }

    /// Shows `calling` and `writing` from `counts` (counters the
    /// application updates, for example with
    /// [`RequestGauges`](crate::RequestGauges)).
    #[must_use]
    pub fn with_counts<C: RequestCounts + 'static>(mut self, counts: C) -> Self {
        self.counts = Some(Arc::new(counts));
        self
    }

    /// Serves Ruby's `LastDataRecv` page (`/last_data_recv`) from
    /// `aggregate`, which [`LastDataRecvListener`](crate::LastDataRecvListener)
    /// (or raindrops-tcpinfo's `LastDataRecv`) feeds; a snapshot is taken
    /// at each refresh.
    #[cfg(target_has_atomic = "64")]
    #[must_use]
    pub fn with_last_data_recv<A: crate::AggregateHandle>(mut self, aggregate: A) -> Self {
        self.last_data_recv = Some((Arc::new(aggregate), Aggregate::new()));
        self
    }

    /// Counts what `query` asks for in TCP listeners (for example
    /// [`TcpQuery::queued_only`]: one LISTEN-only dump, `active` shown as
    /// unknown).
    #[must_use]
    pub fn with_tcp_query(mut self, query: TcpQuery) -> Self {
        self.tcp_query = query;
        self
    }

    /// Counts what `query` asks for in Unix listeners.
    #[must_use]
    pub fn with_unix_query(mut self, query: UnixQuery) -> Self {
        self.unix_query = query;
        self
    }

    /// Whether to follow the connections waiting in the TCP accept queues
    /// (on by default): each refresh then also measures the age of the
    /// waiting connections (the dump asks their `tcp_info`, only for
    /// sockets on a listener's port) and records, for each connection that
    /// left a queue since the last refresh, how long it waited (see the
    /// repository's `docs/queue-wait.md`). Off: those fields are unknown
    /// and there is no wait histogram. Turning it off forgets the waits.
    #[must_use]
    pub fn follow_queue_waits(mut self, on: bool) -> Self {
        self.queue_waits = on.then(QueueWaitTracker::new);
        self
    }

    /// Whether to follow accept-queue overflows (on by default): each
    /// refresh then also reads the network namespace's `TcpExt` counters
    /// and, unless the source shows every listener ([`all`](Self::all)),
    /// makes one LISTEN-only dump of every TCP listener (the split of
    /// drops into overflows needs them all; `docs/listener-stats.md` of the
    /// repository). Off: `overflows` is unknown and there are no
    /// `raindrops_tcp_*_total` metrics. Turning it off forgets the totals.
    #[must_use]
    pub fn follow_overflows(mut self, on: bool) -> Self {
        self.overflows = on.then(OverflowWatch::new);
        self
    }

    /// How long the connections that left each TCP listener's accept
    /// queue waited there, in milliseconds, by listener (those of the last
    /// refresh), when [`follow_queue_waits`](Self::follow_queue_waits) is
    /// on.
    pub fn queue_waits(&self) -> Option<&QueueWaitTracker> {
        self.queue_waits.as_ref()
    }

    /// The overflow watch with the namespace counters of the last refresh,
    /// when [`follow_overflows`](Self::follow_overflows) is on.
    pub fn overflow_watch(&self) -> Option<&OverflowWatch> {
        self.overflows.as_ref()
    }

    /// Queries the kernel now and returns the listeners (TCP first, then
    /// Unix); [`refresh`](StatsSource::refresh) is this for the renderers.
    ///
    /// # Errors
    ///
    /// [`Error::Diag`] if a query fails, [`Error::Sys`] if `/proc/self/fd`
    /// or a symlink cannot be read. The listeners of the last successful
    /// query stay.
    pub fn sample(&mut self) -> Result<&[Listener<String>], Error> {
        let r = self.query();
        self.error = r.err();
        #[cfg(target_has_atomic = "64")]
        if let Some((handle, snap)) = &mut self.last_data_recv {
            *snap = handle.aggregate().snapshot();
        }
        r.map(|()| &self.current[..])
    }

    /// The listeners of the last successful query.
    pub fn listeners_now(&self) -> &[Listener<String>] {
        &self.current
    }

    /// Why the last query failed, if it did.
    pub fn last_error(&self) -> Option<Error> {
        self.error
    }

    /// The netlink handle, for queries of one's own on the same socket.
    pub fn diag(&mut self) -> &mut Diag {
        &mut self.diag
    }

    fn query(&mut self) -> Result<(), Error> {
        let diag = &mut self.diag;
        let mut tq = self.tcp_query;
        if self.queue_waits.is_some() {
            tq = tq.with_queue_wait(true);
        }
        let uq = &self.unix_query;
        let (tcp, unix) = match &mut self.target {
            Target::Named(n) => named(diag, &n.tcp, &n.unix, &tq, uq)?,
            Target::Own(f) => {
                f.find(diag)?;
                let unix: Vec<&OsStr> = f.unix.iter().map(|b| OsStr::from_bytes(b)).collect();
                named(diag, &f.tcp, &unix, &tq, uq)?
            }
            Target::All => (
                Some(diag.tcp_listener_stats_addrs(&[], &tq)?),
                Some(diag.unix_listener_stats_with::<&str>(&[], uq)?),
            ),
        };
        if let (Some(t), Some(tcp)) = (&mut self.queue_waits, &tcp) {
            t.update(Instant::now(), tcp);
        }
        let mut out = Vec::with_capacity(self.current.len());
        out.extend(tcp.map(Listeners::into_vec).unwrap_or_default());
        out.extend(unix.map(Listeners::into_vec).unwrap_or_default());
        if let Some(w) = &mut self.overflows {
            // The dump of every listener is every TCP listener only with
            // drops asked for.
            let every = matches!(self.target, Target::All) && tq.drops;
            w.observe(diag, &mut out, every)?;
        }
        self.current = out;
        Ok(())
    }
}

/// The stats of the named TCP and Unix listeners (none asked of the
/// kernel for an empty list, which would mean every one).
fn named<U: AsRef<OsStr>>(
    diag: &mut Diag,
    tcp: &[SocketAddr],
    unix: &[U],
    tq: &TcpQuery,
    uq: &UnixQuery,
) -> Result<(Option<Listeners>, Option<Listeners>), Error> {
    let tcp = if tcp.is_empty() {
        None
    } else {
        Some(diag.tcp_listener_stats_addrs(tcp, tq)?)
    };
    let unix = if unix.is_empty() {
        None
    } else {
        Some(diag.unix_listener_stats_with(unix, uq)?)
    };
    Ok((tcp, unix))
}

impl StatsSource for KernelSource {
    fn refresh(&mut self) -> Result<(), SourceError> {
        self.sample().map(|_| ()).map_err(|e| SourceError {
            what: match e {
                Error::Sys { call, .. } => call,
                _ => "netlink sock_diag query",
            },
            errno: e.errno(),
        })
    }

    fn calling(&self) -> Option<usize> {
        self.counts.as_ref().map(|c| c.calling())
    }

    fn writing(&self) -> Option<usize> {
        self.counts.as_ref().map(|c| c.writing())
    }

    fn listeners(&self, visit: &mut ListenerVisitor<'_>) -> ControlFlow<()> {
        for l in &self.current {
            visit(&l.as_ref())?;
        }
        ControlFlow::Continue(())
    }

    fn measured(&self) -> FieldSet {
        let tcp = self.current.iter().any(|l| l.family.is_tcp());
        let unix = self.current.iter().any(|l| l.family == Family::Unix);
        // `active` is measured unless every query shown skipped it.
        if (tcp && self.tcp_query.active) || (unix && self.unix_query.active) || !(tcp || unix) {
            FieldSet::ALL
        } else {
            FieldSet::ALL.without("active")
        }
    }

    fn metrics(&self, visit: &mut dyn FnMut(&Metric<'_>) -> ControlFlow<()>) -> ControlFlow<()> {
        match self.overflows.as_ref().and_then(OverflowWatch::netstat) {
            Some(t) => crate::netstat::visit_netstat_metrics(t, &mut |m| visit(m)),
            None => ControlFlow::Continue(()),
        }
    }

    fn histograms(
        &self,
        visit: &mut dyn FnMut(&Histogram<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        match &self.queue_waits {
            Some(t) => visit_queue_wait_histograms(t.iter(), visit),
            None => ControlFlow::Continue(()),
        }
    }

    fn last_data_recv(&self) -> Option<&Aggregate> {
        #[cfg(target_has_atomic = "64")]
        {
            self.last_data_recv.as_ref().map(|(_, snap)| snap)
        }
        #[cfg(not(target_has_atomic = "64"))]
        {
            None
        }
    }
}
