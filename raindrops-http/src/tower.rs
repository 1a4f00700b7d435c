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
use raindrops_core::{Counter, Counters, Sharded};

use crate::source::{Histogram, ListenerVisitor, Metric, StatsSource};
use crate::{Body as RBody, MiddlewareStats, Request, Router, SourceError, Watcher};

/// Where the layer counts: any shared `calling` / `writing` pair (a
/// [`MiddlewareStats`], counters in shared memory, a worker's shards).
///
/// The layer counts into [`calling`](Self::calling) and
/// [`writing`](Self::writing) and shows
/// [`calling_total`](Self::calling_total) and
/// [`writing_total`](Self::writing_total): the same counters unless the
/// gauges are split, as [`ShardedGauges`] are, where each worker counts
/// into its own shard and the page shows the sum over every worker.
pub trait Gauges: Send + Sync + 'static {
    /// Requests inside the application: the counter this process counts in.
    fn calling(&self) -> &Counter;
    /// Responses being written: the counter this process counts in.
    fn writing(&self) -> &Counter;
    /// The `calling` the stats page shows (by default, the counter's value).
    fn calling_total(&self) -> usize {
        self.calling().get()
    }
    /// The `writing` the stats page shows (by default, the counter's value).
    fn writing_total(&self) -> usize {
        self.writing().get()
    }
}

/// One worker's gauges of two [`Sharded`] ones (one shard per worker, as a
/// preforking server lays them out in shared memory): the layer counts
/// into the worker's shards and shows the sums over every worker, so any
/// worker answers for the whole server.
///
/// ```
/// use std::sync::Arc;
/// use raindrops_core::{Counters, Sharded};
/// use raindrops_http::tower::{Gauges, ShardedGauges};
/// static SLOTS: Counters<4> = Counters::new(); // 2 workers x 2 gauges
/// let (calling, writing) = SLOTS.as_slots().split_at(2);
/// let (calling, writing) = (Sharded::new(calling), Sharded::new(writing));
/// let worker0 = ShardedGauges::new(calling, writing, 0)?;
/// let worker1 = ShardedGauges::new(calling, writing, 1)?;
/// worker0.calling().incr(1);
/// worker1.calling().incr(1);
/// assert_eq!(worker0.calling().get(), 1, "its own shard");
/// assert_eq!(worker0.calling_total(), 2, "every worker's");
/// # let _layer = raindrops_http::tower::RaindropsLayer::new(
/// #     Arc::new(worker0),
/// #     Arc::new(std::sync::Mutex::new(raindrops_http::Snapshot::<String>::new())),
/// # );
/// # Ok::<(), raindrops_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ShardedGauges {
    calling: Sharded<'static>,
    writing: Sharded<'static>,
    mine: (&'static Counter, &'static Counter),
}

impl ShardedGauges {
    /// `worker`'s gauges of `calling` and `writing`, or
    /// [`Error::IndexOutOfRange`](raindrops_core::Error::IndexOutOfRange)
    /// if either has no shard `worker`.
    pub fn new(
        calling: Sharded<'static>,
        writing: Sharded<'static>,
        worker: usize,
    ) -> Result<Self, raindrops_core::Error> {
        Ok(ShardedGauges {
            calling,
            writing,
            mine: (calling.shard(worker)?, writing.shard(worker)?),
        })
    }
}

impl Gauges for ShardedGauges {
    fn calling(&self) -> &Counter {
        self.mine.0
    }
    fn writing(&self) -> &Counter {
        self.mine.1
    }
    fn calling_total(&self) -> usize {
        self.calling.sum()
    }
    fn writing_total(&self) -> usize {
        self.writing.sum()
    }
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
        Some(self.gauges.calling_total())
    }
    fn writing(&self) -> Option<usize> {
        Some(self.gauges.writing_total())
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

    /// An application that stays inside until told, counting nothing itself.
    #[derive(Clone)]
    struct Slow(Arc<core::sync::atomic::AtomicBool>);
    impl tower_service::Service<http::Request<()>> for Slow {
        type Response = http::Response<One>;
        type Error = Infallible;
        type Future = core::pin::Pin<
            Box<dyn Future<Output = Result<http::Response<One>, Infallible>> + Send>,
        >;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            let go = Arc::clone(&self.0);
            Box::pin(core::future::poll_fn(move |_| {
                if go.load(core::sync::atomic::Ordering::Relaxed) {
                    Poll::Ready(Ok(http::Response::new(One(Some(Bytes::from("x"))))))
                } else {
                    Poll::Pending
                }
            }))
        }
    }

    #[test]
    fn sharded_gauges_count_in_a_shard_and_show_the_sum() {
        use tower_layer::Layer;
        use tower_service::Service;
        static SLOTS: Counters<6> = Counters::new(); // 3 workers
        let (calling, writing) = SLOTS.as_slots().split_at(3);
        let (calling, writing) = (Sharded::new(calling), Sharded::new(writing));
        assert!(ShardedGauges::new(calling, writing, 3).is_err());
        let source = Arc::new(Mutex::new(crate::Snapshot::<String>::new()));
        let go = Arc::new(core::sync::atomic::AtomicBool::new(false));
        let mut workers: Vec<_> = (0..3)
            .map(|w| {
                let g = Arc::new(ShardedGauges::new(calling, writing, w).unwrap());
                RaindropsLayer::new(g, Arc::clone(&source)).layer(Slow(Arc::clone(&go)))
            })
            .collect();
        // Worker 0 writes one response; workers 1 and 2 have 2 and 1
        // requests inside the application.
        go.store(true, core::sync::atomic::Ordering::Relaxed);
        let written = block(workers[0].call(http::Request::new(()))).unwrap();
        go.store(false, core::sync::atomic::Ordering::Relaxed);
        let mut cx = Context::from_waker(Waker::noop());
        let mut inside = Vec::new();
        for w in [1, 1, 2] {
            let mut f = Box::pin(workers[w].call(http::Request::new(())));
            assert!(f.as_mut().poll(&mut cx).is_pending());
            inside.push(f);
        }
        assert_eq!(calling.values().collect::<Vec<_>>(), [0, 2, 1]);
        assert_eq!(writing.values().collect::<Vec<_>>(), [1, 0, 0]);
        for w in &mut workers {
            let page = block(w.call(http::Request::get("/_raindrops").body(()).unwrap())).unwrap();
            assert_eq!(collect(page.into_body()), b"calling: 3\nwriting: 1\n");
        }
        drop(inside);
        drop(written);
        assert_eq!((calling.sum(), writing.sum()), (0, 0));
        let page =
            block(workers[2].call(http::Request::get("/_raindrops").body(()).unwrap())).unwrap();
        assert_eq!(collect(page.into_body()), b"calling: 0\nwriting: 0\n");
    }
}
