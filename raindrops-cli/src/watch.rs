//! `raindrops watch`: the successor of the Ruby gem's
//! `examples/linux-listener-stats.rb`, with byte-identical sample lines.

use std::ffi::OsString;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use raindrops_core::Aggregate;
use raindrops_http::{HistogramText, RubyFloat, Timestamp, ruby_mean, ruby_std_dev};
use signal_hook::consts::{SIGINT, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

use crate::fail::{Failure, Outcome};
use crate::listeners::tcp_query;
use crate::out;
use crate::rubyfmt;
use crate::sample::{Sampler, SelectionArgs};

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
    /// Add a column with how long the oldest connection in each TCP
    /// listener's accept queue has waited, in milliseconds (asks the
    /// kernel for tcp_info of the listener's connections while a queue is
    /// not empty).
    #[arg(short = 'w', long)]
    pub(crate) queue_wait: bool,
    /// Watch every listener (needed when no ADDR|PATH is given).
    #[arg(short, long)]
    pub(crate) all: bool,
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
    /// TCP addresses, selectors (:80, localhost:80) and Unix socket paths
    /// to watch.
    #[arg(value_name = "ADDR|PATH")]
    pub(crate) names: Vec<OsString>,
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

/// The most listeners whose aggregates are kept: past it, those absent
/// from the last sample are forgotten (`watch -a` on a host where
/// listeners come and go must not grow without bound).
const MAX_AGGREGATES: usize = 4096;

/// The aggregates of active and queued per listener, in the order the
/// listeners were first seen.
#[derive(Default)]
struct PerListener {
    entries: Vec<(String, Aggregate, Aggregate)>,
    index: std::collections::HashMap<String, usize>,
}

impl PerListener {
    fn record(&mut self, listeners: &[crate::sample::Listener]) {
        for l in listeners {
            let i = match self.index.get(&l.name) {
                Some(&i) => i,
                None => {
                    self.entries
                        .push((l.name.clone(), Aggregate::new(), Aggregate::new()));
                    self.index.insert(l.name.clone(), self.entries.len() - 1);
                    self.entries.len() - 1
                }
            };
            let e = &mut self.entries[i];
            e.1.push(u64::from(l.stats.active));
            e.2.push(u64::from(l.stats.queued));
        }
        if self.entries.len() > MAX_AGGREGATES {
            let present: std::collections::HashSet<&str> =
                listeners.iter().map(|l| l.name.as_str()).collect();
            self.entries.retain(|e| present.contains(e.0.as_str()));
            self.index = (self.entries.iter().enumerate())
                .map(|(i, e)| (e.0.clone(), i))
                .collect();
        }
    }

    fn clear(&mut self) {
        for e in &mut self.entries {
            e.1.clear();
            e.2.clear();
        }
    }

    /// Ruby's dump, once per listener: `--- ADDR active ---` then
    /// `--- ADDR queued ---`.
    fn dump(&self) -> String {
        let mut s = String::new();
        for (name, a, q) in &self.entries {
            let name = raindrops_core::SafeText(name);
            s += &dump(&format!("{name} active"), a);
            s += &dump(&format!("{name} queued"), q);
        }
        s
    }
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

/// Runs `watch`.
pub(crate) fn run(args: &WatchArgs) -> Outcome {
    if args.names.is_empty() && !args.all && args.selection.include.is_empty() {
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
    let query = tcp_query(false, false).with_queue_wait(args.queue_wait);
    let mut sampler = Sampler::new(&args.names, query)?.with_selection(&args.selection)?;
    let events = signals(delay.is_some())?;
    let mut aggregates = delay.map(|_| PerListener::default());
    if aggregates.is_some() {
        out::stderr(&format!(
            "USR1(dump_aggregate) and USR2(reset) handlers ready for PID={}\n",
            std::process::id()
        ));
    }
    sampler.warn_not_listening();
    // The column fits the names given (as in Ruby) and those the first
    // sample shows (--all, selectors).
    let mut first = Some(sampler.sample()?);
    let shown = first.iter().flatten().map(|l| l.name.as_str());
    let width = rubyfmt::address_width(sampler.names().chain(shown));
    let titles: Vec<&str> = [(args.drops, "drops"), (args.queue_wait, "oldest_ms")]
        .iter()
        .filter_map(|&(on, t)| on.then_some(t))
        .collect();
    out::stderr(&rubyfmt::header(width, &titles));

    let start = Instant::now();
    let mut samples = 0u64;
    let mut text = String::new();
    loop {
        if args.count.is_some_and(|n| samples >= n) {
            return Ok(());
        }
        let listeners = match first.take() {
            Some(l) => l,
            None => sampler.sample()?,
        };
        let now = Timestamp::now().iso8601().to_string();
        text.clear();
        if let Some(aggs) = aggregates.as_mut() {
            aggs.record(&listeners);
        }
        for l in &listeners {
            let (active, queued) = (u64::from(l.stats.active), u64::from(l.stats.queued));
            if i128::from(queued) < i128::from(threshold) {
                continue;
            }
            let extra: Vec<Option<u64>> = [
                (args.drops, l.stats.drops),
                (args.queue_wait, l.stats.queue_wait_oldest_ms.map(u64::from)),
            ]
            .into_iter()
            .filter_map(|(on, v)| on.then_some(v))
            .collect();
            rubyfmt::sample_line(&mut text, &now, &l.name, width, active, queued, &extra);
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
                    if let Some(aggs) = &aggregates {
                        out::stderr(&aggs.dump());
                    }
                }
                Event::Reset => {
                    if let Some(aggs) = aggregates.as_mut() {
                        aggs.clear();
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
