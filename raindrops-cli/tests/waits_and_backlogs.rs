//! The command's outputs of the Unix backlog (issue 14) and the
//! accept-queue waits (issue 19), on real sockets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use raindrops_testutil::exposition::sample;

mod common;
use common::BIN;

fn raindrops(args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run raindrops");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(args: &[&str]) -> String {
    String::from_utf8(raindrops(args).stdout).unwrap()
}

/// The table's header and the row of `name`, split on blanks.
fn row<'a>(table: &'a str, name: &str) -> (Vec<&'a str>, Vec<&'a str>) {
    let mut lines = table.lines();
    let header = lines.next().unwrap().split_whitespace().collect();
    let row = lines
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|r| r.first() == Some(&name))
        .unwrap_or_else(|| panic!("no row {name} in\n{table}"));
    (header, row)
}

fn cell<'a>(table: &'a str, name: &str, column: &str) -> &'a str {
    let (header, row) = row(table, name);
    let i = header.iter().position(|h| *h == column).unwrap();
    row[i]
}

struct TempDir(String);
impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("rd-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p.to_str().unwrap().to_string())
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Reap(std::process::Child);
impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// A Unix listener's backlog is in the default table, JSON, Prometheus
/// text and `serve`'s /metrics.
#[test]
fn unix_backlog_in_every_output() {
    let dir = TempDir::new("backlog");
    let path = format!("{}/app.sock", dir.0);
    let l = UnixListener::bind(&path).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&l);
    // SAFETY: listen(2) on a socket descriptor this test owns.
    let r = unsafe { libc::listen(fd, 7) };
    assert_eq!(r, 0);
    let _c: Vec<_> = (0..2)
        .map(|_| UnixStream::connect(&path).unwrap())
        .collect();

    let table = stdout(&["listeners", &path]);
    assert_eq!(cell(&table, &path, "BACKLOG"), "7", "{table}");
    assert_eq!(cell(&table, &path, "QUEUED"), "2", "{table}");
    let all = stdout(&["listeners"]);
    assert_eq!(cell(&all, &path, "BACKLOG"), "7", "{all}");
    let json = stdout(&["listeners", "--format", "json", &path]);
    assert!(json.contains("\"queued\":2,\"backlog\":7,"), "{json}");
    let prom = stdout(&["listeners", "--format", "prometheus", &path]);
    assert_eq!(
        sample(&prom, "raindrops_listener_backlog", &[("listener", &path)]),
        Some(7.0),
        "{prom}"
    );

    let mut child = Reap(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "-d", "0.2", &path])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut err = BufReader::new(child.0.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let port: u16 = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    let metrics = http_get(port, "/metrics");
    assert_eq!(
        sample(
            &metrics,
            "raindrops_listener_backlog",
            &[("listener", &path)]
        ),
        Some(7.0),
        "{metrics}"
    );
}

/// `listeners --queue-wait` shows how long the connections in a TCP
/// listener's accept queue have waited (table and JSON), and `watch -w`
/// the oldest; without the flag, nothing of it.
#[test]
fn queue_waits_in_listeners_and_watch() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let first = Instant::now();
    let mut clients = vec![TcpStream::connect(&addr).unwrap()];
    std::thread::sleep(Duration::from_millis(300));
    clients.extend((0..2).map(|_| TcpStream::connect(&addr).unwrap()));
    std::thread::sleep(Duration::from_millis(100));

    let plain = stdout(&["listeners", &addr]);
    assert!(!plain.contains("WAIT"), "{plain}");
    let json = stdout(&["listeners", "--format", "json", &addr]);
    assert!(json.contains("\"queue_wait_oldest_ms\":null"), "{json}");

    let before = first.elapsed().as_millis() as u64;
    let table = stdout(&["listeners", "--queue-wait", &addr]);
    let after = first.elapsed().as_millis() as u64;
    let oldest: u64 = cell(&table, &addr, "WAIT_OLDEST").parse().unwrap();
    // The test's own clock brackets the first client's age; 50 ms for
    // jiffies and the time the command takes to query.
    assert!(
        oldest + 50 >= before && oldest <= after + 50,
        "{oldest} not in {before}..{after}: {table}"
    );
    let p50: u64 = cell(&table, &addr, "WAIT_P50").parse().unwrap();
    let p99: u64 = cell(&table, &addr, "WAIT_P99").parse().unwrap();
    assert!(p50 + 200 <= oldest && p99 == oldest, "{table}");
    let json = stdout(&["listeners", "-w", "--format", "json", &addr]);
    assert!(json.contains("\"queue_wait_oldest_ms\":"), "{json}");
    assert!(!json.contains("\"queue_wait_oldest_ms\":null"), "{json}");

    let out = raindrops(&["watch", "-w", "-n", "1", &addr]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.trim_end().ends_with("queued  oldest_ms"), "{err}");
    let line = String::from_utf8(out.stdout).unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[1..4], [addr.as_str(), "0", "3"], "{line}");
    let oldest: u64 = fields[4].parse().unwrap();
    assert!(oldest >= 400, "{line}");
    drop((l, clients));
}
