//! `raindrops serve` under load: scrapes answer promptly while tail
//! streams and crowds of idle and slow connections are held (issue 13);
//! memory returns after tens of thousands of short-lived listener names;
//! scrape latency with 1,000 listeners and 10,000 connections (issue 16).
//!
//! The figures (p50, p99, sample duration) are printed for BENCHMARKS.md
//! (`cargo test --release -p raindrops-cli --test serve_load -- --nocapture
//! --test-threads 1`). The only timing asserted is the issue's own bound,
//! one second per scrape, which is a correctness bound here: the
//! lockout it tests made every probe take 10 to 15 s, while a scrape
//! that never waits on other clients takes milliseconds even in a debug
//! build on a loaded machine, a margin of two orders of magnitude.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Server, metric, percentile, raise_nofile, wait_until};

/// 100 sequential `GET /metrics` on new connections: each must answer 200
/// within a second. Returns the sorted latencies.
fn probe(port: u16) -> Vec<Duration> {
    let mut times = Vec::new();
    for i in 0..100 {
        let start = Instant::now();
        let r = common::request(port, "GET", "/metrics", &[]);
        let took = start.elapsed();
        assert_eq!(r.status, 200, "probe {i}: {r:?}");
        assert!(r.body.contains("raindrops_build_info"), "probe {i}");
        assert!(took < Duration::from_secs(1), "probe {i} took {took:?}");
        times.push(took);
    }
    times.sort();
    times
}

fn report(what: &str, times: &[Duration]) {
    eprintln!(
        "{what}: 100 scrapes, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(times, 50).as_secs_f64() * 1e3,
        percentile(times, 99).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
}

fn tail(port: u16, addr: &str) -> TcpStream {
    let mut t = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        t,
        "GET /tail/{}.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        addr.replace(':', "%3A")
    )
    .unwrap();
    t
}

#[test]
fn scrapes_answer_while_tail_streams_and_idle_and_slow_crowds_are_held() {
    raise_nofile(16_384);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    // Limits high enough that every connection below is really held.
    let s = Server::start(&[
        "-d",
        "0.2",
        "--max-connections",
        "2500",
        "--max-tail-streams",
        "100",
        "--timeout",
        "120",
        "--idle-timeout",
        "120",
        &addr,
    ]);
    // 100 tail streams: half read by a thread, half never read.
    let mut streams: Vec<TcpStream> = (0..100).map(|_| tail(s.port, &addr)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let read_half: Vec<TcpStream> = streams.drain(..50).collect();
    let reader = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            for t in &read_half {
                t.set_nonblocking(true).unwrap();
            }
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                for mut t in &read_half {
                    let _ = t.read(&mut buf);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    assert!(
        wait_until(20, || s.metric("raindrops_http_tail_streams")
            == Some(100.0)),
        "tail streams: {:?}",
        s.metric("raindrops_http_tail_streams")
    );
    // 101st: refused, not queued.
    let mut extra = tail(s.port, &addr);
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 32];
    let n = extra.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 503"));
    // 2,000 more: 700 that never send a byte, 700 kept alive after one
    // request, 600 slowloris sending a header byte now and then.
    let silent: Vec<TcpStream> = (0..700)
        .map(|_| TcpStream::connect(("127.0.0.1", s.port)).unwrap())
        .collect();
    let kept: Vec<TcpStream> = (0..700)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
            c.write_all(b"GET /_raindrops HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            c
        })
        .collect();
    let slow: Vec<TcpStream> = (0..600)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
            c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            c
        })
        .collect();
    let trickle = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for mut c in &slow {
                    let _ = c.write_all(b"a");
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            slow
        })
    };
    assert!(
        wait_until(30, || s
            .metric("raindrops_http_connections")
            .is_some_and(|n| n >= 2100.0)),
        "held: {:?}",
        s.metric("raindrops_http_connections")
    );
    let times = probe(s.port);
    report(
        "held: 100 tail streams + 2,000 idle/slow connections",
        &times,
    );
    // Nothing was cut meanwhile: the crowd is still there.
    let m = s.get("/metrics").body;
    assert!(
        metric(&m, "raindrops_http_connections").unwrap() >= 2100.0,
        "{m}"
    );
    assert_eq!(metric(&m, "raindrops_http_tail_streams"), Some(100.0));
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    drop(trickle.join().unwrap());
    drop((silent, kept, streams));
}

