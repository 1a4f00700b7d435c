//! The HTTP server of `serve`: accepts connections (plain or TLS), keeps
//! them within the limits of [`conns`](super::conns), authenticates,
//! answers from the Watcher state through raindrops-http's [`Router`] and
//! appends the self-metrics to Prometheus and OpenMetrics answers.

use std::convert::Infallible;
use std::ops::ControlFlow;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};
use hyper::header::{HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request as HttpRequest, Response as HttpResponse, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use raindrops_core::Aggregate;
use raindrops_http::{
    Body, Format, Histogram, ListenerVisitor, Metric, OPENMETRICS_CONTENT_TYPE,
    PROMETHEUS_CONTENT_TYPE, Request, Router, SourceError, StatsSource, Timestamp, Watcher,
    visit_queue_wait_histograms,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_rustls::TlsAcceptor;

use super::auth::Users;
use super::conns::{Admission, Conn, Registry, RequestGuard, Tracked};
use super::sampler::{Hub, Shared};
use super::self_metrics::{self, SelfStats};
use super::tail;
use super::web_config::{RateLimit, WebConfig};
use crate::fail::{Failure, Outcome};
use crate::out;

/// What a web configuration file turns into; replaced whole on SIGHUP.
pub(super) struct Web {
    users: Users,
    headers: Vec<(HeaderName, HeaderValue)>,
    rate: Option<Mutex<Bucket>>,
    tls: Option<TlsAcceptor>,
}

impl Web {
    /// No TLS, no authentication, no extra headers.
    pub(super) fn plain() -> Self {
        Web {
            users: Users::new(Vec::new()),
            headers: Vec::new(),
            rate: None,
            tls: None,
        }
    }

    /// From a parsed configuration (certificates are read here).
    pub(super) fn from_config(c: WebConfig) -> Result<Self, String> {
        let tls = match &c.tls {
            Some(t) => Some(TlsAcceptor::from(super::tls::server_config(t)?)),
            None => None,
        };
        let mut headers = Vec::new();
        for (name, value) in c.headers {
            let value =
                HeaderValue::from_str(&value).map_err(|_| format!("{name}: not a header value"))?;
            headers.push((HeaderName::from_static_lower(name), value));
        }
        Ok(Web {
            users: Users::new(c.users),
            headers,
            rate: c.rate_limit.map(|r| Mutex::new(Bucket::new(r))),
            tls,
        })
    }

    /// Whether connections are served over TLS.
    pub(super) fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
}

trait FromStaticLower {
    fn from_static_lower(name: &'static str) -> HeaderName;
}

impl FromStaticLower for HeaderName {
    /// A header name from one of the fixed mixed-case names of the web
    /// configuration.
    fn from_static_lower(name: &'static str) -> HeaderName {
        HeaderName::from_bytes(name.as_bytes()).unwrap_or(hyper::header::WARNING)
    }
}

/// The token bucket of `rate_limit`.
struct Bucket {
    limit: RateLimit,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(limit: RateLimit) -> Self {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            at: Instant::now(),
        }
    }

    fn allow(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() / self.limit.interval.as_secs_f64();
        self.tokens = (self.tokens + refill).min(f64::from(self.limit.burst));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What every connection and request shares.
pub(super) struct Ctx {
    pub(super) hub: Arc<Hub>,
    pub(super) registry: Arc<Registry>,
    pub(super) shutdown: watch::Receiver<bool>,
    pub(super) web: RwLock<Arc<Web>>,
    pub(super) hostname: String,
    pub(super) allow_reset: bool,
    pub(super) sample_on_scrape: bool,
    pub(super) delay: Duration,
    pub(super) tails: Arc<Semaphore>,
    pub(super) refused: [AtomicU64; 3],
    pub(super) http: hyper::server::conn::http1::Builder,
}

impl Ctx {
    fn web(&self) -> Arc<Web> {
        Arc::clone(&self.web.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn refuse(&self, reason: usize) {
        self.refused[reason].fetch_add(1, Ordering::Relaxed);
    }
}

/// The hyper connection settings: keep-alive, the header timeout as a
/// backstop of the reaper's, a small bounded read buffer.
pub(super) fn http_builder(registry: &Registry) -> hyper::server::conn::http1::Builder {
    let l = registry.limits();
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(l.header_timeout + l.idle_timeout)
        .max_buf_size(16 * 1024)
        // "X-Count", "Content-Type" as Ruby's Watcher writes them.
        .title_case_headers(true);
    b
}

/// A response body: all at once, or tail lines as samples arrive; holds the
/// request's busy mark until hyper is done with it.
pub(super) struct ResBody {
    kind: Kind,
    _guard: Option<RequestGuard>,
}

enum Kind {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl ResBody {
    fn full(b: impl Into<Bytes>) -> Self {
        ResBody {
            kind: Kind::Full(Some(b.into())),
            _guard: None,
        }
    }
}

impl HttpBody for ResBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Stream(_) => SizeHint::default(),
        }
    }
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
        self.0.watcher.histograms(visit)?;
        let waits = self.0.waits.iter().map(|(name, agg)| (name.as_str(), agg));
        visit_queue_wait_histograms(waits, visit)
    }
    fn last_data_recv(&self) -> Option<&Aggregate> {
        None
    }
    fn watcher(&mut self) -> Option<&mut dyn Watcher> {
        Some(&mut self.0.watcher)
    }
}

/// What a 503 for a connection past every limit looks like.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
Content-Length: 34\r\nRetry-After: 1\r\nConnection: close\r\n\r\n\
Service Unavailable: server busy\r\n";

/// Accepts and serves until SIGTERM (exit 0) or SIGINT (130); SIGHUP
/// reloads the web configuration file.
pub(super) async fn serve(
    listener: TcpListener,
    ctx: Arc<Ctx>,
    shutdown: watch::Sender<bool>,
    web_config: Option<std::path::PathBuf>,
) -> Outcome {
    use tokio::signal::unix::{SignalKind, signal};
    let sig = |k| signal(k).map_err(|e| Failure::System(format!("cannot handle signals: {e}")));
    let mut term = sig(SignalKind::terminate())?;
    let mut int = sig(SignalKind::interrupt())?;
    let mut hup = sig(SignalKind::hangup())?;
    {
        let registry = Arc::clone(&ctx.registry);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(registry.reap_every());
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                registry.reap();
            }
        });
    }
    let mut last_accept_error: Option<Instant> = None;
    let code = loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => connection(&ctx, stream),
                Err(e) => {
                    // Out of descriptors: make room by closing the connection
                    // waiting longest, rather than leaving new ones queued.
                    if matches!(e.raw_os_error(), Some(n) if n == EMFILE || n == ENFILE) {
                        ctx.registry.replace_oldest();
                    }
                    if last_accept_error.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                        out::stderr(&format!("raindrops: accept failed: {e}\n"));
                        last_accept_error = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = term.recv() => break 0,
            _ = int.recv() => break 130,
            _ = hup.recv() => reload(&ctx, web_config.as_deref()),
        }
    };
    drop(listener);
    let _ = shutdown.send(true);
    // Requests in flight get a few seconds to finish; tail streams end.
    let deadline = Instant::now() + Duration::from_secs(5);
    while ctx.registry.stats().open > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if code == 0 {
        Ok(())
    } else {
        Err(Failure::Exit(code))
    }
}

