//! Forked holder processes that open many connections and keep them open,
//! so a test or bench can have tens of thousands of sockets while each
//! process stays under the per-process descriptor limit.

use std::os::fd::{FromRawFd, OwnedFd};

/// Children holding connections; dropping it releases and reaps them.
pub struct Holders {
    pids: Vec<libc::pid_t>,
    release: Option<OwnedFd>,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2");
    // SAFETY: pipe2 succeeded, so the descriptor is open and ours.
    let r = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    // SAFETY: as above.
    let w = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    (r, w)
}

impl Holders {
    /// Forks `procs` children; each calls `connect` then `accept`, `per`
    /// times (interleaved, so that accept queues stay short), keeps every
    /// descriptor, reports ready and waits for the release.
    ///
    /// `connect` and `accept` run in the child after `fork`: they must
    /// not allocate or take locks (plain socket calls are fine).
    pub fn spawn(
        procs: usize,
        per: usize,
        connect: impl Fn() -> OwnedFd,
        accept: impl Fn() -> OwnedFd,
    ) -> Holders {
        let (ready_r, ready_w) = pipe();
        let (release_r, release_w) = pipe();
        let mut pids = Vec::with_capacity(procs);
        for _ in 0..procs {
            let mut held: Vec<OwnedFd> = Vec::with_capacity(2 * per);
            // SAFETY: the child only makes socket calls, pushes into a
            // vector with enough capacity (no allocation), writes to and
            // reads from pipes, and leaves with _exit.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork");
            if pid == 0 {
                use std::os::fd::AsRawFd;
                // SAFETY: closing the inherited write end of the release
                // pipe, which this child never uses (it leaves by _exit,
                // so the OwnedFd is never dropped here).
                unsafe { libc::close(release_w.as_raw_fd()) };
                for _ in 0..per {
                    held.push(connect());
                    held.push(accept());
                }
                let one = [1u8];
                let mut b = [0u8];
                // SAFETY: a valid descriptor and a buffer of the given size.
                unsafe { libc::write(ready_w.as_raw_fd(), one.as_ptr().cast(), 1) };
                // Blocks until every write end is closed (the parent's drop).
                // SAFETY: a valid descriptor and a buffer of the given size.
                unsafe { libc::read(release_r.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
                // SAFETY: ends the child without running the parent's
                // destructors or atexit handlers.
                unsafe { libc::_exit(0) }
            }
            pids.push(pid);
        }
        drop(ready_w);
        drop(release_r);
        let mut got = 0;
        let mut b = [0u8; 64];
        while got < procs {
            use std::os::fd::AsRawFd;
            // SAFETY: a valid descriptor and buffer.
            let n = unsafe { libc::read(ready_r.as_raw_fd(), b.as_mut_ptr().cast(), b.len()) };
            assert!(n > 0, "a holder died before it was ready");
            got += n as usize;
        }
        Holders {
            pids,
            release: Some(release_w),
        }
    }
}

impl Drop for Holders {
    fn drop(&mut self) {
        self.release.take();
        for &pid in &self.pids {
            let mut status = 0;
            // SAFETY: waiting for a child we forked.
            unsafe { libc::waitpid(pid, &mut status, 0) };
        }
    }
}
