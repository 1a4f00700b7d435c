//! Captures real kernel replies as fuzzing seeds and test data, and checks
//! that the reply walker and the counting code read them right.
//!
//! `RAINDROPS_DIAG_CAPTURE=/path/to/fuzz/corpus cargo test -p raindrops-diag
//! --lib capture` writes, for a few sockets this test creates:
//!
//! - `diag_reply/`: whole replies as the `diag_reply` fuzz target reads
//!   them (see [`framed`]), as captured and with the mutations the walker
//!   must survive: a flagged (`NLM_F_DUMP_INTR`) dump, a datagram from a
//!   foreign sender, a stale reply of an earlier request, a truncated
//!   datagram, and a refused request (`NLMSG_ERROR`);
//! - single inet_diag and unix_diag message payloads (`diag_inet_msg/`,
//!   `diag_unix_msg/`), filter programs (`diag_bytecode_roundtrip/`) and
//!   `/proc/net/unix` lines of our sockets (`diag_proc_net_unix/`).
//!
//! Only our own sockets go to the corpus. Without the variable it only
//! checks the captured replies.

use crate::RECV_BUFFER_LEN;
use crate::socket::DiagSocket;
use crate::wire::bytecode::{local_addr_filter, local_ports_filter};
use crate::wire::inet_diag::{AF_INET6, AF_UNSPEC, Extensions, IPPROTO_TCP, InetDiagReq, SockId};
use crate::wire::nlmsg::{NlFlags, NlMsgType, NlMsgs, Reply};
use crate::wire::request::{InetRequest, inet_dump, unix_dump};
use crate::wire::tcp_state::TcpStates;
use crate::wire::unix_diag::{UnixDiagReq, UnixShow};
use crate::wire::{InetDiagMsg, InetDiagReqV2, UnixDiagMsg};
use crate::{Error, TcpCounter, TcpQuery, TcpTable, UnixCounter, UnixName, UnixQuery, UnixTable};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::vec::Vec;

/// Sends `req` and returns the request's sequence number and every
/// datagram of the reply, unparsed.
fn datagrams(sock: &mut DiagSocket, req: &[u8]) -> (u32, Vec<Vec<u8>>) {
    let mut buf = std::vec![0u8; RECV_BUFFER_LEN];
    buf[..req.len()].copy_from_slice(req);
    let seq = sock.send(&mut buf, req.len()).unwrap();
    let mut reply = Reply::new(seq);
    let mut out = Vec::new();
    loop {
        let (n, sender) = sock.recv(&mut buf).unwrap();
        out.push(buf[..n].to_vec());
        if !matches!(reply.feed(&buf, n, sender, &mut |_| Ok(())), Ok(false)) {
            sock.done();
            return (seq, out);
        }
    }
}

/// A `ctl` byte of [`framed`]: the datagram came from another netlink
/// port than the kernel's.
const FOREIGN: u8 = 1;
/// A `ctl` byte of [`framed`]: `recvfrom` reported one byte more than the
/// buffer held (`MSG_TRUNC`).
const TRUNCATED: u8 = 1 << 2;

/// The input of the `diag_reply` fuzz target: the request's sequence
/// number (`u32`, little-endian), then each datagram as `ctl: u8`,
/// `len: u16` (little-endian), `len` bytes. `ctl` bit 0: from a foreign
/// sender; bit 1: no sender reported; bits 2-7: how many bytes more than
/// `len` `recvfrom` reported (a truncated datagram).
fn framed(seq: u32, frames: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = seq.to_le_bytes().to_vec();
    for (ctl, d) in frames {
        out.push(*ctl);
        out.extend_from_slice(&u16::try_from(d.len()).unwrap().to_le_bytes());
        out.extend_from_slice(d);
    }
    out
}