/// `EMFILE` and `ENFILE`, from the kernel's uapi headers.
const EMFILE: i32 = linux_raw_sys::errno::EMFILE as i32;
const ENFILE: i32 = linux_raw_sys::errno::ENFILE as i32;

fn reload(ctx: &Ctx, path: Option<&std::path::Path>) {
    let Some(path) = path else {
        return;
    };
    let web = super::web_config::load(path)
        .map_err(|e| format!("{}: {e}", path.display()))
        .and_then(Web::from_config);
    match web {
        Ok(w) => {
            let was_tls = ctx.web().is_tls();
            if w.is_tls() != was_tls {
                out::stderr(&format!(
                    "raindrops: {}: TLS cannot be turned {} by a reload; keeping the old configuration\n",
                    path.display(),
                    if was_tls { "off" } else { "on" }
                ));
                return;
            }
            *ctx.web.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(w);
            out::stderr(&format!("raindrops: reloaded {}\n", path.display()));
        }
        Err(e) => out::stderr(&format!(
            "raindrops: reload failed, keeping the old configuration: {e}\n"
        )),
    }
}

/// Admits and serves one accepted connection in a task of its own.
fn connection(ctx: &Arc<Ctx>, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (conn, registered) = match ctx.registry.admit() {
        Admission::Serve(c, r) => (c, r),
        Admission::Reject => {
            let tls = ctx.web().is_tls();
            tokio::spawn(async move {
                if !tls {
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        stream.write_all(BUSY).await?;
                        stream.shutdown().await
                    })
                    .await;
                }
            });
            return;
        }
    };
    let ctx = Arc::clone(ctx);
    tokio::spawn(async move {
        let acceptor = ctx.web().tls.clone();
        let io = Tracked::new(stream, Arc::clone(&conn));
        let served = async {
            match acceptor {
                Some(a) => {
                    // A failed handshake is the client's business.
                    if let Ok(tls) = a.accept(io).await {
                        drive(&ctx, &conn, TokioIo::new(tls)).await;
                    }
                }
                None => drive(&ctx, &conn, TokioIo::new(io)).await,
            }
        };
        tokio::select! {
            () = served => {}
            () = conn.kill.notified() => {}
        }
        drop(registered);
    });
}

