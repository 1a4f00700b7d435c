//! Helpers for the multi-process tests: forking workers, unique names and
//! paths that clean up after themselves.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A name no other test (or test run) uses.
pub fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "raindrops-shm-test-{}-{}-{tag}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A POSIX shm name, unlinked (if it still exists) when dropped.
pub struct ShmName(pub String);

impl ShmName {
    pub fn new(tag: &str) -> Self {
        ShmName(format!("/{}", unique(tag)))
    }
}

impl Drop for ShmName {
    fn drop(&mut self) {
        let _ = raindrops_shm::unlink_named(&self.0);
    }
}

/// A path in the temporary directory, removed when dropped.
pub struct TempPath(pub PathBuf);

impl TempPath {
    pub fn new(tag: &str) -> Self {
        TempPath(std::env::temp_dir().join(unique(tag)))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn str(&self) -> &str {
        self.0.to_str().expect("temp paths are UTF-8 here")
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Forks `n` children; child `i` runs `child(i)` and exits with the code it
/// returns (it must only do async-signal-safe-ish work: atomics, syscalls).
/// Returns every child's exit code (128 + signal when killed).
pub fn fork_children(n: usize, child: impl FnMut(usize) -> i32) -> Vec<i32> {
    wait_all(fork_each(n, child))
}

/// Forks `n` children like [`fork_children`] but returns their pids at once,
/// so the parent can act while they run; then call [`wait_all`].
pub fn fork_each(n: usize, mut child: impl FnMut(usize) -> i32) -> Vec<libc::pid_t> {
    let mut pids = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: the child runs only `child`, which by this function's
        // contract does atomic arithmetic and system calls, then `_exit`s
        // without unwinding or running destructors of the parent's state.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            let code = child(i);
            // SAFETY: leaves the child immediately.
            unsafe { libc::_exit(code) }
        }
        pids.push(pid);
    }
    pids
}

/// The exit codes of `pids`, in order.
pub fn wait_all(pids: Vec<libc::pid_t>) -> Vec<i32> {
    pids.into_iter().map(wait_child).collect()
}

/// Waits for child `pid` and returns its exit code (128 + signal if killed).
pub fn wait_child(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: `pid` is our child and `status` a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        assert_eq!(err.raw_os_error(), Some(libc::EINTR), "waitpid: {err}");
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

/// Spins (yielding) until `cond` holds or 20 s pass; usable in a forked
/// child (no allocation).
pub fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::yield_now();
    }
    true
}
