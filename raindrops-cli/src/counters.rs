//! `raindrops counters`: the values of a counter region an application
//! writes (named shm, a headered file, or a file of Ruby's raindrops).
//!
//! The region is read with raindrops-shm's `RegionReader`, which copies
//! instead of mapping: an object shrunk by another process while it is read
//! is an error, never a `SIGBUS`, and a sparse object claiming millions of
//! counters costs what is printed. Output is written a chunk at a time.

use std::fmt::Write as _;
use std::io::Write as _;

use clap::{Args, ValueEnum};
use raindrops_core::EscapedName;
use raindrops_http::{JsonString, Metric, MetricKind, Snapshot, render_prometheus};
use raindrops_shm::RegionReader;
use raindrops_shm::names::SlotNames;

use crate::cell::or_null;
use crate::fail::{Failure, Outcome};

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

/// Counters shown when `--limit` is not given.
const DEFAULT_LIMIT: usize = 10_000;

/// Counters read and written at a time.
const CHUNK: usize = 1024;

/// The NAME column is at most this wide; longer names overflow it.
const MAX_NAME_WIDTH: usize = 64;

/// Arguments of `counters`.
#[derive(Args, Debug)]
pub(crate) struct CountersArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
    /// Names for the counters in index order, comma-separated (as given to
    /// `named_counters!` or `Raindrops::Struct.new`); they replace the
    /// names stored in the region for those indexes.
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub(crate) names: Vec<String>,
    /// Show at most N counters (the first ones); 0 shows all.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LIMIT)]
    pub(crate) limit: usize,
    /// `shm:NAME` for POSIX shared memory, or the path of a file (headered,
    /// or raw slots as Ruby's `Raindrops.new(n, io: file)` writes them).
    #[arg(value_name = "FILE|shm:NAME")]
    pub(crate) target: String,
}

/// A failure of the shm crate, as the command reports it: a target that
/// is not a usable region is bad input (2), the rest the system's (1).
fn failure(target: &str, e: raindrops_shm::Error) -> Failure {
    let msg = format!(
        "cannot read counters {}: {e}",
        EscapedName(target.as_bytes())
    );
    if e.is_bad_target() {
        Failure::Usage(msg)
    } else {
        Failure::System(msg)
    }
}

/// The name of each counter: `--names` first, then the region's own.
struct Names<'a> {
    given: &'a [String],
    stored: Vec<Option<&'a [u8]>>,
}

impl<'a> Names<'a> {
    fn new(given: &'a [String], stored: SlotNames<'a>, shown: usize) -> Names<'a> {
        // Stored names are bounded (64 Ki entries) and only those shown
        // are kept.
        Names {
            given,
            stored: stored.iter().take(shown).collect(),
        }
    }

    fn get(&self, i: usize) -> Option<&'a [u8]> {
        match self.given.get(i) {
            Some(n) => Some(n.as_bytes()),
            None => self.stored.get(i).copied().flatten(),
        }
    }
}

/// `bytes` escaped for text output.
fn escaped(bytes: &[u8]) -> String {
    EscapedName(bytes).to_string()
}

/// A name as a JSON string: valid UTF-8 as is (JSON escapes what it
/// must), other bytes in their reversible escaped form.
fn json_name(bytes: &[u8]) -> String {
    // The display form, as every JSON of the workspace carries names
    // (docs/escaping.md): reversible, and safe when printed raw.
    JsonString(&escaped(bytes)).to_string()
}

/// `s` padded with spaces to `width` characters (by hand: a format width
/// over `u16::MAX` panics).
fn pad(out: &mut String, s: &str, width: usize) {
    out.push_str(s);
    let n = s.chars().count();
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(n)));
}

/// Runs `counters`.
pub(crate) fn run(args: &CountersArgs) -> Outcome {
    let reader = RegionReader::open(&args.target).map_err(|e| failure(&args.target, e))?;
    let len = reader.len();
    if args.names.len() > len {
        return Err(Failure::Usage(format!(
            "{} names given for {len} counters",
            args.names.len()
        )));
    }
    let shown = match args.limit {
        0 => len,
        n => n.min(len),
    };
    let names = Names::new(&args.names, reader.slot_names(), shown);
    let mut out = Output::new(args, &reader, &names, shown, len);
    let mut values = vec![0usize; CHUNK.min(shown.max(1))];
    let mut start = 0;
    // The first chunk is read before anything is written, so that a bad
    // region prints nothing on stdout.
    loop {
        let n = values.len().min(shown - start);
        let got = reader
            .read(start, &mut values[..n])
            .map_err(|e| failure(&args.target, e))?;
        out.rows(start, &values[..got])?;
        start += got;
        if start >= shown || got == 0 {
            break;
        }
    }
    out.finish()
}

