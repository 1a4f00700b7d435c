//! A preforking HTTP/1.0 server that uses every raindrops-rs crate: the
//! model for server authors, and the end-to-end test of the workspace.
//!
//! ```text
//! cargo run -p raindrops-cli --example prefork -- --workers 4 --listen 127.0.0.1:8080
//! curl http://127.0.0.1:8080/_raindrops        # Ruby's middleware text
//! curl http://127.0.0.1:8080/metrics           # Prometheus
//! curl http://127.0.0.1:8080/last_data_recv    # how long clients waited
//! raindrops counters shm:prefork-PID           # the gauges by name, from outside
//! ```
//!
//! - The master binds the listener, sets `TCP_DEFER_ACCEPT` on it
//!   (raindrops-tcpinfo's `LastDataRecv`), creates the gauges in named
//!   shared memory (raindrops-shm) and forks the workers.
//! - Each worker accepts on the shared listener. `calling` and `writing`
//!   are sharded (raindrops-core `Sharded`): each worker has its own slot
//!   of each, so workers never share a cache line; readers sum. A request
//!   is counted by raindrops-http's `RequestGauges` like Ruby's
//!   `Raindrops::Middleware`: `calling` while the application runs,
//!   `writing` until the body is sent.
//! - On each accept the worker records how long the client waited before
//!   sending data (`last_data_recv` from `TCP_INFO`) into one aggregate in
//!   shared memory that every worker feeds.
//! - `/_raindrops`, `/metrics` and `/last_data_recv` are answered by
//!   raindrops-http's router from those numbers and the listener's
//!   active/queued counts from raindrops-diag.
//! - When a worker dies, the master resets that worker's shards (a worker
//!   killed mid-request would otherwise leave `calling` up forever) and
//!   forks a replacement. SIGTERM or SIGINT stop the workers and remove the
//!   shared memory name.
//!
//! The application: `/` says hello, `/sleep?ms=N` takes N ms inside the
//! application, `/stream?ms=N` sends half its body, waits N ms, then the
//! rest.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use raindrops_core::{Listener, Sharded};
use raindrops_diag::Diag;
use raindrops_http::{Body, Metric, MetricKind, Request, RequestGauges, Router, Snapshot};
use raindrops_shm::{Options, Region, SharedAggregate};
use raindrops_tcpinfo::LastDataRecv;

/// What every worker shares with the master.
struct Shared {
    /// `3 * workers` padded slots: `calling` shards, `writing` shards, then
    /// `requests` shards (responses completed).
    gauges: Region,
    /// Milliseconds clients waited between connecting and sending data.
    waited_ms: SharedAggregate,
    workers: usize,
}

impl Shared {
    fn calling(&self) -> Sharded<'_> {
        let slots = self.gauges.slots().unwrap_or_default();
        Sharded::new(slots.get(..self.workers).unwrap_or_default())
    }

    fn writing(&self) -> Sharded<'_> {
        let slots = self.gauges.slots().unwrap_or_default();
        Sharded::new(
            slots
                .get(self.workers..2 * self.workers)
                .unwrap_or_default(),
        )
    }

    fn requests(&self) -> Sharded<'_> {
        let slots = self.gauges.slots().unwrap_or_default();
        Sharded::new(slots.get(2 * self.workers..).unwrap_or_default())
    }
}

struct Config {
    listen: String,
    workers: usize,
    name: String,
}

fn parse_args() -> Result<Config, String> {
    let mut c = Config {
        listen: "127.0.0.1:8080".into(),
        workers: 2,
        name: format!("prefork-{}", std::process::id()),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--listen" => c.listen = value()?,
            "--workers" => {
                c.workers = value()?
                    .parse()
                    .ok()
                    .filter(|n| (1..=256).contains(n))
                    .ok_or("--workers takes 1 to 256")?;
            }
            "--name" => c.name = value()?,
            _ => {
                return Err(format!(
                    "unknown argument {a:?}; usage: prefork [--listen ADDR] [--workers N] [--name SHM_NAME]"
                ));
            }
        }
    }
    Ok(c)
}

fn main() {
    let config = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("prefork: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&config) {
        eprintln!("prefork: {e}");
        std::process::exit(1);
    }
}

