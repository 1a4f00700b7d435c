//! End to end with Debian's `prometheus`, started here on loopback with
//! its own configuration and data directory: it scrapes `raindrops serve`
//! over TLS with basic auth and loads the shipped rules; its query API
//! must give queued, backlog and drops equal to `ss` for a stuck listener,
//! no series for a listener on an ephemeral port, an unsuccessful scrape
//! (401) for a wrong password, and an answer for every expression of the
//! shipped Grafana dashboard (non-empty for at least one panel per row).
//! Also `promtool check rules` and `promtool test rules` on the rules.
//!
//! `prometheus`, `promtool`, `openssl`, `curl`, `ss` and `python3` are
//! oracles: missing, the test is skipped with a reason, unless
//! RAINDROPS_REQUIRE_RUBY=1 (CI) makes that a failure.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, wait_until};

const CONTRIB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../contrib");

/// Whether `tool` runs (`tool --version`); if not, skips (or fails in CI).
fn have(tool: &str, package: &str) -> bool {
    match Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => true,
        Err(e) => raindrops_testutil::skip_oracle::<()>(
            &format!("cannot run {tool}: {e}"),
            &format!("apt-get install -y {package}"),
        )
        .is_some(),
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("raindrops-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sh(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1, made with openssl.
fn certificates(dir: &TempDir) {
    sh(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &dir.path("ca.key"),
        "-out",
        &dir.path("ca.pem"),
        "-days",
        "2",
        "-subj",
        "/CN=raindrops test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]));
    sh(Command::new("openssl").args([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &dir.path("server.key"),
        "-out",
        &dir.path("server.csr"),
        "-subj",
        "/CN=127.0.0.1",
    ]));
    std::fs::write(
        dir.path("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    sh(Command::new("openssl").args([
        "x509",
        "-req",
        "-in",
        &dir.path("server.csr"),
        "-CA",
        &dir.path("ca.pem"),
        "-CAkey",
        &dir.path("ca.key"),
        "-CAcreateserial",
        "-out",
        &dir.path("server.pem"),
        "-days",
        "2",
        "-extfile",
        &dir.path("ext.cnf"),
    ]));
}

/// A free port on 127.0.0.1 (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A listener on a port below the ephemeral range whose accept queue is
/// full (backlog 2, three connections waiting), with drops from more
/// connection attempts.
fn stuck_listener() -> (TcpListener, u16, Vec<TcpStream>) {
    use std::os::fd::AsRawFd;
    let mut port = 24_000u16 + (std::process::id() % 2000) as u16;
    let l = loop {
        port += 1;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            break l;
        }
    };
    // SAFETY: listen() again on our own listening socket only changes its
    // backlog.
    assert_eq!(unsafe { libc::listen(l.as_raw_fd(), 2) }, 0);
    let held: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let sa = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..3 {
        let _ = TcpStream::connect_timeout(&sa, Duration::from_millis(100));
    }
    (l, port, held)
}

/// `GET path` against Prometheus' HTTP API, the body.
fn api(port: u16, path_and_query: &str) -> String {
    // Not listening yet (starting): an empty answer.
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    if write!(
        s,
        "GET {path_and_query} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .is_err()
    {
        return String::new();
    }
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    raw.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query: `Err(body)` unless it succeeded; the sample values.
fn query(port: u16, q: &str) -> Result<Vec<f64>, String> {
    let body = api(port, &format!("/api/v1/query?query={}", encode(q)));
    if !body.contains("\"status\":\"success\"") {
        return Err(body);
    }
    Ok(body
        .split("\"value\":[")
        .skip(1)
        .filter_map(|v| v.split('"').nth(1).and_then(|n| n.parse().ok()))
        .collect())
}

#[test]
fn prometheus_scrapes_over_tls_with_basic_auth_and_agrees_with_ss() {
    for (tool, package) in [
        ("prometheus", "prometheus"),
        ("openssl", "openssl"),
        ("curl", "curl"),
        ("python3", "python3"),
    ] {
        if !have(tool, package) {
            return;
        }
    }
    let dir = TempDir::new("prometheus");
    certificates(&dir);
    let hash = bcrypt::hash("s3cret pass", 4).unwrap();
    std::fs::write(
        dir.path("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n\
             http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n\
             basic_auth_users:\n  prom: '{hash}'\n"
        ),
    )
    .unwrap();
    let (_stuck, stuck_port, _held) = stuck_listener();
    let stuck = format!("127.0.0.1:{stuck_port}");
    // A listener on an ephemeral port, for the whole test.
    let transient = TcpListener::bind("127.0.0.1:0").unwrap();
    let transient_addr = transient.local_addr().unwrap().to_string();

    let server = Server::start(&["-d", "0.5", "--web-config-file", &dir.path("web.yml")]);
    let target = format!("127.0.0.1:{}", server.port);

    // A wrong password: 401 with a challenge; no password: 401 too.
    for user in ["prom:wrong", "nobody:s3cret pass"] {
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-D",
                "-",
                "--cacert",
                &dir.path("ca.pem"),
                "-u",
                user,
            ])
            .arg(format!("https://{target}/metrics"))
            .output()
            .unwrap();
        let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 401"), "{user}: {head}");
        assert!(head.contains("www-authenticate: basic"), "{head}");
        assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    }
    let out = Command::new("curl")
        .args([
            "-s",
            "--cacert",
            &dir.path("ca.pem"),
            "-u",
            "prom:s3cret pass",
        ])
        .arg(format!("https://{target}/metrics"))
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        body.contains(&format!("raindrops_listener_queued{{listener=\"{stuck}\"")),
        "{body}"
    );
    // Plain HTTP on the TLS port gets nothing useful.
    let mut plain = TcpStream::connect(&target).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let _ = plain.read_to_end(&mut raw);
    assert!(
        !String::from_utf8_lossy(&raw).contains("raindrops_"),
        "served over plain HTTP"
    );

    let prom_port = free_port();
    let rules = Path::new(CONTRIB).join("prometheus/raindrops-rules.yml");
    std::fs::write(
        dir.path("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {rules}\n\
             scrape_configs:\n\
             \x20 - job_name: raindrops\n    scheme: https\n\
             \x20   tls_config:\n      ca_file: {ca}\n\
             \x20   basic_auth:\n      username: prom\n      password: 's3cret pass'\n\
             \x20   static_configs:\n      - targets: ['{target}']\n\
             \x20 - job_name: raindrops-wrong-password\n    scheme: https\n\
             \x20   tls_config:\n      ca_file: {ca}\n\
             \x20   basic_auth:\n      username: prom\n      password: wrong\n\
             \x20   static_configs:\n      - targets: ['{target}']\n",
            rules = rules.display(),
            ca = dir.path("ca.pem"),
        ),
    )
    .unwrap();
    let _prometheus = Kill(
        Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path("prometheus.yml")))
            .arg(format!("--storage.tsdb.path={}", dir.path("data")))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(
        wait_until(60, || query(prom_port, "up{job=\"raindrops\"}")
            == Ok(vec![1.0])),
        "Prometheus never scraped raindrops: {:?}\n{}",
        query(prom_port, "up"),
        api(prom_port, "/api/v1/targets")
    );
    // The wrong password: the scrape fails with 401.
    assert!(wait_until(30, || query(
        prom_port,
        "up{job=\"raindrops-wrong-password\"}"
    ) == Ok(vec![0.0])));
    let targets = api(prom_port, "/api/v1/targets");
    assert!(targets.contains("401 Unauthorized"), "{targets}");

    // queued, backlog and drops as ss sees them, at the same moment.
    let mut last = String::new();
    let agreed = wait_until(30, || {
        let Some(ss) = raindrops_testutil::diag::ss_tcp_listeners(stuck_port) else {
            return false;
        };
        let Some(ss) = ss.iter().find(|l| l.local == stuck) else {
            return false;
        };
        let get = |m: &str| query(prom_port, &format!("{m}{{listener=\"{stuck}\"}}")).ok();
        let ours = (
            get("raindrops_listener_queued"),
            get("raindrops_listener_backlog"),
            get("raindrops_listener_drops_total"),
        );
        let want = (
            Some(vec![f64::from(ss.queued)]),
            Some(vec![f64::from(ss.backlog)]),
            ss.drops.map(|d| vec![d as f64]),
        );
        last = format!("prometheus {ours:?}, ss {want:?}");
        ours == want
    });
    assert!(agreed, "{last}");
    assert!(last.contains("Some([3.0]), Some([2.0])"), "{last}");

    // No series for the listener on an ephemeral port.
    let q = format!("{{listener=\"{transient_addr}\"}}");
    assert_eq!(
        query(prom_port, &q),
        Ok(vec![]),
        "{transient_addr} has series"
    );
    assert!(
        query(
            prom_port,
            "raindrops_listeners_left_out{reason=\"ephemeral\"}"
        )
        .unwrap()[0]
            >= 1.0
    );

    // The recording rule works on real data.
    assert!(wait_until(20, || {
        query(
            prom_port,
            &format!("raindrops:listener_saturation:ratio{{listener=\"{stuck}\"}}"),
        ) == Ok(vec![1.5])
    }));

    dashboard_answers(prom_port, &body);
    drop(transient);
}

