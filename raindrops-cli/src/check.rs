//! `raindrops check`: a health check for cron and monitoring agents that
//! exits 3 when a listener's accept queue overflowed between two samples,
//! is full, or (with `--max-saturation`) fills past a ratio.
//!
//! What counts as an overflow, and why a listener's raw `drops` does not
//! (a healthy `TCP_DEFER_ACCEPT` listener grows it with every connection),
//! is in docs/listener-stats.md; the split is raindrops-diag's `overflow`
//! module.

use std::fmt::Write as _;
use std::thread;
use std::time::Duration;

use clap::Args;

use crate::fail::{Failure, Outcome};
use crate::listeners::tcp_query;
use crate::out;
use crate::sample::{Listener, Sampler, SelectionArgs};

/// The exit status when a check finds a problem.
pub(crate) const UNHEALTHY: i32 = 3;

/// Arguments of `check`.
#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// Seconds between the two samples compared.
    #[arg(short, long, value_name = "SECS", default_value_t = 1.0)]
    pub(crate) interval: f64,
    /// Also fail when queued / backlog of a TCP or Unix listener reaches
    /// RATIO (0 to 1) in either sample.
    #[arg(long, value_name = "RATIO")]
    pub(crate) max_saturation: Option<f64>,
    /// Do not report overflows (full queues are still reported).
    #[arg(long)]
    pub(crate) ignore_drops: bool,
    /// Print a line for healthy listeners too.
    #[arg(short, long)]
    pub(crate) verbose: bool,
    /// Which listeners to check when none are named.
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
    /// TCP addresses and Unix socket paths to check; none means every
    /// listener (but those on ephemeral ports, see --all-ports).
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
    let mut sampler =
        Sampler::new(&args.names, tcp_query(true, false))?.with_selection(&args.selection)?;
    sampler.warn_not_listening();
    sampler.track_overflows();
    let before = sampler.sample()?;
    thread::sleep(Duration::from_secs_f64(args.interval));
    // The overflows of the second sample are those of the interval.
    let after = sampler.sample()?;
    let (report, bad) = verdicts(args, &before, &after);
    out::stdout(&report)?;
    if bad > 0 {
        Err(Failure::Exit(UNHEALTHY))
    } else {
        Ok(())
    }
}

/// The report lines and the number of problems found.
fn verdicts(args: &CheckArgs, before: &[Listener], after: &[Listener]) -> (String, usize) {
    let mut report = String::new();
    let mut bad = 0usize;
    for l in after {
        let name = crate::sample::shown(&l.name);
        let prev = before.iter().find(|p| p.name == l.name);
        let mut problems = Vec::new();
        if !args.ignore_drops {
            if let Some(n) = l.stats.overflows.filter(|&n| n > 0) {
                let estimated = l.stats.overflows_estimated.unwrap_or(0) > 0;
                problems.push(format!(
                    "overflowed {n} times in {}s{}",
                    args.interval,
                    if estimated { " (estimated)" } else { "" }
                ));
            }
        }
        // Full in either sample: the kernel refuses handshakes past
        // backlog + 1.
        let full = [prev.map(|p| &p.stats), Some(&l.stats)]
            .into_iter()
            .flatten()
            .filter(|s| s.is_full())
            .max_by_key(|s| s.queued);
        if let Some(s) = full {
            problems.push(format!("full: {}/{}", s.queued, s.backlog.unwrap_or(0)));
        }
        if let Some(max) = args.max_saturation {
            let worst = [prev.map(|p| &p.stats), Some(&l.stats)]
                .into_iter()
                .flatten()
                .filter_map(|s| s.saturation().map(|r| (r, s)))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((r, s)) = worst.filter(|(r, _)| *r >= max) {
                if full.is_none() {
                    problems.push(format!(
                        "accept queue {:.0}% full: {}/{}",
                        r * 100.0,
                        s.queued,
                        s.backlog.unwrap_or(0)
                    ));
                }
            }
        }
        if problems.is_empty() {
            if args.verbose {
                let _ = writeln!(report, "{name}: ok (queued {})", l.stats.queued);
            }
        } else {
            bad += 1;
            let _ = writeln!(report, "{name}: {}", problems.join(", "));
        }
    }
    (report, bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use raindrops_core::{Family, ListenStats};

    fn args() -> CheckArgs {
        CheckArgs {
            interval: 1.0,
            max_saturation: None,
            ignore_drops: false,
            verbose: false,
            selection: SelectionArgs::default(),
            names: Vec::new(),
        }
    }

    #[test]
    fn verdicts_name_the_problem() {
        let l = |n: &str, s| Listener::new(n.to_string(), Family::Tcp4, s);
        let before = [
            l("a:1", ListenStats::new(0, 3).with_backlog(16)),
            l("b:2", ListenStats::new(0, 17).with_backlog(16)),
        ];
        let after = [
            l(
                "a:1",
                ListenStats::new(0, 3).with_backlog(16).with_overflows(8, 0),
            ),
            l("b:2", ListenStats::new(0, 2).with_backlog(16)),
            l(
                "c:3",
                ListenStats::new(0, 0).with_backlog(16).with_overflows(0, 0),
            ),
            l(
                "d:4",
                ListenStats::new(0, 0).with_backlog(16).with_overflows(2, 1),
            ),
        ];
        let (r, bad) = verdicts(&args(), &before, &after);
        assert_eq!(bad, 3);
        assert_eq!(
            r,
            "a:1: overflowed 8 times in 1s\nb:2: full: 17/16\n\
             d:4: overflowed 2 times in 1s (estimated)\n"
        );
        let (r, bad) = verdicts(
            &CheckArgs {
                ignore_drops: true,
                verbose: true,
                max_saturation: Some(0.5),
                ..args()
            },
            &before,
            &after,
        );
        assert_eq!(bad, 1);
        assert_eq!(
            r,
            "a:1: ok (queued 3)\nb:2: full: 17/16\nc:3: ok (queued 0)\nd:4: ok (queued 0)\n"
        );
    }
}
