//! One sample of listener statistics: the listeners named on the command
//! line, those the selectors choose, or all of them, in one reusable
//! netlink socket.
//!
//! Names are taken as people type them (docs/selection.md of the
//! repository): exact TCP addresses and Unix paths are always sampled
//! (a row of zeros, and a warning, if nothing listens there); `:PORT`,
//! `localhost:PORT`, port ranges and `HOST:*` select among the listeners
//! that exist. Without names, every listener is sampled except, by default,
//! TCP listeners on ephemeral ports; `--include`, `--exclude` and
//! `--all-ports` ([`SelectionArgs`]) change that.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::time::Instant;

use clap::Args;
use raindrops_core::{
    EscapedName, HostSelector, PortRange, SafeText, Selection, Selector, Verdict, any_addr_of,
    parse_tcp_addr,
};
use raindrops_diag::{Diag, Listeners, QueueWaitTracker, TcpQuery, UnixQuery};

use crate::fail::Failure;
use crate::out;
use raindrops_diag::overflow::OverflowWatch;

/// One listener of a sample: the workspace's listener record.
pub(crate) type Listener = raindrops_core::Listener<String>;

/// Where the kernel says which ports it picks for `bind` to port 0 and
/// outgoing connections.
const LOCAL_PORT_RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// Which listeners "every listener" means: the flags `--include`,
/// `--exclude` and `--all-ports`, shared by `listeners`, `watch` and
/// `serve`.
#[derive(Args, Debug, Default, Clone)]
pub(crate) struct SelectionArgs {
    /// Show the listeners SELECTOR matches (repeatable; with ADDR|PATH
    /// arguments, in addition to them).
    #[arg(
        long = "include",
        value_name = "SELECTOR",
        long_help = "Show the listeners SELECTOR matches (repeatable; with ADDR|PATH \
                     arguments, in addition to them). SELECTOR is an address \
                     (127.0.0.1:80, [::1]:80), a port or port range on any address \
                     (:80, :8000-8100), localhost:PORT (127.0.0.1 and ::1), HOST:* \
                     (every port of an address), or a Unix socket name pattern where * \
                     matches anything and ? one character (/run/user/*, @app-?). Included \
                     listeners are shown even on ephemeral ports."
    )]
    pub(crate) include: Vec<String>,
    /// Leave out the listeners SELECTOR matches (repeatable; same forms as
    /// --include; names given as ADDR|PATH are always shown).
    #[arg(long = "exclude", value_name = "SELECTOR")]
    pub(crate) exclude: Vec<String>,
    /// Also show TCP listeners on ephemeral ports.
    #[arg(
        long,
        visible_alias = "ephemeral",
        long_help = "Also show TCP listeners on ephemeral ports. By default, when no \
                     --include is given, TCP listeners bound to a port in the host's \
                     ephemeral range (/proc/sys/net/ipv4/ip_local_port_range, usually \
                     32768-60999, where the kernel picks ports for bind to port 0) are \
                     left out: they are mostly short-lived (browsers, tests, tools). A \
                     service on such a port is shown when named or included \
                     (--include :50051)."
    )]
    pub(crate) all_ports: bool,
}

/// Parses a selector given to `flag`, as a usage failure naming it.
pub(crate) fn parse_selector<'a>(flag: &str, s: &'a str) -> Result<Selector<'a>, Failure> {
    Selector::parse(s).map_err(|e| Failure::Usage(format!("bad {flag} selector {}: {e}", shown(s))))
}

/// The host's ephemeral port range, if it can be read.
pub(crate) fn ephemeral_range() -> Option<PortRange> {
    let mut text = String::new();
    let file = std::fs::File::open(LOCAL_PORT_RANGE).ok()?;
    // Two numbers: 64 bytes is plenty, and bounds what we read.
    file.take(64).read_to_string(&mut text).ok()?;
    PortRange::parse_local_port_range(&text).ok()
}

/// A Unix socket named on the command line whose path is not UTF-8: shown
/// in display form, found in a dump of every Unix listener by the display
/// form of the socket it resolves to (the std API of raindrops-diag takes
/// UTF-8 names).
struct RawUnix {
    shown: String,
    target: String,
}