/// Writes one format a chunk at a time.
struct Output<'a> {
    args: &'a CountersArgs,
    names: &'a Names<'a>,
    width: usize,
    header: Option<String>,
    stdout: std::io::StdoutLock<'static>,
}

impl<'a> Output<'a> {
    fn new(
        args: &'a CountersArgs,
        reader: &RegionReader,
        names: &'a Names<'a>,
        shown: usize,
        len: usize,
    ) -> Output<'a> {
        let target = escaped(args.target.as_bytes());
        let backing = reader.backing().name();
        let mut width = 4;
        let header = match args.format {
            Format::Table => {
                width = (0..shown)
                    .filter_map(|i| names.get(i))
                    .map(|n| EscapedName(n).to_string().chars().count())
                    .fold(4, usize::max)
                    .min(MAX_NAME_WIDTH);
                let more = if shown < len {
                    format!(" (the first {shown} shown: --limit 0 shows all)")
                } else {
                    String::new()
                };
                let mut s = format!(
                    "# {backing} {target}, {len} counters{more}, stride {} bytes\n{:>5}  ",
                    reader.stride(),
                    "INDEX",
                );
                pad(&mut s, "NAME", width);
                let _ = writeln!(s, "  {:>20}", "VALUE");
                s
            }
            Format::Json => {
                // The one JSON style of the command (crate::json): compact;
                // the array is streamed, so the object is opened by hand.
                format!(
                    "{{\"target\":{},\"backing\":\"{backing}\",\"stride\":{},\"len\":{len},\"counters\":[",
                    JsonString(&args.target),
                    reader.stride()
                )
            }
            Format::Prometheus => String::new(),
        };
        Output {
            args,
            names,
            width,
            header: Some(header),
            stdout: std::io::stdout().lock(),
        }
    }

    fn rows(&mut self, start: usize, values: &[usize]) -> Outcome {
        let mut s = self.header.take().unwrap_or_default();
        match self.args.format {
            Format::Table => {
                for (k, v) in values.iter().enumerate() {
                    let i = start + k;
                    let name = self.names.get(i).map_or_else(|| "-".into(), escaped);
                    let _ = write!(s, "{i:>5}  ");
                    pad(&mut s, &name, self.width);
                    let _ = writeln!(s, "  {v:>20}");
                }
            }
            Format::Json => {
                for (k, v) in values.iter().enumerate() {
                    let i = start + k;
                    if i > 0 {
                        s.push(',');
                    }
                    let name = or_null(self.names.get(i).map(json_name));
                    crate::json::Object::new(&mut s)
                        .num("index", i)
                        .raw("name", &name)
                        .num("value", v)
                        .end();
                }
            }
            Format::Prometheus => {
                let target = escaped(self.args.target.as_bytes());
                let indexes: Vec<String> = (start..start + values.len())
                    .map(|i| i.to_string())
                    .collect();
                let names: Vec<String> = (start..start + values.len())
                    .map(|i| self.names.get(i).map(escaped).unwrap_or_default())
                    .collect();
                let labels: Vec<[(&str, &str); 3]> = (0..values.len())
                    .map(|k| {
                        [
                            ("target", target.as_str()),
                            ("index", indexes[k].as_str()),
                            ("name", names[k].as_str()),
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
                let mut text = String::new();
                render_prometheus(&snap, &mut text)
                    .map_err(|_| Failure::System("cannot render Prometheus text".into()))?;
                if start == 0 {
                    s.push_str(&text);
                } else {
                    // One family: its HELP and TYPE lines only once.
                    for line in text.lines().filter(|l| !l.starts_with('#')) {
                        s.push_str(line);
                        s.push('\n');
                    }
                }
            }
        }
        self.write(&s)
    }

    fn finish(mut self) -> Outcome {
        let mut s = self.header.take().unwrap_or_default();
        if self.args.format == Format::Json {
            s.push_str("]}\n");
        }
        self.write(&s)?;
        finish(self.stdout.flush())
    }

    fn write(&mut self, s: &str) -> Outcome {
        finish(self.stdout.write_all(s.as_bytes()))
    }
}

fn finish(r: std::io::Result<()>) -> Outcome {
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::Exit(0)),
        Err(e) => Err(Failure::System(format!("cannot write to stdout: {e}"))),
    }
}
