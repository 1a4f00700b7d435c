//! Hostile names and bad input against the `raindrops` binary: a Unix
//! socket name built to forge output lines and drive the terminal, paths
//! that cannot be resolved, huge arguments, and listeners that are not
//! there.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

mod common;
use common::{BIN, Server};

/// The abstract name any local user could bind: a newline and a fake
/// middleware line, a terminal escape that clears the screen, a bidi
/// override and bytes that are not UTF-8.
fn forged_name(tag: &str) -> Vec<u8> {
    let mut n = format!(
        "raindrops-evil-{tag}-{}\n127.0.0.1:80 active: 999\n\x1b[2J\u{202e}",
        std::process::id()
    )
    .into_bytes();
    n.extend_from_slice(b"\xde\xad\xbe\xef");
    n
}

fn bind_forged(tag: &str) -> UnixListener {
    let addr = SocketAddr::from_abstract_name(forged_name(tag)).unwrap();
    UnixListener::bind_addr(&addr).unwrap()
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run raindrops")
}

/// No output may carry the forged line, a raw ESC, a raw newline inside
/// the name, or the bidi override.
fn assert_not_forged(what: &str, out: &[u8]) {
    let s = String::from_utf8_lossy(out);
    assert!(
        !s.lines().any(|l| l.starts_with("127.0.0.1:80 active: 999")),
        "{what}: forged line in {s}"
    );
    assert!(!out.contains(&0x1b), "{what}: raw ESC in {s}");
    assert!(!s.contains('\u{202e}'), "{what}: raw bidi override in {s}");
}

/// The listener must be shown (escaped, on one line), not hidden.
fn assert_shown(what: &str, tag: &str, out: &[u8]) {
    let s = String::from_utf8_lossy(out);
    let name = format!("raindrops-evil-{tag}-");
    assert!(
        s.lines()
            .any(|l| l.contains(&name) && l.contains("127.0.0.1:80 active: 999")),
        "{what}: escaped name not in {s}"
    );
}

#[test]
fn forged_names_in_every_text_output_of_listeners_and_watch() {
    let _l = bind_forged("listeners");
    for format in ["table", "raindrops", "json", "prometheus"] {
        let out = run(&["listeners", "--format", format]);
        assert!(out.status.success(), "{format}: {out:?}");
        assert_not_forged(format, &out.stdout);
        assert_shown(format, "listeners", &out.stdout);
    }
    let out = run(&["watch", "-a", "-d", "0", "-n", "1"]);
    assert!(out.status.success(), "{out:?}");
    assert_not_forged("watch", &out.stdout);
    assert_not_forged("watch stderr", &out.stderr);
    assert_shown("watch", "listeners", &out.stdout);
}

fn get(port: u16, path: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

#[test]
fn forged_names_in_every_page_of_serve() {
    let _l = bind_forged("serve");
    let server = Server::start(&["-d", "0.2"]);
    let port = server.port;
    for path in ["/_raindrops", "/metrics", "/"] {
        let body = get(port, path);
        assert_not_forged(path, &body);
    }
    assert_shown("/_raindrops", "serve", &get(port, "/_raindrops"));
}

/// Bad input exits 2 with one line on stderr and nothing on stdout.
fn assert_bad_input(args: &[&str]) {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:.60?}: {err}");
    assert!(
        out.stdout.is_empty(),
        "{args:.60?}: stdout {:?}",
        out.stdout
    );
    assert_eq!(err.lines().count(), 1, "{args:.60?}: {err}");
    assert!(err.len() < 400, "one short line: {err}");
}

#[test]
fn paths_that_cannot_be_sockets_are_bad_input() {
    let dir = std::env::temp_dir().join(format!("raindrops-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = dir.join("loop-a");
    let b = dir.join("loop-b");
    let _ = std::fs::remove_file(&a);
    let _ = std::fs::remove_file(&b);
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let regular = dir.join("regular");
    std::fs::write(&regular, b"x").unwrap();
    let long = format!("/{}", "a".repeat(65_535));
    let a = a.to_str().unwrap();
    let regular = regular.to_str().unwrap();
    for args in [
        &["listeners", a][..],
        &["watch", a],
        &["check", "-i", "0", a],
        &["serve", "--listen", "127.0.0.1:0", a],
        &["listeners", "/nonexistent/raindrops.sock"],
        &["listeners", regular],
        &["listeners", &long],
        &["watch", &long],
    ] {
        assert_bad_input(args);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn listeners_that_are_not_there_are_named_once() {
    // Port 1 on loopback: nothing listens there in a test environment.
    let out = run(&["listeners", "127.0.0.1:1"]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err, "raindrops: warning: 127.0.0.1:1 is not listening\n",
        "one warning line"
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert_eq!(s.lines().count(), 2, "header and the zero row: {s}");
    assert!(s.lines().nth(1).unwrap().starts_with("127.0.0.1:1 "));

    let out = run(&["watch", "-d", "0", "-n", "3", "127.0.0.1:1"]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("127.0.0.1:1 is not listening").count(),
        1,
        "{err}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);

    let out = run(&["connections", "127.0.0.1:1"]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("127.0.0.1:1 is not listening"), "{err}");
}
