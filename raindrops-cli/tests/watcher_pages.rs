//! The Watcher embedded in a hyper server (the facade crate's
//! `raindrops::Watcher`) answers the same pages as `raindrops serve`: one
//! suite (raindrops-testutil's `watcher_suite`) runs against both, for the
//! same listeners in the same state.

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use raindrops::{KernelSource, Watcher, WatcherOptions};
use raindrops_testutil::watcher_suite::{self, Base, Fixture};

const BIN: &str = env!("CARGO_BIN_EXE_raindrops");

struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `raindrops serve` sampling the fixture every 0.1 s.
fn serve(f: &Fixture) -> (Reap, SocketAddr) {
    let mut child = Reap(
        Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "-d",
                "0.1",
                "--allow-reset",
                "--all-ports",
            ])
            .args(f.names())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut err = BufReader::new(child.0.stderr.take().unwrap());
    let mut l = String::new();
    err.read_line(&mut l).unwrap();
    let addr = l
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {l:?}"));
    (child, addr)
}

/// The embedded Watcher over the fixture, sampling on its own thread every
/// 0.1 s, served by hyper at the root of a server of its own.
fn embedded(f: &Fixture) -> SocketAddr {
    let source = KernelSource::new(f.names()).unwrap();
    let options = WatcherOptions::new().delay(Duration::from_millis(100));
    let watcher = Watcher::spawn(source, options).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            // The few lines a hyper application writes to mount it.
            loop {
                let Ok((s, _)) = l.accept().await else {
                    continue;
                };
                let w = watcher.clone();
                let svc = hyper::service::service_fn(move |req| {
                    let res = w.respond_http(&req);
                    async move { Ok::<_, Infallible>(res) }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(s), svc),
                );
            }
        });
    });
    rx.recv().unwrap()
}

#[test]
fn embedded_watcher_answers_the_pages_of_raindrops_serve() {
    let f = Fixture::new("pages");
    let (_serve, serve_addr) = serve(&f);
    let embedded_addr = embedded(&f);
    for addr in [serve_addr, embedded_addr] {
        watcher_suite::run(Base { addr, prefix: "" }, &f);
    }
    // And the pages without a time in them are the same bytes.
    for (path, accept) in [
        ("/_raindrops", "*/*"),
        ("/_raindrops", "application/json"),
        ("/metrics", "text/plain"),
    ] {
        let get = |addr| {
            let a = watcher_suite::request(
                Base { addr, prefix: "" },
                "GET",
                path,
                &[("Accept", accept)],
            );
            // The histograms of samples differ in count: compare the
            // listeners (JSON up to its histograms, text without them).
            // `serve` also follows accept-queue overflows over time and
            // exports the machine's TCP drop counters (the command's own
            // code, not a library's): the embedded Watcher shows overflows
            // as unknown and has no machine counters.
            let body = a.body.split("\"histograms\"").next().unwrap_or("");
            // Likewise the accept-queue waits, which `serve` measures and
            // follows over time, and its self-metrics.
            let mut body = body.replace(
                "\"overflows\":0,\"overflows_estimated\":0",
                "\"overflows\":null,\"overflows_estimated\":null",
            );
            for key in ["oldest", "p50", "p90", "p99"] {
                let k = format!("\"queue_wait_{key}_ms\":");
                let mut out = String::new();
                let mut rest = body.as_str();
                while let Some(i) = rest.find(&k) {
                    out.push_str(&rest[..i + k.len()]);
                    rest = &rest[i + k.len()..];
                    let n = rest
                        .find(|c: char| !c.is_ascii_digit())
                        .unwrap_or(rest.len());
                    if n > 0 {
                        out.push_str("null");
                    }
                    rest = &rest[n..];
                }
                out.push_str(rest);
                body = out;
            }
            body.lines()
                .filter(|l| !l.starts_with("# "))
                .filter(|l| !l.starts_with("raindrops_") || l.starts_with("raindrops_listener_"))
                .filter(|l| !l.contains("overflows") && !l.contains("queue_wait"))
                .map(String::from)
                .collect::<Vec<_>>()
        };
        assert_eq!(get(serve_addr), get(embedded_addr), "{path} {accept}");
    }
}
