//! `raindrops serve`: the Watcher pages, `/metrics` and `/_raindrops` over a
//! real HTTP server (hyper 1 on a current-thread tokio runtime).
//!
//! A sampler thread queries the kernel every `--delay` seconds and feeds a
//! [`WatcherState`]; requests are answered by raindrops-http's [`Router`]
//! from that state. Connections are bounded (`--max-connections`; beyond
//! it, new connections wait in the kernel's accept queue), slow clients time
//! out (`--timeout` to send request headers), and SIGTERM or SIGINT stop
//! accepting and finish the requests in flight.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper::{Request as HttpRequest, Response as HttpResponse};
use hyper_util::rt::{TokioIo, TokioTimer};
use raindrops_core::Aggregate;
use raindrops_http::{
    Body, Histogram, ListenerVisitor, Metric, Request, Router, SourceError, StatsSource, Tail,
    Timestamp, Watcher, WatcherState,
};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, broadcast, mpsc};

use crate::fail::{Failure, Outcome};
use crate::namespaces::{NsArgs, Sampling, Shown};
use crate::out;

/// Arguments of `serve`.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// The address to serve HTTP on.
    #[arg(short, long, value_name = "ADDR", default_value = "127.0.0.1:9187")]
    pub(crate) listen: String,
    /// Seconds between samples of the listeners.
    #[arg(short, long, value_name = "SECS", default_value_t = 1.0)]
    pub(crate) delay: f64,
    /// Connections served at once; more wait in the accept queue.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub(crate) max_connections: usize,
    /// Seconds a client has to send its request headers.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub(crate) timeout: f64,
    /// Other network namespaces and owning processes.
    #[command(flatten)]
    pub(crate) ns: NsArgs,
    /// TCP addresses and Unix socket paths to watch; none means every listener.
    #[arg(value_name = "ADDR|PATH")]
    pub(crate) names: Vec<String>,
}

/// What the sampler thread and the request handlers share.
struct Shared {
    watcher: WatcherState,
    /// The namespace's TcpExt counters of the last sample.
    netstat: Vec<Metric<'static>>,
    /// The last sampling failure, answered as 503 until a sample succeeds.
    error: Option<SourceError>,
    /// Every namespace's listeners, when sampled by namespace.
    ns: Shown,
}

type State = Arc<Mutex<Shared>>;

fn lock(state: &State) -> MutexGuard<'_, Shared> {
    // A panicking handler cannot leave the watcher half-updated in a way
    // that matters more than stopping the server would.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// The router's view of the shared state: the watcher, failing the
/// refresh while sampling fails.
struct Source<'a>(&'a mut Shared);

impl StatsSource for Source<'_> {
    fn refresh(&mut self) -> Result<(), SourceError> {
        match self.0.error {
            Some(e) => Err(e),
            None => self.0.watcher.refresh(),
        }
    }
    fn listeners(&self, visit: &mut ListenerVisitor<'_>) -> ControlFlow<()> {
        match self.0.ns.visit(visit) {
            Some(flow) => flow,
            None => StatsSource::listeners(&self.0.watcher, visit),
        }
    }
    fn metrics(&self, visit: &mut dyn FnMut(&Metric<'_>) -> ControlFlow<()>) -> ControlFlow<()> {
        self.0.watcher.metrics(visit)?;
        for m in &self.0.netstat {
            visit(m)?;
        }
        self.0.ns.metrics(visit)
    }
    fn histograms(
        &self,
        visit: &mut dyn FnMut(&Histogram<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        self.0.watcher.histograms(visit)
    }
    fn last_data_recv(&self) -> Option<&Aggregate> {
        None
    }
    fn watcher(&mut self) -> Option<&mut dyn Watcher> {
        Some(&mut self.0.watcher)
    }
}

/// A response body: all at once, or tail lines as samples arrive.
enum ResBody {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl HttpBody for ResBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            ResBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ResBody::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ResBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            ResBody::Full(None) => SizeHint::with_exact(0),
            ResBody::Stream(_) => SizeHint::default(),
        }
    }
}

fn seconds(what: &str, v: f64) -> Result<Duration, Failure> {
    if v.is_finite() && v > 0.0 && v <= 86_400.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(Failure::Usage(format!(
            "bad {what} {v}: expected seconds above 0, at most 86400"
        )))
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Runs `serve`.
pub(crate) fn run(args: &ServeArgs) -> Outcome {
    let listen: SocketAddr = args
        .listen
        .parse()
        .map_err(|_| Failure::Usage(format!("bad --listen address {:?}", args.listen)))?;
    let delay = seconds("delay", args.delay)?;
    let timeout = seconds("timeout", args.timeout)?;
    if args.max_connections == 0 || args.max_connections > 100_000 {
        return Err(Failure::Usage(format!(
            "bad --max-connections {}: expected 1 to 100000",
            args.max_connections
        )));
    }
    let mut sampler = Sampling::new(&args.names, &args.ns)?;
    let first = sampler.sample()?;
    let start = Timestamp::now();
    let mut watcher = WatcherState::new(start, delay);
    watcher.record(start, first.iter().map(|l| l.as_ref()));
    let mut ns = Shown::default();
    sampler.publish(&mut ns);
    let netstat = netstat_of(&sampler);
    let state: State = Arc::new(Mutex::new(Shared {
        watcher,
        netstat,
        error: None,
        ns,
    }));
    let (ticks, _) = broadcast::channel::<()>(16);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::System(format!("cannot start the runtime: {e}")))?;
    let listener = runtime
        .block_on(TcpListener::bind(listen))
        .map_err(|e| Failure::System(format!("cannot listen on {listen}: {e}")))?;
    let local = listener.local_addr().unwrap_or(listen);
    out::stderr(&format!(
        "raindrops: serving http://{local}/ (Watcher), /metrics, /_raindrops; sampling every {}s\n",
        delay.as_secs_f64()
    ));

    {
        let state = Arc::clone(&state);
        let ticks = ticks.clone();
        thread::Builder::new()
            .name("sampler".into())
            .spawn(move || sample_forever(sampler, state, ticks, delay))
            .map_err(|e| Failure::System(format!("cannot start the sampler: {e}")))?;
    }

    let ctx = Arc::new(Ctx {
        state,
        ticks,
        hostname: hostname(),
    });
    runtime.block_on(accept_loop(listener, ctx, args.max_connections, timeout))
}

