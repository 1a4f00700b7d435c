//! The `raindrops` binary against real sockets on loopback, with ground
//! truth built here, and against the Ruby gem's own script.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use raindrops_testutil::exposition::sample;

mod common;
use common::{BIN, Reap, Server, raindrops, text};

/// A listener on 127.0.0.1 with `accepted` accepted clients and `queued`
/// clients left in the accept queue.
struct Fixture {
    addr: String,
    _listener: TcpListener,
    _clients: Vec<TcpStream>,
    _accepted: Vec<TcpStream>,
}

fn fixture(accepted: usize, queued: usize) -> Fixture {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut clients = Vec::new();
    let mut acc = Vec::new();
    for _ in 0..accepted {
        clients.push(TcpStream::connect(&addr).unwrap());
        acc.push(listener.accept().unwrap().0);
    }
    for _ in 0..queued {
        clients.push(TcpStream::connect(&addr).unwrap());
    }
    Fixture {
        addr,
        _listener: listener,
        _clients: clients,
        _accepted: acc,
    }
}

/// The rows of a table printed by the command, as column -> cell (cells
/// hold no spaces in these tests).
fn table_rows(s: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = s.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    lines
        .map(|l| {
            header
                .iter()
                .map(|h| h.to_string())
                .zip(l.split_whitespace().map(String::from))
                .collect()
        })
        .collect()
}

#[test]
fn listeners_json_and_table_show_ground_truth() {
    let f = fixture(2, 3);
    let out = raindrops(&["listeners", "--format", "json", &f.addr]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    // The one JSON shape of raindrops-http (serve answers the same).
    assert!(
        s.starts_with("{\"calling\":null,\"writing\":null,\"listeners\":[{"),
        "{s}"
    );
    // The namespace's TcpExt counters come with it, as metrics.
    assert!(
        s.contains("}],\"metrics\":[{\"name\":\"raindrops_tcp_listen_overflows_total\""),
        "{s}"
    );
    assert!(s.ends_with(",\"histograms\":[]}\n"), "{s}");
    assert_eq!(s.matches("\"address\":").count(), 1, "{s}");
    for member in [
        format!("\"address\":\"{}\"", f.addr),
        "\"type\":\"tcp\"".into(),
        "\"active\":2,".into(),
        "\"queued\":3,".into(),
        "\"backlog\":128,".into(),
        "\"drops\":0,".into(),
        "\"syn_recv\":null".into(),
    ] {
        assert!(s.contains(&member), "{member} not in {s}");
    }
    let out = raindrops(&["listeners", &f.addr]);
    let row = table_rows(&text(&out.stdout)).remove(0);
    for (col, v) in [
        ("ADDRESS", f.addr.as_str()),
        ("ACTIVE", "2"),
        ("QUEUED", "3"),
        ("BACKLOG", "128"),
        ("DROPS", "0"),
    ] {
        assert_eq!(row.get(col).map(String::as_str), Some(v), "{col}: {row:?}");
    }
    let out = raindrops(&[
        "listeners",
        "--queued-only",
        "--format",
        "raindrops",
        &f.addr,
    ]);
    assert_eq!(
        text(&out.stdout),
        format!("{0} active: 0\n{0} queued: 3\n", f.addr)
    );
    // A LISTEN-only query has no active count: its gauge is left out of
    // the metrics rather than reported as 0.
    let out = raindrops(&[
        "listeners",
        "--queued-only",
        "--format",
        "prometheus",
        &f.addr,
    ]);
    let s = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!s.contains("raindrops_listener_active"), "{s}");
    assert_eq!(
        sample(&s, "raindrops_listener_queued", &[("listener", &f.addr)]),
        Some(3.0),
        "{s}"
    );
}

#[test]
fn no_arguments_lists_every_listener() {
    // The fixture is on an ephemeral port, left out by default
    // (tests/selection.rs tests that rule).
    let f = fixture(0, 1);
    let out = raindrops(&["--all-ports"]);
    assert!(out.status.success());
    let s = text(&out.stdout);
    assert!(s.starts_with("ADDRESS"), "{s}");
    assert!(
        s.lines()
            .any(|l| l.split_whitespace().next() == Some(f.addr.as_str())),
        "{s}"
    );
}

