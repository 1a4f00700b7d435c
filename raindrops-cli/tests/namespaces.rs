//! `--all-namespaces`, `--namespace` and `-p` against namespaces the test
//! makes (`ip netns add`, unique names with the pid) and holder processes
//! inside them: each listener counted in its own namespace with its
//! owner, as `ip netns exec NAME ss -ltnp` sees it; and `raindrops serve
//! --all-namespaces` scraped by a real Prometheus. Needs root; skipped
//! with the reason otherwise (failing under `RAINDROPS_REQUIRE_RUBY=1`,
//! as in CI).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{BIN, raindrops, text};

/// Whether the test can run: root, `ip`, `ss` and `python3` (the holder
/// processes). Otherwise prints why, or fails under the CI flag.
fn ready_or_skip(test: &str, tools: &[&str]) -> bool {
    // SAFETY: geteuid has no preconditions.
    let why = if unsafe { libc::geteuid() } != 0 {
        Some("needs root (network namespaces, setns)".to_string())
    } else {
        tools
            .iter()
            .find(|t| {
                Command::new(t)
                    .arg("--version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_err()
            })
            .map(|t| format!("needs {t}"))
    };
    let Some(why) = why else { return true };
    if raindrops_testutil::ruby_required() {
        panic!("RAINDROPS_REQUIRE_RUBY=1 but {test} {why}");
    }
    eprintln!("skipping {test}: {why}");
    false
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text(&out.stdout)
}

/// A namespace made with `ip netns add`, loopback up, deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("rdc-{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run(Command::new("ip").args(["netns", "add", &name]));
        run(Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]));
        Netns { name }
    }

    fn inode(&self) -> u64 {
        std::fs::metadata(format!("/run/netns/{}", self.name))
            .unwrap()
            .ino()
    }

    fn exec(&self, args: &[&str]) -> String {
        run(Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A process inside a namespace listening on 127.0.0.1:PORT (backlog 8)
/// with `connect` clients of which `accept` were accepted, and optionally
/// an abstract Unix listener; it lives until dropped.
struct Holder {
    child: Child,
    _stdin: ChildStdin,
}

const HOLDER: &str = r#"
import socket, sys
port, accept, connect, abstract = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", port))
l.listen(8)
clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(connect)]
served = [l.accept()[0] for _ in range(accept)]
u = None
if abstract:
    u = socket.socket(socket.AF_UNIX)
    u.bind("\0" + abstract)
    u.listen(4)
print("ready", flush=True)
sys.stdin.read()
"#;

impl Holder {
    fn spawn(ns: &Netns, port: u16, accept: u32, connect: u32, abstract_name: &str) -> Holder {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "python3", "-c", HOLDER])
            .args([&port.to_string(), &accept.to_string(), &connect.to_string()])
            .arg(abstract_name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n", "holder in {}", ns.name);
        let stdin = child.stdin.take().unwrap();
        Holder {
            child,
            _stdin: stdin,
        }
    }

    /// `ip netns exec` execs the command: the holder's pid is the child's.
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The flat objects of the `listeners` array of our JSON.
fn objects(json: &str) -> Vec<&str> {
    let start = json.find("\"listeners\":[{").expect("listeners") + "\"listeners\":[{".len();
    let end = json[start..].find("}]").expect("end of listeners") + start;
    json[start..end].split("},{").collect()
}

/// The raw value of `key` in a flat JSON object (strings unquoted).
fn field<'a>(obj: &'a str, key: &str) -> Option<&'a str> {
    let at = obj.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &obj[at..];
    let v = match rest.strip_prefix('"') {
        Some(s) => &s[..s.find('"')?],
        None => rest.split(',').next()?,
    };
    Some(v)
}

/// The listener object with `address` in namespace `netns`.
fn find<'a>(objs: &[&'a str], address: &str, netns: &str) -> &'a str {
    let hits: Vec<&str> = objs
        .iter()
        .copied()
        .filter(|o| field(o, "address") == Some(address) && field(o, "netns") == Some(netns))
        .collect();
    assert_eq!(hits.len(), 1, "{address} in {netns}: {objs:#?}");
    hits[0]
}

/// The pids `ss -p` lists in its `users:((...))` column.
fn ss_pids(line: &str) -> Vec<u32> {
    line.split("pid=")
        .skip(1)
        .filter_map(|s| s.split(',').next()?.parse().ok())
        .collect()
}

