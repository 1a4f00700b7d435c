//! `raindrops serve`: the Watcher pages, `/metrics` and `/_raindrops` over
//! a real HTTP server (hyper 1 on a current-thread tokio runtime), fit to
//! run on every host of a fleet.
//!
//! A sampler thread queries the kernel every `--delay` seconds and feeds a
//! [`WatcherState`]; requests are answered by raindrops-http's
//! [`Router`](raindrops_http::Router) from that state and never wait on the
//! kernel (unless `--sample-on-scrape`). The server keeps itself
//! answerable whatever its clients do (see [`conns`]): timeouts for
//! headers, idle connections and unread responses, a cap on connections
//! that replaces the longest-waiting one, a cap and a lifetime for tail
//! streams. TLS, basic auth and headers come from an exporter-toolkit web
//! configuration file. The whole contract is in docs/serve.md.

mod auth;
mod basic;
mod conns;
mod http;
mod port_range;
mod sampler;
mod select;
mod self_metrics;
mod tail;
mod tls;
mod web_config;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use clap::Args;
use raindrops_http::{Timestamp, WatcherState};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::fail::{Failure, Outcome};
use crate::namespaces::{NsArgs, Sampling};
use crate::out;
use crate::sample::SelectionArgs;

/// The bucket bounds of `--histograms` without `--histogram-buckets`.
const DEFAULT_BUCKETS: &str = "0,1,2,5,10,20,50,100,200,500,1000,2000,5000";

/// Arguments of `serve`.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// The address to serve HTTP on. The default port, 19187, is outside
    /// 9100-9999 (Prometheus' default port allocations, all taken) and
    /// below Linux's ephemeral ports.
    #[arg(short, long, value_name = "ADDR", default_value = "127.0.0.1:19187")]
    pub(crate) listen: String,
    /// Seconds between samples of the listeners, 0.1 at least.
    #[arg(
        short,
        long,
        value_name = "SECS",
        default_value_t = 1.0,
        help_heading = "Sampling"
    )]
    pub(crate) delay: f64,
    /// Sample the kernel for each /metrics or /_raindrops scrape (scrapes
    /// within 0.1 s share one) instead of answering from the last
    /// periodic sample.
    #[arg(long, help_heading = "Sampling")]
    pub(crate) sample_on_scrape: bool,
    /// The most listeners exported; past it, abstract Unix names go first,
    /// then Unix paths, then TCP listeners (raindrops_listeners_left_out
    /// counts them).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1000,
        help_heading = "Series"
    )]
    pub(crate) max_listeners: usize,
    /// Export the Watcher histograms raindrops_watcher_active and
    /// raindrops_watcher_queued, with the buckets of --histogram-buckets.
    #[arg(long, help_heading = "Series")]
    pub(crate) histograms: bool,
    /// Upper bounds of the Watcher histogram buckets, the same for every
    /// listener (implies --histograms).
    #[arg(
        long,
        value_name = "LIST",
        help_heading = "Series",
        long_help = "Upper bounds of the Watcher histogram buckets, comma-separated and \
                     increasing, the same for every listener and every scrape (implies \
                     --histograms) [default: 0,1,2,5,10,20,50,100,200,500,1000,2000,5000]"
    )]
    pub(crate) histogram_buckets: Option<String>,
    /// Seconds the Watcher history of a listener that went away is kept.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 3600.0,
        help_heading = "Series"
    )]
    pub(crate) forget_after: f64,
    /// The most histories of listeners that went away kept (the oldest go
    /// first): memory stays bounded however many come and go.
    #[arg(long, value_name = "N", default_value_t = 256, help_heading = "Series")]
    pub(crate) max_absent: usize,
    /// Allow POST /reset/ADDR (a Watcher page button) to forget a
    /// listener's history; without it, 403.
    #[arg(long, help_heading = "Security")]
    pub(crate) allow_reset: bool,
    /// A Prometheus exporter-toolkit web configuration file: TLS
    /// (tls_server_config), basic auth (basic_auth_users, bcrypt),
    /// headers (http_server_config) and rate_limit. SIGHUP re-reads it.
    #[arg(long, value_name = "FILE", help_heading = "Security")]
    pub(crate) web_config_file: Option<PathBuf>,
    /// Connections served at once; a newer one replaces the one waiting
    /// longest without a request in progress, and only when all are busy
    /// does it get 503.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 512,
        help_heading = "HTTP limits"
    )]
    pub(crate) max_connections: usize,
    /// Tail streams (/tail/ADDR.txt) at once; more get 503.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 32,
        help_heading = "HTTP limits"
    )]
    pub(crate) max_tail_streams: usize,
    /// Seconds a tail stream lasts before it ends (the client reconnects).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 3600.0,
        help_heading = "HTTP limits"
    )]
    pub(crate) tail_lifetime: f64,
    /// Seconds a client has to complete its TLS handshake and send its
    /// request headers.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10.0,
        help_heading = "HTTP limits"
    )]
    pub(crate) timeout: f64,
    /// Seconds a kept-alive connection may stay idle between requests.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 60.0,
        help_heading = "HTTP limits"
    )]
    pub(crate) idle_timeout: f64,
    /// Seconds a response may wait for a client that does not read it.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10.0,
        help_heading = "HTTP limits"
    )]
    pub(crate) write_timeout: f64,
    /// Which listeners become series when none are named (include,
    /// exclude, ephemeral ports).
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
    /// Other network namespaces and owning processes.
    #[command(flatten)]
    pub(crate) ns: NsArgs,
    /// TCP addresses, selectors and Unix socket paths to watch; none means
    /// every listener but those on ephemeral ports.
    #[arg(value_name = "ADDR|PATH")]
    pub(crate) names: Vec<String>,
}

