//! Helpers shared by the facade's tests: descriptors passed to a Ruby
//! child, waiting for a condition, a raw HTTP/1.1 client, scratch
//! directories.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[cfg(feature = "axum")]
pub mod gated;

/// Polls `cond` until it holds, for at most 20 s (a bound for a loaded
/// machine, never a timing assertion); panics with `what` otherwise.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Makes `cmd`'s child see `fds[i]` as descriptor `3 + i` (inherited,
/// without close-on-exec), for `IO.for_fd(3 + i)` in Ruby.
pub fn pass_fds(cmd: &mut Command, fds: &[BorrowedFd<'_>]) {
    let raw: Vec<libc::c_int> = fds.iter().map(|f| f.as_raw_fd()).collect();
    assert!(raw.len() <= 16, "at most 16 descriptors");
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
    // fcntl and dup2, which are async-signal-safe; it allocates nothing.
    unsafe { cmd.pre_exec(hook) };
}

/// A scratch directory named after the test and the process, removed on
/// drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("raindrops-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One HTTP/1.1 response read to its end: status, headers (names
/// lower-cased), body (chunked bodies decoded).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `method path` with `extra` header lines on a new connection
/// (`Connection: close`) and reads the whole answer (10 s timeouts).
pub fn http(addr: SocketAddr, method: &str, path: &str, extra: &[(&str, &str)]) -> Answer {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the answer");
    parse_answer(&raw, method == "HEAD")
}

/// Parses a complete HTTP/1.1 response.
pub fn parse_answer(raw: &[u8], head: bool) -> Answer {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head_text = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if chunked && !head {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

/// Decodes a chunked body (complete).
pub fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..eol])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .expect("chunk size");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

/// A keep-alive HTTP/1.1 connection: requests one after the other,
/// answers with a `Content-Length` read exactly (the connection stays
/// open, and counted by the kernel, between them).
pub struct KeepAlive {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl KeepAlive {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        KeepAlive {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn get(&mut self, path: &str, extra: &[(&str, &str)]) -> Answer {
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n");
        for (k, v) in extra {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.stream.write_all(req.as_bytes()).unwrap();
        let end = loop {
            if let Some(p) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            self.fill();
        };
        let head = parse_answer(&self.buf[..end], true);
        let len: usize = head
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .expect("a Content-Length");
        while self.buf.len() < end + len {
            self.fill();
        }
        let body = self.buf[end..end + len].to_vec();
        self.buf.drain(..end + len);
        Answer { body, ..head }
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).expect("read");
        assert!(n > 0, "the server closed the connection");
        self.buf.extend_from_slice(&chunk[..n]);
    }
}
