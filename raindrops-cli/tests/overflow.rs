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
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use raindrops_diag::proc_netstat::TcpExt;
use raindrops_testutil::netns::in_own_netns;

mod common;
use common::{BIN, raindrops, text};

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

/// `raindrops serve` on a port of its own, every listener included.
struct Serve {
    child: Child,
    port: u16,
}

impl Serve {
    fn start() -> Serve {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "-d",
                "0.5",
                "--all-ports",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut l = String::new();
        while !l.contains("serving http://") {
            l.clear();
            assert!(err.read_line(&mut l).unwrap() > 0, "serve ended");
        }
        let port = l
            .split("http://127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{l:?}"));
        Serve { child, port }
    }

    fn metrics(&self) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The series of `families` for the listeners `names`, one sample a
/// second for `steps` seconds while `during` runs, as promtool
/// `input_series` (a scrape interval of one minute in the test: promtool's
/// clock is compressed, a real second becomes a minute).
fn record(
    serve: &Serve,
    names: &[String],
    families: &[&str],
    steps: usize,
) -> Vec<(String, Vec<f64>)> {
    let mut series: Vec<(String, Vec<f64>)> = Vec::new();
    for _ in 0..steps {
        let m = serve.metrics();
        for line in m.lines().filter(|l| !l.starts_with('#')) {
            let Some((key, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let family = key.split('{').next().unwrap_or("");
            let ours = !key.contains("listener=")
                || names
                    .iter()
                    .any(|n| key.contains(&format!("listener=\"{n}\"")));
            if !families.contains(&family) || !ours {
                continue;
            }
            let Ok(v) = value.parse::<f64>() else {
                continue;
            };
            match series.iter_mut().find(|(k, _)| k == key) {
                Some((_, vals)) => vals.push(v),
                None => series.push((key.to_string(), vec![v])),
            }
        }
        thread::sleep(Duration::from_secs(1));
    }
    series
}

/// A promtool unit test of the shipped rules over recorded series, with
/// `expect` as its `promql_expr_test` entries.
fn promtool_test(name: &str, series: &[(String, Vec<f64>)], expect: &str) -> String {
    let rules = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../contrib/prometheus/raindrops-rules.yml"
    );
    let mut y = format!(
        "# Recorded by raindrops-cli/tests/overflow.rs ({name}): one sample a\n\
         # second from `raindrops serve`, replayed a minute apart.\n\
         rule_files:\n  - {rules}\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n"
    );
    for (key, vals) in series {
        let key = if key.contains('{') {
            key.replacen('{', "{job=\"raindrops\",instance=\"h:19187\",", 1)
        } else {
            format!("{key}{{job=\"raindrops\",instance=\"h:19187\"}}")
        };
        let vals: Vec<String> = vals.iter().map(|v| v.to_string()).collect();
        y += &format!(
            "      - series: '{key}'\n        values: '{}'\n",
            vals.join(" ")
        );
    }
    y += "    promql_expr_test:\n";
    y += expect;
    y
}

fn run_promtool(yaml: &str, name: &str) {
    if Command::new("promtool").arg("--version").output().is_err() {
        assert!(!raindrops_testutil::ruby_required(), "promtool is missing");
        eprintln!("skipped promtool for {name}: promtool is missing (apt-get install prometheus)");
        return;
    }
    let path =
        std::env::temp_dir().join(format!("raindrops-{name}-{}.test.yml", std::process::id()));
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{}{}\n{yaml}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // RAINDROPS_RECORD_SERIES=DIR keeps the recorded test for the
    // repository (contrib/prometheus/recorded/).
    if let Some(dir) = std::env::var_os("RAINDROPS_RECORD_SERIES") {
        let rel = yaml.replace(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../contrib/prometheus/"),
            "../",
        );
        std::fs::write(PathBuf::from(dir).join(format!("{name}.test.yml")), rel).unwrap();
    }
}

const RECORDED: [&str; 5] = [
    "raindrops_listener_overflows_total",
    "raindrops_listener_drops_total",
    "raindrops_listener_queued",
    "raindrops_listener_backlog",
    "raindrops_tcp_listen_overflows_total",
];

/// Scenario 1 recorded: a healthy TCP_DEFER_ACCEPT server under load; the
/// overflow alert stays silent while `drops` grows.
#[test]
fn the_rules_stay_silent_for_a_deferring_server() {
    if !in_own_netns("the_rules_stay_silent_for_a_deferring_server") {
        return;
    }
    let srv = Prefork::start(4);
    let serve = Serve::start();
    let load = load(srv.addr, 16, 60);
    let name = srv.addr.to_string();
    let series = record(&serve, std::slice::from_ref(&name), &RECORDED, 10);
    assert_eq!(load.join().unwrap(), 16 * 60);
    let drops = series
        .iter()
        .find(|(k, _)| k.starts_with("raindrops_listener_drops_total"))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no drops series: {series:?}"));
    assert!(
        drops.last() > drops.first(),
        "drops did not grow: {drops:?}"
    );
    let mut expect = String::new();
    for t in 2..10 {
        for alert in ["RaindropsListenerOverflowing", "RaindropsAcceptQueueFull"] {
            expect += &format!(
                "      - expr: ALERTS{{alertname=\"{alert}\",alertstate=\"firing\"}}\n        eval_time: {t}m\n        exp_samples: []\n"
            );
        }
    }
    let yaml = promtool_test("deferring-server", &series, &expect);
    run_promtool(&yaml, "deferring-server");
}

/// Scenario 2 recorded: a TCP listener and a Unix listener whose queues
/// overflow; the overflow alert fires for the TCP one and the
/// queue-saturation alert for both.
#[test]
fn the_rules_fire_for_overflowing_tcp_and_full_unix_queues() {
    if !in_own_netns("the_rules_fire_for_overflowing_tcp_and_full_unix_queues") {
        return;
    }
    let (_fd, tcp) = listener(1, false);
    let path = std::env::temp_dir().join(format!("raindrops-full-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
    // SAFETY: listen() again on our own listening socket only changes its
    // backlog.
    let r = unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&unix), 1) };
    assert_eq!(r, 0);
    let _waiting: Vec<_> = (0..2)
        .map(|_| std::os::unix::net::UnixStream::connect(&path).unwrap())
        .collect();
    let serve = Serve::start();
    let knock = thread::spawn(move || overflow(tcp, 1, Duration::from_secs(11)));
    let names = [tcp.to_string(), path.to_str().unwrap().to_string()];
    let series = record(&serve, &names, &RECORDED, 10);
    drop(knock.join());
    let labels = |alert: &str, name: &str, family: &str, severity: &str| {
        format!(
            "ALERTS{{job=\"raindrops\",instance=\"h:19187\",alertname=\"{alert}\",alertstate=\"firing\",\
             listener=\"{name}\",family=\"{family}\",severity=\"{severity}\"}}"
        )
    };
    let t = 9;
    let check = |alert: &str, firing: &[String]| {
        let mut e = format!(
            "      - expr: ALERTS{{alertname=\"{alert}\",alertstate=\"firing\"}}\n        eval_time: {t}m\n        exp_samples:\n"
        );
        for l in firing {
            e += &format!("          - labels: '{l}'\n            value: 1\n");
        }
        e
    };
    let expect = check(
        "RaindropsListenerOverflowing",
        &[labels(
            "RaindropsListenerOverflowing",
            &names[0],
            "tcp4",
            "critical",
        )],
    ) + &check(
        "RaindropsAcceptQueueFull",
        &[
            labels("RaindropsAcceptQueueFull", &names[0], "tcp4", "critical"),
            labels("RaindropsAcceptQueueFull", &names[1], "unix", "critical"),
        ],
    );
    let yaml = promtool_test("overflowing-listeners", &series, &expect);
    run_promtool(&yaml, "overflowing-listeners");
    let _ = std::fs::remove_file(&path);
}
