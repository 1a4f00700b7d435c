//! Accept-queue overflows followed over time for the commands that sample
//! more than once (`check`, `serve`, `watch`), and the namespace's `TcpExt`
//! counters as Prometheus counters.

use raindrops_diag::overflow::{NamespaceTotals, Observed, OverflowTracker};
use raindrops_diag::proc_netstat::TcpExt;
use raindrops_diag::{Diag, TcpQuery};
use raindrops_http::{Metric, MetricKind};

use crate::fail::Failure;
use crate::sample::Listener;

/// The overflow split of one network namespace, sample after sample.
#[derive(Debug, Default)]
pub(crate) struct OverflowWatch {
    tracker: OverflowTracker,
    /// The namespace counters read with the last sample.
    netstat: Option<TcpExt>,
}

impl OverflowWatch {
    /// Feeds the tracker every TCP listener of the namespace (the split
    /// needs them all, whatever was sampled; `all` when the sample already
    /// is every listener) and the namespace counters, and sets the
    /// running `overflows` of the sampled TCP listeners.
    pub(crate) fn observe(
        &mut self,
        diag: &mut Diag,
        sampled: &mut [Listener],
        all: bool,
    ) -> Result<(), Failure> {
        self.netstat = TcpExt::read_current_thread().ok();
        let ns = self.netstat.as_ref().and_then(|t| {
            Some(NamespaceTotals {
                listen_overflows: t.listen_overflows?,
                listen_drops: t.listen_drops?,
                defer_accept_drops: t.tcp_defer_accept_drop.unwrap_or(0),
            })
        });
        let every;
        let tcp: Vec<Observed<'_>> = if all {
            sampled
                .iter()
                .filter(|l| l.family.is_tcp())
                .map(observed)
                .collect()
        } else {
            every = diag.tcp_listener_stats_with::<&str>(&[], &TcpQuery::queued_only())?;
            every.iter().map(observed).collect()
        };
        self.tracker.observe(&tcp, ns);
        for l in sampled.iter_mut().filter(|l| l.family.is_tcp()) {
            if let Some(t) = self.tracker.totals(&l.name) {
                l.stats = l.stats.with_overflows(t.overflows, t.estimated);
            }
        }
        Ok(())
    }

    /// The namespace counters read with the last sample, if readable.
    pub(crate) fn netstat(&self) -> Option<&TcpExt> {
        self.netstat.as_ref()
    }
}

fn observed(l: &Listener) -> Observed<'_> {
    Observed {
        name: &l.name,
        drops: l.stats.drops,
        queued: l.stats.queued,
        backlog: l.stats.backlog,
    }
}

/// Reads one counter of a [`TcpExt`].
type Pick = fn(&TcpExt) -> Option<u64>;

/// The Prometheus counter of each `TcpExt` counter: name and help.
const NETSTAT_METRICS: [(&str, &str, Pick); 6] = [
    (
        "raindrops_tcp_listen_overflows_total",
        "Handshakes dropped in this network namespace because a listener's accept queue was full (TcpExt ListenOverflows, exact).",
        |t| t.listen_overflows,
    ),
    (
        "raindrops_tcp_listen_drops_total",
        "Handshakes any listener of this network namespace dropped, overflows included (TcpExt ListenDrops).",
        |t| t.listen_drops,
    ),
    (
        "raindrops_tcp_defer_accept_drops_total",
        "Final handshake ACKs without data that TCP_DEFER_ACCEPT listeners set aside, waiting for data; normal for them (TcpExt TCPDeferAcceptDrop).",
        |t| t.tcp_defer_accept_drop,
    ),
    (
        "raindrops_tcp_reqq_full_drops_total",
        "SYNs dropped because the queue of handshakes in progress was full and SYN cookies were off (TcpExt TCPReqQFullDrop).",
        |t| t.tcp_req_q_full_drop,
    ),
    (
        "raindrops_tcp_reqq_full_do_cookies_total",
        "SYNs answered with a SYN cookie because the queue of handshakes in progress was full (TcpExt TCPReqQFullDoCookies).",
        |t| t.tcp_req_q_full_do_cookies,
    ),
    (
        "raindrops_tcp_syncookies_sent_total",
        "SYN cookies sent (TcpExt SyncookiesSent).",
        |t| t.syncookies_sent,
    ),
];

/// The namespace counters as Prometheus counters (those the kernel has).
pub(crate) fn netstat_metrics(t: &TcpExt) -> Vec<Metric<'static>> {
    NETSTAT_METRICS
        .iter()
        .filter_map(|(name, help, get)| {
            get(t).map(|v| Metric::new(name, help, MetricKind::Counter, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_the_kernel_has() {
        let mut t = TcpExt::default();
        t.listen_overflows = Some(3);
        t.tcp_defer_accept_drop = Some(9);
        let m = netstat_metrics(&t);
        let names: Vec<_> = m.iter().map(|m| (m.name, m.value)).collect();
        assert_eq!(
            names,
            [
                ("raindrops_tcp_listen_overflows_total", 3),
                ("raindrops_tcp_defer_accept_drops_total", 9)
            ]
        );
    }
}