#[test]
fn listeners_of_every_namespace_with_their_owners() {
    if !ready_or_skip(
        "listeners_of_every_namespace_with_their_owners",
        &["ip", "ss", "python3"],
    ) {
        return;
    }
    let port = 18201;
    let (a, b) = (Netns::new("a"), Netns::new("b"));
    let abs = format!("rdc-{}", std::process::id());
    let ha = Holder::spawn(&a, port, 1, 2, "");
    let hb = Holder::spawn(&b, port, 0, 3, &abs);
    // A listener of the test in the host namespace.
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let host_addr = host.local_addr().unwrap().to_string();
    let _queued = TcpStream::connect(&host_addr).unwrap();
    let addr = format!("127.0.0.1:{port}");

    // --all-ports: the host listener is on an ephemeral port.
    let out = raindrops(&[
        "listeners",
        "--all-namespaces",
        "-p",
        "--all-ports",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json = text(&out.stdout);
    let objs = objects(&json);

    let here = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
    for (ns, h, active, queued) in [(&a, &ha, "1", "1"), (&b, &hb, "0", "3")] {
        let o = find(&objs, &addr, &ns.name);
        assert_eq!(field(o, "active"), Some(active), "{o}");
        assert_eq!(field(o, "queued"), Some(queued), "{o}");
        assert_eq!(field(o, "backlog"), Some("8"), "{o}");
        assert_eq!(
            field(o, "netns_inode"),
            Some(ns.inode().to_string().as_str())
        );
        assert_eq!(field(o, "pid"), Some(h.pid().to_string().as_str()), "{o}");
        assert_eq!(field(o, "process"), Some("python3"), "{o}");
        assert_eq!(field(o, "processes"), Some("1"), "{o}");
        // As `ss -ltnp` sees it inside the namespace.
        let ss = ns.exec(&["ss", "-Hltnp", &format!("sport = :{port}")]);
        let line = ss
            .lines()
            .next()
            .unwrap_or_else(|| panic!("ss in {}", ns.name));
        assert_eq!(ss_pids(line), [h.pid()], "{line}");
        let recv_q = line.split_whitespace().nth(1).unwrap();
        assert_eq!(Some(recv_q), field(o, "queued"), "{line}");
    }
    // The abstract socket of b is b's only; the host's listener is the
    // host's, with this process as owner.
    let u = find(&objs, &format!("@{abs}"), &b.name);
    assert_eq!(field(u, "pid"), Some(hb.pid().to_string().as_str()));
    assert_eq!(field(u, "family"), Some("unix"));
    assert!(
        !objs
            .iter()
            .any(|o| field(o, "address") == Some(&format!("@{abs}"))
                && field(o, "netns") != Some(&b.name)),
        "{json}"
    );
    let h = objs
        .iter()
        .find(|o| field(o, "address") == Some(host_addr.as_str()))
        .unwrap_or_else(|| panic!("{host_addr}: {json}"));
    assert_eq!(field(h, "netns_inode"), Some(here.to_string().as_str()));
    assert_eq!(field(h, "netns"), Some("null"));
    assert_eq!(field(h, "queued"), Some("1"));
    assert_eq!(
        field(h, "pid"),
        Some(std::process::id().to_string().as_str())
    );

    // Two namespaces by name, one address: a table with their columns,
    // the address shown where it listens only.
    let out = raindrops(&[
        "listeners",
        "--namespace",
        &a.name,
        "--namespace",
        &b.name,
        "-p",
        &addr,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    for col in [
        "ADDRESS",
        "NETNS",
        "NETNS_INODE",
        "PID",
        "PROCESS",
        "CGROUP",
    ] {
        assert!(header.contains(&col), "{col}: {table}");
    }
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{table}");
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r[col("NETNS")], r[col("QUEUED")], r[col("PID")]))
        .collect();
    let (pa, pb) = (ha.pid().to_string(), hb.pid().to_string());
    assert_eq!(
        got,
        [
            (a.name.as_str(), "1", pa.as_str()),
            (b.name.as_str(), "3", pb.as_str())
        ]
    );
    // Without -p: namespaces, no owners.
    let out = raindrops(&["listeners", "--namespace", &a.name]);
    let table = text(&out.stdout);
    assert!(
        table.starts_with("ADDRESS") && table.contains(" NETNS "),
        "{table}"
    );
    assert!(!table.contains("PID"), "{table}");
    // A namespace that does not exist is bad input.
    let missing = format!("rdc-{}-missing", std::process::id());
    for args in [
        &["listeners", "--namespace", missing.as_str()][..],
        &["listeners", "--namespace", "/etc/hostname"],
        &["listeners", "--namespace", ".."],
        &["listeners", "--all-namespaces", "--namespace", "1"],
    ] {
        let out = raindrops(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(text(&out.stderr).lines().count(), 1, "{args:?}");
    }
    drop((ha, hb));
}

/// One HTTP/1.0 GET to 127.0.0.1:`port`; the body.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.0 200").then(|| body.to_string()))
}

/// A free TCP port on loopback (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `raindrops serve` with `args` on a free port; its port. Its stderr is
/// drained by a thread so that warnings never block it.
fn serve(args: &[&str]) -> (Reap, u16) {
    let mut child = Reap(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut err = BufReader::new(child.0.stderr.take().unwrap());
    let mut seen = String::new();
    let port = loop {
        let mut l = String::new();
        if err.read_line(&mut l).unwrap() == 0 {
            panic!("serve ended: {seen}");
        }
        seen.push_str(&l);
        if let Some(p) = l
            .split("http://127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .and_then(|p| p.parse().ok())
        {
            break p;
        }
    };
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    (child, port)
}

/// The `{"metric":{...},"value":[t,"v"]}` results of a Prometheus query
/// answer, as (labels text, value).
fn prom_results(body: &str) -> Vec<(String, String)> {
    body.split("{\"metric\":{")
        .skip(1)
        .filter_map(|r| {
            let (labels, rest) = r.split_once('}')?;
            let v = rest.split("\"value\":[").nth(1)?.split(',').nth(1)?;
            Some((
                labels.to_string(),
                v.trim_matches(|c| c == '"' || c == ']' || c == '}')
                    .to_string(),
            ))
        })
        .collect()
}

/// Percent-encodes a PromQL query for a URL.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn serve_all_namespaces_scraped_by_prometheus() {
    if !ready_or_skip(
        "serve_all_namespaces_scraped_by_prometheus",
        &["ip", "python3", "prometheus"],
    ) {
        return;
    }
    let port = 18202;
    let (a, b) = (Netns::new("pa"), Netns::new("pb"));
    let _ha = Holder::spawn(&a, port, 1, 2, "");
    let _hb = Holder::spawn(&b, port, 0, 3, "");
    let (_serve, serve_port) = serve(&["--all-namespaces", "-p", "-d", "0.5"]);

    let dir = std::env::temp_dir().join(format!("rdc-prom-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: raindrops\n    static_configs:\n      - targets: ['127.0.0.1:{serve_port}']\n"
        ),
    )
    .unwrap();
    let prom_port = free_port();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let _prom = Reap(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );

    let query = format!("raindrops_listener_queued{{listener=\"127.0.0.1:{port}\"}}");
    let path = format!("/api/v1/query?query={}", encode(&query));
    let deadline = Instant::now() + Duration::from_secs(90);
    let results = loop {
        let r = http_get(prom_port, &path).map(|b| prom_results(&b));
        if let Some(r) = r.filter(|r| r.len() >= 2) {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "no series in Prometheus; its log: {}",
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    for (ns, h, queued) in [(&a, &_ha, "1"), (&b, &_hb, "3")] {
        let (labels, v) = results
            .iter()
            .find(|(l, _)| l.contains(&format!("\"netns\":\"{}\"", ns.name)))
            .unwrap_or_else(|| panic!("{}: {results:?}", ns.name));
        assert_eq!(v, queued, "{labels}");
        for want in [
            format!("\"netns_inode\":\"{}\"", ns.inode()),
            "\"process\":\"python3\"".to_string(),
            "\"family\":\"tcp4\"".to_string(),
            "\"job\":\"raindrops\"".to_string(),
        ] {
            assert!(labels.contains(&want), "{want} not in {labels}");
        }
        let _ = h;
    }
    let skips = http_get(
        prom_port,
        &format!(
            "/api/v1/query?query={}",
            encode("raindrops_namespace_skips_total")
        ),
    )
    .map(|b| prom_results(&b))
    .unwrap_or_default();
    assert_eq!(skips.len(), 6, "{skips:?}");
    assert!(
        skips
            .iter()
            .any(|(l, _)| l.contains("\"reason\":\"denied\""))
    );
    let up = http_get(prom_port, &format!("/api/v1/query?query={}", encode("up")))
        .map(|b| prom_results(&b))
        .unwrap_or_default();
    assert_eq!(up.first().map(|(_, v)| v.as_str()), Some("1"), "{up:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
