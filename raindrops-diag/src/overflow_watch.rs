//! [`OverflowWatch`]: the accept-queue overflows of sampled TCP listeners,
//! followed from sample to sample in the caller's network namespace.

use std::vec::Vec;

use raindrops_core::Listener;

use crate::error::Error;
use crate::handle::Diag;
use crate::overflow::{NamespaceTotals, Observed, OverflowTracker};
use crate::proc_netstat::TcpExt;
use crate::query::TcpQuery;

/// Follows the accept-queue overflows of the TCP listeners a program
/// samples again and again (what `raindrops serve`, `check` and the
/// embedded Watcher show as `overflows`), in the network namespace of the
/// calling thread.
///
/// Each [`observe`](Self::observe) reads the namespace's `TcpExt` counters
/// (`/proc/thread-self/net/netstat`), feeds an [`OverflowTracker`] every
/// TCP listener of the namespace (the split into overflows needs them all,
/// whatever was sampled) and sets, in each sampled TCP listener, the
/// overflows since the watch first saw it
/// ([`ListenStats::with_overflows`](raindrops_core::ListenStats::with_overflows);
/// 0 at the first sample). Exact or estimated as the
/// [`overflow`](crate::overflow) module says.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use raindrops_diag::{Diag, TcpQuery, overflow::OverflowWatch};
/// let mut diag = Diag::new()?;
/// let mut watch = OverflowWatch::new();
/// for _ in 0..60 {
///     let mut sample = diag.tcp_listener_stats_with(&["0.0.0.0:80"], &TcpQuery::new())?.into_vec();
///     watch.observe(&mut diag, &mut sample, false)?;
///     println!("overflows: {:?}", sample[0].stats.overflows);
///     std::thread::sleep(std::time::Duration::from_secs(1));
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct OverflowWatch {
    tracker: OverflowTracker,
    /// The namespace counters read with the last sample.
    netstat: Option<TcpExt>,
}

impl OverflowWatch {
    /// A watch that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one sample and sets the running `overflows` of its TCP
    /// listeners (Unix ones are left alone). `sampled` must have `drops`
    /// (a query with [`TcpQuery::drops`]). `all` says that `sampled` is
    /// already every TCP listener of the namespace; otherwise one more
    /// LISTEN-only dump of every TCP listener is made on `diag`.
    ///
    /// # Errors
    ///
    /// If that dump fails (the listeners are then left as they are). An
    /// unreadable `/proc/thread-self/net/netstat` is not an error: only
    /// listeners found at capacity then count overflows, as estimates.
    pub fn observe<S: AsRef<str>>(
        &mut self,
        diag: &mut Diag,
        sampled: &mut [Listener<S>],
        all: bool,
    ) -> Result<(), Error> {
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
                .map(|l| observed(l.name.as_ref(), l))
                .collect()
        } else {
            every = diag.tcp_listener_stats_addrs(&[], &TcpQuery::queued_only())?;
            every.iter().map(|l| observed(&l.name, l)).collect()
        };
        self.tracker.observe(&tcp, ns);
        for l in sampled.iter_mut().filter(|l| l.family.is_tcp()) {
            if let Some(t) = self.tracker.totals(l.name.as_ref()) {
                l.stats = l.stats.with_overflows(t.overflows, t.estimated);
            }
        }
        Ok(())
    }

    /// The namespace counters read with the last sample, if readable.
    pub fn netstat(&self) -> Option<&TcpExt> {
        self.netstat.as_ref()
    }

    /// The tracker behind the watch.
    pub fn tracker(&self) -> &OverflowTracker {
        &self.tracker
    }
}

fn observed<'a, S>(name: &'a str, l: &Listener<S>) -> Observed<'a> {
    Observed {
        name,
        drops: l.stats.drops,
        queued: l.stats.queued,
        backlog: l.stats.backlog,
    }
}
