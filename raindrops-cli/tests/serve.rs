//! `raindrops serve` as an exporter: bad settings refused, self-metrics,
//! histograms off by default and with one bucket set when on, resets only
//! when allowed, ephemeral listeners and the series cap, sampling on
//! scrape, and the limits (tail streams, idle, slow and unread clients).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Server, metric, request, wait_until};

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn bad_settings_exit_2_with_one_line() {
    let dir = std::env::temp_dir().join(format!("raindrops-serve-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad_key = dir.join("web.yml");
    std::fs::write(
        &bad_key,
        "tls_server_config:\n  cert_file: a\n  keyfile: b\n",
    )
    .unwrap();
    let bad_key = bad_key.to_str().unwrap();
    for (args, part) in [
        (&["serve", "-d", "1e-10"][..], "--delay"),
        (&["serve", "-d", "0.05"], "from 0.1"),
        (&["serve", "-d", "NaN"], "--delay"),
        (&["serve", "--max-connections", "0"], "--max-connections"),
        (&["serve", "--histogram-buckets", "5,5"], "not above"),
        (&["serve", "--histogram-buckets", "1,x"], "whole number"),
        (
            &["serve", "--web-config-file", "/nonexistent/web.yml"],
            "cannot open",
        ),
        (
            &["serve", "--web-config-file", bad_key],
            "line 3: unknown key \"keyfile\"",
        ),
    ] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(part), "{args:?}: {err}");
    }
    let help = String::from_utf8_lossy(&run(&["serve", "--help"]).stdout).into_owned();
    assert!(help.contains("0.1 at least"), "{help}");
    assert!(help.contains("19187"), "{help}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn self_metrics_and_no_histograms_by_default() {
    let s = Server::start(&["-d", "0.2"]);
    let m = s.get("/metrics");
    assert_eq!(m.status, 200);
    for name in [
        "raindrops_build_info{version=\"",
        "raindrops_samples_total ",
        "raindrops_sample_errors_total{reason=\"sock_diag\"} 0",
        "raindrops_sample_duration_seconds ",
        "raindrops_last_sample_timestamp_seconds ",
        "raindrops_sample_interval_seconds 0.2",
        "raindrops_listeners_left_out{reason=\"cap\"} ",
        "raindrops_http_connections ",
    ] {
        assert!(m.body.contains(name), "{name} not in {}", m.body);
    }
    assert!(!m.body.contains("raindrops_watcher_"), "{}", m.body);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let last = metric(&m.body, "raindrops_last_sample_timestamp_seconds").unwrap();
    assert!((now - last).abs() < 30.0, "{last} vs {now}");
    // Content-Length counts the self-metrics; HEAD says the same.
    assert_eq!(
        m.header("Content-Length"),
        Some(m.body.len().to_string().as_str())
    );
    let head = request(s.port, "HEAD", "/metrics", &[]);
    let len: usize = head.header("Content-Length").unwrap().parse().unwrap();
    assert!(len.abs_diff(m.body.len()) < 64, "{len} vs {}", m.body.len());
    // OpenMetrics: the self-metrics come before # EOF, counters named
    // without _total.
    let om = request(
        s.port,
        "GET",
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
    );
    assert!(om.body.ends_with("# EOF\n"), "{}", om.body);
    assert!(
        om.body.contains("# TYPE raindrops_samples counter\n"),
        "{}",
        om.body
    );
    assert!(
        om.body.contains("\nraindrops_samples_total "),
        "{}",
        om.body
    );
    assert_eq!(om.body.matches("# EOF").count(), 1);
}

/// The le values of every `NAME_bucket` line, per listener.
fn bucket_sets(body: &str, name: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut sets = std::collections::BTreeMap::<String, Vec<String>>::new();
    for l in body
        .lines()
        .filter(|l| l.starts_with(&format!("{name}_bucket{{")))
    {
        let listener = l
            .split("listener=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let le = l.split("le=\"").nth(1).unwrap().split('"').next().unwrap();
        sets.entry(listener.into()).or_default().push(le.into());
    }
    sets
}

#[test]
fn histograms_have_one_bucket_set_for_every_listener_and_scrape() {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    let (a_addr, b_addr) = (
        a.local_addr().unwrap().to_string(),
        b.local_addr().unwrap().to_string(),
    );
    // Different loads: a has 3 queued, b none.
    let _held: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(&a_addr).unwrap())
        .collect();
    let s = Server::start(&[
        "-d",
        "0.1",
        "--histogram-buckets",
        "0,1,3,10",
        &a_addr,
        &b_addr,
    ]);
    let mut first = None;
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(150));
        let body = s.get("/metrics").body;
        for name in ["raindrops_watcher_active", "raindrops_watcher_queued"] {
            let sets = bucket_sets(&body, name);
            assert_eq!(sets.len(), 2, "{body}");
            for set in sets.values() {
                assert_eq!(set, &["0", "1", "3", "10", "+Inf"], "{body}");
                first.get_or_insert_with(|| set.clone());
                assert_eq!(Some(set), first.as_ref());
            }
        }
        // a's queued samples are all 3: in the le="3" bucket, not le="1".
        let q1 = metric(
            &body,
            &format!("raindrops_watcher_queued_bucket{{listener=\"{a_addr}\",le=\"1\"}}"),
        );
        let q3 = metric(
            &body,
            &format!("raindrops_watcher_queued_bucket{{listener=\"{a_addr}\",le=\"3\"}}"),
        );
        let count = metric(
            &body,
            &format!("raindrops_watcher_queued_count{{listener=\"{a_addr}\"}}"),
        );
        assert_eq!((q1, q3), (Some(0.0), count), "{body}");
    }
}

