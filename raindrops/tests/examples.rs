//! The examples end to end: the axum example and the preforking tokio
//! example run as processes (`cargo test` builds them), asked over HTTP,
//! compared with Ruby's middleware, stopped with SIGTERM.
#![cfg(all(feature = "axum", feature = "shm"))]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::{KeepAlive, http};

/// `cargo test` builds the examples next to the test binaries.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name)
}

struct Running {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Running {
    fn start(name: &str, args: &[&str]) -> (Running, String) {
        let mut child = Command::new(example(name))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run the {name} example (built by cargo test): {e}"));
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        (Running { child, out }, first)
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.out.read_line(&mut l).unwrap();
        l
    }

    fn signal(&self, sig: i32) {
        // SAFETY: signalling the child we started.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// SIGTERM, then the exit status within 40 s.
    fn stop(mut self) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address after `key` in `line` (up to `,` or `/`).
fn addr_after(line: &str, key: &str) -> SocketAddr {
    line.split(key)
        .nth(1)
        .and_then(|r| r.split([',', '/', ' ', '\n']).next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no {key:?} address in {line:?}"))
}

const RUBY: &str = r#"
app = Raindrops::Middleware.new(lambda { |env| [200, {}, []] }, listeners: ARGV)
print Rack::MockRequest.new(app).get("/_raindrops").body
"#;

fn header_num(a: &common::Answer, name: &str) -> u64 {
    a.header(name).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[test]
fn axum_example_end_to_end() {
    let (srv, first) = Running::start("axum", &["127.0.0.1:0"]);
    let addr = addr_after(&first, "listening on ");
    let mut opened = 0u64;
    // Three keep-alive connections: active 3.
    let mut conns: Vec<KeepAlive> = (0..3).map(|_| KeepAlive::connect(addr)).collect();
    opened += 3;
    assert_eq!(conns[1].get("/", &[]).text(), "hello from axum\n");
    assert_eq!(conns[2].get("/", &[]).text(), "hello from axum\n");
    let body = conns[0].get("/_raindrops", &[]).text();
    assert_eq!(
        body,
        format!("calling: 0\nwriting: 0\n{addr} active: 3\n{addr} queued: 0\n")
    );
    let libs = ["raindrops", "rack", "rack/mock"];
    if let Some(ruby) = raindrops_testutil::ruby(&libs, RUBY, &[&addr.to_string()]) {
        assert_eq!(body, ruby, "Ruby's middleware on the same listener");
    }
    // A request inside the application: calling 1, on the layer's page and
    // on the Watcher's (which shows the same gauges).
    let slow = std::thread::spawn(move || http(addr, "GET", "/sleep?ms=1500", &[]));
    opened += 1;
    common::wait_until("calling 1", || {
        conns[0]
            .get("/_raindrops", &[])
            .text()
            .starts_with("calling: 1\n")
    });
    // The Watcher's own request is in the application too: calling 2.
    let w = conns[1].get("/raindrops/_raindrops", &[]).text();
    assert!(w.starts_with("calling: 2\nwriting: 0\n"), "{w}");
    assert_eq!(slow.join().unwrap().text(), "slept 1500 ms\n");
    let index = conns[1].get("/raindrops/", &[]).text();
    assert!(index.contains(&format!(">{addr}</a>")), "{index}");
    // Every connection was accepted through the hook: counted once.
    common::wait_until("every accept recorded", || {
        header_num(&conns[2].get("/raindrops/last_data_recv", &[]), "x-count") == opened
    });
    drop(conns);
    assert!(srv.stop().success());
}

fn prefork(reuseport: bool) {
    let mut args = vec![
        "--workers",
        "2",
        "--listen",
        "127.0.0.1:0",
        "--stats",
        "127.0.0.1:0",
    ];
    if reuseport {
        args.push("--reuseport");
    }
    let (mut srv, first) = Running::start("prefork_tokio", &args);
    let addr = addr_after(&first, "listening on ");
    let stats = addr_after(&first, "Watcher on http://");
    let workers: Vec<String> = (0..2)
        .map(|_| srv.line().trim().trim_start_matches("worker ").to_string())
        .collect();
    let mut opened = 0u64;
    // Requests are served by the workers.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20 {
        seen.insert(http(addr, "GET", "/pid", &[]).text().trim().to_string());
        opened += 1;
    }
    assert!(
        seen.iter().all(|p| workers.contains(p)),
        "{seen:?} {workers:?}"
    );
    if reuseport {
        assert_eq!(seen.len(), 2, "the kernel spreads 20 connections: {seen:?}");
    }
    // Three requests inside the application, on whichever workers: every
    // process sees calling 3 (shared memory), the master's Watcher too.
    let held: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(move || http(addr, "GET", "/sleep?ms=2000", &[])))
        .collect();
    opened += 3;
    common::wait_until("calling 3 from a worker", || {
        opened += 1;
        http(addr, "GET", "/_raindrops", &[])
            .text()
            .starts_with("calling: 3\nwriting: 0\n")
    });
    let m = http(stats, "GET", "/_raindrops", &[]).text();
    assert!(m.starts_with("calling: 3\nwriting: 0\n"), "{m}");
    assert!(m.contains(&format!("{addr} active: ")), "{m}");
    for h in held {
        assert_eq!(h.join().unwrap().text(), "slept 2000 ms\n");
    }
    // The master's LastDataRecv page: every accept of every worker.
    common::wait_until("every accept recorded", || {
        header_num(&http(stats, "GET", "/last_data_recv", &[]), "x-count") == opened
    });
    // A worker killed is replaced, and serving goes on.
    // SAFETY: signalling a worker of the example we started.
    unsafe { libc::kill(workers[0].parse().unwrap(), libc::SIGKILL) };
    let l = srv.line();
    assert!(
        l.starts_with(&format!("worker {} exited; worker ", workers[0])),
        "{l}"
    );
    for _ in 0..5 {
        assert_eq!(http(addr, "GET", "/", &[]).text(), "hello from a worker\n");
    }
    assert!(srv.stop().success());
}

#[test]
fn prefork_example_one_listener() {
    prefork(false);
}

#[test]
fn prefork_example_reuseport() {
    prefork(true);
}
