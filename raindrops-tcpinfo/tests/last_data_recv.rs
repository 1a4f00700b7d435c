//! The LastDataRecv helper against the kernel and against Ruby raindrops'
//! `Raindrops::Aggregate::LastDataRecv`, on the same sockets.
#![cfg(all(feature = "std", target_has_atomic = "64"))]

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use common::{fd, pass_fds, readable_within};
use raindrops_core::AtomicAggregate;
use raindrops_tcpinfo::{Error, LastDataRecv, tcp_defer_accept, tcp_info};

/// See tests/loopback.rs: the kernel's ages fall short of real time by at
/// most a jiffy (10 ms at HZ=100) plus 1 ms of rounding.
const JIFFY_SLACK_MS: u64 = 11;

/// What Ruby does: extend a listener with the module (which sets
/// TCP_DEFER_ACCEPT), then `count!` each accepted socket, which pushes
/// `Raindrops::TCP_Info.new(io).last_data_recv` into the aggregate (here an
/// Array, which the module allows: "anything that accepts <<").
const SCRIPT: &str = r##"
ldr = Raindrops::Aggregate::LastDataRecv
ldr.default_aggregate = recorded = []
srv = TCPServer.for_fd(3)
srv.extend(ldr)
puts "defer=#{srv.getsockopt(Socket::SOL_TCP, 9).int}"
Integer(ARGV[0]).times { |i| srv.count!(IO.for_fd(4 + i, autoclose: false)) }
puts "recorded=#{recorded.join(",")}"
"##;

/// Connects a client to `listener` and sends a request.
fn client(listener: &TcpListener) -> TcpStream {
    let mut c = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    c
}

#[test]
fn records_what_ruby_records_on_the_same_sockets() {
    static WAITED: AtomicAggregate = AtomicAggregate::new();
    let recorder = LastDataRecv::new(&WAITED);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    LastDataRecv::prepare_listener(&listener).unwrap();
    // Three clients, all in the accept queue with their data...
    let clients: Vec<TcpStream> = (0..3).map(|_| client(&listener)).collect();
    let mut conns = Vec::new();
    let mut ours = Vec::new();
    let mut waited_at_least = Vec::new();
    for (i, wait) in [100u64, 100, 0].into_iter().enumerate() {
        assert!(readable_within(fd(&listener), Duration::from_secs(10)));
        if i == 0 {
            // ...wait until the kernel has all three queued
            common::wait_until("3 queued", || {
                tcp_info(&listener).unwrap().unacked() == Some(3)
            });
        }
        // ...and accepted after 100, 200 and 200 ms or more.
        std::thread::sleep(Duration::from_millis(wait));
        let (conn, _) = listener.accept().unwrap();
        ours.push(u64::from(recorder.record(&conn).unwrap().unwrap()));
        waited_at_least.push(waited_at_least.last().copied().unwrap_or(0) + wait);
        conns.push(conn);
    }
    for (&ms, &min) in ours.iter().zip(&waited_at_least) {
        assert!(
            ms + JIFFY_SLACK_MS >= min,
            "recorded {ours:?}, waited {waited_at_least:?}"
        );
    }
    let snap = WAITED.snapshot();
    assert_eq!(snap.count(), 3);
    assert_eq!(snap.min(), ours.iter().copied().min());
    assert_eq!(snap.max(), ours.iter().copied().max());
    assert_eq!(
        snap.sum(),
        ours.iter().map(|&v| u128::from(v)).sum::<u128>()
    );

    // Ruby on the same accepted sockets, and its setting on a fresh listener.
    let fresh = TcpListener::bind("127.0.0.1:0").unwrap();
    let Some(mut cmd) = raindrops_testutil::ruby_command(&["raindrops"], SCRIPT, &["3"]) else {
        return;
    };
    let mut fds: Vec<BorrowedFd<'_>> = vec![fresh.as_fd()];
    fds.extend(conns.iter().map(|c| c.as_fd()));
    pass_fds(&mut cmd, &fds);
    let out = raindrops_testutil::expect_success(cmd.output(), SCRIPT);
    let after: Vec<u64> = conns
        .iter()
        .map(|c| u64::from(tcp_info(c).unwrap().last_data_recv().unwrap()))
        .collect();

    let line = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {out}"))
            .to_string()
    };
    // Ruby's extend and our prepare_listener set the same TCP_DEFER_ACCEPT.
    let ruby_defer: u32 = line("defer=").parse().unwrap();
    assert_eq!(ruby_defer, 63);
    assert_eq!(tcp_defer_accept(&fresh), Ok(ruby_defer));
    assert_eq!(tcp_defer_accept(&listener), Ok(ruby_defer));
    // Ruby recorded the same quantity: between our reads before and after.
    let ruby: Vec<u64> = line("recorded=")
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(ruby.len(), 3, "{out}");
    for i in 0..3 {
        assert!(
            ours[i] <= ruby[i] && ruby[i] <= after[i],
            "connection {i}: ours {} then {}, Ruby {}",
            ours[i],
            after[i],
            ruby[i]
        );
    }
    drop(clients);
}

#[test]
fn errors_push_nothing() {
    let agg = AtomicAggregate::new();
    let recorder = LastDataRecv::new(&agg);
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    assert!(matches!(recorder.record(&a), Err(Error::NotTcp { .. })));
    assert!(matches!(
        LastDataRecv::prepare_listener(&a),
        Err(Error::NotTcp { .. })
    ));
    assert_eq!(agg.count(), 0);
    assert!(std::ptr::eq(recorder.aggregate(), &agg));
}
