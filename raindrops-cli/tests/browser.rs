//! The Watcher pages of `raindrops serve` in a real browser: Debian's
//! headless Chromium against listeners on loopback whose state the test
//! sets (`--dump-dom`, the DOM after the page loaded).
//!
//! - the index shows backlog and drops for a TCP and a Unix listener, equal
//!   to what the kernel reports;
//! - a listener's page has its heading, a link back, and a chart whose
//!   points follow the samples (queued rising 0, 1, 2, 3 as clients arrive);
//! - an unknown listener is 404;
//! - the tail page shows lines within 3 s (it stayed blank before, as
//!   browsers held `text/plain` back to sniff it).
//!
//! Without `chromium` the test says why and skips, unless
//! `RAINDROPS_REQUIRE_RUBY=1` (CI), which makes a missing oracle fail.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{BIN, Reap};

/// The browser, if installed.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// A directory removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let d =
            std::env::temp_dir().join(format!("raindrops-browser-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The DOM of `url` as headless Chromium serialises it after the load
/// (or, with `stop_after`, when it stops loading then), with a fresh
/// profile each time.
fn dump_dom(browser: &PathBuf, url: &str, stop_after: Option<Duration>) -> String {
    let profile = TempDir::new("profile");
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-sync",
        "--no-first-run",
        "--mute-audio",
    ])
    .arg(format!("--user-data-dir={}", profile.0.display()));
    if let Some(t) = stop_after {
        cmd.arg(format!("--timeout={}", t.as_millis()));
    }
    let mut child = Reap(
        cmd.arg("--dump-dom")
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run chromium"),
    );
    let mut stdout = child.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    // Bounded: a browser that hangs is killed (it is our child, not yet
    // reaped, so its pid is still its own).
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.0.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.0.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// The text of an HTML fragment: tags removed, the entities Chromium
/// writes decoded.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .trim()
        .to_string()
}

/// The cells of the index row whose first cell is `addr`.
fn index_row(dom: &str, addr: &str) -> Vec<String> {
    for row in dom.split("<tr>").skip(1) {
        let row = row.split("</tr>").next().unwrap_or("");
        let cells: Vec<String> = row.split("</td>").map(text_of).collect();
        if cells.first().map(String::as_str) == Some(addr) {
            return cells;
        }
    }
    panic!("no row for {addr} in {dom}");
}

/// The value of `attr="..."` in the first tag of `html` that has it.
fn attr<'a>(html: &'a str, attr: &str) -> &'a str {
    let key = format!("{attr}=\"");
    let start = html
        .find(&key)
        .unwrap_or_else(|| panic!("no {attr} in {html}"))
        + key.len();
    let rest = &html[start..];
    &rest[..rest.find('"').unwrap()]
}

/// The values a chart's `<polyline class="CLASS">` draws, read back
/// through the `data-` attributes of its `<svg>`.
fn chart_values(dom: &str, id: &str, class: &str) -> Vec<f64> {
    let svg = &dom[dom
        .find(&format!("<svg id=\"{id}\""))
        .unwrap_or_else(|| panic!("no svg {id} in {dom}"))..];
    let svg = &svg[..svg.find("</svg>").unwrap()];
    let max: f64 = attr(svg, "data-max").parse().unwrap();
    let top: f64 = attr(svg, "data-top").parse().unwrap();
    let height: f64 = attr(svg, "data-height").parse().unwrap();
    let line = &svg[svg
        .find(&format!("class=\"{class}\""))
        .unwrap_or_else(|| panic!("no {class} line in {svg}"))..];
    attr(line, "points")
        .split(' ')
        .map(|xy| {
            let y: f64 = xy.split_once(',').unwrap().1.parse().unwrap();
            (top + height - y) / height * max
        })
        .collect()
}

/// `GET path` on the server: the status line.
fn status_of(server: &str, path: &str) -> String {
    let mut s = TcpStream::connect(server).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line.trim_end().to_string()
}

