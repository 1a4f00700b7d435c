//! The embedded Watcher mounted in an axum application under a prefix,
//! sampling in a tokio task: the pages of `raindrops serve` (the suite
//! that raindrops-cli's tests also run against the command).
#![cfg(feature = "axum")]

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use raindrops::{KernelSource, Watcher, WatcherOptions};
use raindrops_testutil::watcher_suite::{self, Base, Fixture};

#[test]
fn watcher_in_axum_answers_the_suite() {
    let f = Fixture::new("axum");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // The application's code: a watcher over the listeners, mounted.
        let options = WatcherOptions::new().delay(Duration::from_millis(100));
        let watcher = Watcher::spawn_tokio(KernelSource::new(f.names()).unwrap(), options);
        let app = Router::new()
            .route("/", get(|| async { "the application" }))
            .nest_service("/watch", watcher.service());
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    });
    // The application still answers its own paths.
    let own = watcher_suite::request(Base { addr, prefix: "" }, "GET", "/", &[]);
    assert_eq!(own.body, "the application");
    // `run` blocks: the server runs on the runtime's worker threads.
    watcher_suite::run(
        Base {
            addr,
            prefix: "/watch",
        },
        &f,
    );
    drop(rt);
}
