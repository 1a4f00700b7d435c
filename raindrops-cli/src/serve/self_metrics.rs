//! The exporter's metrics about itself, appended to every Prometheus or
//! OpenMetrics answer: build, sampling (duration, errors by reason, time
//! of the last good sample), listeners left out of the series, and the
//! HTTP limits at work. Names and label values are fixed strings here, so
//! nothing needs escaping.

use std::fmt::{self, Write};

use super::conns::{Closed, ConnStats};
use super::sampler::{ErrorReason, SampleStats};

/// Everything the self-metrics show, copied out of the locks.
pub(super) struct SelfStats {
    pub(super) sample: SampleStats,
    pub(super) delay_seconds: f64,
    pub(super) conns: ConnStats,
    pub(super) tail_streams: usize,
    /// Requests refused, indexed like [`REFUSED`].
    pub(super) refused: [u64; 3],
}

/// Why a request was refused (the `reason` label of
/// `raindrops_http_requests_refused_total`).
pub(super) const REFUSED: [&str; 3] = ["tail_streams", "unauthorized", "rate_limit"];

struct Family<'a> {
    name: &'a str,
    kind: &'a str,
    help: &'a str,
}

/// Writes the families; `openmetrics` names counter families without
/// `_total`, as that format wants.
pub(super) fn render(s: &SelfStats, openmetrics: bool, w: &mut String) -> fmt::Result {
    let head = |w: &mut String, f: &Family<'_>| -> fmt::Result {
        let name = if openmetrics && f.kind == "counter" {
            f.name.strip_suffix("_total").unwrap_or(f.name)
        } else {
            f.name
        };
        writeln!(w, "# HELP {name} {}", f.help)?;
        writeln!(w, "# TYPE {name} {}", f.kind)
    };
    head(
        w,
        &Family {
            name: "raindrops_build_info",
            kind: "gauge",
            help: "The version of the raindrops exporter, as a label; always 1.",
        },
    )?;
    writeln!(
        w,
        "raindrops_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )?;
    head(
        w,
        &Family {
            name: "raindrops_samples_total",
            kind: "counter",
            help: "Samples of the listeners taken, successful or not.",
        },
    )?;
    writeln!(w, "raindrops_samples_total {}", s.sample.samples)?;
    head(
        w,
        &Family {
            name: "raindrops_sample_errors_total",
            kind: "counter",
            help: "Samples that failed, by reason: sock_diag (the kernel query failed), scrape_timeout (a scrape waited 5 s for its sample in vain).",
        },
    )?;
    for (i, r) in ErrorReason::ALL.iter().enumerate() {
        writeln!(
            w,
            "raindrops_sample_errors_total{{reason=\"{}\"}} {}",
            r.label(),
            s.sample.errors[i]
        )?;
    }
    head(
        w,
        &Family {
            name: "raindrops_sample_duration_seconds",
            kind: "gauge",
            help: "How long the last sample of the listeners took.",
        },
    )?;
    writeln!(
        w,
        "raindrops_sample_duration_seconds {}",
        s.sample.last_duration.as_secs_f64()
    )?;
    head(
        w,
        &Family {
            name: "raindrops_sample_interval_seconds",
            kind: "gauge",
            help: "The time between samples (--delay); scrapes answer from the last sample.",
        },
    )?;
    writeln!(w, "raindrops_sample_interval_seconds {}", s.delay_seconds)?;
    if let Some(t) = s.sample.last_good {
        head(
            w,
            &Family {
                name: "raindrops_last_sample_timestamp_seconds",
                kind: "gauge",
                help: "When the last successful sample was taken, in seconds since the Unix epoch.",
            },
        )?;
        writeln!(
            w,
            "raindrops_last_sample_timestamp_seconds {}.{:03}",
            t.secs(),
            t.subsec_nanos() / 1_000_000
        )?;
    }
    let left = [
        (
            "ephemeral",
            s.sample.left_out.ephemeral,
            s.sample.left_out_total.ephemeral,
        ),
        ("cap", s.sample.left_out.cap, s.sample.left_out_total.cap),
    ];
    head(
        w,
        &Family {
            name: "raindrops_listeners_left_out",
            kind: "gauge",
            help: "Listeners of the last sample that have no series, by reason: ephemeral (a port of ip_local_port_range; --all-ports keeps them), cap (past --max-listeners).",
        },
    )?;
    for (reason, now, _) in left {
        writeln!(
            w,
            "raindrops_listeners_left_out{{reason=\"{reason}\"}} {now}"
        )?;
    }
    head(
        w,
        &Family {
            name: "raindrops_listeners_left_out_total",
            kind: "counter",
            help: "Listeners left out of the series, summed over every sample, by reason.",
        },
    )?;
    for (reason, _, total) in left {
        writeln!(
            w,
            "raindrops_listeners_left_out_total{{reason=\"{reason}\"}} {total}"
        )?;
    }
    head(
        w,
        &Family {
            name: "raindrops_http_connections",
            kind: "gauge",
            help: "HTTP connections open now.",
        },
    )?;
    writeln!(w, "raindrops_http_connections {}", s.conns.open)?;
    head(
        w,
        &Family {
            name: "raindrops_http_connections_accepted_total",
            kind: "counter",
            help: "HTTP connections accepted.",
        },
    )?;
    writeln!(
        w,
        "raindrops_http_connections_accepted_total {}",
        s.conns.accepted
    )?;
    head(
        w,
        &Family {
            name: "raindrops_http_connections_closed_total",
            kind: "counter",
            help: "HTTP connections the server closed, by reason: header_timeout, idle_timeout, write_timeout, replaced (by a newer one at --max-connections), rejected (503: all busy).",
        },
    )?;
    for (i, c) in Closed::ALL.iter().enumerate() {
        writeln!(
            w,
            "raindrops_http_connections_closed_total{{reason=\"{}\"}} {}",
            c.label(),
            s.conns.closed[i]
        )?;
    }
    head(
        w,
        &Family {
            name: "raindrops_http_tail_streams",
            kind: "gauge",
            help: "Watcher tail streams open now.",
        },
    )?;
    writeln!(w, "raindrops_http_tail_streams {}", s.tail_streams)?;
    head(
        w,
        &Family {
            name: "raindrops_http_requests_refused_total",
            kind: "counter",
            help: "HTTP requests refused, by reason: tail_streams (503 past --max-tail-streams), unauthorized (401), rate_limit (429).",
        },
    )?;
    for (i, reason) in REFUSED.iter().enumerate() {
        writeln!(
            w,
            "raindrops_http_requests_refused_total{{reason=\"{reason}\"}} {}",
            s.refused[i]
        )?;
    }
    Ok(())
}
