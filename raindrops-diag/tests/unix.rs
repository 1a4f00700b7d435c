//! Unix listener stats (docs/listener-stats.md): paths, symlinks, abstract
//! names, every listener, the /proc/net/unix fallback, and the Ruby gem as
//! the oracle.

mod common;
use common::ours;
use raindrops_diag::{Diag, UnixQuery};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::PathBuf;

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "rd-diag-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
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

fn unique_abstract(tag: &str) -> String {
    format!("rd-diag-{tag}-{}", std::process::id())
}

fn ruby_unix(args: &[&str]) -> Option<Vec<(String, (u32, u32))>> {
    common::ruby_stats("unix_listener_stats", args)
}

#[test]
fn path_listener_queued_active_backlog() {
    let dir = TempDir::new("path");
    let p = dir.path("with space.sock");
    let l = UnixListener::bind(&p).unwrap();
    let clients: Vec<_> = (0..4).map(|_| UnixStream::connect(&p).unwrap()).collect();
    let served: Vec<_> = (0..3).map(|_| l.accept().unwrap().0).collect();
    let mut d = Diag::new().unwrap();
    let s = d.unix_listener_stats(&[&p]).unwrap();
    let v = s.get(&p).unwrap();
    assert_eq!((v.active, v.queued), (3, 1));
    // std's listen() backlog, as the kernel capped it: what the
    // LISTEN-only query reads too.
    let listen_only = d
        .unix_listener_stats_with(&[&p], &UnixQuery::queued_only())
        .unwrap();
    assert!(v.backlog.is_some_and(|b| b > 0), "{v:?}");
    assert_eq!(v.backlog, listen_only.get(&p).unwrap().backlog);
    if let Some(rb) = ruby_unix(&[&p]) {
        assert_eq!(rb, ours(&s));
    }
    // A client that hangs up leaves the accepted socket open: still active
    // (as in Ruby) until the server closes it.
    drop(clients);
    let s = d.unix_listener_stats(&[&p]).unwrap();
    assert_eq!(s.get(&p).unwrap().active, 3);
    if let Some(rb) = ruby_unix(&[&p]) {
        assert_eq!(rb, ours(&s));
    }
    drop(served);
    let s = d.unix_listener_stats(&[&p]).unwrap();
    assert_eq!(
        (s.get(&p).unwrap().active, s.get(&p).unwrap().queued),
        (0, 1)
    );
}

#[test]
fn queued_only_reports_the_backlog() {
    let dir = TempDir::new("queued-only");
    let p = dir.path("q.sock");
    let l = UnixListener::bind(&p).unwrap();
    // Listening again sets the backlog to one we know.
    rustix::net::listen(&l, 7).unwrap();
    let _clients: Vec<_> = (0..5).map(|_| UnixStream::connect(&p).unwrap()).collect();
    let _served: Vec<_> = (0..2).map(|_| l.accept().unwrap().0).collect();
    let mut d = Diag::new().unwrap();
    let s = d
        .unix_listener_stats_with(&[&p], &UnixQuery::queued_only())
        .unwrap();
    let v = s.get(&p).unwrap();
    assert_eq!((v.active, v.queued, v.backlog), (0, 3, Some(7)));
    // Every listener, too.
    let all = d
        .unix_listener_stats_with::<&str>(&[], &UnixQuery::queued_only())
        .unwrap();
    assert_eq!(all.get(&p), Some(v));
    // The full query agrees on queued.
    assert_eq!(
        d.unix_listener_stats(&[&p])
            .unwrap()
            .get(&p)
            .unwrap()
            .queued,
        3
    );
}