/// Serves HTTP/1.1 on `io` until the client or the server ends it; on
/// shutdown, finishes the request in flight and closes.
async fn drive<I>(ctx: &Arc<Ctx>, conn: &Arc<Conn>, io: I)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = {
        let ctx = Arc::clone(ctx);
        let conn = Arc::clone(conn);
        service_fn(move |req| {
            let ctx = Arc::clone(&ctx);
            let guard = conn.begin();
            async move { Ok::<_, Infallible>(handle(&ctx, guard, req).await) }
        })
    };
    let mut c = pin!(ctx.http.serve_connection(io, service));
    let mut shutdown = ctx.shutdown.clone();
    let mut closing = false;
    loop {
        tokio::select! {
            _ = c.as_mut() => return,
            _ = shutdown.wait_for(|&s| s), if !closing => {
                c.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

fn header<'a>(req: &'a HttpRequest<Incoming>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn plain(status: StatusCode, text: &'static str) -> HttpResponse<ResBody> {
    let mut r = HttpResponse::new(ResBody::full(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    );
    r
}

async fn handle(
    ctx: &Arc<Ctx>,
    guard: RequestGuard,
    req: HttpRequest<Incoming>,
) -> HttpResponse<ResBody> {
    let web = ctx.web();
    let mut res = respond(ctx, &web, &req).await;
    for (name, value) in &web.headers {
        res.headers_mut().insert(name.clone(), value.clone());
    }
    res.body_mut()._guard = Some(guard);
    res
}

async fn respond(ctx: &Arc<Ctx>, web: &Web, req: &HttpRequest<Incoming>) -> HttpResponse<ResBody> {
    if let Some(bucket) = &web.rate {
        if !bucket.lock().unwrap_or_else(|e| e.into_inner()).allow() {
            ctx.refuse(2);
            return plain(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n");
        }
    }
    if web.users.required()
        && !web
            .users
            .check(
                req.headers()
                    .get(hyper::header::AUTHORIZATION)
                    .map(HeaderValue::as_bytes),
            )
            .await
    {
        ctx.refuse(1);
        let mut r = plain(StatusCode::UNAUTHORIZED, "Unauthorized\n");
        r.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"raindrops\", charset=\"UTF-8\""),
        );
        return r;
    }
    let path = req.uri().path();
    let method = req.method().as_str();
    if path.starts_with("/reset/") && method == "POST" && !ctx.allow_reset {
        return plain(
            StatusCode::FORBIDDEN,
            "Forbidden: resets are off (serve --allow-reset turns them on)\n",
        );
    }
    let scrape = matches!(path, "/metrics" | "/_raindrops") && matches!(method, "GET" | "HEAD");
    if scrape && ctx.sample_on_scrape {
        ctx.hub.fresh_sample().await;
    }
    if path == "/metrics" && matches!(method, "GET" | "HEAD") && ctx.hub.lock().error.is_some() {
        return self_metrics_only(ctx, req, method == "HEAD");
    }
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let request = Request::new(method, target)
        .with_accept(header(req, "accept"))
        .with_referer(header(req, "referer"))
        .with_now(Timestamp::now());
    let router = Router::new().hostname(&ctx.hostname);
    let mut body = String::new();
    let answer = {
        let mut shared = ctx.hub.lock();
        router.handle(&request, &mut Source(&mut shared), &mut body)
    };
    let Ok(res) = answer else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "render failed\n");
    };
    let content_type = res.headers.get("Content-Type").unwrap_or("");
    let flavor = if content_type == PROMETHEUS_CONTENT_TYPE {
        Some(false)
    } else if content_type == OPENMETRICS_CONTENT_TYPE {
        Some(true)
    } else {
        None
    };
    let mut extra = String::new();
    if let (Some(openmetrics), 200) = (flavor, res.status) {
        let _ = self_metrics::render(&self_stats(ctx), openmetrics, &mut extra);
    }
    let res_body = match &res.body {
        Body::Empty => ResBody {
            kind: Kind::Full(None),
            _guard: None,
        },
        Body::Written { .. } => {
            if !extra.is_empty() {
                match body.strip_suffix("# EOF\n") {
                    Some(head) if flavor == Some(true) => {
                        let mut b = String::with_capacity(body.len() + extra.len());
                        b.push_str(head);
                        b.push_str(&extra);
                        b.push_str("# EOF\n");
                        body = b;
                    }
                    _ => body.push_str(&extra),
                }
            }
            ResBody::full(body)
        }
        Body::Tail(t) => {
            let Ok(permit) = Arc::clone(&ctx.tails).try_acquire_owned() else {
                ctx.refuse(0);
                let mut r = plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable: too many tail streams (--max-tail-streams)\n",
                );
                r.headers_mut()
                    .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("10"));
                return r;
            };
            ResBody {
                kind: Kind::Stream(tail::stream(ctx, t.clone(), permit)),
                _guard: None,
            }
        }
    };
    let mut out = HttpResponse::new(res_body);
    *out.status_mut() =
        StatusCode::from_u16(res.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for h in res.headers.iter() {
        let value = if h.name.eq_ignore_ascii_case("Content-Length") && !extra.is_empty() {
            // The router counted its own body; the self-metrics add to it.
            h.value
                .as_str()
                .parse::<usize>()
                .map(|n| (n + extra.len()).to_string())
                .unwrap_or_default()
        } else {
            h.value.as_str().to_string()
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            out.headers_mut().append(name, value);
        }
    }
    out
}