/// The namespace counters read with the sampler's last sample.
fn netstat_of(sampler: &Sampling) -> Vec<Metric<'static>> {
    sampler
        .overflow_watch()
        .and_then(|w| w.netstat())
        .map(crate::overflows::netstat_metrics)
        .unwrap_or_default()
}

fn sample_forever(
    mut sampler: Sampling,
    state: State,
    ticks: broadcast::Sender<()>,
    delay: Duration,
) {
    let start = Instant::now();
    let mut n = 1u32;
    loop {
        let next = start + delay * n;
        thread::sleep(next.saturating_duration_since(Instant::now()));
        n = n.wrapping_add(1);
        let result = sampler.sample();
        let now = Timestamp::now();
        let mut shared = lock(&state);
        match result {
            Ok(listeners) => {
                shared
                    .watcher
                    .record(now, listeners.iter().map(|l| l.as_ref()));
                sampler.publish(&mut shared.ns);
                shared.netstat = netstat_of(&sampler);
                shared.error = None;
            }
            Err(e) => {
                if shared.error.is_none() {
                    out::stderr(&format!("raindrops: sampling failed: {e}\n"));
                }
                shared.error = Some(SourceError {
                    what: "netlink sock_diag sample",
                    errno: None,
                });
            }
        }
        drop(shared);
        let _ = ticks.send(());
    }
}

struct Ctx {
    state: State,
    ticks: broadcast::Sender<()>,
    hostname: String,
}

async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<Ctx>,
    max_connections: usize,
    timeout: Duration,
) -> Outcome {
    use tokio::signal::unix::{SignalKind, signal};
    let sig = |k| signal(k).map_err(|e| Failure::System(format!("cannot handle signals: {e}")));
    let mut term = sig(SignalKind::terminate())?;
    let mut int = sig(SignalKind::interrupt())?;
    let limit = Arc::new(Semaphore::new(max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        // "X-Count", "Content-Type" as Ruby's Watcher writes them.
        .title_case_headers(true);
    let code = loop {
        let permit = tokio::select! {
            p = Arc::clone(&limit).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break 1,
            },
            _ = term.recv() => break 0,
            _ = int.recv() => break 130,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // EMFILE and friends: report, back off, go on.
                    out::stderr(&format!("raindrops: accept failed: {e}\n"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = term.recv() => break 0,
            _ = int.recv() => break 130,
        };
        let ctx = Arc::clone(&ctx);
        let service = service_fn(move |req| {
            let ctx = Arc::clone(&ctx);
            async move { Ok::<_, Infallible>(handle(&ctx, &req)) }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    };
    drop(listener);
    // Requests in flight get a few seconds; tail streams never finish.
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
    if code == 0 {
        Ok(())
    } else {
        Err(Failure::Exit(code))
    }
}

fn header<'a>(req: &'a HttpRequest<Incoming>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn handle(ctx: &Ctx, req: &HttpRequest<Incoming>) -> HttpResponse<ResBody> {
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let request = Request::new(req.method().as_str(), target)
        .with_accept(header(req, "accept"))
        .with_referer(header(req, "referer"))
        .with_now(Timestamp::now());
    let router = Router::new().hostname(&ctx.hostname);
    let mut body = String::new();
    let mut shared = lock(&ctx.state);
    let answer = router.handle(&request, &mut Source(&mut shared), &mut body);
    drop(shared);
    let Ok(res) = answer else {
        let mut r = HttpResponse::new(ResBody::Full(Some(Bytes::from_static(b"render failed\n"))));
        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        return r;
    };
    let res_body = match &res.body {
        Body::Empty => ResBody::Full(None),
        Body::Written { .. } => ResBody::Full(Some(Bytes::from(body))),
        Body::Tail(tail) => ResBody::Stream(tail_stream(ctx, tail.clone())),
    };
    let mut out = HttpResponse::new(res_body);
    *out.status_mut() =
        hyper::StatusCode::from_u16(res.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    for h in res.headers.iter() {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(h.name.as_bytes()),
            hyper::header::HeaderValue::from_str(h.value.as_str()),
        ) {
            out.headers_mut().append(name, value);
        }
    }
    out
}

/// Sends a tail line after each new sample that qualifies, until the
/// client goes away.
fn tail_stream(ctx: &Ctx, tail: Tail) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(8);
    let mut ticks = ctx.ticks.subscribe();
    let state = Arc::clone(&ctx.state);
    tokio::spawn(async move {
        let mut line = String::new();
        loop {
            match ticks.recv().await {
                Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            }
            line.clear();
            let wrote = {
                let shared = lock(&state);
                tail.write_line(&shared.watcher, &mut line)
            };
            if matches!(wrote, Ok(true))
                && tx
                    .send(Bytes::from(std::mem::take(&mut line)))
                    .await
                    .is_err()
            {
                break;
            }
            if tx.is_closed() {
                break;
            }
        }
    });
    rx
}
