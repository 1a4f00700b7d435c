//! The per-listener numbers shared by every crate of the workspace.

/// Statistics of one listening socket (Ruby's `Raindrops::ListenStats`, plus
/// what the kernel knows beyond it).
///
/// `active` and `queued` are always present. The other fields are `None`
/// where the source cannot know them: Unix sockets have no `drops`, `drops`
/// needs `INET_DIAG_SKMEMINFO`, and `syn_recv` and the accept-queue waits
/// are measured only when asked for. New fields are added as `Option`s, so the struct is
/// `#[non_exhaustive]`: build it with [`ListenStats::new`] and the `with_`
/// methods.
///
/// ```
/// use raindrops_core::ListenStats;
/// let s = ListenStats::new(3, 2).with_backlog(128);
/// assert_eq!(s.total(), 5);
/// assert_eq!(s.backlog, Some(128));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ListenStats {
    /// Connections accepted by the application and still established.
    pub active: u32,
    /// Connections that completed the handshake and wait in the accept
    /// queue (summed over a `SO_REUSEPORT` group).
    pub queued: u32,
    /// The accept-queue limit of the listener (the `listen()` backlog as
    /// the kernel capped it); `queued` reaching it means new connections are
    /// dropped or refused. Summed over a `SO_REUSEPORT` group.
    pub backlog: Option<u32>,
    /// Packets the kernel dropped at this listener (the socket's `sk_drops`,
    /// summed over a `SO_REUSEPORT` group, what `ss -ltm` shows as `d`):
    /// handshakes refused because the accept queue was full, and on a
    /// listener with `TCP_DEFER_ACCEPT` also the final ACK of every
    /// handshake that arrives without data (the kernel sets it aside and
    /// waits for the data), so there `drops` grows with every connection.
    /// A counter: it only grows while the socket lives. Alert on
    /// [`overflows`](Self::overflows), not on this.
    pub drops: Option<u64>,
    /// Half-open handshakes waiting for the client's final ACK (request
    /// sockets in `SYN_RECV`).
    pub syn_recv: Option<u32>,
    /// Handshakes dropped because the accept queue was full, since the
    /// sampler first saw the listener: its `drops` split with the
    /// namespace's `TcpExt` counters (raindrops-diag's `overflow` module;
    /// exact when the interval leaves no choice, an estimate otherwise).
    /// Known only to samplers that follow the listener over time. A
    /// counter.
    pub overflows: Option<u64>,
    /// The part of [`overflows`](Self::overflows) that was estimated.
    pub overflows_estimated: Option<u64>,
    /// How long the oldest connection now in the accept queue has waited,
    /// in milliseconds (0 when none waits): the time since its handshake
    /// completed, as the kernel measures it in jiffies (TCP only; the
    /// repository's `docs/queue-wait.md` says exactly what it measures).
    pub queue_wait_oldest_ms: Option<u32>,
    /// The median of how long the connections now in the accept queue have
    /// waited, in milliseconds (nearest rank; 0 when none waits).
    pub queue_wait_p50_ms: Option<u32>,
    /// The 90th percentile of those waits (nearest rank), in milliseconds.
    pub queue_wait_p90_ms: Option<u32>,
    /// The 99th percentile of those waits (nearest rank), in milliseconds.
    pub queue_wait_p99_ms: Option<u32>,
}

impl ListenStats {
    /// Stats with `active` and `queued` and nothing else known.
    pub const fn new(active: u32, queued: u32) -> Self {
        ListenStats {
            active,
            queued,
            backlog: None,
            drops: None,
            syn_recv: None,
            overflows: None,
            overflows_estimated: None,
            queue_wait_oldest_ms: None,
            queue_wait_p50_ms: None,
            queue_wait_p90_ms: None,
            queue_wait_p99_ms: None,
        }
    }

    /// `active + queued` (Ruby's `total`), without overflow.
    pub const fn total(&self) -> u64 {
        self.active as u64 + self.queued as u64
    }

    /// The same stats with the backlog set.
    #[must_use]
    pub const fn with_backlog(mut self, backlog: u32) -> Self {
        self.backlog = Some(backlog);
        self
    }

    /// The same stats with the drop counter set.
    #[must_use]
    pub const fn with_drops(mut self, drops: u64) -> Self {
        self.drops = Some(drops);
        self
    }

    /// The same stats with the half-open handshake count set.
    #[must_use]
    pub const fn with_syn_recv(mut self, syn_recv: u32) -> Self {
        self.syn_recv = Some(syn_recv);
        self
    }

    /// The same stats with the overflow counters set (`estimated` of the
    /// `overflows` were estimated).
    #[must_use]
    pub const fn with_overflows(mut self, overflows: u64, estimated: u64) -> Self {
        self.overflows = Some(overflows);
        self.overflows_estimated = Some(estimated);
        self
    }

    /// Whether the accept queue is full: `queued` above `backlog` (Linux
    /// lets the queue hold `backlog + 1`, and refuses handshakes past it).
    pub fn is_full(&self) -> bool {
        self.backlog.is_some_and(|b| self.queued > b)
    }