/// `v` seconds, within `min..=86400`.
fn seconds(what: &str, v: f64, min: f64) -> Result<Duration, Failure> {
    if v.is_finite() && v >= min && v > 0.0 && v <= 86_400.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(Failure::Usage(format!(
            "bad {what} {v}: expected seconds from {min} to 86400"
        )))
    }
}

fn count(what: &str, v: usize, max: usize) -> Result<usize, Failure> {
    if (1..=max).contains(&v) {
        Ok(v)
    } else {
        Err(Failure::Usage(format!(
            "bad {what} {v}: expected 1 to {max}"
        )))
    }
}

/// The bounds of `--histogram-buckets` (or the default with
/// `--histograms`), or `None` when histograms are off.
fn buckets(args: &ServeArgs) -> Result<Option<Vec<u64>>, Failure> {
    let text = match (&args.histogram_buckets, args.histograms) {
        (Some(t), _) => t.as_str(),
        (None, true) => DEFAULT_BUCKETS,
        (None, false) => return Ok(None),
    };
    let bad = |why: String| Failure::Usage(format!("bad --histogram-buckets: {why}"));
    let bounds = text
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| bad(format!("{} is not a whole number", crate::sample::shown(s))))
        })
        .collect::<Result<Vec<u64>, Failure>>()?;
    // Validated like WatcherState does it, with the same words.
    WatcherState::new(Timestamp::new(0, 0), Duration::from_secs(1))
        .set_histogram_buckets(Some(&bounds))
        .map_err(|e| bad(e.to_string()))?;
    Ok(Some(bounds))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Raises the soft limit on open files towards the hard one, as far as
/// `want` needs; warns when even the hard limit is short.
fn raise_nofile(want: u64) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    let (Some(cur), hard) = (lim.current, lim.maximum) else {
        return; // unlimited
    };
    if cur >= want {
        return;
    }
    let target = hard.map_or(want, |h| h.min(want));
    lim.current = Some(target);
    if setrlimit(Resource::Nofile, lim).is_err() || target < want {
        out::stderr(&format!(
            "raindrops: warning: at most {target} open files (RLIMIT_NOFILE), \
             --max-connections wants about {want}\n"
        ));
    }
}

/// Runs `serve`.
pub(crate) fn run(args: &ServeArgs) -> Outcome {
    let listen: SocketAddr = args
        .listen
        .parse()
        .map_err(|_| Failure::Usage(format!("bad --listen address {:?}", args.listen)))?;
    let delay = seconds("--delay", args.delay, sampler::MIN_DELAY.as_secs_f64())?;
    let limits = conns::Limits {
        max_connections: count("--max-connections", args.max_connections, 100_000)?,
        max_tail_streams: count("--max-tail-streams", args.max_tail_streams, 10_000)?,
        tail_lifetime: seconds("--tail-lifetime", args.tail_lifetime, 0.001)?,
        header_timeout: seconds("--timeout", args.timeout, 0.001)?,
        idle_timeout: seconds("--idle-timeout", args.idle_timeout, 0.001)?,
        write_timeout: seconds("--write-timeout", args.write_timeout, 0.001)?,
    };
    // Tail streams hold connections: never more of them than connections.
    let limits = conns::Limits {
        max_tail_streams: limits.max_tail_streams.min(limits.max_connections),
        ..limits
    };
    let max_listeners = count("--max-listeners", args.max_listeners, 1_000_000)?;
    let forget_after = seconds("--forget-after", args.forget_after, 0.001)?;
    let bounds = buckets(args)?;
    let web = match &args.web_config_file {
        None => http::Web::plain(),
        Some(path) => {
            let config = web_config::load(path)
                .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
            http::Web::from_config(config)
                .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?
        }
    };

    let sampler = Sampling::new(&args.names, &args.ns, &args.selection)?;
    // The sampler leaves out ephemeral ports and applies --include and
    // --exclude; the series cap comes after it.
    let selection = select::Selection {
        drop_ephemeral: false,
        max: max_listeners,
    };
    let mut watcher = WatcherState::new(Timestamp::now(), delay);
    watcher.set_retention(args.max_absent, forget_after);
    watcher
        .set_histogram_buckets(bounds.as_deref())
        .map_err(|e| Failure::Usage(format!("bad --histogram-buckets: {e}")))?;
    let hub = sampler::start(sampler, selection, watcher, delay)?;

    raise_nofile(limits.max_connections as u64 + 256);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::System(format!("cannot start the runtime: {e}")))?;
    let listener = runtime
        .block_on(TcpListener::bind(listen))
        .map_err(|e| Failure::System(format!("cannot listen on {listen}: {e}")))?;
    let local = listener.local_addr().unwrap_or(listen);
    let scheme = if web.is_tls() { "https" } else { "http" };
    out::stderr(&format!(
        "raindrops: serving {scheme}://{local}/ (Watcher), /metrics, /_raindrops; sampling every {}s\n",
        delay.as_secs_f64()
    ));
    let registry = conns::Registry::new(limits);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let ctx = Arc::new(http::Ctx {
        hub,
        http: http::http_builder(&registry),
        registry,
        shutdown: shutdown_rx,
        web: RwLock::new(Arc::new(web)),
        hostname: hostname(),
        allow_reset: args.allow_reset,
        sample_on_scrape: args.sample_on_scrape,
        delay,
        tails: Arc::new(Semaphore::new(limits.max_tail_streams)),
        refused: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
    });
    runtime.block_on(http::serve(
        listener,
        ctx,
        shutdown_tx,
        args.web_config_file.clone(),
    ))
}