/// The listeners to sample and how.
pub(crate) struct Sampler {
    diag: Diag,
    /// Exact TCP addresses named, as typed (the kernel filters on them).
    tcp: Vec<String>,
    /// Unix socket names named, UTF-8, as typed.
    unix: Vec<String>,
    /// Unix socket names named that are not UTF-8.
    unix_raw: Vec<RawUnix>,
    /// Names that select (`:80`, `localhost:80`, `127.0.0.1:*`).
    patterns: Vec<String>,
    include: Vec<String>,
    exclude: Vec<String>,
    ephemeral: Option<PortRange>,
    query: TcpQuery,
    all: bool,
    /// TCP listeners on ephemeral ports left out of the last sample.
    hidden: usize,
    /// Follows overflows from sample to sample, when asked.
    overflows: Option<OverflowWatch>,
    /// Follows connections through the accept queues, when asked.
    queue_waits: Option<QueueWaitTracker>,
}

impl Sampler {
    /// A sampler for `names` (TCP addresses, selectors such as `:80` and
    /// `localhost:80`, and Unix socket paths, as typed; none means every
    /// listener, without the ephemeral-port rule until
    /// [`Sampler::with_selection`]). Bad names are a usage failure.
    pub(crate) fn new<N: AsRef<OsStr>>(names: &[N], query: TcpQuery) -> Result<Self, Failure> {
        let mut s = Sampler {
            diag: Diag::new().map_err(|e| {
                Failure::System(format!("cannot open a netlink sock_diag socket: {e}"))
            })?,
            tcp: Vec::new(),
            unix: Vec::new(),
            unix_raw: Vec::new(),
            patterns: Vec::new(),
            include: Vec::new(),
            exclude: Vec::new(),
            ephemeral: None,
            query,
            all: names.is_empty(),
            hidden: 0,
            overflows: None,
            queue_waits: None,
        };
        for n in names {
            s.add_name(n.as_ref())?;
        }
        Ok(s)
    }

    fn add_name(&mut self, raw: &OsStr) -> Result<(), Failure> {
        let bytes = raw.as_bytes();
        if bytes.first().is_some_and(|b| *b == b'/' || *b == b'@') {
            check_path(raw)?;
            match raw.to_str() {
                Some(n) => self.unix.push(n.to_string()),
                None => {
                    let shown = EscapedName(bytes).to_string();
                    let target = std::fs::canonicalize(raw).map_or(shown.clone(), |t| {
                        EscapedName(t.as_os_str().as_bytes()).to_string()
                    });
                    self.unix_raw.push(RawUnix { shown, target });
                }
            }
            return Ok(());
        }
        let Some(n) = raw.to_str() else {
            return Err(Failure::Usage(format!(
                "bad listener address {}: not UTF-8",
                EscapedName(bytes)
            )));
        };
        if parse_tcp_addr(n).is_ok() {
            self.tcp.push(n.to_string());
            return Ok(());
        }
        // Not one address: a selector (`:80`, `localhost:80`), or the error
        // that names the fault.
        Selector::parse(n)
            .map_err(|e| Failure::Usage(format!("bad listener address {}: {e}", shown(n))))?;
        self.patterns.push(n.to_string());
        Ok(())
    }

    /// The same sampler choosing "every listener" (and what patterns and
    /// includes add to named ones) by `args`: includes, excludes and, unless
    /// `--all-ports` or an include is given, the ephemeral-port rule.
    /// Bad selectors are a usage failure.
    pub(crate) fn with_selection(mut self, args: &SelectionArgs) -> Result<Self, Failure> {
        for s in &args.include {
            parse_selector("--include", s)?;
        }
        for s in &args.exclude {
            parse_selector("--exclude", s)?;
        }
        self.include.clone_from(&args.include);
        self.exclude.clone_from(&args.exclude);
        self.ephemeral = if args.all_ports {
            None
        } else {
            ephemeral_range()
        };
        Ok(self)
    }

    /// Follows accept-queue overflows from now on: every sample sets the
    /// `overflows` of its TCP listeners (0 at the first sample). Costs a
    /// LISTEN-only dump of every TCP listener (when not all are sampled)
    /// and a read of /proc/thread-self/net/netstat per sample.
    /// Measures accept-queue waits from now on: every sample sets the
    /// `queue_wait_*` fields of its TCP listeners and follows each waiting
    /// connection (by socket cookie) until it is accepted, recording its
    /// wait in [`Sampler::queue_waits`] (resolution: the sampling
    /// interval; docs/queue-wait.md).
    pub(crate) fn track_queue_waits(&mut self) {
        self.query = self.query.with_queue_wait(true);
        self.queue_waits.get_or_insert_with(QueueWaitTracker::new);
    }

    /// How long connections waited in the accept queues, by listener,
    /// once [`Sampler::track_queue_waits`] was called.
    pub(crate) fn queue_waits(&self) -> Option<&QueueWaitTracker> {
        self.queue_waits.as_ref()
    }

    pub(crate) fn track_overflows(&mut self) {
        self.overflows.get_or_insert_with(OverflowWatch::default);
    }