/// `/metrics` while sampling fails: the self-metrics alone, with 200, so
/// that the listener series go stale in Prometheus (their values are
/// unknown) while the error counter and the age of the last good sample
/// say why; a 503 would hide those too.
fn self_metrics_only(ctx: &Ctx, req: &HttpRequest<Incoming>, head: bool) -> HttpResponse<ResBody> {
    let format = Format::negotiate(
        header(req, "accept"),
        &[Format::Prometheus, Format::OpenMetrics],
    );
    let mut body = String::new();
    let _ = self_metrics::render(&self_stats(ctx), format == Format::OpenMetrics, &mut body);
    if format == Format::OpenMetrics {
        body.push_str("# EOF\n");
    }
    let len = body.len();
    let mut r = HttpResponse::new(if head {
        ResBody {
            kind: Kind::Full(None),
            _guard: None,
        }
    } else {
        ResBody::full(body)
    });
    let headers = r.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(hyper::header::VARY, HeaderValue::from_static("Accept"));
    r
}

fn self_stats(ctx: &Ctx) -> SelfStats {
    let sample = ctx.hub.lock().stats.clone();
    let max_tails = ctx.registry.limits().max_tail_streams;
    SelfStats {
        sample,
        delay_seconds: ctx.delay.as_secs_f64(),
        conns: ctx.registry.stats(),
        tail_streams: max_tails.saturating_sub(ctx.tails.available_permits()),
        refused: [0, 1, 2].map(|i| ctx.refused[i].load(Ordering::Relaxed)),
    }
}