#[test]
fn reset_only_with_allow_reset() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let path = format!("/reset/{}", addr.replace(':', "%3A"));
    let s = Server::start(&["-d", "0.2", &addr]);
    let r = request(s.port, "POST", &path, &[]);
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.body.contains("--allow-reset"));
    drop(s);
    let s = Server::start(&["-d", "0.2", "--allow-reset", &addr]);
    let r = request(s.port, "POST", &path, &[]);
    assert_eq!(r.status, 302, "{r:?}");
}

#[test]
fn ephemeral_listeners_have_no_series_by_default() {
    // Port 0: the kernel picks a port of ip_local_port_range.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let line = format!("raindrops_listener_queued{{listener=\"{addr}\"");
    let s = Server::start(&["-d", "0.2"]);
    let body = s.get("/metrics").body;
    assert!(!body.contains(&line), "{body}");
    assert!(metric(&body, "raindrops_listeners_left_out{reason=\"ephemeral\"}").unwrap() >= 1.0);
    drop(s);
    for extra in [&["--ephemeral"][..], &[addr.as_str()]] {
        let s = Server::start(&[&["-d", "0.2"][..], extra].concat());
        let body = s.get("/metrics").body;
        assert!(body.contains(&line), "{extra:?}: {body}");
    }
}

#[test]
fn the_series_cap_counts_what_it_leaves_out() {
    let names: Vec<String> = (0..5)
        .map(|i| format!("@raindrops-cap-{}-{i}", std::process::id()))
        .collect();
    let _ls: Vec<UnixListener> = names
        .iter()
        .map(|n| {
            UnixListener::bind_addr(&SocketAddr::from_abstract_name(&n[1..]).unwrap()).unwrap()
        })
        .collect();
    let args: Vec<&str> = ["-d", "0.2", "--max-listeners", "2"]
        .into_iter()
        .chain(names.iter().map(String::as_str))
        .collect();
    let s = Server::start(&args);
    let body = s.get("/metrics").body;
    assert_eq!(
        body.matches("raindrops_listener_queued{").count(),
        2,
        "{body}"
    );
    assert_eq!(
        metric(&body, "raindrops_listeners_left_out{reason=\"cap\"}"),
        Some(3.0)
    );
    assert!(metric(&body, "raindrops_listeners_left_out_total{reason=\"cap\"}").unwrap() >= 3.0);
}

