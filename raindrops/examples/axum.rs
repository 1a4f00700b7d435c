//! An axum application with everything raindrops offers a server author,
//! in a few lines of setup:
//!
//! - Ruby's middleware as a layer: `calling` and `writing` counted around
//!   every request, `/_raindrops` (Ruby's text, or JSON/Prometheus by
//!   `Accept`) and `/metrics` answered from the kernel's numbers for this
//!   process's own listeners;
//! - the accept hook: `axum::serve` on a `LastDataRecvListener` records how
//!   long each client waited in the accept queue (`TCP_DEFER_ACCEPT` set);
//! - the embedded Watcher under `/raindrops/`: the pages of
//!   `raindrops serve` (history, peaks, tail streams, reset) and
//!   `/raindrops/last_data_recv`, sampled every second by a tokio task.
//!
//! ```text
//! cargo run -p raindrops --example axum --features axum,shm -- 127.0.0.1:8080
//! curl http://127.0.0.1:8080/_raindrops
//! curl http://127.0.0.1:8080/raindrops/
//! curl http://127.0.0.1:8080/raindrops/last_data_recv
//! ```
//!
//! The application: `/` says hello, `/sleep?ms=N` takes N ms (at most 10 s)
//! inside the application. SIGTERM or SIGINT stop accepting and give the
//! requests in flight 30 s to finish. (`axum::serve` reads request headers
//! without a time limit; as for any `axum::serve` application, face the
//! internet through a proxy that has one.)

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::RawQuery;
use axum::routing::get;
use raindrops::{
    AtomicAggregate, KernelSource, LastDataRecvListener, MiddlewareStats, Watcher, WatcherOptions,
};
use tokio::signal::unix::{SignalKind, signal};

/// How long each client waited before its first data was read, in ms.
static WAITED_MS: AtomicAggregate = AtomicAggregate::new();

async fn hello() -> &'static str {
    "hello from axum\n"
}

/// `/sleep?ms=N`: N ms inside the application (100 by default, at most
/// 10 s).
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let addr = listener.local_addr()?;

    // --- raindrops: the setup. ---
    let stats = Arc::new(MiddlewareStats::new());
    let listener = LastDataRecvListener::new(listener, &WAITED_MS).defer_accept()?;
    let source = || KernelSource::own().map(|s| s.with_counts(Arc::clone(&stats)));
    let watcher = Watcher::spawn_tokio(
        source()?.with_last_data_recv(&WAITED_MS),
        WatcherOptions::new(),
    );
    let app = Router::new()
        .route("/", get(hello))
        .route("/sleep", get(sleep))
        .nest_service("/raindrops", watcher.service())
        .layer(raindrops::layer_with(Arc::clone(&stats), source()?));
    // --- end of the setup. ---

    println!("listening on {addr}, pages at http://{addr}/raindrops/");
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
        })
        .into_future();
    let server = tokio::spawn(server);
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    let _ = stop.send(());
    // Requests in flight get 30 s to finish.
    match tokio::time::timeout(Duration::from_secs(30), server).await {
        Ok(Ok(r)) => r?,
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => eprintln!("requests still in flight after 30 s: leaving"),
    }
    Ok(())
}
