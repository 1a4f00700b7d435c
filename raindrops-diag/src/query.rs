//! What a listener query counts: [`TcpQuery`] and [`UnixQuery`], plain
//! values shared by the socket queries, the counters of callers who run
//! dumps themselves, and the `std` API.

/// What a TCP listener query counts.
///
/// [`TcpQuery::new`] (the default) counts `active`, `queued`, `backlog`
/// and `drops`; [`TcpQuery::queued_only`] skips `active` and with it the
/// walk of established sockets; `syn_recv` is counted only when asked
/// ([`TcpQuery::with_syn_recv`]), as it needs that walk too.
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
}

impl TcpQuery {
    /// `active`, `queued`, `backlog` and `drops`.
    pub const fn new() -> Self {
        TcpQuery {
            active: true,
            drops: true,
            syn_recv: false,
        }
    }

    /// `queued`, `backlog` and `drops` only, from one LISTEN-only dump
    /// (`active` is 0).
    pub const fn queued_only() -> Self {
        TcpQuery {
            active: false,
            drops: true,
            syn_recv: false,
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
}

impl Default for TcpQuery {
    fn default() -> Self {
        Self::new()
    }
}

/// What a Unix listener query counts.
///
/// [`UnixQuery::new`] (the default) counts `active` and `queued` from one
/// dump of listening and connected sockets; [`UnixQuery::queued_only`]
/// asks for listening sockets only, which also reports each listener's
/// `backlog` and costs a fraction (the kernel still walks every Unix
/// socket, but builds no message for connected ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct UnixQuery {
    /// Count accepted connections (`active`); when false, `active` is 0 and
    /// `backlog` is filled instead.
    pub active: bool,
}

impl UnixQuery {
    /// `active` and `queued`.
    pub const fn new() -> Self {
        UnixQuery { active: true }
    }

    /// `queued` and `backlog` only, from a LISTEN-only dump.
    pub const fn queued_only() -> Self {
        UnixQuery { active: false }
    }
}

impl Default for UnixQuery {
    fn default() -> Self {
        Self::new()
    }
}
