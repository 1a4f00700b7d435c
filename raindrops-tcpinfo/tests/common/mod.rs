//! Helpers shared by the kernel tests: loopback pairs, waiting for a
//! condition, passing a descriptor to a child process.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

/// A listener on 127.0.0.1 or ::1 (port 0), a client connected to it and
/// the server's end of that connection.
pub struct Pair {
    pub listener: TcpListener,
    pub client: TcpStream,
    pub server: TcpStream,
}

/// Loopback addresses to test on: 127.0.0.1, and ::1 where the machine
/// has IPv6 (otherwise the reason is printed and ::1 is left out).
pub fn loopbacks() -> Vec<SocketAddr> {
    let mut out = vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 0))];
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, 0));
    match TcpListener::bind(v6) {
        Ok(_) => out.push(v6),
        Err(e) => eprintln!("skipping ::1: {e}"),
    }
    out
}

/// A connected loopback pair on `addr` (port 0).
pub fn pair(addr: SocketAddr) -> Pair {
    let listener = TcpListener::bind(addr).expect("bind loopback");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    Pair {
        listener,
        client,
        server,
    }
}

/// Sends `n` bytes from `from` and reads all of them on `to`.
pub fn transfer(from: &mut TcpStream, to: &mut TcpStream, n: usize) {
    let chunk = vec![b'x'; 64 * 1024];
    let reader = {
        let mut to = to.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = 0;
            while got < n {
                let k = to.read(&mut buf).expect("read");
                assert!(k > 0, "peer closed after {got} of {n} bytes");
                got += k;
            }
            got
        })
    };
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        from.write_all(&chunk[..k]).expect("write");
        left -= k;
    }
    assert_eq!(reader.join().unwrap(), n);
}

/// Polls `cond` until it holds, for at most 10 s (a bound on a slow or
/// loaded machine, never a timing assertion); panics with `what` if it
/// never does.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Whether `fd` becomes readable within `timeout` (poll(2)).
pub fn readable_within(fd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `pfd` is one valid, writable pollfd and the count passed is 1;
    // the descriptor is borrowed and open during the call.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    assert!(rc >= 0, "poll: {}", std::io::Error::last_os_error());
    rc == 1
}

/// Makes `cmd`'s child see `fds[i]` as descriptor `3 + i` (inherited,
/// without close-on-exec), the way a Ruby child can open it with
/// `IO.for_fd(3 + i)`.
pub fn pass_fds(cmd: &mut Command, fds: &[BorrowedFd<'_>]) {
    let raw: Vec<libc::c_int> = fds.iter().map(|f| f.as_raw_fd()).collect();
    assert!(raw.len() <= 16, "at most 16 descriptors");
    // First move every source above the targets so that no dup2 clobbers a
    // source that is still to be copied.
    let high = 3 + raw.len() as libc::c_int + 64;
    let hook = move || -> std::io::Result<()> {
        let mut moved = [0 as libc::c_int; 16];
        for (i, &fd) in raw.iter().enumerate() {
            // SAFETY: fcntl(F_DUPFD_CLOEXEC) only makes a new descriptor
            // (or fails); `fd` is open in the child, inherited from us.
            let m = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, high) };
            if m < 0 {
                return Err(std::io::Error::last_os_error());
            }
            moved[i] = m;
        }
        for (i, &m) in moved[..raw.len()].iter().enumerate() {
            // SAFETY: dup2 onto 3 + i replaces whatever the child had there
            // (nothing it needs: exec follows) and clears close-on-exec.
            if unsafe { libc::dup2(m, 3 + i as libc::c_int) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec and only calls
    // fcntl and dup2, which are async-signal-safe; it allocates nothing
    // (`raw` was built before the fork).
    unsafe { cmd.pre_exec(hook) };
}

/// Borrows anything with a descriptor (shorthand in tests).
pub fn fd<T: AsFd>(t: &T) -> BorrowedFd<'_> {
    t.as_fd()
}
