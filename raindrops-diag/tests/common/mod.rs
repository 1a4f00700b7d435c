//! Shared helpers of the kernel tests: listeners with a chosen backlog and
//! options, connections, the Ruby oracle.
#![allow(dead_code, unreachable_pub)]

use rustix::net::{AddressFamily, SocketFlags, SocketType, sockopt};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A TCP listener on `addr` (port 0 for any) with `backlog`, optionally
/// `SO_REUSEPORT`, optionally IPv6-only.
pub fn listen(addr: SocketAddr, backlog: i32, reuseport: bool) -> TcpListener {
    let fam = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = rustix::net::socket_with(fam, SocketType::STREAM, SocketFlags::CLOEXEC, None).unwrap();
    sockopt::set_socket_reuseaddr(&fd, true).unwrap();
    if reuseport {
        sockopt::set_socket_reuseport(&fd, true).unwrap();
    }
    if addr.is_ipv6() {
        sockopt::set_ipv6_v6only(&fd, false).unwrap();
    }
    rustix::net::bind(&fd, &addr).unwrap();
    rustix::net::listen(&fd, backlog).unwrap();
    TcpListener::from(fd)
}

/// `n` clients connected to `to`.
pub fn connect(to: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| TcpStream::connect(to).unwrap()).collect()
}

/// A client bound to `from` (for example 127.0.0.2) connected to `to`.
pub fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let local = sa(from);
    let fam = if local.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = rustix::net::socket_with(fam, SocketType::STREAM, SocketFlags::CLOEXEC, None).unwrap();
    rustix::net::bind(&fd, &local).unwrap();
    rustix::net::connect(&fd, &to).unwrap();
    TcpStream::from(fd)
}

/// Accepts `n` connections.
pub fn accept(l: &TcpListener, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| l.accept().unwrap().0).collect()
}

/// Waits until `f` holds (the kernel finishes handshakes asynchronously
/// on loopback only in rare cases; this keeps tests deterministic).
pub fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    f()
}

/// `setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, secs)`.
pub fn defer_accept(l: &TcpListener, secs: i32) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid socket descriptor and a pointer to a live c_int of
    // the size passed.
    let r = unsafe {
        libc::setsockopt(
            l.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&secs as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
}

/// The port of a listener.
pub fn port(l: &TcpListener) -> u16 {
    l.local_addr().unwrap().port()
}

/// Runs `Raindrops::Linux.<method>(ARGV or nil)` in Ruby and returns its
/// `name active queued` lines, parsed; `None` when skipped.
pub fn ruby_stats(method: &str, args: &[&str]) -> Option<Vec<(String, (u32, u32))>> {
    let script = format!(
        "{}rd_print(Raindrops::Linux.{method}(ARGV.empty? ? nil : ARGV))",
        raindrops_testutil::diag::RUBY_PRINT_STATS
    );
    let out = raindrops_testutil::ruby(&["raindrops"], &script, args)?;
    Some(raindrops_testutil::diag::parse_ruby_stats(&out))
}

/// Our stats as `(name, (active, queued))`, like [`ruby_stats`].
pub fn ours(s: &raindrops_diag::Listeners) -> Vec<(String, (u32, u32))> {
    s.iter()
        .map(|l| (l.name.clone(), (l.stats.active, l.stats.queued)))
        .collect()
}

/// `n` non-blocking connects to `to` (nothing waits for them to finish):
/// a full accept queue makes the kernel drop the SYNs of the rest.
pub fn flood(to: SocketAddr, n: usize) -> Vec<OwnedFd> {
    (0..n)
        .map(|_| {
            let fd = rustix::net::socket_with(
                AddressFamily::INET,
                SocketType::STREAM,
                SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
                None,
            )
            .unwrap();
            match rustix::net::connect(&fd, &to) {
                Ok(()) | Err(rustix::io::Errno::INPROGRESS) => {}
                Err(e) => panic!("connect: {e}"),
            }
            fd
        })
        .collect()
}