/// The default query reports every Unix listener's backlog (issue 14),
/// read from the kernel on the first query, remembered by the handle for
/// the next ones, read again when a listener is new to it (in the same
/// query) and at least every eighth query (so a second `listen()` shows
/// within eight queries), for requested names and every listener alike.
#[test]
fn default_query_reports_the_backlog() {
    let dir = TempDir::new("default-backlog");
    let p = dir.path("a.sock");
    let a = UnixListener::bind(&p).unwrap();
    rustix::net::listen(&a, 5).unwrap();
    let _c: Vec<_> = (0..2).map(|_| UnixStream::connect(&p).unwrap()).collect();
    let mut d = Diag::new().unwrap();
    let backlog = |d: &mut Diag, names: &[&str], name: &str| {
        let s = d.unix_listener_stats(names).unwrap();
        let v = *s.get(name).unwrap();
        (v.queued, v.backlog)
    };
    for _ in 0..20 {
        assert_eq!(backlog(&mut d, &[&p], &p), (2, Some(5)));
        assert_eq!(backlog(&mut d, &[], &p), (2, Some(5)));
    }
    // A listener that appears between two queries has its backlog at its
    // first sight.
    let q = dir.path("b.sock");
    let b = UnixListener::bind(&q).unwrap();
    rustix::net::listen(&b, 9).unwrap();
    assert_eq!(backlog(&mut d, &[], &q), (0, Some(9)));
    assert_eq!(backlog(&mut d, &[&p], &p), (2, Some(5)));
    let r = dir.path("c.sock");
    let c = UnixListener::bind(&r).unwrap();
    rustix::net::listen(&c, 3).unwrap();
    assert_eq!(backlog(&mut d, &[&r, &p], &r), (0, Some(3)));
    // A listener replaced by another of the same name (new inode).
    drop(c);
    std::fs::remove_file(&r).unwrap();
    let c = UnixListener::bind(&r).unwrap();
    rustix::net::listen(&c, 11).unwrap();
    assert_eq!(backlog(&mut d, &[&r], &r), (0, Some(11)));
    // listen() again with another backlog: seen within eight queries.
    rustix::net::listen(&a, 6).unwrap();
    let seen = (0..8).position(|_| backlog(&mut d, &[&p], &p) == (2, Some(6)));
    assert!(seen.is_some(), "the new backlog was not read in 8 queries");
    for _ in 0..10 {
        assert_eq!(backlog(&mut d, &[&p], &p), (2, Some(6)));
    }
    // A fresh handle reads it on its first query.
    assert_eq!(backlog(&mut Diag::new().unwrap(), &[&p], &p), (2, Some(6)));
    drop((a, b, c));
}

/// The accept queue of a Unix stream listener holds backlog + 1
/// connections (the kernel calls it full only when its length exceeds the
/// backlog), as docs/listener-stats.md says; the same holds for TCP
/// (tests/drops.rs).
#[test]
fn queue_holds_backlog_plus_one() {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let dir = TempDir::new("backlog");
    let p = dir.path("b.sock");
    let l = UnixListener::bind(&p).unwrap();
    rustix::net::listen(&l, 2).unwrap();
    let to = SocketAddrUnix::new(p.as_str()).unwrap();
    let mut clients = Vec::new();
    for _ in 0..6 {
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .unwrap();
        if rustix::net::connect(&fd, &to).is_ok() {
            clients.push(fd);
        }
    }
    assert_eq!(clients.len(), 3, "backlog 2 admits 3");
    let mut d = Diag::new().unwrap();
    for (q, backlog) in [
        (UnixQuery::queued_only(), Some(2)),
        (UnixQuery::new(), Some(2)),
        (UnixQuery::new().with_backlog(false), None),
    ] {
        let s = d.unix_listener_stats_with(&[&p], &q).unwrap();
        let v = s.get(&p).unwrap();
        assert_eq!((v.queued, v.backlog), (3, backlog), "{q:?}");
    }
}

#[test]
fn symlinks_report_target_and_link() {
    let dir = TempDir::new("link");
    let target = dir.path("real.sock");
    let abs_link = dir.path("abs.link");
    let rel_link = dir.path("rel.link");
    let chain = dir.path("chain.link");
    let l = UnixListener::bind(&target).unwrap();
    std::os::unix::fs::symlink(&target, &abs_link).unwrap();
    std::os::unix::fs::symlink("real.sock", &rel_link).unwrap();
    std::os::unix::fs::symlink(&rel_link, &chain).unwrap();
    let _c: Vec<_> = (0..3)
        .map(|_| UnixStream::connect(&abs_link).unwrap())
        .collect();
    let _s = l.accept().unwrap();
    let mut d = Diag::new().unwrap();
    let s = d.unix_listener_stats(&[&abs_link]).unwrap();
    assert_eq!(
        s.names().collect::<Vec<_>>(),
        [target.as_str(), abs_link.as_str()]
    );
    assert_eq!(s.get(&target), s.get(&abs_link));
    assert_eq!(
        (
            s.get(&target).unwrap().active,
            s.get(&target).unwrap().queued
        ),
        (1, 2)
    );
    if let Some(rb) = ruby_unix(&[&abs_link]) {
        assert_eq!(rb, ours(&s));
    }
    // Relative links and chains are resolved to the target too.
    for link in [&rel_link, &chain] {
        let s = d.unix_listener_stats(&[link.as_str()]).unwrap();
        assert_eq!(
            s.names().collect::<Vec<_>>(),
            [target.as_str(), link.as_str()]
        );
        assert_eq!(s.get(link).unwrap().queued, 2);
    }
    // Asking for the target and the link: each name once.
    let s = d.unix_listener_stats(&[&target, &abs_link]).unwrap();
    assert_eq!(s.len(), 2);
}

