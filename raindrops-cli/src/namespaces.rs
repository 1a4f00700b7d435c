//! `--all-namespaces`, `--namespace NAME|PID|PATH` and `-p/--processes` of
//! `listeners` and `serve`: listeners of other network namespaces, and the
//! process and cgroup that own each listener (like `ss -p`), from
//! raindrops-diag's `NsSampler`. The rules are in `docs/namespaces.md`.

use std::ops::ControlFlow;
use std::time::Duration;

use std::ffi::OsString;

use clap::Args;
use raindrops_diag::{
    NsQuery, NsSample, NsSampler, NsScope, NsSkip, NsSpec, SkipCounts, SkipTarget, Skipped,
    TcpQuery, UnixQuery,
};
use raindrops_http::{ListenerVisitor, Metric, MetricKind};

use crate::fail::{Failure, Outcome};
use crate::listeners::{Format, ListenersArgs, render, tcp_query};
use crate::ns_select::Choice;
use crate::out;
use crate::sample::{Listener, Sampler, SelectionArgs, shown};
use raindrops_diag::overflow::OverflowWatch;

/// How long a sample waits for the namespaces' answers.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How many skipped namespaces are named, one line each, before the rest
/// are only counted.
const MAX_SKIP_LINES: usize = 5;

/// The namespace and owner flags of `listeners` and `serve`.
#[derive(Args, Debug, Default, Clone)]
pub(crate) struct NsArgs {
    /// Every network namespace of the machine (containers, `ip netns`):
    /// adds the NETNS columns and labels. Entering another namespace needs
    /// root (CAP_SYS_ADMIN); those that cannot be entered are skipped with
    /// a warning.
    #[arg(long, conflicts_with = "namespaces")]
    pub(crate) all_namespaces: bool,
    /// The network namespace NAME (ip netns), of process PID, or of the
    /// nsfs file PATH (/proc/PID/ns/net, /run/netns/NAME); repeatable.
    #[arg(long = "namespace", value_name = "NAME|PID|PATH")]
    pub(crate) namespaces: Vec<String>,
    /// Show the process that owns each listener (pid, command, cgroup),
    /// like `ss -p`; other users' processes need root.
    #[arg(short = 'p', long)]
    pub(crate) processes: bool,
}

impl NsArgs {
    /// Whether any of the flags is given.
    pub(crate) fn wanted(&self) -> bool {
        self.all_namespaces || !self.namespaces.is_empty() || self.processes
    }

    /// Whether namespaces other than this process's may be sampled.
    fn namespaced(&self) -> bool {
        self.all_namespaces || !self.namespaces.is_empty()
    }

    /// The namespaces asked for; a spec that cannot name one is bad usage.
    fn scope(&self) -> Result<NsScope, Failure> {
        if self.all_namespaces {
            return Ok(NsScope::All);
        }
        if self.namespaces.is_empty() {
            return Ok(NsScope::Current);
        }
        let specs = self
            .namespaces
            .iter()
            .map(|s| {
                NsSpec::parse(s)
                    .map_err(|e| Failure::Usage(format!("bad --namespace {}: {e}", shown(s))))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NsScope::Only(specs))
    }
}

/// Listeners sampled by namespace, with their owners when asked.
pub(crate) struct NsSampling {
    sampler: NsSampler,
    /// Whether the records keep their namespace (not for `-p` alone).
    namespaced: bool,
    /// Which listeners of each namespace are shown.
    choice: Choice,
    /// The listeners of the last sample, in order.
    last: Vec<Listener>,
    /// How many namespaces answered the last sample.
    answered: usize,
    /// Whether the last sample is still unused (taken to check the flags).
    fresh: bool,
    /// The first namespace of the last sample (this process's when it is
    /// in scope).
    first_ns: Option<u64>,
}

impl NsSampling {
    /// A sampler for `names` (none: every listener) chosen by `selection`
    /// (`None`: every listener, without the ephemeral-port rule), with
    /// `tcp` as the TCP query. Names and selectors are checked here.
    pub(crate) fn new(
        args: &NsArgs,
        names: &[OsString],
        selection: Option<&SelectionArgs>,
        tcp: TcpQuery,
    ) -> Result<Self, Failure> {
        let choice = Choice::new(names, selection)?;
        let unix = if tcp.active {
            UnixQuery::new()
        } else {
            UnixQuery::queued_only()
        };
        // Every listener of each namespace; the choice picks among them.
        let query = NsQuery::new().with_tcp(Some(tcp)).with_unix(Some(unix));
        let sampler = NsSampler::new(args.scope()?)
            .with_query(query)
            .with_owners(args.processes)
            .with_timeout(TIMEOUT);
        Ok(NsSampling {
            sampler,
            namespaced: args.namespaced(),
            choice,
            last: Vec::new(),
            answered: 0,
            fresh: false,
            first_ns: None,
        })
    }