#[test]
fn scrapes_answer_while_a_crowd_reconnects_past_max_connections() {
    raise_nofile(16_384);
    // Default limits: 512 connections, 32 tail streams.
    let s = Server::start(&["-d", "0.2"]);
    let port = s.port;
    let stop = Arc::new(AtomicBool::new(false));
    // 8 threads hold 250 connections each, slowloris-style, and reopen
    // every one the server closes.
    let crowd: Vec<_> = (0..8)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let open = || {
                    let mut c = TcpStream::connect(("127.0.0.1", port)).ok()?;
                    c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").ok()?;
                    c.set_nonblocking(true).ok()?;
                    Some(c)
                };
                let mut conns: Vec<Option<TcpStream>> = (0..250).map(|_| open()).collect();
                let mut reopened = 0u64;
                let mut buf = [0u8; 256];
                while !stop.load(Ordering::Relaxed) {
                    for c in conns.iter_mut() {
                        let dead = match c {
                            None => true,
                            Some(s) => {
                                matches!(s.read(&mut buf), Ok(0)) || s.write_all(b"a").is_err()
                            }
                        };
                        if dead && !stop.load(Ordering::Relaxed) {
                            *c = open();
                            reopened += 1;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                reopened
            })
        })
        .collect();
    assert!(
        wait_until(30, || s
            .metric("raindrops_http_connections_closed_total{reason=\"replaced\"}")
            .is_some_and(|n| n > 1000.0)),
        "crowd not replacing"
    );
    let times = probe(port);
    report(
        "2,000 reconnecting slow clients, --max-connections 512",
        &times,
    );
    stop.store(true, Ordering::Relaxed);
    let reopened: u64 = crowd.into_iter().map(|t| t.join().unwrap()).sum();
    // The crowd kept coming back (how often depends on how fast the probes
    // were: the replacements counted above are the server's side of it).
    assert!(reopened > 0, "{reopened}");
    let m = s.get("/metrics").body;
    assert!(
        metric(&m, "raindrops_http_connections").unwrap() <= 512.0,
        "{m}"
    );
}

#[test]
fn memory_returns_after_50000_transient_listener_names() {
    raise_nofile(8192);
    let s = Server::start(&["-d", "0.1"]);
    std::thread::sleep(Duration::from_millis(500));
    let start = s.rss_kib();
    let samples = |s: &Server| s.metric("raindrops_samples_total").unwrap_or(0.0);
    let mut peak = start;
    // 50 rounds of 1,000 abstract names bound, seen by two samples, closed.
    for round in 0..50 {
        let ls: Vec<UnixListener> = (0..1000)
            .map(|i| {
                let name = format!("raindrops-churn-{}-{round}-{i}", std::process::id());
                UnixListener::bind_addr(&SocketAddr::from_abstract_name(name).unwrap()).unwrap()
            })
            .collect();
        let seen = samples(&s);
        assert!(wait_until(10, || samples(&s) >= seen + 2.0));
        drop(ls);
        peak = peak.max(s.rss_kib());
    }
    // Gone: a few samples later, memory is back near where it started.
    let seen = samples(&s);
    assert!(wait_until(10, || samples(&s) >= seen + 5.0));
    let end = s.rss_kib();
    eprintln!(
        "serve RSS: {start} KiB at start, {peak} KiB peak, {end} KiB after 50,000 transient names"
    );
    assert!(
        end < 2 * start,
        "RSS {end} KiB, started at {start} KiB (peak {peak})"
    );
}

/// Binds a TCP listener on 127.0.0.1 outside the ephemeral range.
fn fixed_port_listener(next: &mut u16) -> TcpListener {
    loop {
        *next += 1;
        assert!(*next < 32_000, "no free port below the ephemeral range");
        if let Ok(l) = TcpListener::bind(("127.0.0.1", *next)) {
            return l;
        }
    }
}