    /// The same stats with the oldest accept-queue wait set.
    #[must_use]
    pub const fn with_queue_wait_oldest(mut self, ms: u32) -> Self {
        self.queue_wait_oldest_ms = Some(ms);
        self
    }

    /// The same stats with the percentiles of the accept-queue waits set.
    #[must_use]
    pub const fn with_queue_wait_percentiles(mut self, p50: u32, p90: u32, p99: u32) -> Self {
        self.queue_wait_p50_ms = Some(p50);
        self.queue_wait_p90_ms = Some(p90);
        self.queue_wait_p99_ms = Some(p99);
        self
    }

    /// `queued / backlog`, the saturation of the accept queue that operators
    /// alert on; `None` without a (non-zero) backlog. Linux lets the queue
    /// hold `backlog + 1`, so a full queue reads above 1 (17/16 = 1.0625).
    pub fn saturation(&self) -> Option<f64> {
        match self.backlog {
            Some(b) if b > 0 => Some(f64::from(self.queued) / f64::from(b)),
            _ => None,
        }
    }

    /// Adds `other` into `self`, as for the members of a `SO_REUSEPORT`
    /// group: counts add (saturating), and an optional field is known if it
    /// is known on either side. The accept-queue waits take the larger of
    /// the two sides: exact for the oldest wait, and for a percentile an
    /// upper bound of the percentile of both sides' connections together.
    pub fn accumulate(&mut self, other: &ListenStats) {
        fn add<T: Copy + SatAdd>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.sat_add(b)),
                (a, None) => a,
                (None, b) => b,
            }
        }
        self.active = self.active.saturating_add(other.active);
        self.queued = self.queued.saturating_add(other.queued);
        self.backlog = add(self.backlog, other.backlog);
        self.drops = add(self.drops, other.drops);
        self.syn_recv = add(self.syn_recv, other.syn_recv);
        self.overflows = add(self.overflows, other.overflows);
        self.overflows_estimated = add(self.overflows_estimated, other.overflows_estimated);
        let max = |a: Option<u32>, b: Option<u32>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, None) => a,
            (None, b) => b,
        };
        self.queue_wait_oldest_ms = max(self.queue_wait_oldest_ms, other.queue_wait_oldest_ms);
        self.queue_wait_p50_ms = max(self.queue_wait_p50_ms, other.queue_wait_p50_ms);
        self.queue_wait_p90_ms = max(self.queue_wait_p90_ms, other.queue_wait_p90_ms);
        self.queue_wait_p99_ms = max(self.queue_wait_p99_ms, other.queue_wait_p99_ms);
    }
}

trait SatAdd {
    fn sat_add(self, other: Self) -> Self;
}
impl SatAdd for u32 {
    fn sat_add(self, other: Self) -> Self {
        self.saturating_add(other)
    }
}
impl SatAdd for u64 {
    fn sat_add(self, other: Self) -> Self {
        self.saturating_add(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_and_saturation() {
        let s = ListenStats::new(u32::MAX, u32::MAX);
        assert_eq!(s.total(), 2 * u64::from(u32::MAX));
        assert_eq!(s.saturation(), None);
        let s = ListenStats::new(0, 3).with_backlog(4);
        assert_eq!(s.saturation(), Some(0.75));
        assert_eq!(ListenStats::new(0, 3).with_backlog(0).saturation(), None);
        assert!(ListenStats::new(0, 17).with_backlog(16).is_full());
        assert!(!ListenStats::new(0, 16).with_backlog(16).is_full());
        assert!(!ListenStats::new(0, 16).is_full());
    }

    #[test]
    fn accumulate_reuseport_group() {
        let mut a = ListenStats::new(1, 2).with_backlog(10).with_drops(3);
        a.accumulate(
            &ListenStats::new(0, 2)
                .with_backlog(10)
                .with_drops(4)
                .with_syn_recv(1),
        );
        assert_eq!(a.active, 1);
        assert_eq!(a.queued, 4);
        assert_eq!(a.backlog, Some(20));
        assert_eq!(a.drops, Some(7));
        assert_eq!(a.syn_recv, Some(1));
        assert_eq!(a.queue_wait_oldest_ms, None);
    }

    #[test]
    fn accumulate_queue_waits() {
        let mut a = ListenStats::new(0, 2)
            .with_queue_wait_oldest(900)
            .with_queue_wait_percentiles(100, 800, 900);
        a.accumulate(
            &ListenStats::new(0, 1)
                .with_queue_wait_oldest(500)
                .with_queue_wait_percentiles(500, 500, 500),
        );
        assert_eq!(a.queue_wait_oldest_ms, Some(900));
        // The median of {100, 900, 500} is 500: the larger median is an
        // upper bound.
        assert_eq!(a.queue_wait_p50_ms, Some(500));
        assert_eq!(
            (a.queue_wait_p90_ms, a.queue_wait_p99_ms),
            (Some(800), Some(900))
        );
        let mut b = ListenStats::new(0, 0);
        b.accumulate(&a);
        assert_eq!(b.queue_wait_oldest_ms, Some(900));
    }
}
