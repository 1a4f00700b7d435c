//! `KernelSource` against the kernel: named listeners (TCP and Unix, a
//! Unix name that is not UTF-8 rendered escaped in text and losslessly in
//! JSON), every listener, this process's own (inherited across `fork` too),
//! and the numbers of `calling`, `writing` and `LastDataRecv`.
#![cfg(all(feature = "diag", feature = "http"))]

mod common;

use std::ffi::OsStr;
use std::net::{TcpListener, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixListener, UnixStream};

use raindrops::http::{
    Request, Router, StatsSource, render_json, render_middleware_text, render_prometheus,
};
use raindrops::{AtomicAggregate, Error, KernelSource, MiddlewareStats, RequestGauges};

#[test]
fn named_listeners_with_a_unix_name_that_is_not_utf8() {
    let dir = common::TempDir::new("ks-named");
    // Ruby's own test path, and a name with a newline and a backslash.
    let odd = dir.0.join(OsStr::from_bytes(b"\xde\xad\xbe\xef\n\\.sock"));
    let ul = UnixListener::bind(&odd).unwrap();
    let _uc: Vec<UnixStream> = (0..2).map(|_| UnixStream::connect(&odd).unwrap()).collect();
    let _ua = ul.accept().unwrap();
    let tl = TcpListener::bind("127.0.0.1:0").unwrap();
    let taddr = tl.local_addr().unwrap().to_string();
    let _tc = TcpStream::connect(&taddr).unwrap();

    let mut src = KernelSource::new([odd.as_os_str(), OsStr::new(&taddr)]).unwrap();
    src.refresh().unwrap();
    // TCP first, then Unix; the name in display form.
    let shown = raindrops::EscapedName(odd.as_os_str().as_bytes()).to_string();
    assert!(
        shown.ends_with("/\u{7ad}\\xbe\\xef\\x0a\\\\.sock"),
        "{shown}"
    );
    let mut text = String::new();
    render_middleware_text(&src, &mut text).unwrap();
    assert_eq!(
        text,
        format!(
            "calling: 0\nwriting: 0\n{taddr} active: 0\n{taddr} queued: 1\n\
             {shown} active: 1\n{shown} queued: 1\n"
        )
    );
    assert_eq!(text.lines().count(), 6, "the newline cannot add a line");
    // JSON carries the display form; it gives the bytes back.
    let mut json = String::new();
    render_json(&src, &mut json).unwrap();
    let key = "\"address\":\"";
    let at = json.rfind(key).unwrap() + key.len();
    let end = at + json[at..].find("\",").unwrap();
    // JSON escapes the display form's backslashes once more.
    let in_json = json[at..end].replace("\\\\", "\\");
    assert_eq!(in_json, shown);
    let mut back = [0u8; 512];
    let n = raindrops::core::unescape_name(&in_json, &mut back).unwrap();
    assert_eq!(&back[..n], odd.as_os_str().as_bytes());
    // Prometheus labels: escaped again, one sample per line.
    let mut prom = String::new();
    render_prometheus(&src, &mut prom).unwrap();
    assert!(prom.lines().all(|l| !l.ends_with("\\")), "{prom}");

    assert_eq!(
        KernelSource::new(["/ok", "localhost:80"]).err(),
        Some(Error::Name {
            index: 1,
            error: raindrops::core::AddrError::InvalidAddress
        })
    );
}

#[test]
fn every_listener_includes_ours() {
    let tl = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = tl.local_addr().unwrap().to_string();
    let mut src = KernelSource::all().unwrap();
    let got = src.sample().unwrap();
    assert!(got.iter().any(|l| l.name == addr));
    // TCP before Unix.
    let first_unix = got.iter().position(|l| !l.family.is_tcp());
    if let Some(i) = first_unix {
        assert!(got[i..].iter().all(|l| !l.family.is_tcp()));
    }
}

#[test]
fn counts_and_last_data_recv_come_from_the_application() {
    static STATS: MiddlewareStats = MiddlewareStats::new();
    static WAITED: AtomicAggregate = AtomicAggregate::new();
    let tl = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = tl.local_addr().unwrap().to_string();
    let mut src = KernelSource::new([&addr])
        .unwrap()
        .with_counts(&STATS)
        .with_last_data_recv(&WAITED);
    let g = RequestGauges::of(&STATS);
    let _c = g.enter();
    let _w = g.enter().returned();
    WAITED.push(12);
    WAITED.push(30);
    let mut body = String::new();
    let res = Router::new()
        .handle(&Request::new("GET", "/_raindrops"), &mut src, &mut body)
        .unwrap();
    assert_eq!(res.status, 200);
    assert!(body.starts_with("calling: 1\nwriting: 1\n"), "{body}");
    body.clear();
    let res = Router::new()
        .handle(&Request::new("GET", "/last_data_recv"), &mut src, &mut body)
        .unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(res.headers.get("X-Count"), Some("2"));
    assert_eq!(res.headers.get("X-Max"), Some("30"));
}

/// A forked child's own listeners are the ones it inherited: what a
/// preforked worker's `KernelSource::own` shows.
#[test]
fn own_listeners_are_inherited_across_fork() {
    let tl = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = tl.local_addr().unwrap().to_string();
    let (mut r, w) = UnixStream::pair().unwrap();
    // SAFETY: the child only allocates (glibc resets its allocator's locks
    // in the child), queries the kernel, writes its answer to the socket
    // and leaves with _exit, touching no state of the parent's other
    // threads.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        use std::io::Write;
        let ok = KernelSource::own()
            .ok()
            .and_then(|mut s| s.sample().ok().map(|l| l.iter().any(|l| l.name == addr)));
        let mut w = w;
        let _ = w.write_all(if ok == Some(true) { b"y" } else { b"n" });
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    drop(w);
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut r, &mut answer).unwrap();
    let mut status = 0;
    // SAFETY: waiting for the child we forked.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(answer, "y");
    drop(tl);
}