#[test]
fn abstract_names() {
    let name = unique_abstract("abs");
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let l = UnixListener::bind_addr(&addr).unwrap();
    let _c: Vec<_> = (0..2)
        .map(|_| UnixStream::connect_addr(&addr).unwrap())
        .collect();
    let _s = l.accept().unwrap();
    let key = format!("@{name}");
    let mut d = Diag::new().unwrap();
    let s = d.unix_listener_stats(&[&key]).unwrap();
    assert_eq!(
        s.listener(&key).unwrap().family,
        raindrops_diag::Family::Unix
    );
    assert_eq!(
        (s.get(&key).unwrap().active, s.get(&key).unwrap().queued),
        (1, 1)
    );
    let all = d.unix_listener_stats_all().unwrap();
    assert_eq!(all.get(&key), s.get(&key));
    if let Some(rb) = ruby_unix(&[&key]) {
        assert_eq!(rb, ours(&s));
    }
}

#[test]
fn missing_paths_are_zero_and_all_lists_unused_listeners() {
    let dir = TempDir::new("all");
    let unused = dir.path("unused.sock");
    let busy = dir.path("busy.sock");
    let _u = UnixListener::bind(&unused).unwrap();
    let b = UnixListener::bind(&busy).unwrap();
    let _c = UnixStream::connect(&busy).unwrap();
    let _s = b.accept().unwrap();
    let _c2 = UnixStream::connect(&busy).unwrap();
    let nowhere = dir.path("nowhere.sock");
    let mut d = Diag::new().unwrap();
    let s = d.unix_listener_stats(&[&nowhere, &busy]).unwrap();
    assert_eq!(
        ours(&s),
        [(nowhere.clone(), (0, 0)), (busy.clone(), (1, 1))]
    );
    if let Some(rb) = ruby_unix(&[&nowhere, &busy]) {
        assert_eq!(rb, ours(&s));
    }
    let all = d.unix_listener_stats_all().unwrap();
    assert_eq!(all.get(&unused).map(|s| (s.active, s.queued)), Some((0, 0)));
    assert_eq!(all.get(&busy).map(|s| (s.active, s.queued)), Some((1, 1)));
    assert!(!all.contains(&nowhere));
    let names: Vec<&str> = all.names().collect();
    let mut sorted = names.clone();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(names, sorted);
    if let Some(rb) = ruby_unix(&[]) {
        for k in [&unused, &busy] {
            let r = rb.iter().find(|(n, _)| n == k).map(|x| x.1);
            assert_eq!(r, all.get(k).map(|s| (s.active, s.queued)), "{k}");
        }
    }
}

#[test]
fn proc_fallback_agrees_with_unix_diag() {
    let dir = TempDir::new("proc");
    let p = dir.path("p.sock");
    let l = UnixListener::bind(&p).unwrap();
    let _c: Vec<_> = (0..5).map(|_| UnixStream::connect(&p).unwrap()).collect();
    let _s: Vec<_> = (0..2).map(|_| l.accept().unwrap().0).collect();
    let link = dir.path("p.link");
    std::os::unix::fs::symlink(&p, &link).unwrap();
    let mut d = Diag::new().unwrap();
    let net = d.unix_listener_stats(&[&link]).unwrap();
    let proc_ = d.unix_listener_stats_proc(&[&link]).unwrap();
    assert_eq!(ours(&net), ours(&proc_));
    let all_proc = d.unix_listener_stats_proc::<&str>(&[]).unwrap();
    assert_eq!(all_proc.get(&p).map(|s| (s.active, s.queued)), Some((2, 3)));
}

