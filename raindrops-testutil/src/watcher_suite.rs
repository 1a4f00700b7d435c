//! One test suite for every server of the Watcher pages: `raindrops serve`
//! and the Watcher embedded in a hyper or axum application (the facade
//! crate's `raindrops::Watcher`) must answer the same pages.
//!
//! The caller starts the server watching the listeners of a [`Fixture`]
//! (TCP and Unix, with known accepted and queued connections), then calls
//! [`run`] with where the pages are.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Listeners in a known state: a TCP listener on 127.0.0.1 with 2
/// accepted and 3 queued connections, a Unix listener with 1 and 1.
pub struct Fixture {
    /// The TCP listener's address.
    pub tcp: String,
    /// The Unix listener's path.
    pub unix: String,
    dir: PathBuf,
    _held: (TcpListener, UnixListener, Vec<TcpStream>, Vec<UnixStream>),
}

impl Fixture {
    /// Makes the listeners (`tag` names the scratch directory).
    pub fn new(tag: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("rd-watcher-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = l.local_addr().unwrap().to_string();
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(TcpStream::connect(&tcp).unwrap());
            held.push(l.accept().unwrap().0);
        }
        for _ in 0..3 {
            held.push(TcpStream::connect(&tcp).unwrap());
        }
        let path = dir.join("w.sock");
        let u = UnixListener::bind(&path).unwrap();
        let mut uheld = vec![UnixStream::connect(&path).unwrap()];
        uheld.push(u.accept().unwrap().0);
        uheld.push(UnixStream::connect(&path).unwrap());
        Fixture {
            tcp,
            unix: path.to_str().unwrap().to_string(),
            dir,
            _held: (l, u, held, uheld),
        }
    }

    /// The names to watch: the TCP address, then the Unix path.
    pub fn names(&self) -> [&str; 2] {
        [&self.tcp, &self.unix]
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where a server answers the Watcher pages: `addr`, under `prefix`
/// (`""` at the root, `"/watch"` when mounted there).
#[derive(Clone, Copy, Debug)]
pub struct Base<'a> {
    /// The server's address.
    pub addr: SocketAddr,
    /// The path the pages are mounted under, without a trailing `/`.
    pub prefix: &'a str,
}

/// One answer: status, headers (lower-cased names), body.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (chunked bodies decoded).
    pub body: String,
}

