//! What a listener query counts: [`TcpQuery`] and [`UnixQuery`], plain
//! values shared by the socket queries, the counters of callers who run
//! dumps themselves, and the `std` API.

/// What a TCP listener query counts.
///
/// [`TcpQuery::new`] (the default) counts `active`, `queued`, `backlog`
/// and `drops`; [`TcpQuery::queued_only`] skips `active` and with it the
/// walk of established sockets; `syn_recv` is counted only when asked
/// ([`TcpQuery::with_syn_recv`]), as it needs that walk too, and so are the
/// accept-queue waits ([`TcpQuery::with_queue_wait`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TcpQuery {
    /// Count accepted established connections (`active`); when false,
    /// `active` is 0.
    pub active: bool,
    /// Ask LISTEN sockets for `INET_DIAG_SKMEMINFO` to fill `drops`.
    pub drops: bool,
    /// Count half-open handshakes (`syn_recv`).
    pub syn_recv: bool,
    /// Measure how long the connections in each accept queue have waited
    /// (`queue_wait_oldest_ms` and the percentiles): the walk of
    /// established sockets asks for `INET_DIAG_INFO` when some listener
    /// has a queue (see `docs/queue-wait.md` of the repository).
    pub queue_wait: bool,
}

impl TcpQuery {
    /// `active`, `queued`, `backlog` and `drops`.
    pub const fn new() -> Self {
        TcpQuery {
            active: true,
            drops: true,
            syn_recv: false,
            queue_wait: false,
        }
    }

    /// `queued`, `backlog` and `drops` only, from one LISTEN-only dump
    /// (`active` is 0).
    pub const fn queued_only() -> Self {
        TcpQuery {
            active: false,
            drops: true,
            syn_recv: false,
            queue_wait: false,
        }
    }

    /// The same query, counting `active` or not.
    #[must_use]
    pub const fn with_active(mut self, on: bool) -> Self {
        self.active = on;
        self
    }

    /// The same query, reading `drops` or not.
    #[must_use]
    pub const fn with_drops(mut self, on: bool) -> Self {
        self.drops = on;
        self
    }

    /// The same query, counting `syn_recv` or not.
    #[must_use]
    pub const fn with_syn_recv(mut self, on: bool) -> Self {
        self.syn_recv = on;
        self
    }

    /// The same query, measuring the accept-queue waits or not. Without
    /// `active`, the established sockets are walked only when some
    /// listener has a queue.
    #[must_use]
    pub const fn with_queue_wait(mut self, on: bool) -> Self {
        self.queue_wait = on;
        self
    }
}

impl Default for TcpQuery {
    fn default() -> Self {
        Self::new()
    }
}

/// What a Unix listener query counts.
///
/// [`UnixQuery::new`] (the default) counts `active`, `queued` and
/// `backlog` from one dump of listening and connected sockets, with each
/// listener's backlog remembered by the socket between queries (see
/// `docs/listener-stats.md` of the repository);
/// [`UnixQuery::queued_only`] asks for listening sockets only, which
/// reports `queued` and `backlog` and costs a fraction (the kernel still
/// walks every Unix socket, but builds no message for connected ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct UnixQuery {
    /// Count accepted connections (`active`); when false, `active` is 0
    /// and the dump holds listening sockets only.
    pub active: bool,
    /// Report each listener's `backlog`. With `active`, the socket
    /// remembers the backlogs it read (by listener inode) and asks the
    /// kernel for them again every few queries or when a listener is new
    /// to it; without, `backlog` is `None` and every query is the one
    /// cheapest dump. A LISTEN-only dump always has the backlog.
    pub backlog: bool,
}

impl UnixQuery {
    /// `active`, `queued` and `backlog`.
    pub const fn new() -> Self {
        UnixQuery {
            active: true,
            backlog: true,
        }
    }

    /// `queued` and `backlog` only, from a LISTEN-only dump.
    pub const fn queued_only() -> Self {
        UnixQuery {
            active: false,
            backlog: true,
        }
    }

    /// The same query, counting `active` or not.
    #[must_use]
    pub const fn with_active(mut self, on: bool) -> Self {
        self.active = on;
        self
    }

    /// The same query, reporting `backlog` or not (see
    /// [`UnixQuery::backlog`]; a LISTEN-only query reports it anyway).
    #[must_use]
    pub const fn with_backlog(mut self, on: bool) -> Self {
        self.backlog = on;
        self
    }
}

impl Default for UnixQuery {
    fn default() -> Self {
        Self::new()
    }
}