/// Names are shown in display form: a name with a newline, a backslash
/// and a byte that is not UTF-8 cannot forge an output line, and the
/// family is Unix.
#[test]
fn names_are_escaped_for_display() {
    let raw = format!(
        "rd-diag-esc-{}\n127.0.0.1:80 \\ \u{202e}",
        std::process::id()
    );
    let mut bytes = raw.into_bytes();
    bytes.push(0xff);
    let addr = SocketAddr::from_abstract_name(&bytes).unwrap();
    let _l = UnixListener::bind_addr(&addr).unwrap();
    let _c = UnixStream::connect_addr(&addr).unwrap();
    let shown = format!("@{}", raindrops_core::EscapedName(&bytes));
    assert!(!shown.contains('\n') && shown.contains("\\x0a") && shown.contains("\\xff"));
    let mut d = Diag::new().unwrap();
    let all = d.unix_listener_stats_all().unwrap();
    let l = all.listener(&shown).expect("listed under its display form");
    assert_eq!(
        (l.family, l.stats.queued),
        (raindrops_diag::Family::Unix, 1)
    );
    assert!(all.names().all(|n| !n.contains('\n')));
}

/// Ruby's own `test_unix` (test/test_linux.rb of the gem), whose socket
/// path is `Tempfile.new("\xde\xad\xbe\xef")`: bytes that are not UTF-8,
/// asked for through the std API as bytes, found under their display form
/// (which gives the bytes back), with the numbers Ruby reports for the
/// same path at each step.
#[test]
fn ruby_test_unix_with_a_path_that_is_not_utf8() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = TempDir::new("deadbeef");
    let path = dir.0.join(OsStr::from_bytes(b"\xde\xad\xbe\xef"));
    assert!(path.to_str().is_none(), "the path is not UTF-8");
    let bytes = path.as_os_str().as_bytes().to_vec();
    let key = raindrops_core::EscapedName(&bytes).to_string();
    // 0xde 0xad is UTF-8 (U+07AD), 0xbe 0xef is not.
    assert!(key.ends_with("/\u{7ad}\\xbe\\xef"), "{key}");
    let mut back = [0u8; 512];
    let n = raindrops_core::unescape_name(&key, &mut back).unwrap();
    assert_eq!(
        &back[..n],
        &bytes[..],
        "the display form gives the bytes back"
    );

    let us = UnixListener::bind(&path).unwrap();
    let mut d = Diag::new().unwrap();
    let mut held = Vec::new();
    let mut check = |want: (u32, u32), held: &[UnixStream]| {
        let _ = held;
        // As &Path, &OsStr and PathBuf: the same query.
        let stats = d.unix_listener_stats(&[&path]).unwrap();
        assert_eq!(stats.len(), 1);
        let s = stats.get(&key).expect("found under the display form");
        assert_eq!((s.active, s.queued), want);
        assert_eq!(d.unix_listener_stats(&[path.as_os_str()]).unwrap(), stats);
        assert_eq!(
            d.unix_listener_stats(std::slice::from_ref(&path)).unwrap(),
            stats
        );
        // /proc/net/unix has no backlog: the names and counts agree.
        assert_eq!(
            ours(&d.unix_listener_stats_proc(&[&path]).unwrap()),
            ours(&stats)
        );
        if let Some(rb) = ruby_one_path(path.as_os_str()) {
            assert_eq!(rb, (1, want.0, want.1), "Ruby on the same path");
        }
    };
    check((0, 0), &held);
    held.push(UnixStream::connect(&path).unwrap());
    check((0, 1), &held);
    held.push(UnixStream::connect(&path).unwrap());
    check((0, 2), &held);
    held.push(us.accept().unwrap().0);
    check((1, 1), &held);
    // The lossy spelling names another path: zeros, as the issue reported.
    let lossy = path.to_string_lossy().into_owned();
    let s = d.unix_listener_stats(&[&lossy]).unwrap();
    assert_eq!(s.get(&lossy).map(|s| (s.active, s.queued)), Some((0, 0)));
    // Every listener lists it under the same display form.
    let all = d.unix_listener_stats_all().unwrap();
    assert_eq!(all.get(&key).map(|s| (s.active, s.queued)), Some((1, 1)));
}

/// `Raindrops::Linux.unix_listener_stats([path])` in Ruby, with the path
/// passed as raw bytes: `(size, active, queued)`; `None` when skipped.
fn ruby_one_path(path: &std::ffi::OsStr) -> Option<(u32, u32, u32)> {
    let script = "p = ARGV[0].b; s = Raindrops::Linux.unix_listener_stats([p]); \
                  v = s[p]; print s.size, ' ', v.active, ' ', v.queued";
    let mut cmd = raindrops_testutil::ruby_command(&["raindrops"], script, &[])?;
    cmd.arg(path);
    let out = raindrops_testutil::expect_success(cmd.output(), script);
    let n: Vec<u32> = out.split(' ').map(|v| v.parse().unwrap()).collect();
    Some((n[0], n[1], n[2]))
}
