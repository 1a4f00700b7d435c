//! The layer's `calling` and `writing` gauges are exact under 100
//! concurrent requests to an axum server: requests held inside the
//! application, responses streaming, clients that hang up mid-body.
#![cfg(feature = "axum")]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use raindrops::{KernelSource, MiddlewareStats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Sends a request and reads until `until` appears in what came back
/// (headers and body so far); returns the connection and the bytes.
async fn request_until(addr: SocketAddr, path: &str, until: &[u8]) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(until.len()).any(|w| w == until) {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    (s, got)
}

async fn page(addr: SocketAddr) -> String {
    let (_s, got) = request_until(addr, "/_raindrops", b"\nwriting: ").await;
    let text = String::from_utf8_lossy(&got).into_owned();
    text.split("\r\n\r\n").nth(1).unwrap_or("").to_string()
}

/// `(calling, writing)` as the stats page shows them.
async fn shown(addr: SocketAddr) -> (usize, usize) {
    let p = page(addr).await;
    let num = |key: &str| -> usize {
        p.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(usize::MAX)
    };
    (num("calling:"), num("writing:"))
}

async fn eventually(addr: SocketAddr, stats: &MiddlewareStats, want: (usize, usize)) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let direct = (stats.calling().get(), stats.writing().get());
        // Never more than are in flight.
        assert!(direct.0 <= 100 && direct.1 <= 100, "{direct:?}");
        if direct == want && shown(addr).await == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gauges {direct:?}, page {:?}, want {want:?}",
            shown(addr).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[test]
fn calling_and_writing_are_exact_under_100_concurrent_requests() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (open_app, app_gate) = watch::channel(false);
        let (open_bodies, body_gate) = watch::channel(false);
        let held = move || common::gated::held_until(app_gate.clone(), "held\n");
        let stream = move || async move {
            common::gated::stream_until(body_gate.clone(), b"first\n", b"last\n")
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(MiddlewareStats::new());
        let source = KernelSource::new([addr.to_string()]).unwrap();
        let app = Router::new()
            .route("/held", get(held))
            .route("/stream", get(stream))
            .layer(raindrops::layer_with(Arc::clone(&stats), source));
        tokio::spawn(async move { axum::serve(listener, app).await });

        // 60 requests held inside the application, 40 responses streaming
        // (their first chunk read), all at once.
        let held: Vec<_> = (0..60)
            .map(|_| tokio::spawn(async move { request_until(addr, "/held", b"held\n").await.1 }))
            .collect();
        let mut streams: Vec<_> = (0..40)
            .map(|_| tokio::spawn(async move { request_until(addr, "/stream", b"first\n").await }))
            .collect();
        // Each streaming client has its first chunk: 40 writing, and the
        // held ones all entered the application.
        let mut open = Vec::new();
        for s in streams.drain(..) {
            open.push(s.await.unwrap());
        }
        eventually(addr, &stats, (60, 40)).await;
        // The same numbers on every look while nothing moves.
        for _ in 0..5 {
            assert_eq!(shown(addr).await, (60, 40));
        }

        // The application answers the held ones: calling drops to 0, and
        // their bodies end.
        let _ = open_app.send(true);
        for h in held {
            assert!(h.await.unwrap().ends_with(b"held\n"));
        }
        eventually(addr, &stats, (0, 40)).await;

        // Ten streaming clients hang up mid-body: their bodies are dropped.
        for (s, _) in open.drain(..10) {
            drop(s);
        }
        eventually(addr, &stats, (0, 30)).await;

        // The other thirty finish.
        let _ = open_bodies.send(true);
        for (mut s, mut got) in open {
            while !got.windows(5).any(|w| w == b"last\n") {
                let mut buf = [0u8; 256];
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
        }
        eventually(addr, &stats, (0, 0)).await;
    });
}