    /// The overflow watch, once [`Sampler::track_overflows`] was called.
    pub(crate) fn overflow_watch(&self) -> Option<&OverflowWatch> {
        self.overflows.as_ref()
    }

    /// TCP listeners on ephemeral ports that the last sample left out.
    pub(crate) fn hidden(&self) -> usize {
        self.hidden
    }

    /// The ephemeral range left out of "every listener", if any.
    pub(crate) fn ephemeral(&self) -> Option<PortRange> {
        self.ephemeral
    }

    /// Warns on stderr, one line each, about the named listeners that no
    /// socket listens on (exact names are still sampled: their rows show
    /// zeros, as Ruby's do), with a hint where the any-address of the port
    /// listens. Costs one LISTEN-only dump of each kind.
    pub(crate) fn warn_not_listening(&mut self) {
        for w in self.not_listening() {
            out::stderr(&format!("raindrops: warning: {w}\n"));
        }
    }

    /// The warnings of [`Sampler::warn_not_listening`].
    pub(crate) fn not_listening(&mut self) -> Vec<String> {
        let mut warnings = Vec::new();
        if !self.tcp.is_empty() || !self.patterns.is_empty() {
            if let Ok(all) = self
                .diag
                .tcp_listener_stats_with::<&str>(&[], &TcpQuery::queued_only())
            {
                for n in &self.tcp {
                    let Ok(a) = parse_tcp_addr(n) else { continue };
                    if all.contains(&a.to_string()) {
                        continue;
                    }
                    let any = any_addr_of(&a).to_string();
                    warnings.push(if all.contains(&any) && any != a.to_string() {
                        format!("{n} is not listening ({any} is: did you mean it?)")
                    } else {
                        format!("{n} is not listening")
                    });
                }
                for p in &self.patterns {
                    let Ok(sel) = Selector::parse(p) else {
                        continue;
                    };
                    if all.iter().any(|l| sel.matches(l)) {
                        continue;
                    }
                    let hint = match sel {
                        Selector::Tcp {
                            host: HostSelector::Localhost,
                            ports,
                        } => all
                            .iter()
                            .find(|l| {
                                parse_tcp_addr(&l.name).is_ok_and(|a| {
                                    ports.contains(a.port()) && a.ip().is_unspecified()
                                })
                            })
                            .map(|l| format!(" ({} is: did you mean :{ports}?)", l.name)),
                        _ => None,
                    };
                    warnings.push(format!(
                        "nothing listens on {}{}",
                        shown(p),
                        hint.unwrap_or_default()
                    ));
                }
            }
        }
        if !self.unix.is_empty() || !self.unix_raw.is_empty() {
            if let Ok(all) = self
                .diag
                .unix_listener_stats_with::<&str>(&[], &UnixQuery::queued_only())
            {
                for n in &self.unix {
                    let resolved = std::fs::canonicalize(n)
                        .ok()
                        .map(|p| EscapedName(p.as_os_str().as_bytes()).to_string());
                    if !all.contains(n) && !resolved.is_some_and(|r| all.contains(&r)) {
                        warnings.push(format!("{} is not listening", shown(n)));
                    }
                }
                for r in &self.unix_raw {
                    if !all.contains(&r.target) && !all.contains(&r.shown) {
                        warnings.push(format!("{} is not listening", r.shown));
                    }
                }
            }
        }
        warnings
    }

