//! `raindrops listeners`: every listener of this machine, or the named ones.

use std::fmt::Write as _;

use clap::{Args, ValueEnum};
use raindrops_core::ListenStats;
use raindrops_diag::TcpQuery;
use raindrops_http::{JsonString, Snapshot, render_middleware_listeners, render_prometheus};

use crate::cell::{or_dash, or_null};
use crate::fail::{Failure, Outcome};
use crate::out;
use crate::sample::{Kind, Listener, Sampler};

/// Output formats of `listeners`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// An aligned table for people.
    Table,
    /// The listener lines of Ruby's Raindrops::Middleware body.
    Raindrops,
    /// Prometheus text exposition 0.0.4.
    Prometheus,
    /// One JSON array of objects.
    Json,
}

/// Arguments of `listeners`.
#[derive(Args, Debug)]
pub(crate) struct ListenersArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
    /// Count only queued connections (and backlog, drops): one LISTEN-only
    /// query, about 100 times cheaper with many connections; active is
    /// shown as "-" (null in JSON).
    #[arg(short, long)]
    pub(crate) queued_only: bool,
    /// Also count half-open handshakes (SYN_RECV) per TCP listener.
    #[arg(short, long)]
    pub(crate) syn_recv: bool,
    /// TCP addresses and Unix socket paths; none means every listener.
    #[arg(
        value_name = "ADDR|PATH",
        long_help = "TCP addresses (127.0.0.1:8080, [::1]:8080, 0.0.0.0:80) and Unix \
                     socket paths (/run/app.sock, @abstract); none means every listener."
    )]
    pub(crate) names: Vec<String>,
}

/// The TCP query the flags ask for.
pub(crate) fn tcp_query(queued_only: bool, syn_recv: bool) -> TcpQuery {
    let q = if queued_only {
        TcpQuery::queued_only()
    } else {
        TcpQuery::new()
    };
    q.with_syn_recv(syn_recv)
}

/// Runs `listeners`.
pub(crate) fn run(args: &ListenersArgs) -> Outcome {
    if args.queued_only && args.format == Format::Prometheus {
        return Err(Failure::Usage(
            "--queued-only cannot be combined with --format prometheus: \
             the active gauge would read 0"
                .into(),
        ));
    }
    let mut sampler = Sampler::new(&args.names, tcp_query(args.queued_only, args.syn_recv))?;
    let listeners = sampler.sample()?;
    let text = match args.format {
        Format::Table => table(&listeners, args.queued_only, args.syn_recv),
        Format::Raindrops => raindrops(&listeners)?,
        Format::Prometheus => prometheus(&listeners)?,
        Format::Json => json(&listeners, args.queued_only),
    };
    out::stdout(&text)
}

/// An aligned table with a header line.
pub(crate) fn table(listeners: &[Listener], queued_only: bool, syn_recv: bool) -> String {
    let width = listeners
        .iter()
        .map(|l| l.name.chars().count())
        .fold("ADDRESS".len(), usize::max);
    let mut s = String::new();
    let _ = write!(
        s,
        "{:<width$} {:>8} {:>8} {:>8} {:>10}",
        "ADDRESS", "ACTIVE", "QUEUED", "BACKLOG", "DROPS"
    );
    if syn_recv {
        let _ = write!(s, " {:>8}", "SYN_RECV");
    }
    s.push('\n');
    for l in listeners {
        let st = &l.stats;
        let active = or_dash((!queued_only).then_some(st.active));
        let _ = write!(
            s,
            "{:<width$} {:>8} {:>8} {:>8} {:>10}",
            l.name,
            active,
            st.queued,
            or_dash(st.backlog),
            or_dash(st.drops)
        );
        if syn_recv {
            let _ = write!(s, " {:>8}", or_dash(st.syn_recv));
        }
        s.push('\n');
    }
    s
}

/// `listeners` rendered by one of raindrops-http's renderers, TCP
/// listeners first, then Unix ones.
fn render(
    listeners: &[Listener],
    renderer: fn(&Snapshot<'_>, &mut String) -> std::fmt::Result,
) -> Result<String, Failure> {
    let split = |k: Kind| -> Vec<(&str, ListenStats)> {
        listeners
            .iter()
            .filter(|l| l.kind == k)
            .map(|l| (l.name.as_str(), l.stats))
            .collect()
    };
    let (tcp, unix) = (split(Kind::Tcp), split(Kind::Unix));
    let snap = Snapshot {
        tcp: &tcp,
        unix: &unix,
        ..Snapshot::new()
    };
    let mut s = String::new();
    renderer(&snap, &mut s).map_err(|_| Failure::System("cannot render the listeners".into()))?;
    Ok(s)
}

/// The listener lines of Ruby's middleware body.
pub(crate) fn raindrops(listeners: &[Listener]) -> Result<String, Failure> {
    render(listeners, |s, w| render_middleware_listeners(s, w))
}

/// Prometheus text.
pub(crate) fn prometheus(listeners: &[Listener]) -> Result<String, Failure> {
    render(listeners, |s, w| render_prometheus(s, w))
}

/// One JSON array of objects, in result order.
pub(crate) fn json(listeners: &[Listener], queued_only: bool) -> String {
    let mut s = String::from("[");
    for (i, l) in listeners.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let st = &l.stats;
        let _ = write!(
            s,
            "\n  {{\"address\": {}, \"type\": \"{}\", \"active\": {}, \"queued\": {}, \
             \"backlog\": {}, \"drops\": {}, \"syn_recv\": {}}}",
            JsonString(&l.name),
            match l.kind {
                Kind::Tcp => "tcp",
                Kind::Unix => "unix",
            },
            or_null((!queued_only).then_some(st.active)),
            st.queued,
            or_null(st.backlog),
            or_null(st.drops),
            or_null(st.syn_recv),
        );
    }
    if !listeners.is_empty() {
        s.push('\n');
    }
    s.push_str("]\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Listener> {
        vec![
            Listener {
                name: "127.0.0.1:8080".into(),
                kind: Kind::Tcp,
                stats: ListenStats::new(1, 2).with_backlog(128).with_drops(3),
            },
            Listener {
                name: "/tmp/a \"b\".sock".into(),
                kind: Kind::Unix,
                stats: ListenStats::new(0, 0),
            },
        ]
    }

    #[test]
    fn formats() {
        let l = sample();
        assert_eq!(
            table(&l, false, false),
            "ADDRESS           ACTIVE   QUEUED  BACKLOG      DROPS\n\
             127.0.0.1:8080         1        2      128          3\n\
             /tmp/a \"b\".sock        0        0        -          -\n"
        );
        assert_eq!(
            raindrops(&l[..1]).unwrap(),
            "127.0.0.1:8080 active: 1\n127.0.0.1:8080 queued: 2\n"
        );
        let j = json(&l, true);
        assert!(j.starts_with("[\n  {\"address\": \"127.0.0.1:8080\", \"type\": \"tcp\", \"active\": null, \"queued\": 2, \"backlog\": 128, \"drops\": 3, \"syn_recv\": null},"), "{j}");
        assert!(j.contains("\"/tmp/a \\\"b\\\".sock\""), "{j}");
        assert_eq!(json(&[], false), "[]\n");
        let p = prometheus(&l).unwrap();
        assert!(
            p.contains("raindrops_listener_queued{listener=\"127.0.0.1:8080\"} 2"),
            "{p}"
        );
    }
}
