//! Captures real kernel replies as fuzzing seeds and test data.
//!
//! `RAINDROPS_DIAG_CAPTURE=/path/to/fuzz/corpus cargo test -p raindrops-diag
//! --lib capture` writes, for a few sockets this test creates, whole
//! datagrams (`diag_nlmsg_stream/`), single inet_diag and unix_diag message
//! payloads (`diag_inet_msg/`, `diag_unix_msg/`), filter programs
//! (`diag_bytecode_roundtrip/`) and `/proc/net/unix` lines of our sockets
//! (`diag_proc_net_unix/`). Without the variable it only checks that the
//! captured replies parse.

use crate::socket::DiagSocket;
use crate::wire::bytecode::{local_addr_filter, local_ports_filter};
use crate::wire::inet_diag::{AF_INET6, AF_UNSPEC, Extensions, IPPROTO_TCP, InetDiagReq, SockId};
use crate::wire::nlmsg::{NlMsgType, NlMsgs};
use crate::wire::request::{InetRequest, inet_dump, unix_dump};
use crate::wire::tcp_state::TcpStates;
use crate::wire::unix_diag::{UnixDiagReq, UnixShow};
use crate::wire::{InetDiagMsg, InetDiagReqV2, UnixDiagMsg};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::vec::Vec;

/// Sends `req` and returns every datagram of the reply, unparsed.
fn datagrams(sock: &mut DiagSocket, req: &[u8]) -> Vec<Vec<u8>> {
    let mut buf = std::vec![0u8; 32768];
    buf[..req.len()].copy_from_slice(req);
    let seq = sock.send(&mut buf, req.len()).unwrap();
    let mut out = Vec::new();
    loop {
        let Some(n) = sock.recv(&mut buf).unwrap() else {
            continue;
        };
        let d = buf[..n].to_vec();
        let done = NlMsgs::new(&d)
            .flatten()
            .any(|m| m.seq() == seq && matches!(m.msg_type(), NlMsgType::Done | NlMsgType::Error));
        out.push(d);
        if done {
            sock.done();
            return out;
        }
    }
}

fn write(dir: &Option<PathBuf>, sub: &str, name: &str, bytes: &[u8]) {
    if let Some(d) = dir {
        let p = d.join(sub);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join(name), bytes).unwrap();
    }
}

#[test]
fn capture_real_replies() {
    let dir = std::env::var_os("RAINDROPS_DIAG_CAPTURE").map(PathBuf::from);
    // TCP: a listener with an accepted and a waiting connection.
    let l = TcpListener::bind("[::1]:0").unwrap();
    let addr = l.local_addr().unwrap();
    let mut c1 = TcpStream::connect(addr).unwrap();
    let _c2 = TcpStream::connect(addr).unwrap();
    let (s1, _) = l.accept().unwrap();
    c1.write_all(b"ping").unwrap();
    s1.shutdown(std::net::Shutdown::Write).unwrap();
    // Unix: a named and an abstract listener.
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
    let every = Extensions::all();
    let legacy = InetRequest::Legacy(InetDiagReq {
        family: AF_UNSPEC,
        src_len: 0,
        dst_len: 0,
        ext: every,
        id,
        states: TcpStates::all(),
        dbs: 0,
    });
    let n = inet_dump(&mut req, 0, &legacy, &bc[..nbc]).unwrap();
    let tcp = datagrams(&mut sock, &req[..n]);
    let mut inet_msgs = 0;
    for (i, d) in tcp.iter().enumerate() {
        write(&dir, "diag_nlmsg_stream", &std::format!("tcp-{i}"), d);
        for m in NlMsgs::new(d).flatten() {
            if let Ok(msg) = InetDiagMsg::new_checked(m.payload()) {
                if m.msg_type() == NlMsgType::TcpDiagGetSock {
                    assert!(msg.attrs().all(|a| a.is_ok()));
                    write(
                        &dir,
                        "diag_inet_msg",
                        &std::format!("msg-{inet_msgs}"),
                        m.payload(),
                    );
                    inet_msgs += 1;
                }
            }
        }
    }
    assert_eq!(inet_msgs, 3, "listener, accepted, waiting");

    let v2 = InetRequest::V2(InetDiagReqV2 {
        family: AF_INET6,
        protocol: IPPROTO_TCP,
        ext: Extensions::SKMEMINFO,
        pad: 0,
        states: TcpStates::LISTEN,
        id,
    });
    let n = inet_dump(&mut req, 0, &v2, &[]).unwrap();
    for (i, d) in datagrams(&mut sock, &req[..n]).iter().enumerate() {
        write(&dir, "diag_nlmsg_stream", &std::format!("v2-listen-{i}"), d);
    }
    // A refused request: NLMSG_ERROR with the request echoed.
    let bad = InetRequest::V2(InetDiagReqV2 {
        protocol: 255,
        ..match v2 {
            InetRequest::V2(r) => r,
            InetRequest::Legacy(_) => unreachable!(),
        }
    });
    let n = inet_dump(&mut req, 0, &bad, &[]).unwrap();
    for d in datagrams(&mut sock, &req[..n]) {
        write(&dir, "diag_nlmsg_stream", "error", &d);
    }

    let ureq = UnixDiagReq {
        family: 1,
        protocol: 0,
        pad: 0,
        states: TcpStates::LISTEN | TcpStates::ESTABLISHED,
        ino: 0,
        show: UnixShow::all(),
        cookie: [!0, !0],
    };
    let n = unix_dump(&mut req, 0, &ureq).unwrap();
    let name = upath.to_str().unwrap().as_bytes();
    let mut unix_msgs = 0;
    for d in datagrams(&mut sock, &req[..n]) {
        // Only our own sockets go to the corpus.
        for m in NlMsgs::new(&d).flatten() {
            if let Ok(msg) = UnixDiagMsg::new_checked(m.payload()) {
                let ours = msg.attrs().flatten().any(
                    |a| matches!(a, crate::wire::UnixDiagAttr::Name(n) if n.starts_with(name)),
                );
                if ours {
                    assert!(msg.attrs().all(|a| a.is_ok()));
                    write(
                        &dir,
                        "diag_unix_msg",
                        &std::format!("msg-{unix_msgs}"),
                        m.payload(),
                    );
                    let len = m.len() as usize;
                    let whole = &m.into_inner()[..len];
                    write(
                        &dir,
                        "diag_nlmsg_stream",
                        &std::format!("unix-{unix_msgs}"),
                        whole,
                    );
                    unix_msgs += 1;
                }
            }
        }
    }
    assert_eq!(unix_msgs, 2, "listener and accepted socket");

    let text = std::fs::read_to_string("/proc/net/unix").unwrap();
    let path = upath.to_str().unwrap();
    let mut lines: Vec<&str> = text.lines().take(1).collect();
    lines.extend(text.lines().filter(|l| l.ends_with(path)));
    let ours = lines.join("\n") + "\n";
    assert!(crate::proc_unix::ProcNetUnix::new(ours.as_bytes()).all(|l| l.is_ok()));
    write(&dir, "diag_proc_net_unix", "ours", ours.as_bytes());
    let _ = std::fs::remove_file(&upath);
}
