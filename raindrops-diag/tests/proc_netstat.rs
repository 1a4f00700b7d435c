//! The netstat parser against the real kernel: accept-queue overflows on
//! loopback make `TcpExt: ListenOverflows` grow, in the namespace of the
//! thread that reads it.
#![cfg(feature = "std")]

mod common;
use common::flood;
use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::{Duration, Instant};

use raindrops_diag::proc_netstat::{TcpExt, lookup, read_proc_file};
use rustix::net::{AddressFamily, SocketFlags, SocketType};

/// A listener on 127.0.0.1 with a backlog of 1 that never accepts.
fn tiny_listener() -> (TcpListener, SocketAddr) {
    let fd = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    rustix::net::bind(&fd, &any).unwrap();
    rustix::net::listen(&fd, 1).unwrap();
    let listener = TcpListener::from(fd);
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

fn overflows() -> u64 {
    TcpExt::read_current_thread()
        .unwrap()
        .listen_overflows
        .expect("this kernel prints ListenOverflows")
}

/// Polls until the counter passes `before` (handshakes are asynchronous).
fn grows_past(before: u64) -> u64 {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let now = overflows();
        if now > before || Instant::now() > end {
            return now;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn overflows_are_counted_in_this_namespace() {
    // Other tests share this namespace: they can only make it grow more.
    let before = overflows();
    let (_listener, addr) = tiny_listener();
    let _clients = flood(addr, 8);
    let after = grows_past(before);
    assert!(after > before, "ListenOverflows stayed at {before}");
    // The same text read through the generic lookup agrees in kind.
    let text = read_proc_file("/proc/thread-self/net/netstat").unwrap();
    let again = lookup(&text, "TcpExt", "ListenOverflows").unwrap().unwrap();
    assert!(again >= after);
}

/// Moves the calling thread into a new network namespace with loopback up.
fn enter_new_netns() -> Result<(), String> {
    // SAFETY: unshare takes no pointers; CLONE_NEWNET affects only the
    // calling thread's namespaces.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(format!(
            "unshare(CLONE_NEWNET): {}",
            std::io::Error::last_os_error()
        ));
    }
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&sock);
    // SAFETY: ifreq is plain old data, for which all-zero bytes are valid.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name from and writes the flags into
    // the ifreq, which lives across the call.
    if unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr) } != 0 {
        return Err(format!("SIOCGIFFLAGS: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the flags member is the one SIOCGIFFLAGS just wrote.
    unsafe { ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads the ifreq, which lives across the call.
    if unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &ifr) } != 0 {
        return Err(format!("SIOCSIFFLAGS: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

#[test]
fn a_thread_in_its_own_namespace_reads_its_own_counters() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: creating a network namespace needs root");
        return;
    }
    // The thread leaves the process's namespace; the main thread stays.
    let r = thread::spawn(|| -> Result<(TcpExt, TcpExt), String> {
        enter_new_netns()?;
        let fresh = TcpExt::read_current_thread().map_err(|e| e.to_string())?;
        let (listener, addr) = tiny_listener();
        let clients = flood(addr, 8);
        grows_past(0);
        // Let the drops settle: no SYN of ours still in flight.
        drop(clients);
        drop(listener);
        let after = TcpExt::read_current_thread().map_err(|e| e.to_string())?;
        Ok((fresh, after))
    })
    .join()
    .unwrap();
    let (fresh, after) = r.unwrap();
    // A new namespace starts from zero: had the thread read the process's
    // namespace (/proc/self/net), this would be the host's counts.
    assert!(fresh.iter().all(|(_, v)| v == Some(0)), "{fresh:?}");
    let overflows = after.listen_overflows.unwrap();
    assert!(overflows >= 1, "{after:?}");
    // Every overflow is also a listen drop.
    assert!(after.listen_drops.unwrap() >= overflows, "{after:?}");
}