    /// Samples every namespace in scope; the listeners are kept as
    /// [`NsSampling::listeners`]. Never fails as a whole: namespaces left
    /// out are in the sample's `skipped`.
    pub(crate) fn sample(&mut self) -> NsSample {
        let mut sample = self.sampler.sample();
        self.fresh = false;
        self.last.clear();
        self.answered = sample.namespaces.len();
        self.first_ns = sample.namespaces.first().map(|n| n.ns.id.ino);
        for ns in &mut sample.namespaces {
            let all: Vec<Listener> = ns
                .listeners
                .drain(..)
                .map(|l| {
                    let mut r = l.listener;
                    if !self.namespaced {
                        r.netns = None;
                    }
                    r
                })
                .collect();
            // One namespace (`-p` alone) shows exact names where nothing
            // listens, as without `-p`.
            self.last.extend(self.choice.apply(all, !self.namespaced));
        }
        sample
    }

    /// The listeners of the last sample: each namespace's TCP ones, then
    /// its Unix ones, namespaces in discovery order (this process's first).
    pub(crate) fn listeners(&self) -> &[Listener] {
        &self.last
    }

    /// Skipped namespaces by kind since the start.
    pub(crate) fn skip_counts(&self) -> SkipCounts {
        self.sampler.skip_counts()
    }
}

/// What a user wrote that names no network namespace: a spec that
/// resolves to nothing, or to a file that is not one.
fn bad_spec(s: &Skipped) -> Option<Failure> {
    let SkipTarget::Spec(spec) = &s.target else {
        return None;
    };
    let why = match s.reason {
        NsSkip::Vanished => "no such network namespace",
        NsSkip::NotNetns => "not a network namespace",
        _ => return None,
    };
    Some(Failure::Usage(format!(
        "--namespace {}: {why}",
        shown(&spec.to_string())
    )))
}

/// One warning line per skipped namespace (the first few, then a count),
/// with the privilege hint where entering was refused.
fn warn_skips(sample: &NsSample) {
    for s in sample.skipped.iter().take(MAX_SKIP_LINES) {
        let what = match &s.target {
            SkipTarget::Ns(ns) => ns.label(),
            SkipTarget::Spec(spec) => spec.to_string(),
        };
        let hint = if matches!(s.reason, NsSkip::Denied(_)) {
            " (entering another network namespace needs root: CAP_SYS_ADMIN)"
        } else {
            ""
        };
        out::stderr(&format!(
            "raindrops: warning: network namespace {} skipped ({}): {}{hint}\n",
            shown(&what),
            s.reason.kind(),
            s.reason
        ));
    }
    if sample.skipped.len() > MAX_SKIP_LINES {
        out::stderr(&format!(
            "raindrops: warning: {} more network namespaces skipped\n",
            sample.skipped.len() - MAX_SKIP_LINES
        ));
    }
    if let Some(e) = sample.discovery_error {
        out::stderr(&format!(
            "raindrops: warning: cannot list network namespaces: {e}\n"
        ));
    }
    if let Some(e) = sample.owner_error {
        out::stderr(&format!(
            "raindrops: warning: cannot find the owning processes: {e}\n"
        ));
    }
}

/// Checks the first sample: a `--namespace` that names nothing is bad
/// usage; other skips are warnings.
fn first_sample(s: &mut NsSampling) -> Outcome {
    let sample = s.sample();
    if let Some(f) = sample.skipped.iter().find_map(bad_spec) {
        return Err(f);
    }
    warn_skips(&sample);
    s.fresh = true;
    Ok(())
}

/// `listeners` with any of the namespace or owner flags.
pub(crate) fn run_listeners(args: &ListenersArgs) -> Outcome {
    let tcp = tcp_query(args.no_active, args.syn_recv);
    if !args.ns.namespaced() {
        // This namespace only: the plain sampler's checks and warnings.
        Sampler::new(&args.names, tcp)?
            .with_selection(&args.selection)?
            .warn_not_listening();
    }
    let mut s = NsSampling::new(&args.ns, &args.names, Some(&args.selection), tcp)?;
    first_sample(&mut s)?;
    // This namespace's overflow counters, with the metrics and JSON of
    // this namespace only (they have no namespace label).
    let netstat = match args.format {
        Format::Prometheus | Format::Json if !args.ns.namespaced() => {
            raindrops_diag::proc_netstat::TcpExt::read_current_thread()
                .map(|t| raindrops::netstat_metrics(&t))
                .unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let text = render(s.listeners(), tcp.active, args.format, &netstat)?;
    out::stdout(&text)
}

/// The sampler of `serve`: the plain one, or by namespace.
pub(crate) enum Sampling {
    /// This namespace, without owners.
    Plain(Box<Sampler>),
    /// With any of the namespace or owner flags.
    Ns(Box<NsSampling>),
}

impl Sampling {
    /// The sampler `args` ask for, for `names` (none: every listener), its
    /// warnings printed and its first sample checked. The plain one
    /// follows accept-queue overflows; by namespace they are not followed
    /// (each namespace has its own TcpExt counters).
    pub(crate) fn new(
        names: &[String],
        args: &NsArgs,
        selection: &SelectionArgs,
    ) -> Result<Self, Failure> {
        let tcp = tcp_query(false, false);
        if !args.wanted() {
            let mut s = Sampler::new(names, tcp)?.with_selection(selection)?;
            s.warn_not_listening();
            s.track_overflows();
            s.track_queue_waits();
            return Ok(Sampling::Plain(Box::new(s)));
        }
        if !args.namespaced() {
            Sampler::new(names, tcp)?.warn_not_listening();
        }
        let names: Vec<OsString> = names.iter().map(OsString::from).collect();
        let mut s = NsSampling::new(args, &names, Some(selection), tcp)?;
        first_sample(&mut s)?;
        Ok(Sampling::Ns(Box::new(s)))
    }

    /// One sample: the listeners for the Watcher pages, whose histories
    /// are keyed by name, so from one namespace only: this process's, or
    /// the first sampled if it is not in scope. Every namespace's
    /// listeners are published with [`Sampling::publish`].
    pub(crate) fn sample(&mut self) -> Result<Vec<Listener>, Failure> {
        match self {
            Sampling::Plain(s) => s.sample(),
            Sampling::Ns(s) => {
                // The first sample, taken by `new`, is used once.
                if !s.fresh {
                    s.sample();
                }
                s.fresh = false;
                let watched = |l: &&Listener| {
                    !s.namespaced || l.netns.as_ref().map(|n| n.inode) == s.first_ns
                };
                Ok(s.last.iter().filter(watched).cloned().collect())
            }
        }
    }

    /// How long connections waited in the accept queues (the plain
    /// sampler: by namespace they are not followed).
    pub(crate) fn queue_waits(&self) -> Option<&raindrops_diag::QueueWaitTracker> {
        match self {
            Sampling::Plain(s) => s.queue_waits(),
            Sampling::Ns(_) => None,
        }
    }

    /// Listeners on ephemeral ports the selection left out of the last
    /// sample (the plain sampler).
    pub(crate) fn hidden(&self) -> usize {
        match self {
            Sampling::Plain(s) => s.hidden(),
            Sampling::Ns(_) => 0,
        }
    }

    /// The overflow watch of the plain sampler.
    pub(crate) fn overflow_watch(&self) -> Option<&OverflowWatch> {
        match self {
            Sampling::Plain(s) => s.overflow_watch(),
            Sampling::Ns(_) => None,
        }
    }

    /// What the server shows besides the Watcher: every listener of the
    /// last sample and the skip counts (nothing for the plain sampler).
    pub(crate) fn publish(&self, to: &mut Shown) {
        if let Sampling::Ns(s) = self {
            to.listeners = Some(s.last.clone());
            to.namespaces = s.answered;
            to.skips = s.skip_counts();
            to.namespaced = s.namespaced;
        }
    }
}

/// The state `serve` shows from a namespace sampler.
#[derive(Debug, Default)]
pub(crate) struct Shown {
    /// Every listener of the last sample, when sampled by namespace.
    listeners: Option<Vec<Listener>>,
    namespaces: usize,
    skips: SkipCounts,
    namespaced: bool,
}

impl Shown {
    /// Visits every listener of the last sample; `None` when the Watcher's
    /// last sample is what to show.
    pub(crate) fn visit(&self, visit: &mut ListenerVisitor<'_>) -> Option<ControlFlow<()>> {
        let all = self.listeners.as_ref()?;
        for l in all {
            if visit(&l.as_ref()).is_break() {
                return Some(ControlFlow::Break(()));
            }
        }
        Some(ControlFlow::Continue(()))
    }

    /// `raindrops_namespaces` (namespaces sampled) and
    /// `raindrops_namespace_skips_total{reason}` (namespaces left out of
    /// a sample, by reason), when sampling namespaces.
    pub(crate) fn metrics(
        &self,
        visit: &mut dyn FnMut(&Metric<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if !self.namespaced {
            return ControlFlow::Continue(());
        }
        visit(&Metric::new(
            "raindrops_namespaces",
            "Network namespaces that answered the last sample.",
            MetricKind::Gauge,
            self.namespaces as u64,
        ))?;
        for (reason, n) in self.skips.iter() {
            let labels = [("reason", reason)];
            visit(&Metric {
                labels: &labels,
                ..Metric::new(
                    "raindrops_namespace_skips_total",
                    "Network namespaces left out of a sample (vanished, denied, timeout, not_netns, query, error).",
                    MetricKind::Counter,
                    n,
                )
            })?;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_namespace_specs_are_usage_errors() {
        let args = NsArgs {
            namespaces: vec!["..".into()],
            ..NsArgs::default()
        };
        assert!(matches!(args.scope(), Err(Failure::Usage(_))));
        let args = NsArgs {
            namespaces: vec!["blue".into(), "42".into()],
            ..NsArgs::default()
        };
        assert!(matches!(args.scope(), Ok(NsScope::Only(v)) if v.len() == 2));
        assert!(!NsArgs::default().wanted());
        let p = NsArgs {
            processes: true,
            ..NsArgs::default()
        };
        assert!(p.wanted() && !p.namespaced());
        assert!(matches!(
            NsSampling::new(&p, &["1.2.3.4".into()], None, TcpQuery::new()),
            Err(Failure::Usage(_))
        ));
    }

    #[test]
    fn skip_metrics_only_when_sampling_namespaces() {
        let lines = |shown: &Shown| {
            let mut names = Vec::new();
            let _ = shown.metrics(&mut |m: &Metric<'_>| {
                names.push(format!("{} {:?} {}", m.name, m.labels, m.value));
                ControlFlow::Continue(())
            });
            names
        };
        assert!(lines(&Shown::default()).is_empty());
        let names = lines(&Shown {
            namespaced: true,
            namespaces: 3,
            ..Shown::default()
        });
        assert_eq!(names[0], "raindrops_namespaces [] 3");
        assert_eq!(
            names[1],
            "raindrops_namespace_skips_total [(\"reason\", \"vanished\")] 0"
        );
        assert_eq!(names.len(), 1 + NsSkip::KINDS.len());
    }
}
