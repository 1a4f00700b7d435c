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
            normalized(&a.body)
        };
        let (serve, embedded) = (get(serve_addr), get(embedded_addr));
        if path == "/metrics" {
            // Both follow accept-queue waits and overflows.
            for family in [
                "# TYPE raindrops_listener_overflows_total counter",
                "# TYPE raindrops_listener_queue_wait_oldest_seconds gauge",
                "# TYPE raindrops_listener_queue_wait_seconds histogram",
                "# TYPE raindrops_tcp_listen_overflows_total counter",
            ] {
                assert!(serve.iter().any(|l| l == family), "{family}: {serve:#?}");
            }
            let overflows = format!(
                "raindrops_listener_overflows_total{{listener=\"{}\",family=\"tcp4\"}} 0",
                f.tcp
            );
            assert!(serve.contains(&overflows), "{serve:#?}");
        } else if accept == "application/json" {
            assert!(serve[0].contains("\"overflows\":0,"), "{serve:#?}");
            assert!(
                serve[0].contains("\"queue_wait_oldest_ms\":N"),
                "{serve:#?}"
            );
        }
        assert_eq!(serve, embedded, "{path} {accept}");
    }
}

/// Serve's self-metrics (its sampler and HTTP server), which the embedded
/// Watcher does not have.
const SERVE_ONLY: [&str; 5] = [
    "raindrops_build_info",
    "raindrops_sample",
    "raindrops_last_sample",
    "raindrops_listeners_left_out",
    "raindrops_http_",
];

/// A page without what may differ between two servers sampling the same
/// listeners at different moments: JSON up to its histograms (their counts
/// of samples differ), the ages of queued connections and the namespace
/// counters (other tests run alongside) as `N`; without serve's
/// self-metrics. Everything else, names and help texts included, stays.
fn normalized(body: &str) -> Vec<String> {
    let body = body.split("\"histograms\"").next().unwrap_or("");
    let mut body = body.to_string();
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
                out.push('N');
            }
            rest = &rest[n..];
        }
        out.push_str(rest);
        body = out;
    }
    body.lines()
        .filter(|l| {
            let name = l
                .strip_prefix("# HELP ")
                .or_else(|| l.strip_prefix("# TYPE "))
                .unwrap_or(l);
            !SERVE_ONLY.iter().any(|p| name.starts_with(p))
        })
        .map(|l| {
            let varies = [
                "raindrops_watcher_",
                "raindrops_tcp_",
                "raindrops_listener_queue_wait",
            ]
            .iter()
            .any(|p| l.starts_with(p));
            match l.rsplit_once(' ') {
                Some((series, _)) if varies => format!("{series} N"),
                _ => l.to_string(),
            }
        })
        .collect()
}
