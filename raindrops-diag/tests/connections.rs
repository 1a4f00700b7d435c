//! The per-connection dump and the socket hygiene rules of
//! docs/netlink.md.

mod common;
use common::*;
use raindrops_diag::wire::tcp_state::{TcpState, TcpStates};
use raindrops_diag::{ConnQuery, Diag, DiagSocket, Error, errno};
use std::collections::BTreeSet;
use std::io::Write;

#[test]
fn connections_of_a_listener() {
    let l = listen(sa("127.0.0.1:0"), 10, false);
    let laddr = l.local_addr().unwrap();
    let mut clients = connect(laddr, 3);
    let served = accept(&l, 2);
    clients[0].write_all(b"hello").unwrap();
    let mut d = Diag::new().unwrap();
    let q = ConnQuery::new()
        .with_states(TcpStates::ESTABLISHED | TcpStates::LISTEN)
        .with_local(laddr)
        .with_info(true);
    let conns: Vec<_> = d.tcp_connections(&q).unwrap().map(Result::unwrap).collect();
    assert_eq!(conns.len(), 4, "{conns:?}"); // listener, 2 accepted, 1 waiting
    let listener = conns.iter().find(|c| c.state == TcpState::Listen).unwrap();
    assert_eq!((listener.rqueue, listener.wqueue), (1, 10));
    let est: Vec<_> = conns
        .iter()
        .filter(|c| c.state == TcpState::Established)
        .collect();
    let remotes: BTreeSet<_> = est.iter().map(|c| c.remote).collect();
    let want: BTreeSet<_> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
    assert_eq!(remotes, want);
    assert!(est.iter().all(|c| c.local == laddr));
    assert_eq!(est.iter().filter(|c| c.inode == 0).count(), 1);
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    assert!(est.iter().filter(|c| c.inode != 0).all(|c| c.uid == uid));
    // Unread bytes of the first client sit in its server socket's queue.
    let first = clients[0].local_addr().unwrap();
    eventually(|| {
        d.tcp_connections(&q)
            .unwrap()
            .map(Result::unwrap)
            .any(|c| c.remote == first && c.rqueue == 5)
    });
    // tcp_info is there, as long as this kernel's struct (>= 104 bytes
    // since Linux 2.6), with tcpi_state first.
    for c in &est {
        let info = c.tcp_info.as_ref().unwrap();
        assert!(info.len() >= 104, "{}", info.len());
        assert_eq!(info[0], 1); // TCP_ESTABLISHED
    }
    drop(served);
}

#[test]
fn zero_copy_walk_and_early_drop() {
    let l = listen(sa("[::1]:0"), 10, false);
    let laddr = l.local_addr().unwrap();
    let _c = connect(laddr, 5);
    let _s = accept(&l, 5);
    let mut d = Diag::new().unwrap();
    let q = ConnQuery::new().with_local(laddr);
    let mut n = 0;
    d.for_each_tcp_connection(&q, |m| {
        assert_eq!(m.local(), Some(laddr));
        assert_ne!(m.inode(), 0);
        n += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(n, 5);
    // Dropping an iterator mid-dump: the next query still answers right.
    for _ in 0..20 {
        {
            let mut it = d.tcp_connections(&ConnQuery::new()).unwrap();
            let _ = it.next();
        }
        let s = d.tcp_listener_stats(&[laddr.to_string()]).unwrap();
        assert_eq!(s.get(&laddr.to_string()).unwrap().active, 5);
    }
    // An error from the callback stops the walk and is returned.
    let r = d.for_each_tcp_connection(&q, |_| Err(Error::Protocol));
    assert_eq!(r, Err(Error::Protocol));
    assert_eq!(d.tcp_connections(&q).unwrap().count(), 5);
}

#[test]
fn kernel_errors_carry_the_errno() {
    // inet_diag_req_v2 for protocol 255: no such handler.
    let mut s = DiagSocket::new().unwrap();
    let mut buf = vec![0u8; 8192];
    let req = raindrops_diag::wire::InetDiagReqV2 {
        family: raindrops_diag::wire::inet_diag::AF_INET,
        protocol: 255,
        ext: raindrops_diag::wire::Extensions::empty(),
        pad: 0,
        states: TcpStates::all(),
        id: raindrops_diag::wire::SockId::any(),
    };
    let len = raindrops_diag::wire::request::inet_dump(
        &mut buf,
        0,
        &raindrops_diag::wire::request::InetRequest::V2(req),
        &[],
    )
    .unwrap();
    let r = s.dump(&mut buf, len, |_| Ok(()));
    assert!(matches!(r, Err(Error::Kernel(_))), "{r:?}");
    // Refused filter bytecode: EINVAL.
    let bad_bc = [99u8, 4, 8, 0];
    let len = raindrops_diag::wire::request::inet_dump(
        &mut buf,
        0,
        &raindrops_diag::wire::request::InetRequest::V2(raindrops_diag::wire::InetDiagReqV2 {
            protocol: raindrops_diag::wire::inet_diag::IPPROTO_TCP,
            ..req
        }),
        &bad_bc,
    )
    .unwrap();
    assert_eq!(
        s.dump(&mut buf, len, |_| Ok(())),
        Err(Error::Kernel(errno::INVAL))
    );
    // The socket still works afterwards.
    let mut d = Diag::new().unwrap();
    assert!(d.tcp_listener_stats_all().is_ok());
}

#[test]
fn a_short_buffer_is_a_truncation_error() {
    // Enough listeners that the first datagram exceeds 256 bytes.
    let _ls: Vec<_> = (0..8)
        .map(|_| listen(sa("127.0.0.1:0"), 1, false))
        .collect();
    let mut s = DiagSocket::new().unwrap();
    let mut buf = vec![0u8; 256];
    let req = raindrops_diag::wire::InetDiagReq {
        family: 0,
        src_len: 0,
        dst_len: 0,
        ext: raindrops_diag::wire::Extensions::empty(),
        id: raindrops_diag::wire::SockId::any(),
        states: TcpStates::LISTEN,
        dbs: 0,
    };
    let len = raindrops_diag::wire::request::inet_dump(
        &mut buf,
        0,
        &raindrops_diag::wire::request::InetRequest::Legacy(req),
        &[],
    )
    .unwrap();
    let r = s.dump(&mut buf, len, |_| Ok(()));
    assert!(
        matches!(r, Err(Error::Truncated { capacity: 256, .. })),
        "{r:?}"
    );
    // The socket is reopened for the next request, not left mid-dump.
    let mut big = vec![0u8; 32768];
    let len = raindrops_diag::wire::request::inet_dump(
        &mut big,
        0,
        &raindrops_diag::wire::request::InetRequest::Legacy(req),
        &[],
    )
    .unwrap();
    let mut n = 0;
    s.dump(&mut big, len, |_| {
        n += 1;
        Ok(())
    })
    .unwrap();
    assert!(n >= 8);
}