/// The listeners the holder processes connect to: (descriptor, port).
static TARGETS: std::sync::OnceLock<Vec<(std::os::fd::RawFd, u16)>> = std::sync::OnceLock::new();
/// The next connection's number (each forked holder counts in its copy).
static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Connects to listener NEXT / 10 (called in a forked holder: socket
/// calls only).
fn connect_next() -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    let n = NEXT.load(Ordering::Relaxed);
    let (_, port) = TARGETS.get().unwrap()[n / 10];
    // SAFETY: a new socket, owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0);
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
            fd,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
    // SAFETY: fd is a socket we just made and nobody else owns.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

/// Accepts the connection just made on listener NEXT / 10, then moves on.
fn accept_next() -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let (lfd, _) = TARGETS.get().unwrap()[n / 10];
    // SAFETY: accept on a listening socket inherited from the test.
    let fd = unsafe {
        libc::accept4(
            lfd,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC,
        )
    };
    assert!(fd >= 0);
    // SAFETY: a descriptor accept4 just returned.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

#[test]
fn scrape_latency_with_1000_listeners_and_10000_connections() {
    use std::os::fd::AsRawFd;
    let mut port = 20_000u16;
    let listeners: Vec<TcpListener> = (0..1000).map(|_| fixed_port_listener(&mut port)).collect();
    TARGETS
        .set(
            listeners
                .iter()
                .map(|l| (l.as_raw_fd(), l.local_addr().unwrap().port()))
                .collect(),
        )
        .unwrap();
    // 4 holder processes of 2,500 established, accepted connections each
    // (both ends), so that no process needs more than 5,000 descriptors.
    let holders: Vec<raindrops_testutil::holders::Holders> = (0..4)
        .map(|k| {
            NEXT.store(k * 2500, Ordering::Relaxed);
            raindrops_testutil::holders::Holders::spawn(1, 2500, connect_next, accept_next)
        })
        .collect();
    let s = Server::start(&["-d", "1", "--max-listeners", "5000"]);
    let body = s.get("/metrics").body;
    let ours = listeners
        .iter()
        .filter(|l| {
            let line = format!(
                "raindrops_listener_active{{listener=\"{}\",family=\"tcp4\"}} 10",
                l.local_addr().unwrap()
            );
            body.contains(&line)
        })
        .count();
    assert_eq!(ours, 1000, "listeners with active 10");
    // Keep-alive, as Prometheus scrapes, while the sampler dumps 10,000
    // connections every second.
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..100 {
        let start = Instant::now();
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let (status, body) = read_response(&mut c);
        times.push(start.elapsed());
        assert_eq!(status, 200);
        size = body.len();
        std::thread::sleep(Duration::from_millis(30));
    }
    times.sort();
    let m = s.get("/metrics").body;
    let dur = metric(&m, "raindrops_sample_duration_seconds").unwrap();
    report("1,000 listeners, 10,000 connections, keep-alive", &times);
    eprintln!(
        "  /metrics {size} bytes; last sample took {:.1} ms",
        dur * 1e3
    );
    assert!(percentile(&times, 99) < Duration::from_secs(1));
    // Later holders inherited the release pipes of earlier ones: release
    // the last first.
    for h in holders.into_iter().rev() {
        drop(h);
    }
}

/// Reads one HTTP/1.1 response with a Content-Length.
fn read_response(c: &mut TcpStream) -> (u16, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let (head_end, len) = loop {
        let n = c.read(&mut chunk).unwrap();
        assert!(n > 0, "closed");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap();
            break (i + 4, len);
        }
    };
    while buf.len() < head_end + len {
        let n = c.read(&mut chunk).unwrap();
        assert!(n > 0, "closed");
        buf.extend_from_slice(&chunk[..n]);
    }
    let status = String::from_utf8_lossy(&buf[9..12]).parse().unwrap();
    (status, buf[head_end..head_end + len].to_vec())
}
