//! The embedded Watcher follows its TCP listeners as `raindrops serve`
//! does, against the real kernel: how long connections waited in the
//! accept queue (the `raindrops_listener_queue_wait_seconds` histogram,
//! compared with the waits the server measured at accept with its own
//! clock), and accept-queue overflows told apart from the drops of a
//! `TCP_DEFER_ACCEPT` listener (in a network namespace of the test's own,
//! so that the namespace counters are the test's alone).
#![cfg(all(feature = "diag", feature = "http", feature = "tcpinfo"))]

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::thread;
use std::time::{Duration, Instant};

use raindrops::diag::proc_netstat::TcpExt;
use raindrops::http::{QUEUE_WAIT_BOUNDS_MS, Request};
use raindrops::{KernelSource, Watcher, WatcherOptions};
use raindrops_testutil::netns::in_own_netns;

/// `/metrics` of the watcher.
fn metrics(w: &Watcher) -> String {
    let mut body = String::new();
    let r = w
        .respond(&Request::new("GET", "/metrics"), &mut body)
        .unwrap();
    assert_eq!(r.status, 200, "{body}");
    body
}

/// The value of the series `series` (name and labels, exactly) in `text`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// The cumulative count of the wait histogram of `listener` at `le`.
fn bucket(text: &str, listener: &str, le: &str) -> f64 {
    let series = format!(
        "raindrops_listener_queue_wait_seconds_bucket{{listener=\"{listener}\",le=\"{le}\"}}"
    );
    value(text, &series).unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[test]
fn wait_histogram_agrees_with_the_servers_own_clock() {
    let delay = Duration::from_millis(50);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let w = Watcher::spawn(
        KernelSource::new([&addr]).unwrap(),
        WatcherOptions::new().delay(delay),
    )
    .unwrap();
    // Three clients 100 ms apart; the server accepts them all at once,
    // 300 ms after the last one.
    let mut clients = Vec::new();
    for i in 0..3 {
        if i > 0 {
            thread::sleep(Duration::from_millis(100));
        }
        clients.push((TcpStream::connect(&addr).unwrap(), Instant::now()));
    }
    thread::sleep(Duration::from_millis(300));
    let first = clients[0].1;
    // While they wait: the oldest one's age, from outside.
    common::wait_until("a sample after the wait", || {
        let m = metrics(&w);
        let series = format!(
            "raindrops_listener_queue_wait_oldest_seconds{{listener=\"{addr}\",family=\"tcp4\"}}"
        );
        let oldest = value(&m, &series).unwrap_or_else(|| panic!("no {series} in\n{m}"));
        oldest >= 0.3
    });
    let oldest_seen = first.elapsed().as_secs_f64();
    let series = format!(
        "raindrops_listener_queue_wait_oldest_seconds{{listener=\"{addr}\",family=\"tcp4\"}}"
    );
    let oldest = value(&metrics(&w), &series).unwrap();
    assert!(
        oldest <= oldest_seen + 0.05,
        "the oldest waited {oldest} s, at most {oldest_seen} s by our clock"
    );
    let mut waits = Vec::new();
    let mut accepted = Vec::new();
    for (_, connected) in &clients {
        let (s, _) = l.accept().unwrap();
        waits.push(connected.elapsed().as_secs_f64());
        accepted.push(s);
    }
    let mut m = String::new();
    common::wait_until("the three waits recorded", || {
        m = metrics(&w);
        let count = format!("raindrops_listener_queue_wait_seconds_count{{listener=\"{addr}\"}}");
        value(&m, &count) == Some(3.0)
    });
    // Each wait is known to half the sampling interval, plus a jiffy;
    // on a loaded machine a sample may come late: 150 ms each, at most.
    let sum = value(
        &m,
        &format!("raindrops_listener_queue_wait_seconds_sum{{listener=\"{addr}\"}}"),
    )
    .unwrap();
    let ours: f64 = waits.iter().sum();
    assert!(
        (sum - ours).abs() <= 3.0 * 0.15,
        "outside: {sum} s in all, the server's clock: {waits:?}"
    );
    // The waits (about 0.3, 0.4 and 0.5 s) are in the fixed buckets,
    // the same bounds as serve's.
    assert_eq!(QUEUE_WAIT_BOUNDS_MS[9], 511);
    assert_eq!(bucket(&m, &addr, "0.255"), 0.0, "{m}");
    assert_eq!(bucket(&m, &addr, "2.047"), 3.0, "{m}");
    assert_eq!(bucket(&m, &addr, "+Inf"), 3.0, "{m}");
}

/// A listener on 127.0.0.1 with this backlog, `TCP_DEFER_ACCEPT` if
/// asked; it never accepts.
fn listener(backlog: i32, defer: bool) -> (TcpListener, SocketAddr) {
    use rustix::net::{AddressFamily, SocketType, bind, listen, socket};
    let fd: OwnedFd = socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    bind(&fd, &SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    if defer {
        raindrops::tcpinfo::set_tcp_defer_accept(&fd, 5).unwrap();
    }
    listen(&fd, backlog).unwrap();
    let l = TcpListener::from(fd);
    let addr = l.local_addr().unwrap();
    (l, addr)
}

fn listen_overflows() -> u64 {
    TcpExt::read_current_thread()
        .unwrap()
        .listen_overflows
        .unwrap()
}

#[test]
fn overflows_and_a_deferring_listener_in_own_netns() {
    if !in_own_netns("overflows_and_a_deferring_listener_in_own_netns") {
        return;
    }
    let (_full, full) = listener(2, false);
    let (_deferring, deferring) = listener(64, true);
    let (full_s, deferring_s) = (full.to_string(), deferring.to_string());
    let w = Watcher::manual(
        KernelSource::new([&full_s, &deferring_s]).unwrap(),
        WatcherOptions::new(),
    );
    // The deferring listener: clients that connect and send nothing yet
    // (their final ACKs are set aside: drops, not overflows), then their
    // first bytes (which queues them: no more ACKs set aside).
    let mut idle: Vec<TcpStream> = (0..5)
        .map(|_| TcpStream::connect(deferring).unwrap())
        .collect();
    let defer_drops = |w: &Watcher| {
        w.sample();
        let m = metrics(w);
        let series =
            format!("raindrops_listener_drops_total{{listener=\"{deferring_s}\",family=\"tcp4\"}}");
        value(&m, &series).unwrap_or_else(|| panic!("no {series} in\n{m}"))
    };
    common::wait_until("the deferred ACKs", || defer_drops(&w) >= 5.0);
    for s in &mut idle {
        s.write_all(b"x").unwrap();
    }
    common::wait_until("the deferring listener's queue", || {
        w.sample();
        metrics(&w).contains(&format!(
            "raindrops_listener_queued{{listener=\"{deferring_s}\",family=\"tcp4\"}} 5\n"
        ))
    });
    let before = listen_overflows();
    // The full one: its queue filled (backlog + 1), then knocked on.
    let mut queued = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(full).unwrap();
        s.write_all(b"x").unwrap();
        queued.push(s);
    }
    let end = Instant::now() + Duration::from_millis(1500);
    let knockers: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(move || {
                while Instant::now() < end {
                    let _ = TcpStream::connect_timeout(&full, Duration::from_millis(300));
                }
            })
        })
        .collect();
    for k in knockers {
        k.join().unwrap();
    }
    let overflowed = listen_overflows() - before;
    assert!(overflowed > 0, "the queue of {full} overflowed");
    w.sample();
    let m = metrics(&w);
    let series = |name: &str, l: &str| format!("{name}{{listener=\"{l}\",family=\"tcp4\"}}");
    let get = |name: &str, l: &str| {
        value(&m, &series(name, l)).unwrap_or_else(|| panic!("no {} in\n{m}", series(name, l)))
    };
    // Every overflow of the namespace is the full listener's, exactly.
    assert_eq!(
        get("raindrops_listener_overflows_total", &full_s),
        overflowed as f64,
        "{m}"
    );
    assert_eq!(
        get("raindrops_listener_overflows_estimated_total", &full_s),
        0.0,
        "{m}"
    );
    // The deferring listener dropped bare ACKs, and did not overflow (each
    // interval had one listener's drops growing: exact).
    assert!(
        get("raindrops_listener_drops_total", &deferring_s) > 0.0,
        "{m}"
    );
    assert_eq!(
        get("raindrops_listener_overflows_total", &deferring_s),
        0.0,
        "{m}"
    );
    // The namespace counters, as serve exports them.
    let ns = TcpExt::read_current_thread().unwrap();
    assert_eq!(
        value(&m, "raindrops_tcp_listen_overflows_total"),
        ns.listen_overflows.map(|v| v as f64),
        "{m}"
    );
    assert!(
        value(&m, "raindrops_tcp_defer_accept_drops_total").is_some_and(|v| v > 0.0),
        "{m}"
    );
    drop((idle, queued));
}
