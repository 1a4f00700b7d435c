//! The [`Watcher`] as a tower service for hyper and axum: [`WatcherService`]
//! and its response body, [`WatcherBody`], which streams `tail` lines.

use ::core::convert::Infallible;
use ::core::pin::Pin;
use ::core::task::{Context, Poll};
use std::boxed::Box;
use std::string::String;
use std::sync::Arc;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use raindrops_http::{Body, Request, Tail, Timestamp};

use crate::watcher::{Inner, Tick, Watcher};

impl Watcher {
    /// Answers an HTTP request as `raindrops serve` does (headers `Accept`
    /// and `Referer` read, the time of a reset taken now); a `tail`
    /// answer streams a line after each sample.
    ///
    /// The method, path and query are the request's own: mount the
    /// watcher at the root of a server, or where the framework strips the
    /// prefix (axum's `nest_service`; the pages' links are relative).
    pub fn respond_http<B>(&self, req: &http::Request<B>) -> http::Response<WatcherBody> {
        let header = |name| {
            req.headers()
                .get(name)
                .and_then(|v: &http::HeaderValue| v.to_str().ok())
        };
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let request = Request::new(req.method().as_str(), target)
            .with_accept(header(http::header::ACCEPT))
            .with_referer(header(http::header::REFERER))
            .with_now(Timestamp::now());
        let mut body = String::new();
        let Ok(res) = self.respond(&request, &mut body) else {
            let mut r =
                http::Response::new(WatcherBody::full(Bytes::from_static(b"render failed\n")));
            *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            return r;
        };
        let out = match res.body {
            Body::Empty => WatcherBody::empty(),
            Body::Written { .. } => WatcherBody::full(Bytes::from(body)),
            Body::Tail(tail) => WatcherBody::tail(Arc::clone(&self.inner), tail),
        };
        let mut r = http::Response::new(out);
        *r.status_mut() = http::StatusCode::from_u16(res.status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        for h in res.headers.iter() {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(h.name.as_bytes()),
                http::HeaderValue::from_str(h.value.as_str()),
            ) {
                r.headers_mut().append(name, value);
            }
        }
        r
    }

    /// The watcher as a tower service: for axum,
    /// `Router::new().nest_service("/raindrops", watcher.service())`; for
    /// hyper, through `hyper_util::service::TowerToHyperService`.
    pub fn service(&self) -> WatcherService {
        WatcherService {
            watcher: self.clone(),
        }
    }
}

/// The tower service of [`Watcher::service`]: answers every request with
/// [`Watcher::respond_http`], never fails.
#[derive(Clone, Debug)]
pub struct WatcherService {
    watcher: Watcher,
}

impl<B> tower_service::Service<http::Request<B>> for WatcherService {
    type Response = http::Response<WatcherBody>;
    type Error = Infallible;
    type Future = ::core::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        ::core::future::ready(Ok(self.watcher.respond_http(&req)))
    }
}

/// The body of a Watcher answer: a page at once, or a `tail` stream that
/// sends a line after each sample (that reaches its minimums) until the
/// client goes away or the watcher is dropped.
pub struct WatcherBody {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    // Boxed: a tail holds its address (up to 512 bytes), pages do not.
    Tail(Box<TailStream>),
}

struct TailStream {
    inner: Arc<Inner>,
    tail: Tail,
    id: u64,
    seen: u64,
}

impl Drop for TailStream {
    fn drop(&mut self) {
        self.inner.ticks.unsubscribe(self.id);
    }
}

impl WatcherBody {
    fn full(b: Bytes) -> Self {
        WatcherBody {
            kind: Kind::Full(Some(b)),
        }
    }

    fn empty() -> Self {
        WatcherBody {
            kind: Kind::Full(None),
        }
    }

    fn tail(inner: Arc<Inner>, tail: Tail) -> Self {
        let (id, seen) = inner.ticks.subscribe();
        WatcherBody {
            kind: Kind::Tail(Box::new(TailStream {
                inner,
                tail,
                id,
                seen,
            })),
        }
    }
}

impl ::core::fmt::Debug for WatcherBody {
    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
        match &self.kind {
            Kind::Full(b) => f.debug_tuple("Full").field(b).finish(),
            Kind::Tail(t) => f.debug_tuple("Tail").field(&t.tail).finish(),
        }
    }
}

impl http_body::Body for WatcherBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Tail(t) => loop {
                match t.inner.ticks.poll(t.id, t.seen, cx.waker()) {
                    Tick::Closed => return Poll::Ready(None),
                    Tick::Pending => return Poll::Pending,
                    Tick::New(n) => {
                        t.seen = n;
                        let mut line = String::new();
                        if t.inner.tail_line(&t.tail, &mut line) {
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(line)))));
                        }
                    }
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Tail(_) => SizeHint::default(),
        }
    }
}
