//! `tcp_info` and `TCP_DEFER_ACCEPT` against the real kernel, on loopback
//! sockets (127.0.0.1 and ::1). Timings are only ever checked against
//! lower bounds the kernel guarantees.
#![cfg(feature = "std")]

mod common;

use std::fs::File;
use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::time::{Duration, Instant};

use common::{fd, loopbacks, pair, readable_within, transfer, wait_until};
use raindrops_tcpinfo::{
    Error, TcpInfo, TcpState, TcpiOptions, set_tcp_defer_accept, tcp_defer_accept, tcp_info,
};

/// One jiffy is at most 10 ms (HZ >= 100), and converting jiffies to
/// milliseconds rounds by at most 1 ms: the kernel's `last_*` ages can
/// fall short of the real time by this much.
const JIFFY_SLACK_MS: u32 = 11;

fn state(fd: BorrowedFd<'_>) -> Option<TcpState> {
    tcp_info(fd).expect("tcp_info").state()
}

#[test]
fn both_ends_are_established_and_the_listener_listens() {
    for addr in loopbacks() {
        let p = pair(addr);
        let c = tcp_info(&p.client).unwrap();
        let s = tcp_info(&p.server).unwrap();
        let l = tcp_info(&p.listener).unwrap();
        assert_eq!(c.state(), Some(TcpState::Established), "{addr}");
        assert_eq!(s.state(), Some(TcpState::Established), "{addr}");
        assert_eq!(l.state(), Some(TcpState::Listen), "{addr}");
        // The kernel we run on returns at least the whole struct we know
        // (Linux 6.7+) or a prefix of it; never more than we keep.
        assert!(c.len() <= TcpInfo::SIZE);
        assert!(c.len() >= 104, "even Linux 2.6 returned 104 bytes");
        // Loopback connections negotiate timestamps, SACK and window scaling
        // (on by default: net.ipv4.tcp_{timestamps,sack,window_scaling}).
        let opts = c.options().unwrap();
        if read_sysctl("net/ipv4/tcp_sack") == Some(1) {
            assert!(opts.contains(TcpiOptions::SACK), "{opts:?}");
        }
        if read_sysctl("net/ipv4/tcp_window_scaling") == Some(1) {
            assert!(opts.contains(TcpiOptions::WSCALE), "{opts:?}");
            // Each end's send scale is the other's receive scale.
            assert_eq!(c.snd_wscale(), s.rcv_wscale());
            assert_eq!(c.rcv_wscale(), s.snd_wscale());
        }
        // The MSS of loopback: MTU 65536 minus headers, the same both ways.
        assert_eq!(c.advmss(), s.advmss());
        assert!(c.snd_mss().unwrap() > 0);
    }
}