fn run(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind(&config.listen)?;
    LastDataRecv::prepare_listener(&listener)?;
    let addr = listener.local_addr()?;
    // Each slot's name goes into the region, so that `raindrops counters
    // shm:NAME` shows what each number is without being told.
    let slot_names: Vec<String> = ["calling", "writing", "requests"]
        .iter()
        .flat_map(|gauge| (0..config.workers).map(move |w| format!("{gauge}[{w}]")))
        .collect();
    let slot_names: Vec<&str> = slot_names.iter().map(String::as_str).collect();
    let shared = Shared {
        gauges: Options::new()
            .unlink_on_drop(true)
            .names(&slot_names)
            .create_named(&config.name, 3 * config.workers)?,
        waited_ms: SharedAggregate::anonymous()?,
        workers: config.workers,
    };
    // Both flags are set by signal handlers; nothing else runs in them.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    println!(
        "prefork: listening on {addr}, gauges in shm:{} (calling 0..{w}, writing {w}..{}, requests {}..{})",
        config.name,
        2 * config.workers,
        2 * config.workers,
        3 * config.workers,
        w = config.workers
    );
    let mut pids = vec![0; config.workers];
    for (w, pid) in pids.iter_mut().enumerate() {
        *pid = spawn_worker(w, &listener, addr, &shared)?;
    }
    while !stop.load(Ordering::Relaxed) {
        let mut status = 0;
        // SAFETY: waitpid with a valid pointer to a local int; WNOHANG so
        // the loop can notice the stop flag.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let Some(w) = pids.iter().position(|&p| p == pid) else {
            continue;
        };
        // The worker may have died inside a request: its shards would keep
        // counting that request forever.
        let calling = shared.calling().reset(w).unwrap_or(0);
        let writing = shared.writing().reset(w).unwrap_or(0);
        // (Its `requests` shard keeps counting: those responses were sent.)
        println!(
            "prefork: worker {w} (pid {pid}) exited; reset its gauges (calling {calling}, writing {writing})"
        );
        pids[w] = spawn_worker(w, &listener, addr, &shared)?;
    }
    for &pid in &pids {
        // SAFETY: sending SIGTERM to our own children.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    for &pid in &pids {
        let mut status = 0;
        // SAFETY: waitpid on our own child with a valid pointer.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    }
    println!("prefork: stopped");
    Ok(())
}

fn spawn_worker(
    w: usize,
    listener: &TcpListener,
    addr: SocketAddr,
    shared: &Shared,
) -> Result<libc::pid_t, std::io::Error> {
    let _ = std::io::stdout().flush();
    // SAFETY: the master is single-threaded (signal-hook's flag handlers
    // start no thread), so the child starts in a consistent state.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            worker(w, listener, addr, shared);
            // SAFETY: leave the child without running the master's exit
            // handlers or destructors (which would unlink the shm name).
            unsafe { libc::_exit(0) }
        }
        pid => {
            println!("prefork: worker {w} pid {pid}");
            let _ = std::io::stdout().flush();
            Ok(pid)
        }
    }
}

fn worker(w: usize, listener: &TcpListener, addr: SocketAddr, shared: &Shared) {
    // Back to the default action: the master stops workers with SIGTERM.
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: restoring the default disposition of a signal.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    let Ok(gauges) = RequestGauges::sharded(shared.calling(), shared.writing(), w) else {
        return;
    };
    let Ok(served) = shared.requests().shard(w) else {
        return;
    };
    let recorder = LastDataRecv::new(&shared.waited_ms);
    let Ok(mut diag) = Diag::new() else {
        return;
    };
    let name = addr.to_string();
    loop {
        let Ok((stream, _)) = listener.accept() else {
            continue;
        };
        let _ = recorder.record(&stream);
        if let Ok(true) = serve(stream, &gauges, shared, &mut diag, &name) {
            served.incr(1);
        }
    }
}

/// Answers one request; `Ok(true)` when the application answered it in
/// full (the stats paths are not counted).
/// The most bytes of a request line and its headers: past it, 431 (a
/// request line with no end must not grow a worker without bound).
const MAX_HEAD: usize = 16 * 1024;

/// How long a client has to send its whole request line and headers: a
/// deadline for all of them, not a timeout per read, so that a client
/// sending a byte every few seconds cannot hold a worker.
const HEAD_DEADLINE: Duration = Duration::from_secs(5);

/// What reading a request's head gave.
enum Head {
    /// The request line and the `Accept` header, if any.
    Complete {
        request_line: String,
        accept: Option<String>,
    },
    /// More than [`MAX_HEAD`] bytes without the blank line.
    TooLarge,
    /// Not complete within [`HEAD_DEADLINE`].
    TooSlow,
    /// The client closed before sending a request.
    Closed,
}

