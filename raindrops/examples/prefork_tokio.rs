//! A preforking axum server on tokio: the master forks its workers before
//! any runtime or thread starts, each worker then runs a tokio runtime of
//! its own; the gauges and the LastDataRecv aggregate live in shared
//! memory, so every process counts into, and reads, the same numbers.
//!
//! ```text
//! cargo run -p raindrops --example prefork_tokio --features axum,shm -- \
//!     --workers 4 --listen 127.0.0.1:8080 --stats 127.0.0.1:9187 [--reuseport]
//! curl http://127.0.0.1:8080/_raindrops     # from any worker: all workers' gauges
//! curl http://127.0.0.1:9187/               # the master's Watcher pages
//! ```
//!
//! - One listener bound by the master and inherited by every worker, or
//!   with `--reuseport` one `SO_REUSEPORT` socket per worker on the same
//!   address (the kernel spreads connections; raindrops sums the group's
//!   queues). `TCP_DEFER_ACCEPT` is set on each.
//! - `calling`/`writing`: one `MiddlewareStats` in anonymous shared memory
//!   (`raindrops_shm::SharedCounters`), counted by each worker's layer.
//! - Each worker's `axum::serve` accepts through a `LastDataRecvListener`
//!   that pushes into one `SharedAggregate`.
//! - The master, once its workers run, serves the embedded Watcher (its
//!   sampler on a thread) over the listeners it holds, with the shared
//!   gauges and aggregate, on `--stats`.
//! - A worker that dies is replaced; SIGTERM or SIGINT stop the workers
//!   (each finishes its requests in flight, 10 s at most) and the master.
//!
//! The application: `/` says hello, `/sleep?ms=N` takes N ms (at most
//! 10 s), `/pid` names the worker.

use std::future::IntoFuture;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::RawQuery;
use axum::routing::get;
use raindrops::shm::{SharedAggregate, SharedCounters};
use raindrops::{KernelSource, LastDataRecvListener, MiddlewareStats, Watcher, WatcherOptions};

type Stats = MiddlewareStats<SharedCounters<2>>;

/// What every process shares: created by the master before it forks.
struct Shared {
    stats: Arc<Stats>,
    waited_ms: Arc<SharedAggregate>,
}

struct Config {
    listen: SocketAddr,
    stats: SocketAddr,
    workers: usize,
    reuseport: bool,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "prefork_tokio: {msg}\nusage: prefork_tokio [--workers N] [--listen ADDR] [--stats ADDR] [--reuseport]"
    );
    std::process::exit(2)
}

fn config() -> Config {
    let mut c = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        stats: SocketAddr::from(([127, 0, 0, 1], 9187)),
        workers: 2,
        reuseport: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match a.as_str() {
            "--workers" => {
                c.workers = value("--workers")
                    .parse()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .unwrap_or_else(|| usage("--workers: 1 to 64"))
            }
            "--listen" => {
                c.listen = value("--listen")
                    .parse()
                    .unwrap_or_else(|_| usage("--listen: an address"))
            }
            "--stats" => {
                c.stats = value("--stats")
                    .parse()
                    .unwrap_or_else(|_| usage("--stats: an address"))
            }
            "--reuseport" => c.reuseport = true,
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    c
}

/// A socket bound to `addr`, with `SO_REUSEPORT` if asked; listening, with
/// `TCP_DEFER_ACCEPT` (so that `last_data_recv` at accept is the time in
/// the queue), if `listening`.
fn listen(addr: SocketAddr, reuseport: bool, listening: bool) -> std::io::Result<TcpListener> {
    use rustix::net::{AddressFamily, SocketType, bind, listen, socket, sockopt};
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd: OwnedFd = socket(family, SocketType::STREAM, None)?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    sockopt::set_socket_reuseport(&fd, reuseport)?;
    bind(&fd, &addr)?;
    if listening {
        listen(&fd, 1024)?;
        raindrops::tcpinfo::set_tcp_defer_accept(&fd, 60).map_err(std::io::Error::other)?;
    }
    let l = TcpListener::from(fd);
    l.set_nonblocking(true)?;
    Ok(l)
}

async fn hello() -> &'static str {
    "hello from a worker\n"
}

async fn pid() -> String {
    format!("{}\n", std::process::id())
}

async fn sleep(RawQuery(q): RawQuery) -> String {
    let ms = q
        .as_deref()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("ms=")))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(100)
        .min(10_000);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("slept {ms} ms\n")
}

/// A worker: its own runtime, started after the fork, serving until
/// SIGTERM.
fn worker(listener: TcpListener, shared: &Shared) -> Result<(), Box<dyn std::error::Error>> {
    // SIGTERM stays blocked (as the master left it) and is taken by a
    // thread of its own: a replacement worker is forked from a master
    // whose runtime set up tokio's signal pipe, which the child must not
    // share, so tokio's signal handling is not used here.
    let (tell, term) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("sigterm".into())
        .spawn(move || {
            let set = signal_set(&[libc::SIGTERM]);
            let mut sig = 0;
            // SAFETY: `set` is a valid set, blocked in every thread of the
            // worker; `sig` receives the number.
            unsafe { libc::sigwait(&set, &mut sig) };
            let _ = tell.send(());
        })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let listener = LastDataRecvListener::new(listener, Arc::clone(&shared.waited_ms));
        let app = Router::new()
            .route("/", get(hello))
            .route("/pid", get(pid))
            .route("/sleep", get(sleep))
            .layer(raindrops::layer_with(
                Arc::clone(&shared.stats),
                KernelSource::own()?,
            ));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        let _ = term.await;
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        Ok(())
    })
}