    /// The names given on the command line, in display form.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        (self.tcp.iter().chain(&self.unix).map(String::as_str))
            .chain(self.unix_raw.iter().map(|r| r.shown.as_str()))
    }

    /// The diag handle, for other queries on the same socket.
    pub(crate) fn diag(&mut self) -> &mut Diag {
        &mut self.diag
    }

    /// Whether the query counts `active` (a LISTEN-only query does not).
    pub(crate) fn counts_active(&self) -> bool {
        self.query.active
    }

    /// Samples the listeners: TCP ones first, then Unix ones (as Ruby's
    /// middleware and script show them); named ones in the order given,
    /// then those the selectors chose, by address.
    pub(crate) fn sample(&mut self) -> Result<Vec<Listener>, Failure> {
        let patterns: Vec<Selector<'_>> = parsed(&self.patterns);
        let include: Vec<Selector<'_>> = parsed(&self.include);
        let exclude: Vec<Selector<'_>> = parsed(&self.exclude);
        let selection = Selection::new()
            .with_include(&include)
            .with_exclude(&exclude)
            .with_ephemeral(self.ephemeral);
        // Whether the dump of every listener of a kind is needed, and which
        // of its listeners are kept.
        let all = self.all;
        let wants = |tcp: bool| {
            let of_kind = |s: &Selector<'_>| s.is_tcp() == tcp;
            patterns.iter().any(of_kind)
                || include.iter().any(of_kind)
                || (all && include.is_empty())
        };
        let mut hidden = 0;
        let mut keep = |l: &Listener| {
            if patterns.iter().any(|s| s.matches(l)) {
                return !exclude.iter().any(|s| s.matches(l));
            }
            if all {
                let v = selection.verdict(l);
                hidden += usize::from(v == Verdict::Ephemeral);
                v == Verdict::Selected
            } else {
                include.iter().any(|s| s.matches(l)) && !exclude.iter().any(|s| s.matches(l))
            }
        };

        let mut out: Vec<Listener> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        // The TCP listeners of the sample with their waiting connections,
        // for the queue-wait tracker.
        let mut waiting = self.queue_waits.is_some().then(Listeners::new);
        if !self.tcp.is_empty() {
            let named = self.diag.tcp_listener_stats_with(&self.tcp, &self.query)?;
            if let Some(w) = &mut waiting {
                for (l, q) in named.iter_waiting() {
                    w.push(l.clone(), q.iter().copied());
                }
            }
            out.extend(named);
        }
        if wants(true) {
            let dump = self
                .diag
                .tcp_listener_stats_with::<&str>(&[], &self.query)?;
            seen.extend(out.iter().map(|l| l.name.clone()));
            for (l, q) in dump.iter_waiting() {
                if !seen.contains(&l.name) && keep(l) {
                    if let Some(w) = &mut waiting {
                        w.push(l.clone(), q.iter().copied());
                    }
                    out.push(l.clone());
                }
            }
        }
        if let (Some(t), Some(w)) = (&mut self.queue_waits, &waiting) {
            t.update(Instant::now(), w);
        }
        // Without active: a LISTEN-only dump, which also has the backlog.
        let query = if self.query.active {
            UnixQuery::new()
        } else {
            UnixQuery::queued_only()
        };
        let first_unix = out.len();
        if !self.unix.is_empty() {
            out.extend(self.diag.unix_listener_stats_with(&self.unix, &query)?);
        }
        if wants(false) || !self.unix_raw.is_empty() {
            let dump = self.diag.unix_listener_stats_with::<&str>(&[], &query)?;
            for r in &self.unix_raw {
                let stats = dump
                    .get(&r.target)
                    .or_else(|| dump.get(&r.shown))
                    .copied()
                    .unwrap_or_default();
                out.push(Listener::new(
                    r.shown.clone(),
                    raindrops_core::Family::Unix,
                    stats,
                ));
            }
            if wants(false) {
                seen.clear();
                seen.extend(out[first_unix..].iter().map(|l| l.name.clone()));
                out.extend(
                    dump.into_vec()
                        .into_iter()
                        .filter(|l| !seen.contains(&l.name) && keep(l)),
                );
            }
        }
        self.hidden = hidden;
        if let Some(w) = &mut self.overflows {
            // Every listener of the sample is every TCP listener only
            // without names and without a selection that leaves some out.
            let every = self.all && self.query.drops && selection.is_all();
            w.observe(&mut self.diag, &mut out, every)?;
        }
        Ok(out)
    }
}

/// The selectors of `texts`, checked when they were given.
fn parsed(texts: &[String]) -> Vec<Selector<'_>> {
    texts
        .iter()
        .filter_map(|s| Selector::parse(s).ok())
        .collect()
}

/// `name` as error messages show it: escaped, and cut after 120
/// characters so that any name fits one line.
pub(crate) fn shown(name: &str) -> String {
    let s = SafeText(name).to_string();
    match s.char_indices().nth(120) {
        Some((i, _)) => format!("{}... ({} bytes)", &s[..i], name.len()),
        None => s,
    }
}

/// Refuses a named Unix socket path that does not exist, cannot be
/// resolved (a symlink loop, a name too long) or is not a socket: bad
/// input, before anything is printed. Abstract names (`@name`) have no
/// file to check.
fn check_path(p: &OsStr) -> Result<(), Failure> {
    if p.as_bytes().starts_with(b"@") {
        return Ok(());
    }
    let name = || shown(&EscapedName(p.as_bytes()).to_string());
    match std::fs::metadata(p) {
        Ok(m) if m.file_type().is_socket() => Ok(()),
        Ok(_) => Err(Failure::Usage(format!("{}: not a Unix socket", name()))),
        Err(e) => Err(Failure::Usage(format!("{}: {e}", name()))),
    }
}
