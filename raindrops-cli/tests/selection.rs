//! Listener selection by the command, against real sockets on loopback:
//! addresses as people type them (`:PORT`, `localhost:PORT`), errors that
//! name the fault, `--include`/`--exclude`, the default that leaves
//! ephemeral-port listeners out, the old flag name, and Unix socket names
//! that are not UTF-8 (Ruby's own test binds `"\xde\xad\xbe\xef"`),
//! compared with the Ruby gem.

use std::ffi::{OsStr, OsString};
use std::net::{TcpListener, TcpStream};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::Output;

mod common;
use common::{raindrops, text};

/// The first column of every row of a table.
fn addresses(o: &Output) -> Vec<String> {
    assert!(o.status.success(), "{}", text(&o.stderr));
    let s = text(&o.stdout);
    assert!(s.starts_with("ADDRESS"), "{s}");
    s.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

/// The kernel's ephemeral range.
fn ephemeral() -> (u16, u16) {
    let s = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let v: Vec<u16> = s.split_whitespace().map(|w| w.parse().unwrap()).collect();
    (v[0], v[1])
}

/// A listener on 127.0.0.1 and one on [::1], on the same port, with one
/// client queued on the IPv4 one.
struct Pair {
    port: u16,
    _v4: TcpListener,
    _v6: TcpListener,
    _client: TcpStream,
}

fn pair() -> Pair {
    for _ in 0..100 {
        let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = v4.local_addr().unwrap().port();
        if let Ok(v6) = TcpListener::bind(("::1", port)) {
            let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
            return Pair {
                port,
                _v4: v4,
                _v6: v6,
                _client: client,
            };
        }
    }
    panic!("no port free on both 127.0.0.1 and ::1");
}

/// A listener on 127.0.0.1 on a port below the ephemeral range, as a
/// service would have.
fn below_ephemeral() -> TcpListener {
    let (first, _) = ephemeral();
    let start = first.saturating_sub(4000).max(1024);
    for p in (start..first).rev() {
        if let Ok(l) = TcpListener::bind(("127.0.0.1", p)) {
            return l;
        }
    }
    panic!("no free port below {first}");
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("raindrops-sel-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn port_and_localhost_as_people_type_them() {
    let p = pair();
    let v4 = format!("127.0.0.1:{}", p.port);
    let v6 = format!("[::1]:{}", p.port);
    for arg in [format!(":{}", p.port), format!("localhost:{}", p.port)] {
        for args in [vec![arg.clone()], vec!["listeners".into(), arg.clone()]] {
            let out = raindrops(&args);
            assert_eq!(addresses(&out), [v4.clone(), v6.clone()], "{args:?}");
            assert!(out.stderr.is_empty(), "{args:?}: {}", text(&out.stderr));
        }
    }
    // The queued client is on the IPv4 listener.
    let out = raindrops(&["--format", "json", &format!(":{}", p.port)]);
    let s = text(&out.stdout);
    assert!(
        s.contains(&format!(
            "{{\"address\":\"{v4}\",\"family\":\"tcp4\",\"type\":\"tcp\",\"active\":0,\"queued\":1,"
        )),
        "{s}"
    );
    // A range and HOST:* take it too.
    let range = format!(":{}-{}", p.port, p.port.saturating_add(1));
    assert!(addresses(&raindrops(&[&range])).contains(&v4));
    assert!(addresses(&raindrops(&["[::1]:*"])).contains(&v6));
    // Mixed with the exact address: one row each, the named one first.
    let out = raindrops(&[v6.as_str(), &format!(":{}", p.port)]);
    assert_eq!(addresses(&out), [v6.clone(), v4.clone()]);
    // watch takes them too.
    let out = raindrops(&["watch", &format!(":{}", p.port)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines = text(&out.stdout);
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(
        lines.contains(&format!(" {v4} ")) && lines.contains(&format!(" {v6} ")),
        "{lines}"
    );
}

#[test]
fn selectors_that_match_nothing_warn_and_print_no_row() {
    // A port nothing listens on: bind and drop.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = raindrops(&["listeners", &format!(":{port}")]);
    assert!(out.status.success());
    assert_eq!(addresses(&out), Vec::<String>::new());
    assert_eq!(
        text(&out.stderr),
        format!("raindrops: warning: nothing listens on :{port}\n")
    );
    // localhost:PORT while only the any-address listens: a hint.
    let any = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = any.local_addr().unwrap().port();
    let out = raindrops(&["listeners", &format!("localhost:{port}")]);
    assert_eq!(
        text(&out.stderr),
        format!(
            "raindrops: warning: nothing listens on localhost:{port} \
             (0.0.0.0:{port} is: did you mean :{port}?)\n"
        )
    );
    // An exact address still prints its row of zeros.
    let out = raindrops(&["listeners", "127.0.0.1:1"]);
    assert_eq!(addresses(&out), ["127.0.0.1:1"]);
    assert_eq!(
        text(&out.stderr),
        "raindrops: warning: 127.0.0.1:1 is not listening\n"
    );
}

#[test]
fn errors_name_the_fault() {
    for (arg, msg) in [
        (
            "[1:::]5",
            "bad listener address [1:::]5: expected ':PORT' right after ']'",
        ),
        (
            "[::1:80",
            "bad listener address [::1:80: missing ']' after the IPv6 address",
        ),
        (
            "::1:80",
            "bad listener address ::1:80: an IPv6 address needs brackets",
        ),
        (
            ":99999",
            "bad listener address :99999: invalid port (expected 0 to 65535)",
        ),
        (
            ":90-80",
            "bad listener address :90-80: port range ends before it starts",
        ),
        (
            "example.com:80",
            "bad listener address example.com:80: not a numeric IPv4",
        ),
    ] {
        let out = raindrops(&["listeners", arg]);
        assert_eq!(out.status.code(), Some(2), "{arg}");
        assert!(out.stdout.is_empty(), "{arg}");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{arg}: {err}");
        assert!(
            err.starts_with(&format!("raindrops: {msg}")),
            "{arg}: {err}"
        );
    }
    let out = raindrops(&["listeners", "--include", ":x"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "raindrops: bad --include selector :x: invalid port (expected 0 to 65535)\n"
    );
}

#[test]
fn ephemeral_listeners_are_left_out_unless_named_or_included() {
    let (first, last) = ephemeral();
    let eph = TcpListener::bind("127.0.0.1:0").unwrap();
    let eph_addr = eph.local_addr().unwrap();
    assert!((first..=last).contains(&eph_addr.port()), "{eph_addr}");
    let service = below_ephemeral();
    let service_addr = service.local_addr().unwrap().to_string();
    let eph_addr = eph_addr.to_string();
    let has = |o: &Output, a: &str| addresses(o).iter().any(|x| x == a);

    for args in [&[][..], &["listeners"], &["listeners", "--format", "table"]] {
        let o = raindrops(args);
        assert!(!has(&o, &eph_addr), "{args:?}");
        assert!(has(&o, &service_addr), "{args:?}");
    }
    assert!(has(&raindrops(&["--all-ports"]), &eph_addr));
    assert!(has(&raindrops(&[eph_addr.as_str()]), &eph_addr));
    let port = eph_addr.rsplit(':').next().unwrap();
    let inc = raindrops(&["--include", &format!(":{port}")]);
    assert_eq!(
        addresses(&inc),
        [eph_addr.as_str()],
        "only what is included"
    );
    let o = raindrops(&["--all-ports", "--exclude", &format!(":{port}")]);
    assert!(!has(&o, &eph_addr) && has(&o, &service_addr));
    // An exclude does not hide a name given explicitly.
    let o = raindrops(&[eph_addr.as_str(), "--exclude", ":*"]);
    assert_eq!(addresses(&o), [eph_addr.as_str()]);
    // watch -a follows the same rule.
    let o = raindrops(&["watch", "-a"]);
    let s = text(&o.stdout);
    assert!(s.contains(&format!(" {service_addr} ")), "{s}");
    assert!(!s.contains(&format!(" {eph_addr} ")), "{s}");
    let s = text(&raindrops(&["watch", "-a", "--all-ports"]).stdout);
    assert!(s.contains(&format!(" {eph_addr} ")), "{s}");
    // JSON, for scripts: same selection.
    let s = text(&raindrops(&["--format", "json"]).stdout);
    assert!(!s.contains(&format!("\"{eph_addr}\"")) && s.contains(&format!("\"{service_addr}\"")));
}

#[test]
fn unix_name_patterns() {
    let dir = tempdir("glob");
    let a = dir.join("a.sock");
    let b = dir.join("b.sock");
    let _la = UnixListener::bind(&a).unwrap();
    let _lb = UnixListener::bind(&b).unwrap();
    let _c = UnixStream::connect(&b).unwrap();
    let d = dir.to_str().unwrap();
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let all = raindrops(&["--include", &format!("{d}/*")]);
    assert_eq!(addresses(&all), [a, b]);
    let some = raindrops(&[
        "--include",
        &format!("{d}/*"),
        "--exclude",
        &format!("{d}/a?sock"),
    ]);
    assert_eq!(addresses(&some), [b]);
    // Every listener except those under the directory.
    let rest = raindrops(&["--exclude", &format!("{d}/*")]);
    assert!(!addresses(&rest).iter().any(|x| x.starts_with(d)));
    // The table shows b's queued client.
    let s = text(&some.stdout);
    let row: Vec<&str> = s.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], [b, "unix", "0", "1"], "{s}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn no_active_and_its_old_name() {
    let p = pair();
    let addr = format!("127.0.0.1:{}", p.port);
    let new = raindrops(&["listeners", "--no-active", &addr]);
    let old = raindrops(&["listeners", "--queued-only", &addr]);
    let short = raindrops(&["listeners", "-q", &addr]);
    assert!(new.status.success(), "{}", text(&new.stderr));
    assert_eq!(new.stdout, old.stdout);
    assert_eq!(new.stdout, short.stdout);
    let s = text(&new.stdout);
    let row: Vec<&str> = s.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], [addr.as_str(), "tcp4", "-", "1"], "{s}");
    let help = text(&raindrops(&["listeners", "--help"]).stdout);
    assert!(help.contains("--no-active"), "{help}");
}

/// Ruby's `test_unix` binds the path `"\xde\xad\xbe\xef"`; here a name
/// with bytes that are not UTF-8 at all (`\xff`) too.
#[test]
fn unix_names_that_are_not_utf8() {
    let dir = tempdir("bytes");
    for name in [&b"\xde\xad\xbe\xef"[..], b"x\xff\xfe.sock"] {
        let mut path = dir.clone().into_os_string().into_vec();
        path.push(b'/');
        path.extend_from_slice(name);
        let path = OsString::from_vec(path);
        let _l = UnixListener::bind(&path).unwrap();
        let _q1 = UnixStream::connect(&path).unwrap();
        let _q2 = UnixStream::connect(&path).unwrap();
        let shown = raindrops_core::EscapedName(path.as_bytes()).to_string();
        let out = raindrops(&[OsStr::new("listeners"), &path]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
        let s = text(&out.stdout);
        let row: Vec<&str> = s.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(&row[..4], [shown.as_str(), "unix", "0", "2"], "{s}");
        // The display form is reversible: it gives back the bytes.
        let mut buf = [0u8; 256];
        let n = raindrops_core::unescape_name(row[0], &mut buf).unwrap();
        assert_eq!(&buf[..n], path.as_bytes());
        // The Ruby gem on the same socket (the path passed as hex).
        let hex: String = path.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let script = "p = [ARGV[0]].pack('H*'); s = Raindrops::Linux.unix_listener_stats([p])[p]; \
                      print s.active, ' ', s.queued";
        if let Some(ruby) = raindrops_testutil::ruby(&["raindrops"], script, &[&hex]) {
            assert_eq!(ruby, format!("{} {}", row[2], row[3]));
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn names_are_checked_as_bytes() {
    // A path that is not UTF-8 and does not exist: exit 2, one line, the
    // name in display form.
    let out = raindrops(&[
        OsStr::new("listeners"),
        OsStr::from_bytes(b"/nonexistent/\xff"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.starts_with("raindrops: /nonexistent/\\xff: "), "{err}");
    assert_eq!(err.lines().count(), 1);
    let out = raindrops(&[OsStr::new("listeners"), OsStr::from_bytes(b"1.2.3.4:\xff")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "raindrops: bad listener address 1.2.3.4:\\xff: not UTF-8\n"
    );
}
