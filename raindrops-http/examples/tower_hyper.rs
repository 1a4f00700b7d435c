//! Ruby's `Raindrops::Middleware` in front of a hyper 1 application, in one
//! line: `RaindropsLayer::new(stats, source).layer(app)`.
//!
//! Starts a server on 127.0.0.1 (a free port), asks it for `/` (the
//! application), `/_raindrops` (Ruby's text) and `/metrics` (OpenMetrics),
//! prints the answers and exits.
//!
//! Run: `cargo run -p raindrops-http --example tower_hyper --features tower`

use std::convert::Infallible;
use std::future::Ready;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use raindrops_core::{Family, ListenStats, Listener};
use raindrops_http::tower::RaindropsLayer;
use raindrops_http::{ListenerVisitor, MiddlewareStats, SourceError, StatsSource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_layer::Layer;

/// The listeners to show, as of the last refresh.
struct Listeners(Vec<Listener<String>>);

impl StatsSource for Listeners {
    fn refresh(&mut self) -> Result<(), SourceError> {
        // e.g. self.0 = raindrops_diag::tcp_listener_stats(...)?
        Ok(())
    }

    fn listeners(&self, visit: &mut ListenerVisitor<'_>) -> ControlFlow<()> {
        for l in &self.0 {
            visit(&l.as_ref())?;
        }
        ControlFlow::Continue(())
    }
}

/// The application: answers every request with a greeting.
#[derive(Clone)]
struct Hello;

impl tower_service::Service<http::Request<hyper::body::Incoming>> for Hello {
    type Response = http::Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<hyper::body::Incoming>) -> Self::Future {
        std::future::ready(Ok(http::Response::new(Full::new(Bytes::from(
            "hello from the application\n",
        )))))
    }
}

async fn get(addr: std::net::SocketAddr, path: &str, accept: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // Shared by every worker; a prefork server would put it in shared
    // memory (raindrops-shm) instead of an Arc.
    let stats = Arc::new(MiddlewareStats::new());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local_addr");

    // A source owning its listener table; `refresh` is where a server
    // queries raindrops-diag (fixed numbers here).
    let source = Arc::new(Mutex::new(Listeners(vec![Listener::new(
        addr.to_string(),
        Family::of_addr(&addr),
        ListenStats::new(1, 0).with_backlog(1024).with_drops(0),
    )])));

    let service = RaindropsLayer::new(Arc::clone(&stats), source).layer(Hello);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    for (path, accept) in [
        ("/", "*/*"),
        ("/_raindrops", "*/*"),
        ("/metrics", "application/openmetrics-text"),
    ] {
        println!("=== GET {path}\n{}", get(addr, path, accept).await);
    }
}