#[test]
fn sample_on_scrape_sees_a_listener_born_after_the_last_sample() {
    let s = Server::start(&["-d", "3600", "--sample-on-scrape", "--ephemeral"]);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let body = s.get("/metrics").body;
    assert!(
        body.contains(&format!("raindrops_listener_queued{{listener=\"{addr}\"")),
        "{body}"
    );
    assert!(metric(&body, "raindrops_samples_total").unwrap() >= 2.0);
    // Without the option, the hour-old first sample is all there is.
    let s = Server::start(&["-d", "3600", "--ephemeral"]);
    let l2 = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr2 = l2.local_addr().unwrap().to_string();
    let body = s.get("/metrics").body;
    assert!(!body.contains(&addr2), "{body}");
    assert_eq!(metric(&body, "raindrops_samples_total"), Some(1.0));
}

fn tail_request(port: u16, addr: &str) -> TcpStream {
    let mut t = TcpStream::connect(("127.0.0.1", port)).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        t,
        "GET /tail/{}.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        addr.replace(':', "%3A")
    )
    .unwrap();
    t
}

#[test]
fn tail_streams_are_capped_and_end() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let s = Server::start(&[
        "-d",
        "0.1",
        "--max-tail-streams",
        "2",
        "--tail-lifetime",
        "1.5",
        &addr,
    ]);
    let mut streams: Vec<TcpStream> = (0..2).map(|_| tail_request(s.port, &addr)).collect();
    for t in &mut streams {
        let mut buf = [0u8; 64];
        let n = t.read(&mut buf).unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
    let mut third = tail_request(s.port, &addr);
    let mut buf = [0u8; 64];
    let n = third.read(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 503"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert_eq!(
        s.metric("raindrops_http_requests_refused_total{reason=\"tail_streams\"}"),
        Some(1.0)
    );
    // Past --tail-lifetime the streams end (chunked: the last chunk).
    let start = Instant::now();
    for mut t in streams {
        let mut rest = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match t.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    rest.extend_from_slice(&chunk[..n]);
                    if rest.ends_with(b"0\r\n\r\n") {
                        break;
                    }
                }
            }
        }
        assert!(
            rest.ends_with(b"0\r\n\r\n"),
            "{:?}",
            String::from_utf8_lossy(&rest)
        );
    }
    assert!(start.elapsed() < Duration::from_secs(8));
    assert!(wait_until(5, || s.metric("raindrops_http_tail_streams") == Some(0.0)));
}

/// Reads until EOF or an error; true if the peer closed within `secs`.
fn closed_within(s: &mut TcpStream, secs: u64) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(secs))).unwrap();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

