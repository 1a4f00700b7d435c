//! One sample of listener statistics: the TCP and Unix listeners named on
//! the command line (or all of them), in one reusable netlink socket.

use raindrops_core::{ListenStats, is_unix_name, parse_tcp_addr};
use raindrops_diag::{Diag, TcpQuery, UnixQuery};

use crate::fail::Failure;

/// Whether a listener is TCP or Unix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Tcp,
    Unix,
}

/// One listener of a sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Listener {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) stats: ListenStats,
}

/// The listeners to sample and how.
pub(crate) struct Sampler {
    diag: Diag,
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
                unix.push(n.clone());
            } else {
                parse_tcp_addr(n)
                    .map_err(|e| Failure::Usage(format!("bad listener address {n:?}: {e}")))?;
                tcp.push(n.clone());
            }
        }
        let diag = Diag::new()
            .map_err(|e| Failure::System(format!("cannot open a netlink sock_diag socket: {e}")))?;
        Ok(Sampler {
            diag,
            all: names.is_empty(),
            tcp,
            unix,
            query,
        })
    }

    /// The names given on the command line.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.tcp.iter().chain(&self.unix).map(String::as_str)
    }

    /// The diag handle, for other queries on the same socket.
    pub(crate) fn diag(&mut self) -> &mut Diag {
        &mut self.diag
    }

    /// Samples the listeners: TCP ones first, then Unix ones (as Ruby's
    /// middleware and script show them).
    pub(crate) fn sample(&mut self) -> Result<Vec<Listener>, Failure> {
        let mut out = Vec::new();
        if self.all || !self.tcp.is_empty() {
            let tcp = self.diag.tcp_listener_stats_with(&self.tcp, &self.query)?;
            out.extend(tcp.into_iter().map(|l| Listener {
                name: l.name,
                kind: Kind::Tcp,
                stats: l.stats,
            }));
        }
        if self.all || !self.unix.is_empty() {
            // Queued-only: a LISTEN-only dump, which also has the backlog.
            let query = if self.query.active {
                UnixQuery::new()
            } else {
                UnixQuery::queued_only()
            };
            let unix = self.diag.unix_listener_stats_with(&self.unix, &query)?;
            out.extend(unix.into_iter().map(|l| Listener {
                name: l.name,
                kind: Kind::Unix,
                stats: l.stats,
            }));
        }
        Ok(out)
    }
}
