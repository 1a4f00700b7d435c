//! `raindrops counters`: live values of a counter region an application
//! writes (named shm, a headered file, or a file of Ruby's raindrops).

use std::fmt::Write as _;

use clap::{Args, ValueEnum};
use raindrops_core::CounterArray;
use raindrops_http::{JsonString, Metric, MetricKind, Snapshot, render_prometheus};
use raindrops_shm::{Backing, Region};

use crate::cell::or_null;
use crate::fail::{Failure, Outcome};
use crate::out;

/// Output formats of `counters`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// An aligned table.
    Table,
    /// One JSON object.
    Json,
    /// Prometheus text: one `raindrops_counter` gauge per counter.
    Prometheus,
}

/// Arguments of `counters`.
#[derive(Args, Debug)]
pub(crate) struct CountersArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
    /// Names for the counters in index order, comma-separated (as given to
    /// `named_counters!` or `Raindrops::Struct.new`).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub(crate) names: Vec<String>,
    /// `shm:NAME` for POSIX shared memory, or the path of a file (headered,
    /// or raw slots as Ruby's `Raindrops.new(n, io: file)` writes them).
    #[arg(value_name = "FILE|shm:NAME")]
    pub(crate) target: String,
}

fn describe(b: Backing) -> &'static str {
    match b {
        Backing::Anonymous => "anonymous",
        Backing::Named => "shm",
        Backing::File => "file",
        Backing::RubyFile => "ruby-file",
        Backing::Memfd => "memfd",
        _ => "fd",
    }
}

/// Runs `counters`.
pub(crate) fn run(args: &CountersArgs) -> Outcome {
    let region = Region::open_read_only(&args.target).map_err(|e| {
        let msg = format!("cannot open counters {:?}: {e}", args.target);
        // A failing system call is the system's fault; every other error
        // says the name or the file is not a counter region: bad input.
        match e {
            raindrops_shm::Error::Sys { .. } => Failure::System(msg),
            _ => Failure::Usage(msg),
        }
    })?;
    let values: Vec<usize> = region.values().collect();
    if args.names.len() > values.len() {
        return Err(Failure::Usage(format!(
            "{} names given for {} counters",
            args.names.len(),
            values.len()
        )));
    }
    let name = |i: usize| args.names.get(i).map(String::as_str);
    let text = match args.format {
        Format::Table => {
            let width = args
                .names
                .iter()
                .map(|n| n.chars().count())
                .fold(4, usize::max);
            let mut s = format!(
                "# {} {}, {} counters, stride {} bytes\n{:>5}  {:<width$}  {:>20}\n",
                describe(region.backing()),
                args.target,
                values.len(),
                region.stride(),
                "INDEX",
                "NAME",
                "VALUE"
            );
            for (i, v) in values.iter().enumerate() {
                let _ = writeln!(s, "{i:>5}  {:<width$}  {v:>20}", name(i).unwrap_or("-"));
            }
            s
        }
        Format::Json => {
            let mut s = format!(
                "{{\"target\": {}, \"backing\": \"{}\", \"stride\": {}, \"counters\": [",
                JsonString(&args.target),
                describe(region.backing()),
                region.stride()
            );
            for (i, v) in values.iter().enumerate() {
                let sep = if i > 0 { ", " } else { "" };
                let n = or_null(name(i).map(JsonString));
                let _ = write!(s, "{sep}{{\"index\": {i}, \"name\": {n}, \"value\": {v}}}");
            }
            s.push_str("]}\n");
            s
        }
        Format::Prometheus => {
            let indexes: Vec<String> = (0..values.len()).map(|i| i.to_string()).collect();
            let labels: Vec<[(&str, &str); 3]> = (0..values.len())
                .map(|i| {
                    [
                        ("target", args.target.as_str()),
                        ("index", indexes[i].as_str()),
                        ("name", name(i).unwrap_or("")),
                    ]
                })
                .collect();
            let metrics: Vec<Metric<'_>> = values
                .iter()
                .zip(&labels)
                .map(|(&v, l)| Metric {
                    labels: l,
                    ..Metric::new(
                        "raindrops_counter",
                        "A counter of a raindrops shared memory region.",
                        MetricKind::Gauge,
                        v as u64,
                    )
                })
                .collect();
            let snap: Snapshot<'_> = Snapshot {
                metrics: &metrics,
                ..Snapshot::new()
            };
            let mut s = String::new();
            render_prometheus(&snap, &mut s)
                .map_err(|_| Failure::System("cannot render Prometheus text".into()))?;
            s
        }
    };
    out::stdout(&text)
}