/// Every expression of the dashboard answers without error; in each row at
/// least one panel has data; each metric it names is exported.
fn dashboard_answers(prom_port: u16, exported: &str) {
    let script = r#"
import json, sys
d = json.load(open(sys.argv[1]))
row = None
for p in d["panels"]:
    if p["type"] == "row":
        row = p["title"]
        continue
    for t in p.get("targets", []):
        print(row + "\t" + p["title"] + "\t" + t["expr"])
"#;
    let dashboard = Path::new(CONTRIB).join("grafana/raindrops.json");
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&dashboard)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let start = Instant::now();
    let mut exprs = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(3, '\t');
        let (row, title, expr) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
            if word.starts_with("raindrops_") {
                assert!(
                    exported.contains(&format!("\n{word}")),
                    "{title}: {word} is not exported"
                );
            }
        }
        let q = expr
            .replace("$__rate_interval", "1m")
            .replace("$instance", ".*")
            .replace("$listener", ".*");
        exprs.push((row.to_string(), title.to_string(), q));
    }
    // Rates need a few scrapes: ask again until every row has data.
    let mut rows: BTreeMap<String, Vec<(String, usize)>> = BTreeMap::new();
    let all_rows = wait_until(30, || {
        rows.clear();
        for (row, title, q) in &exprs {
            let values = query(prom_port, q).unwrap_or_else(|e| panic!("{title}: {q}: {e}"));
            rows.entry(row.clone())
                .or_default()
                .push((title.clone(), values.len()));
        }
        rows.values()
            .all(|panels| panels.iter().any(|(_, n)| *n > 0))
    });
    assert!(rows.len() >= 4, "{rows:?}");
    assert!(all_rows, "a row without data: {rows:?}");
    eprintln!("dashboard: {rows:?} ({:?})", start.elapsed());
}

