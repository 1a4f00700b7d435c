//! `raindrops`: real-time listener statistics for operators.
//!
//! Shows, per listening socket, how many connections are being served
//! (active) and how many wait in the kernel's accept queue (queued), from
//! netlink sock_diag; watches them over time like the Ruby gem's
//! `linux-listener-stats.rb`; serves them over HTTP for people and
//! Prometheus; lists a listener's connections with TCP_INFO; and reads
//! counters that applications keep in shared memory.

use clap::{Parser, Subcommand};

mod assets;
mod cell;
mod check;
mod connections;
mod counters;
mod fail;
mod json;
mod listeners;
mod namespaces;
mod ns_select;
mod out;
mod rubyfmt;
mod sample;
mod serve;
mod table;
mod watch;

use fail::Failure;

const EXAMPLES: &str = "\
Examples:
  raindrops                               every TCP and Unix listener of this machine
  raindrops :8080 localhost:9000          every listener on port 8080; 127.0.0.1/::1 port 9000
  raindrops listeners 0.0.0.0:80 /run/app.sock
  raindrops --include :8000-8100 --exclude '/run/user/*'
  raindrops listeners --format json --no-active
  raindrops listeners --all-namespaces -p every container's listeners with their processes
  raindrops watch -d 1 -t 5 0.0.0.0:80    a line per second while 5+ connections wait
  raindrops watch -d 0 -n 2000 0.0.0.0:80 2000 samples back to back
  raindrops serve --listen 0.0.0.0:19187 Watcher pages, /metrics, /_raindrops
  raindrops connections 0.0.0.0:80       connections of a listener with rtt, cwnd, ...
  raindrops counters shm:myapp           counters an application keeps in shared memory
  raindrops check                        exit 3 if a listener's queue overflowed or is full

Without names, TCP listeners on ephemeral ports (ip_local_port_range) are left out:
--all-ports shows them, --include :PORT shows some.

Exit status: 0 success, 1 system failure, 2 bad usage or input, 3 check found a
problem, 130 interrupted (SIGINT). A closed output pipe ends the command quietly.";

/// Real-time statistics of the listening sockets of this machine.
///
/// For each TCP or Unix listener: `active` connections (accepted and still
/// open), `queued` ones (waiting in the accept queue), the queue's limit
/// (`backlog`) and the connections the kernel dropped (`drops`), straight
/// from the kernel over netlink sock_diag. Without a command, lists every
/// listener.
#[derive(Parser, Debug)]
#[command(
    name = "raindrops",
    version,
    after_help = EXAMPLES,
    max_term_width = 100,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a command: the arguments of `listeners`.
    #[command(flatten)]
    listeners: listeners::ListenersArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List listeners with active, queued, backlog and drops (the default).
    #[command(after_help = "Without ADDR|PATH, every TCP and Unix listener is listed.")]
    Listeners(listeners::ListenersArgs),
    /// Print a line per listener per sample, like Ruby's linux-listener-stats.rb.
    ///
    /// Lines are `format("%20s % Ns % 10u % 10u\n", time, addr, active,
    /// queued)` with N the longest address (7 to 35); the header goes to
    /// stderr. With -d, SIGUSR1 dumps the aggregates (count, min, max,
    /// outliers, mean, std_dev and a histogram) to stderr and SIGUSR2 resets
    /// them. SIGINT exits 130.
    Watch(watch::WatchArgs),
    /// Serve /metrics, /_raindrops and the Watcher pages over HTTP: a
    /// Prometheus exporter.
    ///
    /// Paths: /metrics (Prometheus or OpenMetrics, with the exporter's own
    /// metrics), /_raindrops (Ruby middleware text, or Prometheus/
    /// OpenMetrics/JSON by Accept), / (HTML index),
    /// /active/ADDR.txt|.html, /queued/ADDR.txt|.html,
    /// /tail/ADDR.txt?active_min=N&queued_min=N, POST /reset/ADDR (with
    /// --allow-reset). TLS and basic auth come from an exporter-toolkit web
    /// configuration file. SIGTERM and SIGINT shut it down cleanly, SIGHUP
    /// re-reads the web configuration.
    Serve(serve::ServeArgs),
    /// List the connections of a TCP listener with their TCP_INFO.
    Connections(connections::ConnectionsArgs),
    /// Show the counters of a shared memory region or file.
    Counters(counters::CountersArgs),
    /// Exit 3 if a listener's accept queue overflowed or is full.
    ///
    /// Takes two samples --interval seconds apart and reports each listener
    /// whose accept queue overflowed in between ("overflowed N times"), or
    /// was full in either sample ("full: 17/16": Linux lets the queue hold
    /// backlog + 1), or with --max-saturation reached queued/backlog RATIO.
    /// Prints nothing and exits 0 when all is well: fit for cron and health
    /// checks.
    ///
    /// Overflows are the listener's drops split with the namespace's TcpExt
    /// counters (ListenOverflows, TCPDeferAcceptDrop): a healthy
    /// TCP_DEFER_ACCEPT listener, whose drops grow with every connection, does
    /// not fire. The split is exact unless several listeners dropped while
    /// both overflows and deferred ACKs happened; such lines say "estimated".
    /// Safe to alert on: overflows and full queues, not raw drops.
    Check(check::CheckArgs),
    /// Write the man pages and shell completions (for packaging).
    #[command(hide = true)]
    GenerateAssets(assets::AssetsArgs),
}

/// Parses the command line; usage errors become one line on stderr and
/// exit status 2 (help and version go to stdout with status 0).
fn parse() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
                || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            {
                e.exit();
            }
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("bad usage");
            let msg = first.strip_prefix("error: ").unwrap_or(first);
            out::stderr(&format!("raindrops: {msg} (see raindrops --help)\n"));
            std::process::exit(2);
        }
    }
}

fn main() {
    let cli = parse();
    let result = match &cli.command {
        None => listeners::run(&cli.listeners),
        Some(Command::Listeners(a)) => listeners::run(a),
        Some(Command::Watch(a)) => watch::run(a),
        Some(Command::Serve(a)) => serve::run(a),
        Some(Command::Connections(a)) => connections::run(a),
        Some(Command::Counters(a)) => counters::run(a),
        Some(Command::Check(a)) => check::run(a),
        Some(Command::GenerateAssets(a)) => assets::run(a),
    };
    if let Err(f) = result {
        if !matches!(f, Failure::Exit(_)) {
            out::stderr(&format!("raindrops: {f}\n"));
        }
        std::process::exit(f.code());
    }
}