/// A path component as the Watcher's links encode it.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._*".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn watcher_pages_in_headless_chromium() {
    let Some(browser) = chromium() else {
        let _: Option<()> = raindrops_testutil::skip_oracle(
            "headless Chromium (`chromium`) is not installed",
            "apt-get install -y chromium",
        );
        return;
    };
    // A TCP listener with a small backlog (so that the chart's scale, which
    // reaches the backlog, resolves single connections) and one accepted
    // client; a Unix listener with one queued client.
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: listen() again on our own listening socket only changes its
    // backlog.
    assert_eq!(unsafe { libc::listen(tcp.as_raw_fd(), 8) }, 0);
    let addr = tcp.local_addr().unwrap().to_string();
    let _client = TcpStream::connect(&addr).unwrap();
    let _accepted = tcp.accept().unwrap();
    let dir = TempDir::new("unix");
    let sock = dir.0.join("app.sock");
    let _unix = UnixListener::bind(&sock).unwrap();
    let _uc = UnixStream::connect(&sock).unwrap();
    let sock = sock.to_str().unwrap().to_string();

    let mut serve = Reap(
        Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "-d",
                "0.5",
                &addr,
                &sock,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut err = BufReader::new(serve.0.stderr.take().unwrap());
    let server = loop {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "serve ended early");
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.split('/').next().unwrap().to_string();
        }
    };
    // Drain stderr so that serve never blocks on it.
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    let base = format!("http://{server}");

    // Queued rises 0, 1, 2, 3, each level held for a few samples.
    std::thread::sleep(Duration::from_millis(1600));
    let mut queued = Vec::new();
    for _ in 0..3 {
        queued.push(TcpStream::connect(&addr).unwrap());
        std::thread::sleep(Duration::from_millis(1600));
    }

    // The index: backlog and drops of both listeners, as the kernel says.
    let dom = dump_dom(&browser, &format!("{base}/"), None);
    assert!(
        dom.contains("<th class=\"n\">backlog</th><th class=\"n\">drops</th>"),
        "{dom}"
    );
    let truth = raindrops_diag::tcp_listener_stats(&[&addr]).unwrap();
    let t = truth.get(&addr).unwrap();
    let row = index_row(&dom, &addr);
    let drops = t.drops.unwrap().to_string();
    assert_eq!(row[1..5], ["1", "3", "8", drops.as_str()], "{row:?}");
    let truth = raindrops_diag::unix_listener_stats(&[&sock]).unwrap();
    let u = truth.get(&sock).unwrap();
    let row = index_row(&dom, &sock);
    let dash = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    let (backlog, drops) = (dash(u.backlog.map(u64::from)), dash(u.drops));
    assert_eq!(
        row[1..5],
        ["0", "1", backlog.as_str(), drops.as_str()],
        "{row:?}"
    );
    assert!(dom.contains("name=\"viewport\""), "{dom}");
    assert!(dom.contains("http-equiv=\"refresh\""), "{dom}");

    // The listener's page: heading, way back, the chart of the samples.
    let page = format!("{base}/queued/{}.html", encode(&addr));
    let dom = dump_dom(&browser, &page, None);
    assert!(dom.contains(&format!("<h1>{addr}</h1>")), "{dom}");
    assert!(dom.contains("<a href=\"../\">"), "{dom}");
    let values = chart_values(&dom, "chart-queued", "queued");
    assert!(values.len() >= 8, "{values:?}");
    let levels: Vec<u32> = values.iter().map(|v| v.round() as u32).collect();
    for (v, l) in values.iter().zip(&levels) {
        assert!((v - f64::from(*l)).abs() < 0.05, "{values:?}");
    }
    assert!(levels.windows(2).all(|w| w[0] <= w[1]), "{levels:?}");
    assert_eq!((levels[0], *levels.last().unwrap()), (0, 3), "{levels:?}");
    for want in 0..=3 {
        assert!(
            levels.iter().filter(|&&l| l == want).count() >= 2,
            "{want} in {levels:?}"
        );
    }
    let backlog = chart_values(&dom, "chart-queued", "backlog");
    assert!(
        backlog.iter().all(|v| (v - 8.0).abs() < 0.05),
        "{backlog:?}"
    );
    let active = chart_values(&dom, "chart-active", "active");
    assert!(active.iter().all(|v| (v - 1.0).abs() < 0.05), "{active:?}");
    assert_eq!(active.len(), values.len());

    // An unknown listener: 404, and a page that says so.
    let unknown = "/queued/127.0.0.1%3A1.html";
    assert_eq!(status_of(&server, unknown), "HTTP/1.1 404 Not Found");
    let dom = dump_dom(&browser, &format!("{base}{unknown}"), None);
    assert!(dom.contains("<h1>No listener 127.0.0.1:1</h1>"), "{dom}");

    // The tail page shows lines within 3 s.
    let start = Instant::now();
    let dom = dump_dom(
        &browser,
        &format!("{base}/tail/{}.txt", encode(&addr)),
        Some(Duration::from_secs(3)),
    );
    let shown = text_of(&dom);
    let lines: Vec<&str> = shown
        .lines()
        .filter(|l| l.contains(&addr))
        .map(str::trim)
        .collect();
    assert!(!lines.is_empty(), "no tail line within 3 s: {dom}");
    for l in &lines {
        assert!(
            l.ends_with(&format!("{addr}          1          3")),
            "{l:?}"
        );
    }
    eprintln!(
        "tail: {} lines in the DOM after {:?}",
        lines.len(),
        start.elapsed()
    );
    drop(queued);
}