#[test]
fn promtool_checks_and_tests_the_rules() {
    if !have("promtool", "prometheus") {
        return;
    }
    let dir = Path::new(CONTRIB).join("prometheus");
    for args in [
        &["check", "rules", "raindrops-rules.yml"][..],
        &["test", "rules", "raindrops-rules.test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn client_certificates_are_verified_when_required() {
    for (tool, package) in [("openssl", "openssl"), ("curl", "curl")] {
        if !have(tool, package) {
            return;
        }
    }
    let dir = TempDir::new("client-cert");
    certificates(&dir);
    sh(Command::new("openssl").args([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &dir.path("client.key"),
        "-out",
        &dir.path("client.csr"),
        "-subj",
        "/CN=scraper",
    ]));
    std::fs::write(
        dir.path("client.cnf"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    sh(Command::new("openssl").args([
        "x509",
        "-req",
        "-in",
        &dir.path("client.csr"),
        "-CA",
        &dir.path("ca.pem"),
        "-CAkey",
        &dir.path("ca.key"),
        "-CAcreateserial",
        "-out",
        &dir.path("client.pem"),
        "-days",
        "2",
        "-extfile",
        &dir.path("client.cnf"),
    ]));
    std::fs::write(
        dir.path("web.yml"),
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n\
         \x20 client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n\
         \x20 min_version: TLS13\n",
    )
    .unwrap();
    let server = Server::start(&["-d", "0.5", "--web-config-file", &dir.path("web.yml")]);
    let url = format!("https://127.0.0.1:{}/metrics", server.port);
    let curl = |extra: &[&str]| {
        Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--cacert",
                &dir.path("ca.pem"),
            ])
            .args(extra)
            .arg(&url)
            .output()
            .unwrap()
    };
    let with = curl(&[
        "--cert",
        &dir.path("client.pem"),
        "--key",
        &dir.path("client.key"),
    ]);
    assert_eq!(String::from_utf8_lossy(&with.stdout), "200");
    let without = curl(&[]);
    assert_ne!(
        String::from_utf8_lossy(&without.stdout),
        "200",
        "no client certificate, yet served"
    );
    // TLS 1.2 is refused under min_version: TLS13.
    let old = curl(&[
        "--tlsv1.2",
        "--tls-max",
        "1.2",
        "--cert",
        &dir.path("client.pem"),
        "--key",
        &dir.path("client.key"),
    ]);
    assert_ne!(
        String::from_utf8_lossy(&old.stdout),
        "200",
        "TLS 1.2 served"
    );
}