fn read_sysctl(name: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/sys/{name}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[test]
fn a_fresh_socket_is_closed_and_shutdowns_move_through_the_states() {
    // An unconnected TCP socket: TCP_CLOSE.
    // SAFETY: socket(2) returns a new descriptor that nothing else owns, or
    // -1 (checked before taking ownership).
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(raw >= 0);
    // SAFETY: `raw` is a new, open descriptor owned by nothing else.
    let fresh = unsafe { OwnedFd::from_raw_fd(raw) };
    assert_eq!(state(fd(&fresh)), Some(TcpState::Close));

    for addr in loopbacks() {
        let p = pair(addr);
        p.client.shutdown(Shutdown::Write).unwrap();
        // Our FIN is acknowledged: FIN_WAIT2; the peer got it: CLOSE_WAIT.
        wait_until("client FIN_WAIT2", || {
            state(fd(&p.client)) == Some(TcpState::FinWait2)
        });
        wait_until("server CLOSE_WAIT", || {
            state(fd(&p.server)) == Some(TcpState::CloseWait)
        });
        p.server.shutdown(Shutdown::Write).unwrap();
        // The server goes through LAST_ACK to CLOSE; the client's socket
        // becomes a time-wait mini socket and the descriptor's one CLOSE.
        wait_until("server CLOSE", || {
            state(fd(&p.server)) == Some(TcpState::Close)
        });
        wait_until("client CLOSE", || {
            state(fd(&p.client)) == Some(TcpState::Close)
        });
    }
}

#[test]
fn bytes_are_counted_exactly() {
    const N: usize = 300_000;
    for addr in loopbacks() {
        let mut p = pair(addr);
        transfer(&mut p.client, &mut p.server, N);
        // The server has read every byte, so it has received them all.
        let s = tcp_info(&p.server).unwrap();
        assert_eq!(s.bytes_received(), Some(N as u64), "{addr}");
        assert_eq!(s.bytes_acked(), Some(0), "the server sent nothing");
        // The client sees them acknowledged once the last ACK is in; the
        // SYN's sequence number counts as one more byte acknowledged.
        wait_until("all bytes acknowledged", || {
            tcp_info(&p.client).unwrap().bytes_acked() == Some(N as u64 + 1)
        });
        let c = tcp_info(&p.client).unwrap();
        assert_eq!(c.unacked(), Some(0));
        assert_eq!(c.bytes_received(), Some(0));
        // Bytes sent count retransmissions too (none expected on loopback,
        // but the identity holds regardless).
        assert_eq!(
            c.bytes_sent().unwrap(),
            N as u64 + c.bytes_retrans().unwrap()
        );
        assert!(c.data_segs_out().unwrap() >= 1);
        assert_eq!(c.data_segs_out(), s.data_segs_in());
        // An RTT was measured on the handshake and the data.
        assert!(c.rtt().unwrap() > 0, "rtt {:?}", c.rtt());
        assert!(c.rto().unwrap() > 0);
        assert!(c.snd_cwnd().unwrap() > 0);
        // The metric list agrees with the accessors.
        let m = c.fields().find(|m| m.name == "bytes_acked").unwrap();
        assert_eq!(m.value, N as u64 + 1);
    }
}

#[test]
fn last_data_recv_grows_while_idle() {
    const IDLE: Duration = Duration::from_millis(150);
    for addr in loopbacks() {
        let mut p = pair(addr);
        transfer(&mut p.client, &mut p.server, 10);
        let before = tcp_info(&p.server).unwrap().last_data_recv().unwrap();
        std::thread::sleep(IDLE);
        let after = tcp_info(&p.server).unwrap().last_data_recv().unwrap();
        assert!(
            after >= before + IDLE.as_millis() as u32 - JIFFY_SLACK_MS,
            "{addr}: last_data_recv went from {before} to {after} ms over {IDLE:?}"
        );
        // The sender's age of its last data grows the same way.
        let sent = tcp_info(&p.client).unwrap().last_data_sent().unwrap();
        assert!(sent >= IDLE.as_millis() as u32 - JIFFY_SLACK_MS, "{sent}");
    }
}

#[test]
fn deferred_accept_measures_the_wait_in_the_accept_queue() {
    const WAIT: Duration = Duration::from_millis(200);
    for addr in loopbacks() {
        let listener = TcpListener::bind(addr).unwrap();
        set_tcp_defer_accept(&listener, 60).unwrap();
        assert_eq!(tcp_defer_accept(&listener), Ok(63), "rounded up");

        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        // Connected, but without data the connection is not accepted yet.
        assert!(
            !readable_within(fd(&listener), Duration::from_millis(100)),
            "{addr}: TCP_DEFER_ACCEPT did not hold back a silent connection"
        );
        client.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        // Once the data is in, the connection is in the accept queue.
        assert!(readable_within(fd(&listener), Duration::from_secs(10)));
        let queued_at = Instant::now();
        std::thread::sleep(WAIT);
        let (conn, _) = listener.accept().unwrap();
        let waited = queued_at.elapsed();
        let info = tcp_info(&conn).unwrap();
        let ms = info.last_data_recv().unwrap();
        assert!(
            ms >= WAIT.as_millis() as u32 - JIFFY_SLACK_MS,
            "{addr}: last_data_recv {ms} ms after waiting {waited:?} in the queue"
        );
        assert_eq!(info.bytes_received(), Some(18));
    }
}

#[test]
fn the_listener_reports_its_accept_queue() {
    for addr in loopbacks() {
        let listener = TcpListener::bind(addr).unwrap();
        let target = listener.local_addr().unwrap();
        let clients: Vec<_> = (0..3)
            .map(|_| TcpStream::connect(target).unwrap())
            .collect();
        // On a listener, tcpi_unacked is the accept queue length and
        // tcpi_sacked its limit.
        wait_until("3 connections queued", || {
            tcp_info(&listener).unwrap().unacked() == Some(3)
        });
        let info = tcp_info(&listener).unwrap();
        assert!(info.sacked().unwrap() >= 3, "{info:?}");
        let _accepted = listener.accept().unwrap();
        assert_eq!(tcp_info(&listener).unwrap().unacked(), Some(2));
        drop(clients);
    }
}

#[test]
fn defer_accept_roundtrips_through_the_kernel_rounding() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    assert_eq!(tcp_defer_accept(&listener), Ok(0));
    for (set, read) in [(1, 1), (2, 3), (60, 63), (0, 0)] {
        set_tcp_defer_accept(&listener, set).unwrap();
        assert_eq!(tcp_defer_accept(&listener), Ok(read), "set {set}");
    }
    // Huge values are clamped, not wrapped to negative (which would mean 0).
    set_tcp_defer_accept(&listener, u32::MAX).unwrap();
    assert!(tcp_defer_accept(&listener).unwrap() > 63);
}

