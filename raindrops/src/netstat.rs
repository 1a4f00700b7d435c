//! The network namespace's `TcpExt` counters as Prometheus counters, as
//! `raindrops serve`, `raindrops listeners` and the embedded Watcher
//! export them.

use ::core::ops::ControlFlow;
use std::vec::Vec;

use raindrops_diag::proc_netstat::TcpExt;
use raindrops_http::{Metric, MetricKind};

/// Reads one counter of a [`TcpExt`].
type Pick = fn(&TcpExt) -> Option<u64>;

/// The Prometheus counter of each `TcpExt` counter: name, help, value.
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

/// Visits the counters of `t` that the kernel has, as the Prometheus
/// counters `raindrops_tcp_listen_overflows_total`,
/// `raindrops_tcp_listen_drops_total`,
/// `raindrops_tcp_defer_accept_drops_total`,
/// `raindrops_tcp_reqq_full_drops_total`,
/// `raindrops_tcp_reqq_full_do_cookies_total` and
/// `raindrops_tcp_syncookies_sent_total` (in that order, without labels:
/// they count for the whole network namespace). What each counts, and why
/// a listener's own `drops` is not its overflows, is in the repository's
/// `docs/listener-stats.md`.
///
/// ```
/// use core::ops::ControlFlow;
/// use raindrops::diag::proc_netstat::TcpExt;
/// let t = TcpExt::from_text(b"TcpExt: ListenOverflows ListenDrops\nTcpExt: 3 5\n")?;
/// let mut seen = Vec::new();
/// let _ = raindrops::visit_netstat_metrics(&t, &mut |m| {
///     seen.push((m.name, m.value));
///     ControlFlow::Continue(())
/// });
/// assert_eq!(
///     seen,
///     [("raindrops_tcp_listen_overflows_total", 3), ("raindrops_tcp_listen_drops_total", 5)]
/// );
/// # Ok::<(), raindrops::diag::proc_netstat::NetstatError>(())
/// ```
pub fn visit_netstat_metrics(
    t: &TcpExt,
    visit: &mut dyn FnMut(&Metric<'static>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    for (name, help, get) in &NETSTAT_METRICS {
        if let Some(v) = get(t) {
            visit(&Metric::new(name, help, MetricKind::Counter, v))?;
        }
    }
    ControlFlow::Continue(())
}

/// The counters of [`visit_netstat_metrics`], collected.
pub fn netstat_metrics(t: &TcpExt) -> Vec<Metric<'static>> {
    let mut out = Vec::with_capacity(NETSTAT_METRICS.len());
    let _ = visit_netstat_metrics(t, &mut |m| {
        out.push(*m);
        ControlFlow::Continue(())
    });
    out
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
        assert!(m.iter().all(|m| m.kind == MetricKind::Counter));
    }
}