/// Reads a request line and headers within [`MAX_HEAD`] bytes and
/// [`HEAD_DEADLINE`]. (A request body, which this server's requests do
/// not have, is not read.)
fn read_head(stream: &TcpStream) -> std::io::Result<Head> {
    use std::io::{ErrorKind, Read};
    let deadline = std::time::Instant::now() + HEAD_DEADLINE;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let end = loop {
        if let Some(i) = buf.windows(2).position(|w| w == b"\n\n") {
            break i + 2;
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return Ok(Head::TooLarge);
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(Head::TooSlow);
        }
        stream.set_read_timeout(Some(left))?;
        match (&*stream).read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Ok(Head::Closed),
            Ok(0) => return Ok(Head::TooSlow),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(Head::TooSlow);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or("").to_string();
    let accept = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("accept"))
        .map(|(_, v)| v.trim().to_string());
    // The response is written with a deadline too: a client that does not
    // read cannot hold the worker.
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    Ok(Head::Complete {
        request_line,
        accept,
    })
}

fn serve(
    stream: TcpStream,
    gauges: &RequestGauges<'_>,
    shared: &Shared,
    diag: &mut Diag,
    listener: &str,
) -> std::io::Result<bool> {
    let (request_line, accept) = match read_head(&stream)? {
        Head::Complete {
            request_line,
            accept,
        } => (request_line, accept),
        Head::TooLarge => {
            let _ = (&stream).write_all(
                b"HTTP/1.0 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n",
            );
            return Ok(false);
        }
        Head::TooSlow => {
            let _ =
                (&stream).write_all(b"HTTP/1.0 408 Request Timeout\r\nContent-Length: 0\r\n\r\n");
            return Ok(false);
        }
        Head::Closed => return Ok(false),
    };
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let mut out = &stream;
    let router = Router::new();
    let path = target.split('?').next().unwrap_or("");
    if router.is_stats_path(path) || path == "/last_data_recv" {
        // Like Ruby's middleware, the stats path is answered before the
        // request is counted.
        let tcp: Vec<Listener<String>> = diag
            .tcp_listener_stats(&[listener])
            .map(|s| s.into_vec())
            .unwrap_or_default();
        let waited = shared.waited_ms.snapshot();
        let metrics = [Metric::new(
            "prefork_requests",
            "Responses the application completed.",
            MetricKind::Counter,
            shared.requests().sum() as u64,
        )];
        let mut source = Snapshot {
            calling: Some(shared.calling().sum()),
            writing: Some(shared.writing().sum()),
            listeners: &tcp,
            metrics: &metrics,
            last_data_recv: Some(&waited),
            ..Snapshot::new()
        };
        let mut body = String::new();
        let req = Request::new(method, target).with_accept(accept.as_deref());
        let Ok(res) = router.handle(&req, &mut source, &mut body) else {
            return Ok(false);
        };
        let mut head = format!("HTTP/1.0 {} {}\r\n", res.status, res.reason());
        for h in res.headers.iter() {
            head.push_str(&format!("{}: {}\r\n", h.name, h.value.as_str()));
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes())?;
        if matches!(res.body, Body::Written { .. }) {
            out.write_all(body.as_bytes())?;
        }
        return Ok(false);
    }
    // The application, counted like Ruby's Raindrops::Middleware.
    let calling = gauges.enter();
    let ms = |t: &str| -> u64 {
        t.split_once("ms=")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
            .min(60_000)
    };
    let (status, body, stream_pause) = match path {
        "/" => ("200 OK", "hello\n".to_string(), 0),
        "/sleep" => {
            std::thread::sleep(Duration::from_millis(ms(target)));
            ("200 OK", "slept\n".to_string(), 0)
        }
        "/stream" => (
            "200 OK",
            "first half\nsecond half\n".to_string(),
            ms(target),
        ),
        _ => ("404 Not Found", "not found\n".to_string(), 0),
    };
    let writing = calling.returned();
    out.write_all(
        format!(
            "HTTP/1.0 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )?;
    let (first, second) = body.split_at(body.len() / 2);
    out.write_all(first.as_bytes())?;
    out.flush()?;
    std::thread::sleep(Duration::from_millis(stream_pause));
    out.write_all(second.as_bytes())?;
    drop(writing);
    Ok(true)
}