/// Forks a worker; in the child, runs it and exits.
fn spawn_worker(shared: &Shared, listener: Option<&TcpListener>, addr: SocketAddr) -> libc::pid_t {
    // SAFETY: the master is single-threaded when it forks its first
    // workers; replacements are forked while the Watcher's threads run,
    // and the child then only allocates (glibc's malloc is reset in the
    // child by its fork handlers), makes sockets and starts a runtime of
    // its own, never touching the parent's threads' state.
    let pid = unsafe { libc::fork() };
    if pid != 0 {
        return pid;
    }
    // SIGTERM and SIGINT stay blocked (a Ctrl-C reaches the whole process
    // group: the master stops the workers); SIGCHLD is the master's.
    let keep = signal_set(&[libc::SIGTERM, libc::SIGINT]);
    // SAFETY: setting this thread's mask (the only thread of the child)
    // from a valid set.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &keep, std::ptr::null_mut()) };
    let l = match listener {
        Some(l) => l.try_clone(),
        None => listen(addr, true, true),
    };
    let code = match l.map_err(Into::into).and_then(|l| worker(l, shared)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("worker {}: {e}", std::process::id());
            1
        }
    };
    // SAFETY: ends the child without running the master's destructors
    // (which would unlink shared state the master owns).
    unsafe { libc::_exit(code) }
}

/// A signal set of `signals`.
fn signal_set(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is a valid value to initialise.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: sigemptyset only writes to the set we own.
    unsafe { libc::sigemptyset(&mut set) };
    for &s in signals {
        // SAFETY: sigaddset only writes to the set we own.
        unsafe { libc::sigaddset(&mut set, s) };
    }
    set
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cfg = config();
    let shared = Shared {
        stats: Arc::new(MiddlewareStats::from_storage(SharedCounters::named(
            &MiddlewareStats::MEMBERS,
        )?)),
        waited_ms: Arc::new(SharedAggregate::anonymous()?),
    };
    // Block the master's signals before any thread exists: they are
    // taken with sigwait below, and the workers unblock them.
    let signals = signal_set(&[libc::SIGTERM, libc::SIGINT, libc::SIGCHLD]);
    // SAFETY: setting this thread's mask from a valid set.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &signals, std::ptr::null_mut()) };

    // One listener for all; or with SO_REUSEPORT a socket the master only
    // binds (keeping the port for replacements, taking no connection), and
    // one listener per worker on the same address.
    let held = listen(cfg.listen, cfg.reuseport, !cfg.reuseport)?;
    let addr = held.local_addr()?;
    let inherited = (!cfg.reuseport).then_some(&held);
    let mut workers: Vec<libc::pid_t> = (0..cfg.workers)
        .map(|_| spawn_worker(&shared, inherited, addr))
        .collect();

    // Now threads may start: the master's Watcher over every listener on
    // the address (the workers' too, with SO_REUSEPORT), with the shared
    // gauges and aggregate.
    let source = KernelSource::new([addr.to_string()])?
        .with_counts(Arc::clone(&shared.stats))
        .with_last_data_recv(Arc::clone(&shared.waited_ms));
    let watcher = Watcher::spawn(source, WatcherOptions::new())?;
    let stats_listener = std::net::TcpListener::bind(cfg.stats)?;
    stats_listener.set_nonblocking(true)?;
    let stats_addr = stats_listener.local_addr()?;
    std::thread::Builder::new()
        .name("stats".into())
        .spawn(move || serve_watcher(stats_listener, watcher))?;
    println!(
        "listening on {addr}, {} workers ({}), Watcher on http://{stats_addr}/",
        cfg.workers,
        if cfg.reuseport {
            "SO_REUSEPORT"
        } else {
            "one listener"
        }
    );
    for w in &workers {
        println!("worker {w}");
    }

    loop {
        let mut sig = 0;
        // SAFETY: `signals` is a valid set, blocked in every thread of the
        // master (threads inherit the mask); `sig` receives the number.
        unsafe { libc::sigwait(&signals, &mut sig) };
        if sig == libc::SIGCHLD {
            for slot in &mut workers {
                let mut status = 0;
                // SAFETY: polling our own child, without blocking.
                if unsafe { libc::waitpid(*slot, &mut status, libc::WNOHANG) } == *slot {
                    let old = *slot;
                    *slot = spawn_worker(&shared, inherited, addr);
                    println!("worker {old} exited; worker {}", *slot);
                }
            }
            continue;
        }
        break;
    }
    for &w in &workers {
        // SAFETY: signalling our own children.
        unsafe { libc::kill(w, libc::SIGTERM) };
    }
    for &w in &workers {
        let mut status = 0;
        // SAFETY: reaping our own children.
        unsafe { libc::waitpid(w, &mut status, 0) };
    }
    Ok(())
}

/// The master's Watcher pages over HTTP/1.1 (hyper through axum's
/// server, on a runtime of its own).
fn serve_watcher(listener: std::net::TcpListener, watcher: Watcher) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
            return;
        };
        let app = Router::new().fallback_service(watcher.service());
        let _ = axum::serve(listener, app).await;
    });
}