#[test]
fn bad_usage_exits_2_with_one_line_and_no_stdout() {
    for args in [
        &["listeners", "[1:::5"][..],
        &["listeners", "nope"],
        &["listeners", "127.0.0.1:99999"],
        &["counters", "/nonexistent/raindrops/file"],
        &["counters", "/etc/hostname"],
        &["listeners", "--bogus"],
        &["listeners", "127.0.0.1"],
        &["listeners", "1.2.3.4:99999"],
        &["watch"],
        &["watch", "-d", "-1", "127.0.0.1:1"],
        &["listeners", "--format", "yaml"],
        &["connections", "nope"],
        &["counters", "shm:raindrops-cli-test-does-not-exist"],
        &["serve", "--listen", "not-an-address"],
        &["check", "--max-saturation", "2"],
    ] {
        let out = raindrops(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = text(&out.stderr);
        assert!(!err.is_empty(), "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("raindrops: "), "{args:?}: {err}");
    }
}

#[test]
fn help_has_examples() {
    let out = raindrops(&["--help"]);
    assert!(out.status.success());
    let s = text(&out.stdout);
    assert!(
        s.contains("Examples:") && s.contains("raindrops watch"),
        "{s}"
    );
    for sub in [
        "listeners",
        "watch",
        "serve",
        "connections",
        "counters",
        "check",
    ] {
        let out = raindrops(&[sub, "--help"]);
        assert!(out.status.success(), "{sub}");
    }
}

#[test]
fn watch_prints_ruby_lines_and_stops_after_count() {
    let f = fixture(1, 2);
    let out = raindrops(&["watch", "-d", "0", "-n", "3", &f.addr]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 3, "{s}");
    let width = f.addr.len().max(7);
    for l in lines {
        // %20s % Ns % 10u % 10u
        assert_eq!(l.len(), 20 + 1 + width + 1 + 10 + 1 + 10, "{l:?}");
        assert!(
            l.ends_with(&format!("{} {:>10} {:>10}", f.addr, 1, 2)),
            "{l:?}"
        );
        assert!(l[..20].ends_with('Z') && l.as_bytes()[10] == b'T', "{l:?}");
    }
    let err = text(&out.stderr);
    assert!(err.contains("USR1(dump_aggregate) and USR2(reset) handlers ready for PID="));
    assert!(err.lines().any(|l| l
        == format!(
            "           timestamp {:>width$}     active     queued",
            "address"
        )));
    // The threshold hides listeners with fewer queued connections.
    let out = raindrops(&["watch", "-t", "3", &f.addr]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let out = raindrops(&["watch", "--drops", &f.addr]);
    assert!(text(&out.stdout).ends_with(&format!("{:>10} {:>10} {:>10}\n", 1, 2, 0)));
}

#[test]
fn watch_matches_the_ruby_script() {
    let script = "/usr/share/doc/ruby-raindrops/examples/linux-listener-stats.rb";
    if raindrops_testutil::ruby_missing(&["raindrops"]).is_some()
        || !std::path::Path::new(script).exists()
    {
        let _: Option<()> = raindrops_testutil::skip("ruby-raindrops and its example script");
        return;
    }
    let f = fixture(2, 1);
    let unix_dir = tempdir();
    let sock = format!("{unix_dir}/s.sock");
    let _ul = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let _uc = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    for args in [
        vec![f.addr.as_str()],
        vec![f.addr.as_str(), sock.as_str()],
        vec![sock.as_str()],
    ] {
        let ruby = Command::new("ruby")
            .arg(script)
            .args(&args)
            .output()
            .unwrap();
        assert!(ruby.status.success(), "{}", text(&ruby.stderr));
        let ours = raindrops(&[&["watch"][..], &args].concat());
        assert!(ours.status.success());
        // Same lines after the 20-column timestamp; same header.
        let strip = |o: &Output| -> Vec<String> {
            text(&o.stdout)
                .lines()
                .map(|l| l[20..].to_string())
                .collect()
        };
        assert_eq!(strip(&ours), strip(&ruby), "{args:?}");
        assert_eq!(text(&ours.stderr), text(&ruby.stderr), "{args:?}");
    }
    let _ = std::fs::remove_dir_all(unix_dir);
}

fn tempdir() -> String {
    let d = std::env::temp_dir().join(format!(
        "raindrops-cli-{}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    let d = d.to_string_lossy().replace(['{', '}', ' ', ':'], "");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn kill(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn watch_signals() {
    let f = fixture(0, 1);
    let mut child = Reap(
        Command::new(BIN)
            .args(["watch", "-d", "0.1", &f.addr])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut child.0;
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains(&f.addr));
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut l = String::new();
    while !l.contains("timestamp") {
        l.clear();
        err.read_line(&mut l).unwrap();
    }
    kill(child.id(), "-USR1");
    let mut dump = String::new();
    while !dump.contains(" queued ---") || !dump.ends_with("\n\n") {
        let mut l = String::new();
        if err.read_line(&mut l).unwrap() == 0 {
            break;
        }
        dump.push_str(&l);
    }
    // Ruby's dump, per listener.
    assert!(
        dump.starts_with(&format!("--- {} active ---\ncount=", f.addr)),
        "{dump}"
    );
    assert!(
        dump.contains(&format!("--- {} queued ---\ncount=", f.addr)),
        "{dump}"
    );
    assert!(
        dump.contains("outliers_low=") && dump.contains("std_dev="),
        "{dump}"
    );
    kill(child.id(), "-USR2");
    kill(child.id(), "-INT");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
}

#[test]
fn closed_pipe_exits_quietly() {
    let f = fixture(0, 0);
    let mut child = Reap(
        Command::new(BIN)
            .args(["watch", "-d", "0", &f.addr])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut child.0;
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 100];
    let _ = out.read(&mut buf).unwrap();
    drop(out);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!err.contains("raindrops:"), "{err}");
}

#[test]
fn connections_lists_accepted_clients_with_tcp_info() {
    let f = fixture(2, 0);
    let out = raindrops(&["connections", "--format", "json", &f.addr]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert_eq!(s.matches("\"state\":\"ESTABLISHED\"").count(), 2, "{s}");
    assert!(s.contains(&format!("\"local\":\"{}\"", f.addr)), "{s}");
    assert!(!s.contains("\"rtt_us\":null"), "{s}");
    let out = raindrops(&["connections", &f.addr]);
    let table = text(&out.stdout);
    assert_eq!(table.lines().count(), 3);
    // The default table fits a 100-column terminal; --wide has every field.
    assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
    let out = raindrops(&["connections", "--wide", &f.addr]);
    let wide = text(&out.stdout);
    let rows = table_rows(&wide);
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter().all(|r| r["CWND"] != "-" && r["INODE"] != "0"),
        "{wide}"
    );
}

fn http_get(port: u16, req: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serve_answers_and_stops_on_sigterm() {
    let f = fixture(1, 1);
    let mut child = Reap(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "-d", "0.2", &f.addr])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut child.0;
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut l = String::new();
    err.read_line(&mut l).unwrap();
    let port: u16 = l
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {l:?}"));
    let r = http_get(port, "GET /_raindrops HTTP/1.0\r\n\r\n");
    assert!(
        r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"),
        "{r}"
    );
    assert!(
        r.ends_with(&format!(
            "calling: 0\nwriting: 0\n{0} active: 1\n{0} queued: 1\n",
            f.addr
        )),
        "{r}"
    );
    let r = http_get(port, "GET /metrics HTTP/1.0\r\n\r\n");
    assert_eq!(
        sample(&r, "raindrops_listener_queued", &[("listener", &f.addr)]),
        Some(1.0),
        "{r}"
    );
    let r = http_get(port, "GET / HTTP/1.0\r\n\r\n");
    assert!(r.contains("text/html") && r.contains(&f.addr), "{r}");
    let enc = f.addr.replace(':', "%3A");
    let r = http_get(port, &format!("GET /queued/{enc}.txt HTTP/1.0\r\n\r\n"));
    assert!(r.contains("X-Count: 1") || r.contains("X-Count: 2"), "{r}");
    assert!(r.contains("X-Std-Dev: "), "{r}");
    let r = http_get(port, "GET /nope HTTP/1.0\r\n\r\n");
    assert!(r.contains(" 404 "), "{r}");
    let r = http_get(port, "DELETE /metrics HTTP/1.0\r\n\r\n");
    assert!(
        r.contains(" 405 ") && r.to_ascii_lowercase().contains("allow: get, head"),
        "{r}"
    );
    // A tail stream gets a line per sample.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("GET /tail/{enc}.txt HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut r = BufReader::new(s);
    let mut got = String::new();
    while !got.contains(&format!("{} ", f.addr)) {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap() == 0 {
            break;
        }
        got.push_str(&l);
    }
    assert!(
        got.contains(&format!("{}          1          1", f.addr)),
        "{got}"
    );
    drop(r);
    kill(child.id(), "-TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn counters_of_a_named_region() {
    use raindrops_core::CounterArray;
    let name = format!("raindrops-cli-test-{}", std::process::id());
    let region = raindrops_shm::Options::new()
        .unlink_on_drop(true)
        .create_named(&name, 3)
        .unwrap();
    region.set(0, 5).unwrap();
    region.set(2, 7).unwrap();
    let target = format!("shm:{name}");
    let out = raindrops(&[
        "counters",
        "--format",
        "json",
        "--names",
        "calling,writing",
        &target,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(
        s.contains("{\"index\":0,\"name\":\"calling\",\"value\":5}"),
        "{s}"
    );
    assert!(s.contains("{\"index\":2,\"name\":null,\"value\":7}"), "{s}");
    let out = raindrops(&["counters", "--format", "prometheus", &target]);
    assert!(text(&out.stdout).contains("index=\"2\""));
}

/// A listener on 127.0.0.1 whose accept queue holds `backlog + 1`
/// connections, already full.
fn full_listener(backlog: i32) -> (TcpListener, String, Vec<TcpStream>) {
    use std::os::fd::AsRawFd;
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: listen() again on our own listening socket only changes its
    // backlog.
    assert_eq!(unsafe { libc::listen(l.as_raw_fd(), backlog) }, 0);
    let addr = l.local_addr().unwrap().to_string();
    let held = (0..=backlog)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    (l, addr, held)
}

#[test]
fn check_is_silent_when_healthy_and_exits_3_on_overflows() {
    let f = fixture(1, 1);
    let out = raindrops(&["check", "-i", "0.1", &f.addr]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let out = raindrops(&["check", "-i", "0.1", "-v", &f.addr]);
    assert_eq!(text(&out.stdout), format!("{}: ok (queued 1)\n", f.addr));

    let (_l, addr, _held) = full_listener(1);
    let child = Reap(
        Command::new(BIN)
            .args(["check", "-i", "1.5", &addr])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Connections made while it waits find the queue full: the kernel
    // drops their handshakes.
    thread_sleep(300);
    let sa: std::net::SocketAddr = addr.parse().unwrap();
    for _ in 0..4 {
        let _ = TcpStream::connect_timeout(&sa, Duration::from_millis(100));
    }
    let mut child = child;
    let status = child.0.wait().unwrap();
    let mut s = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(status.code(), Some(3), "{s}");
    // (Other tests share this network namespace, so the split may be an
    // estimate here; tests/overflow.rs checks it in namespaces of its own.)
    assert!(s.starts_with(&format!("{addr}: overflowed ")), "{s}");
    assert!(s.contains(" in 1.5s"), "{s}");
    assert!(s.contains("full: 2/1"), "{s}");

    // A full queue alone is reported, whatever the saturation threshold.
    let out = raindrops(&["check", "-i", "0", "--max-saturation", "1", &addr]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), format!("{addr}: full: 2/1\n"));
    // Below full, --max-saturation names the ratio.
    let l2 = TcpListener::bind("127.0.0.1:0").unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&l2);
    // SAFETY: listen() again on our own listening socket only changes its
    // backlog.
    let r = unsafe { libc::listen(fd, 4) };
    assert_eq!(r, 0);
    let addr2 = l2.local_addr().unwrap().to_string();
    let _held2: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(&addr2).unwrap())
        .collect();
    let out = raindrops(&["check", "-i", "0", "--max-saturation", "0.5", &addr2]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stdout),
        format!("{addr2}: accept queue 75% full: 3/4\n")
    );
    drop(l2);
}

fn thread_sleep(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[test]
fn raindrops_format_equals_the_ruby_middleware_body() {
    let script = r#"
        app = Raindrops::Middleware.new(lambda { |env| [200, {}, []] }, listeners: ARGV)
        print Rack::MockRequest.new(app).get("/_raindrops").body
    "#;
    if raindrops_testutil::ruby_missing(&["raindrops", "rack", "rack/mock"]).is_some() {
        let _: Option<()> = raindrops_testutil::skip("ruby-raindrops and ruby-rack");
        return;
    }
    let f = fixture(2, 3);
    let dir = tempdir();
    let sock = format!("{dir}/m.sock");
    let ul = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let _c1 = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    let _c2 = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    let _a = ul.accept().unwrap();
    let args = [f.addr.as_str(), sock.as_str()];
    let ruby =
        raindrops_testutil::ruby(&["raindrops", "rack", "rack/mock"], script, &args).unwrap();
    let ours = raindrops(&[&["listeners", "--format", "raindrops"][..], &args].concat());
    assert!(ours.status.success());
    assert_eq!(
        ruby,
        format!("calling: 0\nwriting: 0\n{}", text(&ours.stdout))
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn split_response(r: &str) -> (&str, &str) {
    r.split_once("\r\n\r\n").unwrap_or((r, ""))
}

#[test]
fn serve_head_concurrent_and_slow_clients_and_promtool() {
    let f = fixture(1, 2);
    let server = Server::start(&[
        "-d",
        "0.2",
        "--timeout",
        "1",
        "--max-connections",
        "64",
        &f.addr,
    ]);
    let port = server.port;

    // HEAD: the headers of GET, Content-Length included, and no body.
    let get = http_get(port, "GET /metrics HTTP/1.0\r\n\r\n");
    let head = http_get(port, "HEAD /metrics HTTP/1.0\r\n\r\n");
    let (gh, gb) = split_response(&get);
    let (hh, hb) = split_response(&head);
    assert!(hb.is_empty(), "{head}");
    assert!(
        gh.contains(&format!("Content-Length: {}", gb.len())),
        "{gh}"
    );
    assert!(
        hh.contains(&format!("Content-Length: {}", gb.len())),
        "{hh}"
    );

    // promtool accepts /metrics.
    match Command::new("promtool").arg("--version").output() {
        Ok(_) => {
            let mut p = Command::new("promtool")
                .args(["check", "metrics"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            p.stdin.take().unwrap().write_all(gb.as_bytes()).unwrap();
            let out = p.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}{}\n{gb}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        Err(e) => {
            let _: Option<()> = raindrops_testutil::skip(&format!("promtool: {e}"));
        }
    }

    // Two slow clients take connection slots and never finish their
    // headers; they are cut off after the timeout (--timeout 1), and
    // meanwhile 24 concurrent clients are all answered.
    let slow: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(b"GET /_raindrops HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    let start = Instant::now();
    let answers: Vec<String> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..24)
            .map(|_| sc.spawn(move || http_get(port, "GET /_raindrops HTTP/1.0\r\n\r\n")))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for a in &answers {
        assert!(
            a.starts_with("HTTP/1.0 200") || a.starts_with("HTTP/1.1 200"),
            "{a}"
        );
        assert!(a.ends_with(&format!("{} queued: 2\n", f.addr)), "{a}");
    }
    for mut s in slow {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = Vec::new();
        // Closed by the server (possibly after a 408), not left hanging.
        let _ = s.read_to_end(&mut rest);
        assert!(start.elapsed() < Duration::from_secs(8));
    }
}

#[test]
fn watch_all_aligns_columns_to_the_addresses_it_prints() {
    let _f = fixture(0, 1);
    let out = raindrops(&["watch", "-a", "--all-ports", "-d", "0", "-n", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    let lines: Vec<&str> = s.lines().collect();
    assert!(lines.len() >= 2, "{s}");
    // Every line whose address fits the (at most 35-wide) column ends its
    // numbers at the same position as the header.
    let header = text(&out.stderr);
    let header = header.lines().find(|l| l.contains("timestamp")).unwrap();
    let width = header.len();
    let fitting: Vec<&&str> = lines
        .iter()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.chars().count() <= 35)
        })
        .collect();
    assert!(!fitting.is_empty());
    for l in fitting {
        assert_eq!(l.len(), width, "{l:?} vs header {header:?}");
    }
}
