//! One sample of listener statistics: the TCP and Unix listeners named on
//! the command line (or all of them), in one reusable netlink socket.

use std::os::unix::fs::FileTypeExt;

use raindrops_core::{SafeText, any_addr_of, is_unix_name, parse_tcp_addr};
use raindrops_diag::{Diag, TcpQuery, UnixQuery};

use crate::fail::Failure;
use crate::out;
use crate::overflows::OverflowWatch;

/// One listener of a sample: the workspace's listener record.
pub(crate) type Listener = raindrops_core::Listener<String>;

/// The listeners to sample and how.
pub(crate) struct Sampler {
    diag: Diag,
    /// Follows overflows from sample to sample, when asked.
    overflows: Option<OverflowWatch>,
    tcp: Vec<String>,
    unix: Vec<String>,
    query: TcpQuery,
    all: bool,
}

impl Sampler {
    /// A sampler for `names` (TCP addresses and Unix paths, as typed;
    /// none means every listener). Bad addresses are a usage failure.
    pub(crate) fn new(names: &[String], query: TcpQuery) -> Result<Self, Failure> {
        let mut tcp = Vec::new();
        let mut unix = Vec::new();
        for n in names {
            if is_unix_name(n) {
                check_path(n)?;
                unix.push(n.clone());
            } else {
                parse_tcp_addr(n).map_err(|e| {
                    Failure::Usage(format!("bad listener address {}: {e}", shown(n)))
                })?;
                tcp.push(n.clone());
            }
        }
        let diag = Diag::new()
            .map_err(|e| Failure::System(format!("cannot open a netlink sock_diag socket: {e}")))?;
        Ok(Sampler {
            diag,
            overflows: None,
            all: names.is_empty(),
            tcp,
            unix,
            query,
        })
    }

    /// Warns on stderr, one line each, about the named listeners that no
    /// socket listens on (they are still sampled: their rows show zeros,
    /// as Ruby's do), with a hint where the any-address of the port
    /// listens. Costs one LISTEN-only dump of each kind.
    pub(crate) fn warn_not_listening(&mut self) {
        for w in self.not_listening() {
            out::stderr(&format!("raindrops: warning: {w}\n"));
        }
    }

    /// The warnings of [`Sampler::warn_not_listening`].
    pub(crate) fn not_listening(&mut self) -> Vec<String> {
        let mut warnings = Vec::new();
        if !self.tcp.is_empty() {
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
            }
        }
        if !self.unix.is_empty() {
            if let Ok(all) = self
                .diag
                .unix_listener_stats_with::<&str>(&[], &UnixQuery::queued_only())
            {
                for n in &self.unix {
                    let resolved = std::fs::canonicalize(n)
                        .ok()
                        .and_then(|p| p.to_str().map(String::from));
                    if !all.contains(n) && !resolved.is_some_and(|r| all.contains(&r)) {
                        warnings.push(format!("{} is not listening", shown(n)));
                    }
                }
            }
        }
        warnings
    }

    /// The names given on the command line.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.tcp.iter().chain(&self.unix).map(String::as_str)
    }

    /// The diag handle, for other queries on the same socket.
    pub(crate) fn diag(&mut self) -> &mut Diag {
        &mut self.diag
    }

    /// Follows accept-queue overflows from now on: every sample sets the
    /// `overflows` of its TCP listeners (0 at the first sample). Costs a
    /// LISTEN-only dump of every TCP listener (when not all are sampled)
    /// and a read of /proc/thread-self/net/netstat per sample.
    pub(crate) fn track_overflows(&mut self) {
        self.overflows.get_or_insert_with(OverflowWatch::default);
    }

    /// The overflow watch, once [`Sampler::track_overflows`] was called.
    pub(crate) fn overflow_watch(&self) -> Option<&OverflowWatch> {
        self.overflows.as_ref()
    }

    /// Whether the query counts `active` (a LISTEN-only query does not).
    pub(crate) fn counts_active(&self) -> bool {
        self.query.active
    }

    /// Samples the listeners: TCP ones first, then Unix ones (as Ruby's
    /// middleware and script show them).
    pub(crate) fn sample(&mut self) -> Result<Vec<Listener>, Failure> {
        let mut out = Vec::new();
        if self.all || !self.tcp.is_empty() {
            let tcp = self.diag.tcp_listener_stats_with(&self.tcp, &self.query)?;
            out.extend(tcp);
        }
        if self.all || !self.unix.is_empty() {
            // Queued-only: a LISTEN-only dump, which also has the backlog.
            let query = if self.query.active {
                UnixQuery::new()
            } else {
                UnixQuery::queued_only()
            };
            let unix = self.diag.unix_listener_stats_with(&self.unix, &query)?;
            out.extend(unix);
        }
        if let Some(w) = &mut self.overflows {
            let every = self.all && self.query.drops;
            w.observe(&mut self.diag, &mut out, every)?;
        }
        Ok(out)
    }
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
fn check_path(p: &str) -> Result<(), Failure> {
    if p.starts_with('@') {
        return Ok(());
    }
    match std::fs::metadata(p) {
        Ok(m) if m.file_type().is_socket() => Ok(()),
        Ok(_) => Err(Failure::Usage(format!("{}: not a Unix socket", shown(p)))),
        Err(e) => Err(Failure::Usage(format!("{}: {e}", shown(p)))),
    }
}