/// Walks `frames` as the reply to `seq`, as [`DiagSocket::dump`] does,
/// calling `each` with every data message payload.
fn walk(
    seq: u32,
    frames: &[(u8, &[u8])],
    mut each: impl FnMut(&[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut reply = Reply::new(seq);
    for (ctl, d) in frames {
        let sender = if ctl & FOREIGN != 0 { 4242 } else { 0 };
        let reported = d.len() + usize::from(ctl >> 2);
        if reply.feed(d, reported, Some(sender), &mut |m| each(m.payload()))? {
            return reply.finish();
        }
    }
    Err(Error::Protocol)
}

/// The datagrams as received (`ctl` 0), for [`framed`] and [`walk`].
fn plain(frames: &[Vec<u8>]) -> Vec<(u8, &[u8])> {
    frames.iter().map(|d| (0, &d[..])).collect()
}

/// The datagrams with the `DUMP_INTR` flag set on the first message.
fn interrupted(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = frames.to_vec();
    let flags = u16::from_ne_bytes([out[0][6], out[0][7]]) | NlFlags::DUMP_INTR.bits();
    out[0][6..8].copy_from_slice(&flags.to_ne_bytes());
    out
}

/// The datagrams with the sequence number of every message set to `seq`.
fn with_seq(frames: &[Vec<u8>], seq: u32) -> Vec<Vec<u8>> {
    let mut out = frames.to_vec();
    for d in &mut out {
        let mut at = 0;
        while at + 16 <= d.len() {
            let len = u32::from_ne_bytes(d[at..at + 4].try_into().unwrap()) as usize;
            d[at + 8..at + 12].copy_from_slice(&seq.to_ne_bytes());
            at += crate::wire::align4(len.max(16));
        }
    }
    out
}

fn write(dir: &Option<PathBuf>, sub: &str, name: &str, bytes: &[u8]) {
    if let Some(d) = dir {
        let p = d.join(sub);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join(name), bytes).unwrap();
    }
}

/// Writes the captured reply to `seq` and its mutations to `diag_reply/`.
fn write_replies(dir: &Option<PathBuf>, tag: &str, seq: u32, frames: &[Vec<u8>]) {
    let received = plain(frames);
    let intr = interrupted(frames);
    let stale = with_seq(frames, seq.wrapping_sub(1));
    let mut foreign = std::vec![(FOREIGN, &frames[0][..])];
    foreign.extend_from_slice(&received);
    let mut stale_first = plain(&stale);
    stale_first.extend_from_slice(&received);
    let variants = [
        ("", received.clone()),
        ("-interrupted", plain(&intr)),
        ("-foreign", foreign),
        ("-stale", stale_first),
        ("-truncated", std::vec![(TRUNCATED, &frames[0][..])]),
    ];
    for (suffix, f) in variants {
        let name = std::format!("{tag}{suffix}");
        write(dir, "diag_reply", &name, &framed(seq, &f));
    }
}

/// Keeps the messages of `d` that `keep` accepts (and every non-data
/// message), as one datagram.
fn only(d: &[u8], mut keep: impl FnMut(&[u8]) -> bool) -> Vec<u8> {
    let mut out = Vec::new();
    for m in NlMsgs::new(d).flatten() {
        let data = !matches!(
            m.msg_type(),
            NlMsgType::Done | NlMsgType::Error | NlMsgType::Noop
        );
        if !data || keep(m.payload()) {
            let len = m.len() as usize;
            out.extend_from_slice(&m.into_inner()[..len]);
            out.resize(crate::wire::align4(out.len()), 0);
        }
    }
    out
}

#[test]
fn capture_real_replies() {
    let dir = std::env::var_os("RAINDROPS_DIAG_CAPTURE").map(PathBuf::from);
    // TCP: a listener with two accepted connections (one half-closed by
    // us, so no longer established) and a waiting one.
    let l = TcpListener::bind("[::1]:0").unwrap();
    let addr = l.local_addr().unwrap();
    let mut c1 = TcpStream::connect(addr).unwrap();
    let _c3 = TcpStream::connect(addr).unwrap();
    let (s1, _) = l.accept().unwrap();
    let _s3 = l.accept().unwrap();
    let _c2 = TcpStream::connect(addr).unwrap();
    c1.write_all(b"ping").unwrap();
    s1.shutdown(std::net::Shutdown::Write).unwrap();
    // Unix: a listener with an accepted and a waiting connection.
    let upath = std::env::temp_dir().join(std::format!("rd-capture-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&upath);
    let ul = UnixListener::bind(&upath).unwrap();
    let _uc = UnixStream::connect(&upath).unwrap();
    let _uc2 = UnixStream::connect(&upath).unwrap();
    let _us = ul.accept().unwrap();

    let mut sock = DiagSocket::new().unwrap();
    let mut req = [0u8; 256];
    let mut bc = [0u8; 64];
    let nbc = local_addr_filter(&mut bc, &addr).unwrap();
    write(&dir, "diag_bytecode_roundtrip", "addr6", &bc[..nbc]);
    let nbc4 = local_addr_filter(&mut bc[nbc..], &"0.0.0.0:80".parse().unwrap()).unwrap();
    write(
        &dir,
        "diag_bytecode_roundtrip",
        "any4",
        &bc[nbc..nbc + nbc4],
    );
    let mut ports = [0u8; 64];
    let np = local_ports_filter(&mut ports, &[80, 443, 8080]).unwrap();
    write(&dir, "diag_bytecode_roundtrip", "ports", &ports[..np]);

    let mut id = SockId::any();
    id.sport = addr.port();
    let legacy = InetRequest::Legacy(InetDiagReq {
        family: AF_UNSPEC,
        src_len: 0,
        dst_len: 0,
        ext: Extensions::all(),
        id,
        states: TcpStates::all(),
        dbs: 0,
    });
    let n = inet_dump(&mut req, 0, &legacy, &bc[..nbc]).unwrap();
    let (seq, tcp) = datagrams(&mut sock, &req[..n]);
    let mut inet_msgs = 0;
    for d in &tcp {
        for m in NlMsgs::new(d).flatten() {
            if let Ok(msg) = InetDiagMsg::new_checked(m.payload()) {
                if m.msg_type() == NlMsgType::TcpDiagGetSock {
                    assert!(msg.attrs().all(|a| a.is_ok()));
                    let name = std::format!("msg-{inet_msgs}");
                    write(&dir, "diag_inet_msg", &name, m.payload());
                    inet_msgs += 1;
                }
            }
        }
    }
    assert_eq!(inet_msgs, 4, "listener, 2 accepted, waiting");
    write_replies(&dir, "tcp", seq, &tcp);
    // The real bytes through the walker and the counting code: the
    // listener's stats, and each mutation's outcome.
    let frames = plain(&tcp);
    let query = TcpQuery::new().with_syn_recv(true).with_queue_wait(true);
    let counter = TcpCounter::new(&[], &query);
    let mut t = TcpTable::<4>::new();
    counter.start(&mut t).unwrap();
    fn inet(p: &[u8]) -> Result<InetDiagMsg<&[u8]>, Error> {
        Ok(InetDiagMsg::new_checked(p)?)
    }
    walk(seq, &frames, |p| counter.listener(&mut t, &inet(p)?)).unwrap();
    walk(seq, &frames, |p| {
        counter.connection(&mut t, &inet(p)?);
        Ok(())
    })
    .unwrap();
    counter.finish(&mut t);
    let s = t.get(&addr).unwrap();
    assert_eq!(
        (s.active, s.queued, s.drops, s.syn_recv),
        (1, 1, Some(0), Some(0))
    );
    // The waiting connection's tcp_info gives its age (it connected a
    // moment ago).
    assert!(
        s.queue_wait_oldest_ms.is_some_and(|ms| ms < 60_000),
        "{s:?}"
    );
    let intr = interrupted(&tcp);
    let intr = plain(&intr);
    assert_eq!(walk(seq, &intr, |_| Ok(())), Err(Error::Interrupted));
    assert_eq!(
        walk(seq, &[(FOREIGN, &tcp[0][..])], |_| panic!("foreign")),
        Err(Error::Protocol)
    );
    let stale = with_seq(&tcp, seq + 1);
    let stale = plain(&stale);
    assert_eq!(walk(seq, &stale, |_| panic!("stale")), Err(Error::Protocol));
    assert!(matches!(
        walk(seq, &[(TRUNCATED, &tcp[0][..])], |_| Ok(())),
        Err(Error::Truncated { .. })
    ));

    let v2 = InetDiagReqV2 {
        family: AF_INET6,
        protocol: IPPROTO_TCP,
        ext: Extensions::SKMEMINFO,
        pad: 0,
        states: TcpStates::LISTEN,
        id,
    };
    let n = inet_dump(&mut req, 0, &InetRequest::V2(v2), &bc[..nbc]).unwrap();
    let (seq, listen) = datagrams(&mut sock, &req[..n]);
    write_replies(&dir, "v2-listen", seq, &listen);
    // A refused request: NLMSG_ERROR with the request echoed.
    let bad = InetRequest::V2(InetDiagReqV2 {
        protocol: 255,
        ..v2
    });
    let n = inet_dump(&mut req, 0, &bad, &[]).unwrap();
    let (seq, refused) = datagrams(&mut sock, &req[..n]);
    let frames = plain(&refused);
    write(&dir, "diag_reply", "error", &framed(seq, &frames));
    assert!(matches!(
        walk(seq, &frames, |_| Ok(())),
        Err(Error::Kernel(_))
    ));

    let ureq = UnixDiagReq {
        family: 1,
        protocol: 0,
        pad: 0,
        states: TcpStates::LISTEN | TcpStates::ESTABLISHED,
        ino: 0,
        show: UnixShow::NAME | UnixShow::ICONS,
        cookie: [!0, !0],
    };
    let n = unix_dump(&mut req, 0, &ureq).unwrap();
    let name = upath.to_str().unwrap().as_bytes();
    let ours = |p: &[u8]| {
        UnixDiagMsg::new_checked(p).is_ok_and(|m| {
            m.attrs()
                .flatten()
                .any(|a| matches!(a, crate::wire::UnixDiagAttr::Name(n) if n.starts_with(name)))
        })
    };
    let (seq, unix) = datagrams(&mut sock, &req[..n]);
    let unix: Vec<Vec<u8>> = unix
        .iter()
        .map(|d| only(d, ours))
        .filter(|d| !d.is_empty())
        .collect();
    assert_eq!(
        unix.iter().map(|d| NlMsgs::new(d).count()).sum::<usize>(),
        3
    );
    write_replies(&dir, "unix", seq, &unix);
    // Every attribute unix_diag has, for the message corpus.
    let all = UnixDiagReq {
        show: UnixShow::all(),
        ..ureq
    };
    let n = unix_dump(&mut req, 0, &all).unwrap();
    let (seq_all, rich) = datagrams(&mut sock, &req[..n]);
    let rich: Vec<Vec<u8>> = rich
        .iter()
        .map(|d| only(d, ours))
        .filter(|d| !d.is_empty())
        .collect();
    write(
        &dir,
        "diag_reply",
        "unix-all-attrs",
        &framed(seq_all, &plain(&rich)),
    );
    let mut unix_msgs = 0;
    for d in &rich {
        for m in NlMsgs::new(d).flatten() {
            if let Ok(msg) = UnixDiagMsg::new_checked(m.payload()) {
                assert!(msg.attrs().all(|a| a.is_ok()));
                let file = std::format!("msg-{unix_msgs}");
                write(&dir, "diag_unix_msg", &file, m.payload());
                unix_msgs += 1;
            }
        }
    }
    assert_eq!(unix_msgs, 2, "listener and accepted socket");
    // The requested-name fast path and the every-listener path agree.
    let frames = plain(&unix);
    let key = UnixName::new(name).unwrap();
    for names in [&[][..], &[key][..]] {
        let counter = UnixCounter::new(names, &UnixQuery::new());
        let mut t = UnixTable::<4>::new();
        counter.start(&mut t).unwrap();
        walk(seq, &frames, |p| {
            counter.message(&mut t, &UnixDiagMsg::new_checked(p)?)
        })
        .unwrap();
        counter.finish(&mut t);
        let s = t.get(&key).unwrap();
        assert_eq!((s.active, s.queued), (1, 1), "{names:?}");
    }

    let text = std::fs::read_to_string("/proc/net/unix").unwrap();
    let path = upath.to_str().unwrap();
    let mut lines: Vec<&str> = text.lines().take(1).collect();
    lines.extend(text.lines().filter(|l| l.ends_with(path)));
    let ours = lines.join("\n") + "\n";
    assert!(crate::proc_unix::ProcNetUnix::new(ours.as_bytes()).all(|l| l.is_ok()));
    write(&dir, "diag_proc_net_unix", "ours", ours.as_bytes());
    let _ = std::fs::remove_file(&upath);
}
