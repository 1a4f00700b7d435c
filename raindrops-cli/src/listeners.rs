//! `raindrops listeners`: every listener of this machine, or the named ones.

use std::ffi::OsString;
use std::io::IsTerminal;

use clap::{Args, ValueEnum};
use raindrops_diag::TcpQuery;
use raindrops_http::{
    FieldSet, Metric, Snapshot, render_json, render_middleware_listeners, render_prometheus,
    render_table,
};

use crate::fail::{Failure, Outcome};
use crate::out;
use crate::sample::{Listener, Sampler, SelectionArgs};

/// Output formats of `listeners`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// An aligned table for people.
    #[default]
    Table,
    /// The listener lines of Ruby's Raindrops::Middleware body.
    Raindrops,
    /// Prometheus text exposition 0.0.4.
    Prometheus,
    /// JSON: the object `raindrops serve` answers with (`listeners` holds
    /// one object per listener).
    Json,
}

/// Arguments of `listeners`.
#[derive(Args, Debug, Default)]
pub(crate) struct ListenersArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
    /// Do not count active connections: one LISTEN-only query for queued,
    /// backlog and drops, about 100 times cheaper with many connections;
    /// ACTIVE is shown as "-" (null in JSON). Also --queued-only.
    // Named for what the output loses: `--queued-only` read like a filter
    // of listeners, and the old name stays an alias.
    #[arg(short = 'q', long = "no-active", alias = "queued-only")]
    pub(crate) no_active: bool,
    /// Also count half-open handshakes (SYN_RECV) per TCP listener.
    #[arg(short, long)]
    pub(crate) syn_recv: bool,
    /// Also show how long the connections in each TCP listener's accept
    /// queue have waited (oldest, median, p90, p99, in ms): asks the
    /// kernel for tcp_info of the listener's connections while a queue is
    /// not empty.
    #[arg(short = 'w', long)]
    pub(crate) queue_wait: bool,
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
    /// Other network namespaces and owning processes.
    #[command(flatten)]
    pub(crate) ns: crate::namespaces::NsArgs,
    /// TCP addresses, selectors and Unix socket paths; none means every
    /// listener.
    #[arg(
        value_name = "ADDR|PATH",
        long_help = "TCP addresses (127.0.0.1:8080, [::1]:8080, 0.0.0.0:80), every listener \
                     on a port (:8080, or a range :8000-8100), localhost:8080 (127.0.0.1 and \
                     ::1), and Unix socket paths (/run/app.sock, @abstract; any bytes); none \
                     means every listener. Exact names are always shown, with zeros and a \
                     warning if nothing listens there."
    )]
    pub(crate) names: Vec<OsString>,
}

/// The TCP query the flags ask for.
pub(crate) fn tcp_query(no_active: bool, syn_recv: bool) -> TcpQuery {
    let q = if no_active {
        TcpQuery::queued_only()
    } else {
        TcpQuery::new()
    };
    q.with_syn_recv(syn_recv)
}

/// Runs `listeners`.
pub(crate) fn run(args: &ListenersArgs) -> Outcome {
    if args.ns.wanted() {
        return crate::namespaces::run_listeners(args);
    }
    let query = tcp_query(args.no_active, args.syn_recv).with_queue_wait(args.queue_wait);
    let mut sampler = Sampler::new(&args.names, query)?.with_selection(&args.selection)?;
    sampler.warn_not_listening();
    let listeners = sampler.sample()?;
    // The namespace's overflow counters travel with the metrics and JSON.
    let netstat = match args.format {
        Format::Prometheus | Format::Json => {
            raindrops_diag::proc_netstat::TcpExt::read_current_thread()
                .map(|t| raindrops::netstat_metrics(&t))
                .unwrap_or_default()
        }
        Format::Table | Format::Raindrops => Vec::new(),
    };
    let text = render(&listeners, sampler.counts_active(), args.format, &netstat)?;
    out::stdout(&text)?;
    note_hidden(&sampler);
    Ok(())
}

/// Tells a person at a terminal that listeners on ephemeral ports were
/// left out, and how to see them (scripts reading stderr see nothing).
pub(crate) fn note_hidden(sampler: &Sampler) {
    let (n, Some(range)) = (sampler.hidden(), sampler.ephemeral()) else {
        return;
    };
    if n > 0 && std::io::stderr().is_terminal() {
        let s = if n == 1 { "" } else { "s" };
        out::stderr(&format!(
            "raindrops: {n} listener{s} on ephemeral ports ({range}) not shown: --all-ports shows them\n"
        ));
    }
}

/// `listeners` in `format`, rendered by raindrops-http from its one field
/// table; `active` shown as unknown when the query did not count it.
pub(crate) fn render(
    listeners: &[Listener],
    counts_active: bool,
    format: Format,
    metrics: &[Metric<'_>],
) -> Result<String, Failure> {
    let snap = Snapshot {
        listeners,
        metrics,
        measured: if counts_active {
            FieldSet::ALL
        } else {
            FieldSet::ALL.without("active")
        },
        ..Snapshot::new()
    };
    let mut s = String::new();
    match format {
        Format::Table => render_table(&snap, &mut s),
        Format::Raindrops => render_middleware_listeners(&snap, &mut s),
        Format::Prometheus => render_prometheus(&snap, &mut s),
        Format::Json => render_json(&snap, &mut s),
    }
    .map_err(|_| Failure::System("cannot render the listeners".into()))?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use raindrops_core::{Family, ListenStats};

    fn sample() -> Vec<Listener> {
        vec![
            Listener::new(
                "127.0.0.1:8080".into(),
                Family::Tcp4,
                ListenStats::new(1, 2).with_backlog(128).with_drops(3),
            ),
            Listener::new(
                "/tmp/a \"b\".sock".into(),
                Family::Unix,
                ListenStats::new(0, 0),
            ),
        ]
    }

    #[test]
    fn formats() {
        let l = sample();
        let t = render(&l, true, Format::Table, &[]).unwrap();
        assert!(t.starts_with("ADDRESS "), "{t}");
        assert!(t.contains("\n/tmp/a \"b\".sock "), "{t}");
        assert_eq!(
            render(&l[..1], true, Format::Raindrops, &[]).unwrap(),
            "127.0.0.1:8080 active: 1\n127.0.0.1:8080 queued: 2\n"
        );
        let j = render(&l, false, Format::Json, &[]).unwrap();
        assert!(
            j.starts_with(
                "{\"calling\":null,\"writing\":null,\"listeners\":[{\"address\":\"127.0.0.1:8080\","
            ),
            "{j}"
        );
        assert!(j.contains("\"active\":null,\"queued\":2,"), "{j}");
        assert!(j.contains("\"/tmp/a \\\"b\\\".sock\""), "{j}");
        let p = render(&l, false, Format::Prometheus, &[]).unwrap();
        assert!(
            p.contains("raindrops_listener_queued{listener=\"127.0.0.1:8080\""),
            "{p}"
        );
        assert!(
            !p.contains("raindrops_listener_active"),
            "not measured: {p}"
        );
    }
}
