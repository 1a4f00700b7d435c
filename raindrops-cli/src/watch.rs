//! `raindrops watch`: the successor of the Ruby gem's
//! `examples/linux-listener-stats.rb`, with byte-identical sample lines.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use raindrops_core::{Aggregate, parse_tcp_addr};
use raindrops_http::{HistogramText, RubyFloat, Timestamp, ruby_mean, ruby_std_dev};
use signal_hook::consts::{SIGINT, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

use crate::fail::{Failure, Outcome};
use crate::listeners::tcp_query;
use crate::out;
use crate::rubyfmt;
use crate::sample::Sampler;

/// Arguments of `watch`.
#[derive(Args, Debug)]
pub(crate) struct WatchArgs {
    /// Sample every SECS seconds (fractions allowed; 0 samples back to back)
    /// instead of once. With a delay, SIGUSR1 dumps the aggregates of all
    /// samples to stderr and SIGUSR2 resets them.
    #[arg(short, long, value_name = "SECS", allow_negative_numbers = true)]
    pub(crate) delay: Option<f64>,
    /// Print only listeners with at least N queued connections.
    #[arg(
        short = 't',
        long = "queued-threshold",
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub(crate) threshold: Option<i64>,
    /// Stop after COUNT samples and exit 0.
    #[arg(short = 'n', long, value_name = "COUNT")]
    pub(crate) count: Option<u64>,
    /// Add a column with each TCP listener's drop counter (connections the
    /// kernel discarded, e.g. because the accept queue was full; on a
    /// TCP_DEFER_ACCEPT listener also every handshake's bare ACK).
    #[arg(long)]
    pub(crate) drops: bool,
    /// Watch every listener (needed when no ADDR|PATH is given).
    #[arg(short, long)]
    pub(crate) all: bool,
    /// TCP addresses and Unix socket paths to watch.
    #[arg(value_name = "ADDR|PATH")]
    pub(crate) names: Vec<String>,
}

enum Event {
    Interrupt,
    Dump,
    Reset,
}

/// Forwards SIGINT (and, with a delay, SIGUSR1/SIGUSR2) to a channel.
fn signals(with_aggregates: bool) -> Result<Receiver<Event>, Failure> {
    let mut list = vec![SIGINT];
    if with_aggregates {
        list.extend([SIGUSR1, SIGUSR2]);
    }
    let mut signals = Signals::new(&list)
        .map_err(|e| Failure::System(format!("cannot install signal handlers: {e}")))?;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for sig in signals.forever() {
            let ev = match sig {
                SIGUSR1 => Event::Dump,
                SIGUSR2 => Event::Reset,
                _ => Event::Interrupt,
            };
            if tx.send(ev).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// The aggregate dump of the Ruby script's SIGUSR1 handler.
fn dump(label: &str, agg: &Aggregate) -> String {
    let opt = |v: Option<u64>| v.map_or_else(String::new, |v| v.to_string());
    format!(
        "--- {label} ---\ncount={}\nmin={}\nmax={}\noutliers_low={}\noutliers_high={}\nmean={}\nstd_dev={}\n{}\n\n",
        agg.count(),
        opt(agg.min()),
        opt(agg.max()),
        agg.outliers_low(),
        agg.outliers_high(),
        RubyFloat(ruby_mean(agg)),
        RubyFloat(ruby_std_dev(agg)),
        HistogramText(agg),
    )
}

/// Warns about `127.x.y.z:PORT` names that do not listen while
/// `0.0.0.0:PORT` does (the Ruby script's "Did you mean" hint).
fn warn_any_address(sampler: &mut Sampler, names: &[String]) {
    let loopback: Vec<_> = names
        .iter()
        .filter_map(|n| parse_tcp_addr(n).ok())
        .filter(|a| matches!(a.ip(), std::net::IpAddr::V4(ip) if ip.octets()[0] == 127))
        .collect();
    if loopback.is_empty() {
        return;
    }
    let Ok(all) = sampler
        .diag()
        .tcp_listener_stats_with::<&str>(&[], &raindrops_diag::TcpQuery::queued_only())
    else {
        return;
    };
    for a in loopback {
        let any = format!("0.0.0.0:{}", a.port());
        if !all.contains(&a.to_string()) && all.contains(&any) {
            out::stderr(&format!(
                "W: {a} is not a listener\nW: Did you mean {any}?\n"
            ));
        }
    }
}

/// Runs `watch`.
pub(crate) fn run(args: &WatchArgs) -> Outcome {
    if args.names.is_empty() && !args.all {
        return Err(Failure::Usage(
            "no listener given: name ADDR|PATH..., or --all for every listener".into(),
        ));
    }
    let delay = match args.delay {
        Some(d) if !d.is_finite() || !(0.0..=1e9).contains(&d) => {
            return Err(Failure::Usage(format!(
                "bad delay {d}: expected seconds from 0 to 1e9"
            )));
        }
        Some(d) => Some(Duration::from_secs_f64(d)),
        None => None,
    };
    let threshold = args.threshold.unwrap_or(-1);
    let mut sampler = Sampler::new(&args.names, tcp_query(false, false))?;
    let events = signals(delay.is_some())?;
    let mut aggregates = delay.map(|_| (Aggregate::new(), Aggregate::new()));
    if aggregates.is_some() {
        out::stderr(&format!(
            "USR1(dump_aggregate) and USR2(reset) handlers ready for PID={}\n",
            std::process::id()
        ));
    }
    warn_any_address(&mut sampler, &args.names);
    let width = rubyfmt::address_width(sampler.names());
    out::stderr(&rubyfmt::header(width, args.drops));

    let start = Instant::now();
    let mut samples = 0u64;
    let mut text = String::new();
    loop {
        if args.count.is_some_and(|n| samples >= n) {
            return Ok(());
        }
        let listeners = sampler.sample()?;
        let now = Timestamp::now().iso8601().to_string();
        text.clear();
        for l in &listeners {
            let (active, queued) = (u64::from(l.stats.active), u64::from(l.stats.queued));
            if let Some((a, q)) = aggregates.as_mut() {
                a.push(active);
                q.push(queued);
            }
            if i128::from(queued) < i128::from(threshold) {
                continue;
            }
            let drops = args.drops.then_some(l.stats.drops);
            rubyfmt::sample_line(&mut text, &now, &l.name, width, active, queued, drops);
        }
        out::stdout(&text)?;
        samples += 1;
        let Some(delay) = delay else {
            return Ok(());
        };
        // Fixed-rate schedule (like the Ruby script's timerfd), never
        // bunching up after a slow sample.
        let next = start + delay.mul_f64(samples as f64);
        loop {
            let left = next.saturating_duration_since(Instant::now());
            let ev = if left.is_zero() {
                match events.try_recv() {
                    Ok(ev) => ev,
                    Err(_) => break,
                }
            } else {
                match events.recv_timeout(left) {
                    Ok(ev) => ev,
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => {
                        thread::sleep(left);
                        break;
                    }
                }
            };
            match ev {
                Event::Interrupt => return Err(Failure::Exit(130)),
                Event::Dump => {
                    if let Some((a, q)) = &aggregates {
                        out::stderr(&(dump("active", a) + &dump("queued", q)));
                    }
                }
                Event::Reset => {
                    if let Some((a, q)) = aggregates.as_mut() {
                        a.clear();
                        q.clear();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_of_empty_and_full() {
        let empty = dump("active", &Aggregate::new());
        assert_eq!(
            empty,
            "--- active ---\ncount=0\nmin=\nmax=\noutliers_low=0\noutliers_high=0\nmean=NaN\nstd_dev=NaN\nEmpty histogram\n\n"
        );
        let a: Aggregate = [0u64, 1, 3].into_iter().collect();
        let d = dump("queued", &a);
        assert!(
            d.starts_with("--- queued ---\ncount=3\nmin=0\nmax=3\noutliers_low=1\n"),
            "{d}"
        );
        assert!(d.contains("mean=1.3333333333333333\n"), "{d}");
    }
}
