//! `raindrops check`: a health check for cron and monitoring agents that
//! exits 3 when a TCP listener dropped connections between two samples (or
//! a TCP or Unix listener's accept queue is too full).

use std::fmt::Write as _;
use std::thread;
use std::time::Duration;

use clap::Args;

use crate::fail::{Failure, Outcome};
use crate::listeners::tcp_query;
use crate::out;
use crate::sample::Sampler;

/// The exit status when a check finds a problem.
pub(crate) const UNHEALTHY: i32 = 3;

/// Arguments of `check`.
#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// Seconds between the two samples compared.
    #[arg(short, long, value_name = "SECS", default_value_t = 1.0)]
    pub(crate) interval: f64,
    /// Also fail when queued / backlog of a TCP or Unix listener reaches
    /// RATIO (0 to 1) in the second sample.
    #[arg(long, value_name = "RATIO")]
    pub(crate) max_saturation: Option<f64>,
    /// Do not report drops (for TCP_DEFER_ACCEPT listeners, where the
    /// kernel counts every handshake's bare ACK as one).
    #[arg(long)]
    pub(crate) ignore_drops: bool,
    /// Print a line for healthy listeners too.
    #[arg(short, long)]
    pub(crate) verbose: bool,
    /// TCP addresses and Unix socket paths to check; none means every listener.
    #[arg(value_name = "ADDR|PATH")]
    pub(crate) names: Vec<String>,
}

/// Runs `check`.
pub(crate) fn run(args: &CheckArgs) -> Outcome {
    if !args.interval.is_finite() || !(0.0..=86_400.0).contains(&args.interval) {
        return Err(Failure::Usage(format!(
            "bad interval {}: expected seconds from 0 to 86400",
            args.interval
        )));
    }
    if let Some(r) = args.max_saturation {
        if !(0.0..=1.0).contains(&r) {
            return Err(Failure::Usage(format!(
                "bad --max-saturation {r}: expected a ratio from 0 to 1"
            )));
        }
    }
    let mut sampler = Sampler::new(&args.names, tcp_query(true, false))?;
    sampler.warn_not_listening();
    let before = sampler.sample()?;
    thread::sleep(Duration::from_secs_f64(args.interval));
    let after = sampler.sample()?;
    let mut report = String::new();
    let mut bad = 0usize;
    for l in &after {
        let prev = before.iter().find(|p| p.name == l.name);
        let grew = match (prev.and_then(|p| p.stats.drops), l.stats.drops) {
            (Some(a), Some(b)) if b > a && !args.ignore_drops => Some(b - a),
            _ => None,
        };
        let saturated = match (args.max_saturation, l.stats.saturation()) {
            (Some(max), Some(s)) if s >= max => Some(s),
            _ => None,
        };
        if let Some(n) = grew {
            bad += 1;
            let _ = writeln!(
                report,
                "{}: dropped {n} connections in {}s (queued {}, backlog {})",
                l.name,
                args.interval,
                l.stats.queued,
                l.stats
                    .backlog
                    .map_or_else(|| "?".into(), |b| b.to_string())
            );
        }
        if let Some(s) = saturated {
            bad += 1;
            let _ = writeln!(
                report,
                "{}: accept queue {:.0}% full (queued {}, backlog {})",
                l.name,
                s * 100.0,
                l.stats.queued,
                l.stats.backlog.unwrap_or(0)
            );
        }
        if grew.is_none() && saturated.is_none() && args.verbose {
            let _ = writeln!(report, "{}: ok (queued {})", l.name, l.stats.queued);
        }
    }
    out::stdout(&report)?;
    if bad > 0 {
        Err(Failure::Exit(UNHEALTHY))
    } else {
        Ok(())
    }
}
