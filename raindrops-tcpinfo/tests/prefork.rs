//! LastDataRecv in a preforking server: two forked workers accept from one
//! listener and record into one `AtomicAggregate` in shared memory; the
//! parent reads the distribution they fed together.
//!
//! Alone in its test binary so that `fork` happens with as few threads
//! around as possible; the children only make system calls and atomic
//! updates (no allocation, no locks, no panics) and leave with `_exit`.
#![cfg(all(feature = "std", target_has_atomic = "64"))]

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use raindrops_core::AtomicAggregate;
use raindrops_tcpinfo::LastDataRecv;

const WORKERS: usize = 2;
const CLIENTS: u64 = 40;

/// What the workers share: the aggregate, plus what each worker saw, to
/// check the aggregate against. All-zero bytes are a valid value of every
/// field.
#[repr(C)]
struct Shared {
    waited: AtomicAggregate,
    accepted: [AtomicU64; WORKERS],
    sum_ms: [AtomicU64; WORKERS],
    max_ms: [AtomicU64; WORKERS],
}

/// An anonymous shared mapping of `Shared`, inherited across fork.
struct Mapping(*mut libc::c_void);

impl Mapping {
    fn new() -> Mapping {
        // SAFETY: an anonymous mapping touches no existing memory; the
        // result is checked against MAP_FAILED before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size_of::<Shared>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "{}", std::io::Error::last_os_error());
        Mapping(p)
    }

    fn shared(&self) -> &Shared {
        // SAFETY: the mapping is page aligned (more than `Shared` needs),
        // at least `size_of::<Shared>()` bytes, zero-filled by the kernel
        // (a valid `Shared`: atomics only, all-zero AtomicAggregate is
        // empty), and lives as long as `self`. Only atomics are accessed
        // through it, so sharing it between processes is sound.
        unsafe { &*self.0.cast::<Shared>() }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `self.0` is the mapping made in `new`, of that size, and
        // no reference to it outlives `self`.
        unsafe { libc::munmap(self.0, size_of::<Shared>()) };
    }
}

/// A worker: accept, record, close, until the listener is shut down.
fn worker(listener: libc::c_int, index: usize, shared: &Shared) -> ! {
    let recorder = LastDataRecv::new(&shared.waited);
    loop {
        // SAFETY: accept4 with null address pointers only returns a new
        // descriptor or -1.
        let c = unsafe {
            libc::accept4(
                listener,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        if c < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break; // EINVAL once the parent shuts the listener down
        }
        // SAFETY: `c` is a new descriptor that nothing else owns.
        let conn = unsafe { OwnedFd::from_raw_fd(c) };
        if let Ok(Some(ms)) = recorder.record(&conn) {
            shared.accepted[index].fetch_add(1, Relaxed);
            shared.sum_ms[index].fetch_add(u64::from(ms), Relaxed);
            shared.max_ms[index].fetch_max(u64::from(ms), Relaxed);
        }
    }
    // SAFETY: _exit ends the child without running the parent's atexit
    // handlers or destructors, which belong to the parent.
    unsafe { libc::_exit(0) }
}

/// Our forked workers; any still running when this drops (the test failed
/// half-way) are killed and reaped, so none outlives the test.
struct Children(Vec<libc::pid_t>);

impl Children {
    /// Waits for every worker to exit, checking that each exited with 0.
    fn reap(&mut self) {
        for pid in std::mem::take(&mut self.0) {
            let mut status = 0;
            // SAFETY: waits for our own child; `status` is a valid int.
            let r = unsafe { libc::waitpid(pid, &mut status, 0) };
            assert_eq!(r, pid);
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "worker {pid}: status {status:#x}"
            );
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for &pid in &self.0 {
            // SAFETY: `pid` is a child this test forked and has not reaped,
            // so the number still names it.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            // SAFETY: as above; a null status pointer is allowed.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        }
    }
}

#[test]
fn forked_workers_feed_one_distribution() {
    let map = Mapping::new();
    let shared = map.shared();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    LastDataRecv::prepare_listener(&listener).unwrap();
    let addr = listener.local_addr().unwrap();

    let mut children = Children(Vec::new());
    for index in 0..WORKERS {
        // SAFETY: the child runs `worker` only, which makes system calls
        // and atomic updates without allocating or taking locks, then
        // `_exit`s; the parent continues normally.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            worker(listener.as_raw_fd(), index, shared);
        }
        children.0.push(pid);
    }

    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"x").unwrap();
        clients.push(c);
    }
    common::wait_until("every client recorded", || shared.waited.count() == CLIENTS);
    // Wakes the workers blocked in accept (EINVAL), in every process.
    // SAFETY: shutdown on a descriptor we own, with a valid `how`.
    let rc = unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RD) };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    children.reap();

    let snap = shared.waited.snapshot();
    let accepted: u64 = shared.accepted.iter().map(|a| a.load(Relaxed)).sum();
    let sum: u64 = shared.sum_ms.iter().map(|a| a.load(Relaxed)).sum();
    let max = shared.max_ms.iter().map(|a| a.load(Relaxed)).max();
    assert_eq!(snap.count(), CLIENTS);
    assert_eq!(accepted, CLIENTS);
    assert_eq!(snap.sum(), u128::from(sum));
    assert_eq!(snap.max(), max);
    drop(clients);
}