#[test]
fn non_tcp_sockets_give_not_tcp() {
    let not_tcp = Error::NotTcp {
        errno: raindrops_core::Errno::from_raw(libc::EOPNOTSUPP),
    };
    let (a, _b) = UnixStream::pair().unwrap();
    assert_eq!(tcp_info(&a), Err(not_tcp));
    assert_eq!(tcp_defer_accept(&a), Err(not_tcp));
    assert_eq!(set_tcp_defer_accept(&a, 1), Err(not_tcp));
    let (d, _e) = UnixDatagram::pair().unwrap();
    assert_eq!(tcp_info(&d), Err(not_tcp));
    let dir = std::env::temp_dir().join(format!("raindrops-tcpinfo-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let ul = UnixListener::bind(&dir).unwrap();
    assert_eq!(tcp_info(&ul), Err(not_tcp));
    std::fs::remove_file(&dir).unwrap();

    for addr in ["127.0.0.1:0", "[::1]:0"] {
        let Ok(udp) = UdpSocket::bind(addr) else {
            eprintln!("skipping UDP on {addr}: cannot bind");
            continue;
        };
        // UDP answers EOPNOTSUPP or ENOPROTOOPT, depending on the family
        // and the call; both are NotTcp.
        for r in [tcp_info(&udp).map(drop), set_tcp_defer_accept(&udp, 5)] {
            assert!(
                matches!(
                    r,
                    Err(Error::NotTcp { errno })
                        if matches!(errno.raw(), libc::EOPNOTSUPP | libc::ENOPROTOOPT)
                ),
                "{addr}: {r:?}"
            );
        }
    }
    let e = tcp_info(&a).unwrap_err();
    assert!(e.to_string().starts_with("not a TCP socket"), "{e}");
    assert_eq!(
        std::io::Error::from(e).kind(),
        std::io::ErrorKind::Unsupported
    );
}

#[test]
fn a_file_is_not_a_socket_and_a_closed_descriptor_is_bad() {
    let f = File::open("/dev/null").unwrap();
    assert_eq!(tcp_info(&f), Err(Error::NotSocket));
    assert_eq!(set_tcp_defer_accept(&f, 1), Err(Error::NotSocket));

    // A descriptor number that cannot be open: above the largest
    // fs.nr_open the kernel allows (INT_MAX rounded down to a multiple of
    // the word size in bits), so no other thread can have it either.
    // SAFETY: the descriptor is only passed to getsockopt, which fails with
    // EBADF; nothing is read from, written to or closed through it.
    let closed = unsafe { BorrowedFd::borrow_raw(libc::c_int::MAX - 1) };
    assert_eq!(tcp_info(closed), Err(Error::BadFd));
    assert_eq!(tcp_defer_accept(closed), Err(Error::BadFd));
    let e = tcp_info(closed).unwrap_err();
    assert!(e.to_string().contains("not open"), "{e}");
    assert_eq!(e.raw_os_error(), libc::EBADF);
}
