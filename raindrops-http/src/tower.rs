//! Ruby's `Raindrops::Middleware` as a tower [`Layer`](tower_layer::Layer): counts `calling`
//! and `writing` around the wrapped service and answers the stats paths.

use std::future::Future;
use std::pin::Pin;
use std::string::String;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;
use raindrops_core::{Counter, Counters};

use crate::source::{Histogram, ListenerVisitor, Metric, StatsSource};
use crate::{Body as RBody, MiddlewareStats, Request, Router, SourceError, Watcher};

/// Where the layer counts: any shared `calling` / `writing` pair (a
/// [`MiddlewareStats`], counters in shared memory, a worker's shards).
pub trait Gauges: Send + Sync + 'static {
    /// Requests inside the application.
    fn calling(&self) -> &Counter;
    /// Responses being written.
    fn writing(&self) -> &Counter;
}

impl<S> Gauges for MiddlewareStats<S>
where
    S: core::borrow::Borrow<Counters<2>> + Send + Sync + 'static,
{
    fn calling(&self) -> &Counter {
        MiddlewareStats::calling(self)
    }
    fn writing(&self) -> &Counter {
        MiddlewareStats::writing(self)
    }
}

/// A [`tower_layer::Layer`] doing what Ruby's `Raindrops::Middleware`
/// does: `calling` while the inner service handles a request, `writing`
/// until the response body ends or is dropped, and the stats endpoint
/// (`/_raindrops`, `/metrics`, negotiated by `Accept`) answered from
/// `source` with the layer's own `calling`/`writing`.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use raindrops_http::{tower::RaindropsLayer, MiddlewareStats, Snapshot};
/// let stats = Arc::new(MiddlewareStats::new());
/// let source = Arc::new(Mutex::new(Snapshot::<String>::new()));
/// let layer = RaindropsLayer::new(stats, source);
/// # let _ = layer;
/// ```
pub struct RaindropsLayer<S> {
    shared: Arc<Shared<S>>,
}

struct Shared<S> {
    gauges: Arc<dyn Gauges>,
    source: Arc<Mutex<S>>,
    router: Router<'static>,
}

