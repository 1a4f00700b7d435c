//! Overflow signals against the real kernel: a healthy `TCP_DEFER_ACCEPT`
//! server (whose `drops` grow with every connection) does not fire, real
//! accept-queue overflows do, and two listeners at once each get their own
//! verdict.
//!
//! Each scenario runs in a network namespace of its own (the test binary
//! runs itself again under `unshare -n`), so that the namespace's
//! `ListenOverflows` and `TCPDeferAcceptDrop` counters see only the
//! scenario's sockets, not those of other tests running at the same time.
//! Making a namespace needs root; without it the tests print why and skip
//! (and fail with `RAINDROPS_REQUIRE_RUBY=1`, as CI runs them).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use raindrops_diag::proc_netstat::TcpExt;

const BIN: &str = env!("CARGO_BIN_EXE_raindrops");
const INNER: &str = "RAINDROPS_TEST_IN_NETNS";

/// Runs the test `name` again inside a new network namespace and returns
/// false; returns true when already inside (the caller runs the scenario).
fn in_own_netns(name: &str) -> bool {
    if std::env::var_os(INNER).is_some() {
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status();
        assert!(up.is_ok_and(|s| s.success()), "ip link set lo up");
        return true;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        let why = "needs root to make a network namespace (unshare -n)";
        assert!(
            !raindrops_testutil::ruby_required(),
            "{name}: {why}, and RAINDROPS_REQUIRE_RUBY=1"
        );
        eprintln!("skipped {name}: {why}");
        return false;
    }
    let out = Command::new("unshare")
        .arg("-n")
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads", "1"])
        .env(INNER, "1")
        .output()
        .expect("run unshare (util-linux)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{name} in its namespace:\n{text}");
    assert!(text.contains("1 passed"), "{name} did not run:\n{text}");
    false
}

/// A TCP listener on 127.0.0.1 with this backlog, with `TCP_DEFER_ACCEPT`
/// when asked; it never accepts.
#[allow(clippy::multiple_unsafe_ops_per_block)]
fn listener(backlog: i32, defer: bool) -> (OwnedFd, SocketAddr) {
    // SAFETY: plain socket calls on a descriptor we own; every pointer
    // passed points to a live local of the size given.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let fd = OwnedFd::from_raw_fd(fd);
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let r = libc::bind(fd.as_raw_fd(), (&raw const sa).cast(), len);
        assert_eq!(r, 0);
        if defer {
            let secs: libc::c_int = 5;
            let r = libc::setsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                (&raw const secs).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
            assert_eq!(r, 0);
        }
        assert_eq!(libc::listen(fd.as_raw_fd(), backlog), 0);
        let mut out: libc::sockaddr_in = std::mem::zeroed();
        let mut olen = len;
        let r = libc::getsockname(fd.as_raw_fd(), (&raw mut out).cast(), &mut olen);
        assert_eq!(r, 0);
        let port = u16::from_be(out.sin_port);
        (fd, SocketAddr::from(([127, 0, 0, 1], port)))
    }
}

fn raindrops(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run raindrops")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The listener's drop counter as `ss -ltm` shows it (`d<N>`).
fn ss_drops(addr: &SocketAddr) -> u64 {
    let out = Command::new("ss")
        .args(["-Htlnm", &format!("sport = :{}", addr.port())])
        .output()
        .expect("run ss");
    let s = text(&out.stdout);
    s.split(|c: char| c == ',' || c == '(' || c == ')' || c.is_whitespace())
        .find_map(|w| w.strip_prefix('d').and_then(|n| n.parse().ok()))
        .unwrap_or_else(|| panic!("no d<N> in ss output {s:?}"))
}

/// The listener's drops as `raindrops listeners --format json` reports them.
fn our_drops(addr: &SocketAddr) -> u64 {
    let s = text(&raindrops(&["listeners", "--format", "json", &addr.to_string()]).stdout);
    let v = s.split("\"drops\":").nth(1).expect("drops in JSON");
    v.split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{s}"))
}

fn listen_overflows() -> u64 {
    TcpExt::read_current_thread()
        .expect("read /proc/thread-self/net/netstat")
        .listen_overflows
        .expect("ListenOverflows")
}

/// The prefork example (TCP_DEFER_ACCEPT, forked workers that accept at
/// once), built next to this test by `cargo test`.
struct Prefork {
    child: Child,
    _out: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl Prefork {
    fn start(workers: usize) -> Prefork {
        let exe = std::env::current_exe().unwrap();
        let example: PathBuf = exe
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("examples/prefork");
        let name = format!("raindrops-overflow-test-{}", std::process::id());
        let mut child = Command::new(example)
            .args(["--listen", "127.0.0.1:0", "--workers", &workers.to_string()])
            .args(["--name", &name])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the prefork example (built by cargo test)");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let addr = first
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("{first:?}"));
        for _ in 0..workers {
            let mut l = String::new();
            out.read_line(&mut l).unwrap();
        }
        Prefork {
            child,
            _out: out,
            addr,
        }
    }
}

impl Drop for Prefork {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// `clients` threads each making `requests` HTTP requests to `addr` (a
/// healthy server under concurrent load).
fn load(addr: SocketAddr, clients: usize, requests: usize) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                thread::spawn(move || {
                    let mut ok = 0;
                    for _ in 0..requests {
                        let Ok(mut s) = TcpStream::connect(addr) else {
                            continue;
                        };
                        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                        let mut body = Vec::new();
                        if s.write_all(b"GET / HTTP/1.0\r\n\r\n").is_ok()
                            && s.read_to_end(&mut body).is_ok()
                            && body.starts_with(b"HTTP/1.")
                        {
                            ok += 1;
                        }
                    }
                    ok
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    })
}

/// Fills the accept queue of a never-accepting `addr` (backlog + 1
/// connections that send a byte, for TCP_DEFER_ACCEPT), then keeps
/// knocking for `for_how_long` with short connection attempts, each of
/// whose SYNs the kernel drops.
fn overflow(addr: SocketAddr, backlog: usize, for_how_long: Duration) -> Vec<TcpStream> {
    let mut queued = Vec::new();
    for _ in 0..=backlog {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"x").unwrap();
        queued.push(s);
    }
    let end = Instant::now() + for_how_long;
    let knockers: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(move || {
                while Instant::now() < end {
                    let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(300));
                }
            })
        })
        .collect();
    for k in knockers {
        let _ = k.join();
    }
    queued
}