#[test]
fn idle_slow_and_unread_clients_are_closed() {
    // Enough listeners for a /metrics answer larger than the socket
    // buffers of a client that never reads (the server's send buffer
    // grows to tcp_wmem's 4 MiB on loopback): 12,000 names of 100 bytes,
    // about 6 MB of /metrics.
    let names: Vec<String> = (0..12_000)
        .map(|i| {
            let mut n = format!("raindrops-unread-{}-{i}-", std::process::id());
            n.push_str(&"x".repeat(100 - n.len()));
            n
        })
        .collect();
    common::raise_nofile(16_384);
    let _ls: Vec<UnixListener> = names
        .iter()
        .map(|n| UnixListener::bind_addr(&SocketAddr::from_abstract_name(n).unwrap()).unwrap())
        .collect();
    let s = Server::start(&[
        "-d",
        "0.5",
        "--max-listeners",
        "20000",
        "--timeout",
        "0.5",
        "--idle-timeout",
        "0.5",
        "--write-timeout",
        "0.5",
    ]);
    // Idle after one request (keep-alive).
    let mut idle = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    idle.write_all(b"GET /_raindrops HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n")
        .unwrap();
    // Slow: headers never finished.
    let mut slow = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // Unread: a large answer into a small receive buffer, never read.
    let unread = socket2_small_rcvbuf(s.port);
    let start = Instant::now();
    assert!(closed_within(&mut idle, 10), "idle connection kept");
    assert!(closed_within(&mut slow, 10), "slow connection kept");
    assert!(start.elapsed() < Duration::from_secs(8));
    assert!(
        wait_until(10, || s
            .metric("raindrops_http_connections_closed_total{reason=\"write_timeout\"}")
            .is_some_and(|n| n >= 1.0)),
        "{}",
        s.get("/metrics")
            .body
            .lines()
            .filter(|l| l.contains("closed_total"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let m = s.get("/metrics").body;
    assert!(
        metric(
            &m,
            "raindrops_http_connections_closed_total{reason=\"idle_timeout\"}"
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        metric(
            &m,
            "raindrops_http_connections_closed_total{reason=\"header_timeout\"}"
        )
        .unwrap()
            >= 1.0
    );
    drop(unread);
}

/// A connection with a 4 KiB receive buffer that asks for /metrics and
/// then reads nothing.
fn socket2_small_rcvbuf(port: u16) -> std::os::fd::OwnedFd {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: a new socket; the descriptor is owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0);
    // SAFETY: fd was just returned by socket() and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let size: libc::c_int = 4096;
    // SAFETY: a c_int option value of the right size for SO_RCVBUF.
    let r = unsafe {
        libc::setsockopt(
            owned.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: a sockaddr_in of the size passed.
    let r = unsafe {
        libc::connect(
            owned.as_raw_fd(),
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
    let stream = TcpStream::from(owned);
    (&stream)
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    OwnedFd::from(stream)
}

fn basic(user: &str, password: &str) -> String {
    // base64 of "user:password", enough of it for these ASCII credentials.
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let raw = format!("{user}:{password}").into_bytes();
    let mut out = String::from("Basic ");
    for chunk in raw.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn basic_auth_rate_limit_and_sighup_reload() {
    let dir = std::env::temp_dir().join(format!("raindrops-serve-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("web.yml");
    let users = |name: &str| {
        format!(
            "basic_auth_users:\n  {name}: '{}'\nrate_limit:\n  interval: 1h\n  burst: 6\n",
            bcrypt::hash("pw", 4).unwrap()
        )
    };
    std::fs::write(&file, users("alice")).unwrap();
    let s = Server::start(&["-d", "0.2", "--web-config-file", file.to_str().unwrap()]);
    let get = |auth: &str| request(s.port, "GET", "/_raindrops", &[("Authorization", auth)]);
    let no = get("");
    assert_eq!(no.status, 401);
    assert!(
        no.header("WWW-Authenticate")
            .unwrap()
            .starts_with("Basic realm=")
    );
    assert_eq!(get(&basic("alice", "pw")).status, 200);
    assert_eq!(get(&basic("alice", "nope")).status, 401);
    assert_eq!(get(&basic("bob", "pw")).status, 401);
    // Reloaded on SIGHUP: bob now, not alice; the bucket starts over.
    std::fs::write(&file, users("bob")).unwrap();
    let kill = |sig: &str| {
        Command::new("kill")
            .args([sig, &s.child.id().to_string()])
            .status()
            .unwrap()
    };
    kill("-HUP");
    assert!(wait_until(10, || s
        .stderr
        .lock()
        .unwrap()
        .contains("reloaded")));
    assert_eq!(get(&basic("bob", "pw")).status, 200);
    assert_eq!(get(&basic("alice", "pw")).status, 401);
    // A broken file keeps the configuration that works.
    std::fs::write(&file, "basic_auth_users:\n  bob: plaintext\n").unwrap();
    kill("-HUP");
    assert!(wait_until(10, || s
        .stderr
        .lock()
        .unwrap()
        .contains("keeping the old")));
    assert_eq!(get(&basic("bob", "pw")).status, 200);
    // Past the burst of 6 since the reload: 429.
    let statuses: Vec<u16> = (0..4).map(|_| get(&basic("bob", "pw")).status).collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    let _ = std::fs::remove_dir_all(dir);
}