impl<S> Clone for RaindropsLayer<S> {
    fn clone(&self) -> Self {
        RaindropsLayer {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: StatsSource + Send + 'static> RaindropsLayer<S> {
    /// Counts into `gauges`, answers the stats paths from `source`.
    pub fn new<G: Gauges>(gauges: Arc<G>, source: Arc<Mutex<S>>) -> Self {
        Self::with_router(gauges, source, Router::new())
    }

    /// Like [`new`](Self::new) with the paths of `router` (only its stats
    /// and metrics paths are answered; everything else goes to the inner
    /// service).
    pub fn with_router<G: Gauges>(
        gauges: Arc<G>,
        source: Arc<Mutex<S>>,
        router: Router<'static>,
    ) -> Self {
        RaindropsLayer {
            shared: Arc::new(Shared {
                gauges,
                source,
                router,
            }),
        }
    }
}

impl<S, I> tower_layer::Layer<I> for RaindropsLayer<S> {
    type Service = RaindropsService<S, I>;
    fn layer(&self, inner: I) -> Self::Service {
        RaindropsService {
            shared: Arc::clone(&self.shared),
            inner,
        }
    }
}

/// The service of [`RaindropsLayer`].
pub struct RaindropsService<S, I> {
    shared: Arc<Shared<S>>,
    inner: I,
}

impl<S, I: Clone> Clone for RaindropsService<S, I> {
    fn clone(&self) -> Self {
        RaindropsService {
            shared: Arc::clone(&self.shared),
            inner: self.inner.clone(),
        }
    }
}

/// The source seen by the router: the user's listeners and histograms,
/// the layer's `calling` and `writing`.
struct WithGauges<'a, S: ?Sized> {
    inner: &'a mut S,
    gauges: &'a dyn Gauges,
}

impl<S: StatsSource + ?Sized> StatsSource for WithGauges<'_, S> {
    fn refresh(&mut self) -> Result<(), SourceError> {
        self.inner.refresh()
    }
    fn calling(&self) -> Option<usize> {
        Some(self.gauges.calling().get())
    }
    fn writing(&self) -> Option<usize> {
        Some(self.gauges.writing().get())
    }
    fn listeners(&self, v: &mut ListenerVisitor<'_>) -> core::ops::ControlFlow<()> {
        self.inner.listeners(v)
    }
    fn measured(&self) -> crate::FieldSet {
        self.inner.measured()
    }
    fn metrics(
        &self,
        v: &mut dyn FnMut(&Metric<'_>) -> core::ops::ControlFlow<()>,
    ) -> core::ops::ControlFlow<()> {
        self.inner.metrics(v)
    }
    fn histograms(
        &self,
        v: &mut dyn FnMut(&Histogram<'_>) -> core::ops::ControlFlow<()>,
    ) -> core::ops::ControlFlow<()> {
        self.inner.histograms(v)
    }
    fn last_data_recv(&self) -> Option<&raindrops_core::Aggregate> {
        self.inner.last_data_recv()
    }
    fn watcher(&mut self) -> Option<&mut dyn Watcher> {
        None // the application owns the other paths
    }
}

impl<S, I, ReqB, ResB> tower_service::Service<http::Request<ReqB>> for RaindropsService<S, I>
where
    S: StatsSource + Send + 'static,
    I: tower_service::Service<http::Request<ReqB>, Response = http::Response<ResB>>,
    ResB: http_body::Body<Data = Bytes>,
{
    type Response = http::Response<RaindropsBody<ResB>>;
    type Error = I::Error;
    type Future = ResponseFuture<I::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqB>) -> Self::Future {
        let path = req.uri().path();
        if self.shared.router.is_stats_path(path) {
            return ResponseFuture::Ready {
                response: Some(self.stats_response(&req)),
            };
        }
        // Ruby's order: calling up before the application runs.
        let gauges = Arc::clone(&self.shared.gauges);
        gauges.calling().incr(1);
        let calling = GaugeToken {
            gauges: Some(gauges),
            writing: false,
        };
        ResponseFuture::App {
            future: self.inner.call(req),
            calling,
        }
    }
}

impl<S: StatsSource + Send + 'static, I> RaindropsService<S, I> {
    fn stats_response<ReqB, ResB>(
        &self,
        req: &http::Request<ReqB>,
    ) -> http::Response<RaindropsBody<ResB>> {
        let accept = req
            .headers()
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok());
        let r = Request::new(req.method().as_str(), req.uri().path()).with_accept(accept);
        let r = Request {
            query: req.uri().query().unwrap_or(""),
            ..r
        };
        let mut body = String::new();
        let mut source = self.shared.source.lock().unwrap_or_else(|e| e.into_inner());
        let mut with = WithGauges {
            inner: &mut *source,
            gauges: &*self.shared.gauges,
        };
        let res = match self.shared.router.handle(&r, &mut with, &mut body) {
            Ok(res) => res,
            // A String never fails to take a write.
            Err(_) => {
                return http::Response::builder()
                    .status(500)
                    .body(RaindropsBody::Stats { data: None })
                    .unwrap_or_default();
            }
        };
        let mut builder = http::Response::builder().status(res.status);
        for h in res.headers.iter() {
            builder = builder.header(h.name, h.value.as_str());
        }
        let data = match res.body {
            RBody::Written { .. } => Some(Bytes::from(body)),
            _ => None,
        };
        builder
            .body(RaindropsBody::Stats { data })
            .unwrap_or_default()
    }
}

impl<B> Default for RaindropsBody<B> {
    fn default() -> Self {
        RaindropsBody::Stats { data: None }
    }
}

/// Holds the layer's `calling` or `writing` gauge up until dropped
/// (opaque; part of [`ResponseFuture`] and [`RaindropsBody`]).
pub struct GaugeToken {
    gauges: Option<Arc<dyn Gauges>>,
    writing: bool,
}

impl GaugeToken {
    fn release(&mut self) {
        if let Some(g) = self.gauges.take() {
            if self.writing {
                g.writing().decr(1);
            } else {
                g.calling().decr(1);
            }
        }
    }
}

impl Drop for GaugeToken {
    fn drop(&mut self) {
        self.release();
    }
}

pin_project! {
    /// The future of [`RaindropsService`].
    #[project = FutureProj]
    #[allow(missing_docs)] // fields named in the variant docs

    pub enum ResponseFuture<F> {
        /// The application is running; `calling` is up.
        App { #[pin] future: F, calling: GaugeToken },
        /// A stats answer, ready (taken when polled).
        Ready { response: Option<http::Response<RaindropsBody<()>>> },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    B: http_body::Body<Data = Bytes>,
{
    type Output = Result<http::Response<RaindropsBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            FutureProj::App { future, calling } => {
                let out = match future.poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(out) => out,
                };
                let Ok(res) = out else {
                    calling.release();
                    return Poll::Ready(out.map(|_| unreachable_response()));
                };
                // Ruby's order: writing up, then calling down.
                let writing = calling.gauges.as_ref().map(|g| {
                    g.writing().incr(1);
                    Arc::clone(g)
                });
                calling.release();
                let token = GaugeToken {
                    gauges: writing,
                    writing: true,
                };
                Poll::Ready(Ok(res.map(|body| RaindropsBody::App { body, token })))
            }
            FutureProj::Ready { response } => {
                let res = response.take().unwrap_or_default();
                Poll::Ready(Ok(res.map(|b| match b {
                    RaindropsBody::Stats { data } => RaindropsBody::Stats { data },
                    RaindropsBody::App { .. } => RaindropsBody::Stats { data: None },
                })))
            }
        }
    }
}

