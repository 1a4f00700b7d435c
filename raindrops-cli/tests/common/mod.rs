//! Helpers for the tests of the `raindrops` binary: run it, start
//! `raindrops serve`, talk HTTP to it, read its metrics and its memory.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_raindrops");

/// Runs `raindrops ARGS` with stdin closed and returns what it did.
pub fn raindrops<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run raindrops")
}

/// Bytes as text, invalid UTF-8 replaced (for assertions and messages).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Kills the child when the test ends, however it ends.
pub struct Reap(pub Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `raindrops serve` child, killed when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    /// The rest of its stderr, read by a thread.
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `raindrops serve --listen 127.0.0.1:0 ARGS` and waits for
    /// its "serving" line.
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args([&["serve", "--listen", "127.0.0.1:0"][..], args].concat())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start raindrops serve");
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut port = None;
        let mut seen = String::new();
        for _ in 0..50 {
            let mut l = String::new();
            if err.read_line(&mut l).unwrap_or(0) == 0 {
                break;
            }
            seen.push_str(&l);
            if let Some(p) = l
                .split("://127.0.0.1:")
                .nth(1)
                .and_then(|r| r.split('/').next())
                .and_then(|p| p.parse().ok())
            {
                port = Some(p);
                break;
            }
        }
        let Some(port) = port else {
            let _ = child.kill();
            panic!("raindrops serve {args:?} did not start: {seen}");
        };
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let s = std::sync::Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut line = String::new();
            while err.read_line(&mut line).unwrap_or(0) > 0 {
                s.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        Server {
            child,
            port,
            stderr,
        }
    }

    /// `GET path` with `headers`, on a new connection.
    pub fn get(&self, path: &str) -> Response {
        request(self.port, "GET", path, &[])
    }

    /// The value of a sample of `/metrics` (self-metrics included).
    pub fn metric(&self, name_and_labels: &str) -> Option<f64> {
        metric(&self.get("/metrics").body, name_and_labels)
    }

    /// Resident memory of the server in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One request on a new connection (HTTP/1.0: the server closes it).
pub fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse(&String::from_utf8_lossy(&raw))
}

pub fn parse(raw: &str) -> Response {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Response {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// The value of the first sample line starting with `name_and_labels`
/// (exactly, then a space).
pub fn metric(body: &str, name_and_labels: &str) -> Option<f64> {
    body.lines().find_map(|l| {
        let rest = l.strip_prefix(name_and_labels)?.strip_prefix(' ')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Resident memory of `pid` in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Raises this process's soft RLIMIT_NOFILE to `n` (children inherit it).
pub fn raise_nofile(n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if lim.rlim_cur >= n {
        return;
    }
    lim.rlim_cur = n.min(lim.rlim_max);
    if lim.rlim_max < n {
        lim.rlim_max = n;
        lim.rlim_cur = n;
    }
    // SAFETY: setrlimit reads one rlimit from the struct we own.
    let r = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    assert_eq!(r, 0, "cannot raise RLIMIT_NOFILE to {n}");
}

/// Waits until `f` holds, at most `secs` seconds.
pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// Percentile `p` (0-100) of sorted durations.
pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let i = (sorted.len() * p / 100).min(sorted.len().saturating_sub(1));
    sorted[i]
}