#[test]
fn a_deferring_server_under_load_does_not_overflow() {
    if !in_own_netns("a_deferring_server_under_load_does_not_overflow") {
        return;
    }
    let srv = Prefork::start(4);
    let addr = srv.addr.to_string();
    let drops_before = our_drops(&srv.addr);
    let overflows_before = listen_overflows();
    let load = load(srv.addr, 32, 12);
    let check = raindrops(&["check", "-i", "2", &addr]);
    let served = load.join().unwrap();
    assert_eq!(served, 32 * 12, "every request was served");
    assert_eq!(
        check.status.code(),
        Some(0),
        "check fired on a healthy deferring server: {}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
    assert_eq!(listen_overflows(), overflows_before, "no overflow happened");
    // The raw drop counter grew, one per deferred handshake ACK, as ss says.
    let drops_after = our_drops(&srv.addr);
    assert!(
        drops_after >= drops_before + 32 * 12 / 2,
        "{drops_before} -> {drops_after}"
    );
    assert_eq!(drops_after, ss_drops(&srv.addr));
}

fn overflowing_listener(defer: bool) {
    let (_fd, addr) = listener(1, defer);
    let name = addr.to_string();
    let check = Command::new(BIN)
        .args(["check", "-i", "3", &name])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    let _queued = overflow(addr, 1, Duration::from_millis(2000));
    let out = check.wait_with_output().unwrap();
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{report}");
    let line = report
        .lines()
        .find(|l| l.starts_with(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no verdict for {name}: {report}"));
    assert!(line.contains("overflowed"), "{line}");
    assert!(
        !line.contains("estimated"),
        "one listener dropped: exact ({line})"
    );
    assert!(line.contains("full: 2/1"), "{line}");
    assert!(ss_drops(&addr) > 0);
}

#[test]
fn a_plain_listener_that_overflows_is_named() {
    if in_own_netns("a_plain_listener_that_overflows_is_named") {
        overflowing_listener(false);
    }
}

#[test]
fn a_deferring_listener_that_overflows_is_named() {
    if in_own_netns("a_deferring_listener_that_overflows_is_named") {
        overflowing_listener(true);
    }
}

#[test]
fn an_overflowing_and_a_deferring_listener_each_get_their_verdict() {
    if !in_own_netns("an_overflowing_and_a_deferring_listener_each_get_their_verdict") {
        return;
    }
    let srv = Prefork::start(4);
    let (_fd, full) = listener(1, false);
    let load = load(srv.addr, 16, 40);
    let check = Command::new(BIN)
        .args(["check", "-i", "3", &full.to_string(), &srv.addr.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    let _queued = overflow(full, 1, Duration::from_millis(2000));
    let out = check.wait_with_output().unwrap();
    let served = load.join().unwrap();
    assert_eq!(served, 16 * 40);
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{report}");
    let line = report
        .lines()
        .find(|l| l.starts_with(&format!("{full}: ")))
        .unwrap_or_else(|| panic!("no verdict for {full}: {report}"));
    assert!(line.contains("overflowed"), "{line}");
    assert!(
        !report.contains(&srv.addr.to_string()),
        "the healthy deferring server got a verdict: {report}"
    );
}