/// Never called: `out` is an `Err` where this is used.
fn unreachable_response<B>() -> http::Response<RaindropsBody<B>> {
    http::Response::default()
}

pin_project! {
    /// The response body: the application's, holding `writing` up until it
    /// ends or is dropped, or a stats answer.
    #[project = BodyProj]
    #[allow(missing_docs)] // fields named in the variant docs

    pub enum RaindropsBody<B> {
        /// The application's body.
        App { #[pin] body: B, token: GaugeToken },
        /// A stats answer (`None`: no body, as for `HEAD`).
        Stats { data: Option<Bytes> },
    }
}

impl<B: http_body::Body<Data = Bytes>> http_body::Body for RaindropsBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project() {
            BodyProj::App { body, token } => {
                let frame = body.poll_frame(cx);
                if let Poll::Ready(None | Some(Err(_))) = &frame {
                    token.release(); // finished (or failed): no longer writing
                }
                frame
            }
            BodyProj::Stats { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RaindropsBody::App { body, .. } => body.is_end_stream(),
            RaindropsBody::Stats { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RaindropsBody::App { body, .. } => body.size_hint(),
            RaindropsBody::Stats { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::convert::Infallible;
    use http_body::Body as _;
    use raindrops_core::{Family, ListenStats, Listener};
    use std::boxed::Box;
    use std::string::ToString;
    use std::task::Waker;
    use std::vec::Vec;

    /// A body of one chunk.
    struct One(Option<Bytes>);
    impl http_body::Body for One {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.0.take().map(|b| Ok(Frame::data(b))))
        }
    }

    #[derive(Clone)]
    struct App(Arc<MiddlewareStats>);
    impl tower_service::Service<http::Request<()>> for App {
        type Response = http::Response<One>;
        type Error = Infallible;
        type Future = core::future::Ready<Result<http::Response<One>, Infallible>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            // Inside the application: calling is 1.
            assert_eq!(self.0.calling().get(), 1);
            core::future::ready(Ok(http::Response::new(One(Some(Bytes::from("hi"))))))
        }
    }

    fn block<F: Future>(f: F) -> F::Output {
        let mut f = Box::pin(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    fn collect<B: http_body::Body<Data = Bytes>>(body: B) -> Vec<u8>
    where
        B::Error: core::fmt::Debug,
    {
        let mut body = Box::pin(body);
        let mut cx = Context::from_waker(Waker::noop());
        let mut out = Vec::new();
        while let Poll::Ready(Some(f)) = body.as_mut().poll_frame(&mut cx) {
            if let Ok(d) = f.unwrap().into_data() {
                out.extend_from_slice(&d);
            }
        }
        out
    }

    #[test]
    fn counts_and_answers() {
        use tower_layer::Layer;
        use tower_service::Service;
        let stats = Arc::new(MiddlewareStats::new());
        let tcp = [Listener::new(
            "0.0.0.0:80".to_string(),
            Family::Tcp4,
            ListenStats::new(1, 2),
        )];
        let source = Arc::new(Mutex::new(crate::Snapshot::<String> {
            listeners: Box::leak(Box::new(tcp)),
            ..crate::Snapshot::new()
        }));
        let mut svc =
            RaindropsLayer::new(Arc::clone(&stats), source).layer(App(Arc::clone(&stats)));
        let res = block(svc.call(http::Request::new(()))).unwrap();
        assert_eq!((stats.calling().get(), stats.writing().get()), (0, 1));
        // The stats page sees the response still being written.
        let page = block(svc.call(http::Request::get("/_raindrops").body(()).unwrap())).unwrap();
        assert_eq!(page.headers()["content-type"], "text/plain");
        assert_eq!(
            collect(page.into_body()),
            b"calling: 0\nwriting: 1\n0.0.0.0:80 active: 1\n0.0.0.0:80 queued: 2\n"
        );
        let body = res.into_body();
        assert!(!body.is_end_stream());
        assert_eq!(collect(body), b"hi");
        assert_eq!(stats.writing().get(), 0, "finished body");
        // A body dropped unread also ends writing.
        let res = block(svc.call(http::Request::new(()))).unwrap();
        assert_eq!(stats.writing().get(), 1);
        drop(res);
        assert_eq!(stats.writing().get(), 0);
        let m = block(
            svc.call(
                http::Request::get("/metrics")
                    .header("accept", "application/openmetrics-text")
                    .body(())
                    .unwrap(),
            ),
        )
        .unwrap();
        let text = String::from_utf8(collect(m.into_body())).unwrap();
        assert!(
            text.contains("raindrops_calling 0\n") && text.ends_with("# EOF\n"),
            "{text}"
        );
    }
}