impl Answer {
    /// The first header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `method prefix+path` on a new connection (`Connection: close`), read
/// to the end (10 s timeouts).
pub fn request(base: Base<'_>, method: &str, path: &str, extra: &[(&str, &str)]) -> Answer {
    let mut s = TcpStream::connect(base.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        base.prefix, base.addr
    );
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {raw:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = b.split_once("\r\n") {
        let n = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        b = rest[n..].strip_prefix("\r\n").unwrap_or("");
    }
    out
}

/// A listener address as the Watcher paths take it
/// (`application/x-www-form-urlencoded`).
pub fn encode(addr: &str) -> String {
    let mut out = String::new();
    for b in addr.bytes() {
        if b.is_ascii_alphanumeric() || b"*-._".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Polls until `cond` holds on a fresh answer to `GET path`, for at most
/// 20 s (a bound, not a timing assertion).
fn until(base: Base<'_>, path: &str, what: &str, cond: impl Fn(&Answer) -> bool) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a = request(base, "GET", path, &[]);
        if cond(&a) {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {a:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The suite: every Watcher page for the fixture's listeners, answered
/// as Ruby's Watcher and `raindrops serve` answer them. The server
/// samples every few hundred milliseconds at most.
pub fn run(base: Base<'_>, f: &Fixture) {
    let tcp = encode(&f.tcp);
    let unix = encode(&f.unix);

    // The middleware text: both listeners with their numbers, no calling
    // counted here.
    let a = until(base, "/_raindrops", "the fixture sampled", |a| {
        a.body.contains(&format!("{} queued: 3\n", f.tcp))
    });
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("text/plain"));
    assert_eq!(
        a.body,
        format!(
            "calling: 0\nwriting: 0\n{t} active: 2\n{t} queued: 3\n{u} active: 1\n{u} queued: 1\n",
            t = f.tcp,
            u = f.unix
        )
    );
    assert_eq!(a.header("content-length"), Some(&*a.body.len().to_string()));
    // JSON by Accept: the one JSON shape, nothing counted for calling.
    let j = request(
        base,
        "GET",
        "/_raindrops",
        &[("Accept", "application/json")],
    );
    assert_eq!(j.status, 200);
    assert!(
        j.body
            .starts_with("{\"calling\":null,\"writing\":null,\"listeners\":[{"),
        "{}",
        j.body
    );
    assert!(
        j.body.contains(&format!("\"address\":\"{}\"", f.tcp)),
        "{}",
        j.body
    );
    // Prometheus.
    let m = request(base, "GET", "/metrics", &[]);
    assert_eq!(m.status, 200);
    assert!(
        m.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{m:?}"
    );
    assert!(
        m.body.contains(&format!(
            "raindrops_listener_queued{{listener=\"{}\",family=\"tcp4\"}} 3\n",
            f.tcp
        )),
        "{}",
        m.body
    );
    // (The Watcher histograms are off by default in both, as
    // `raindrops serve --histograms` documents.)
    assert!(
        !m.body.contains("raindrops_watcher_queued_bucket{"),
        "{}",
        m.body
    );

    // The index: a row per listener, linking to tail and summaries.
    let i = request(base, "GET", "/", &[]);
    assert_eq!(i.status, 200);
    assert_eq!(i.header("content-type"), Some("text/html"));
    assert!(i.header("last-modified").is_some() && i.header("expires").is_some());
    for (enc, active, queued) in [(&tcp, 2, 3), (&unix, 1, 1)] {
        assert!(
            i.body.contains(&format!(
                "<a href='active/{enc}.html' title='active connections'>{active}</a>"
            )) && i.body.contains(&format!(
                "<a href='queued/{enc}.html' title='queued connections'>{queued}</a>"
            )) && i
                .body
                .contains(&format!("<form action='reset/{enc}' method='post'>")),
            "{}",
            i.body
        );
    }
    // HEAD: the headers of GET and no body.
    let h = request(base, "HEAD", "/", &[]);
    assert_eq!((h.status, h.body.as_str()), (200, ""));
    assert!(h.header("content-length").is_some());

    // Summaries: text and HTML, with the X- headers of Ruby's Watcher.
    let s = until(base, &format!("/queued/{tcp}.txt"), "two samples", |a| {
        a.header("x-count")
            .and_then(|c| c.parse::<u64>().ok())
            .is_some_and(|c| c >= 2)
    });
    assert_eq!(s.status, 200);
    assert_eq!(s.header("content-type"), Some("text/plain"));
    for (name, want) in [
        ("x-min", "3"),
        ("x-max", "3"),
        ("x-mean", "3.0"),
        ("x-current", "3"),
        ("x-outliers-low", "0"),
        ("x-outliers-high", "0"),
    ] {
        assert_eq!(s.header(name), Some(want), "{name}: {s:?}");
    }
    for name in [
        "x-std-dev",
        "x-last-reset",
        "x-first-peak-at",
        "x-last-peak-at",
        "expires",
    ] {
        assert!(s.header(name).is_some(), "{name}: {s:?}");
    }
    assert!(s.body.starts_with("value |"), "{}", s.body);
    let a = request(base, "GET", &format!("/active/{unix}.html"), &[]);
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("text/html"));
    assert_eq!(a.header("x-current"), Some("1"));
    assert!(
        a.body
            .contains(&format!("<form action='../reset/{unix}' method='post'>")),
        "{}",
        a.body
    );
    // An address not sampled: an empty summary (Ruby's), not 404.
    let e = request(base, "GET", "/active/127.0.0.2%3A9.txt", &[]);
    assert_eq!((e.status, e.header("x-count")), (200, Some("0")));

    // Reset: 302 back to the referer, the samples forgotten.
    let r = request(
        base,
        "POST",
        &format!("/reset/{tcp}"),
        &[("Referer", "http://example.test/back")],
    );
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(r.header("location"), Some("http://example.test/back"));
    let after = request(base, "GET", &format!("/queued/{tcp}.txt"), &[]);
    let count: u64 = after.header("x-count").unwrap().parse().unwrap();
    assert!(count < 2, "reset: {after:?}");
    assert!(after.header("x-last-reset").is_some());
    let r = request(base, "POST", "/reset/127.0.0.2%3A9", &[]);
    assert_eq!(r.status, 404, "never sampled");

    // Tail: a line per sample, `%20s % Ns % 10u % 10u`.
    tail(base, &tcp, &f.tcp);

    // Errors: methods, paths, addresses.
    let n = request(base, "GET", "/nope", &[]);
    assert_eq!(n.status, 404);
    let n = request(base, "POST", "/", &[]);
    assert_eq!(n.status, 405);
    assert_eq!(n.header("allow"), Some("GET, HEAD"));
    let n = request(base, "GET", "/reset/x", &[]);
    assert_eq!((n.status, n.header("allow")), (405, Some("POST")));
    let n = request(base, "GET", "/active/not-an-address.txt", &[]);
    assert_eq!(n.status, 400, "{n:?}");
    let n = request(base, "GET", "/active/%zz.txt", &[]);
    assert_eq!(n.status, 400, "{n:?}");
    let n = request(base, "GET", "/last_data_recv", &[]);
    assert_eq!(n.status, 404, "no LastDataRecv aggregate here");
}

/// Reads the first tail line of `addr` and checks its format.
fn tail(base: Base<'_>, enc: &str, addr: &str) {
    let mut s = TcpStream::connect(base.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {}/tail/{enc}.txt?queued_min=3 HTTP/1.1\r\nHost: t\r\n\r\n",
        base.prefix
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).expect("tail headers");
        if l == "\r\n" || l.is_empty() {
            break;
        }
        head.push_str(&l);
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-type: text/plain"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    // A chunk: its size line, then the tail line.
    let mut size = String::new();
    r.read_line(&mut size).expect("a chunk within 20 s");
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    // "2024-01-01T00:00:00Z 127.0.0.1:PORT          2          3\n"
    let want_tail = format!(" {addr}          2          3\n");
    assert!(line.ends_with(&want_tail), "{line:?}");
    assert_eq!(line.len(), 20 + want_tail.len(), "{line:?}");
    assert!(
        line[..20].ends_with('Z') && line.as_bytes()[10] == b'T',
        "{line:?}"
    );
}
