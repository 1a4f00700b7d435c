//! The decoder on the `INET_DIAG_INFO` attribute of a real `sock_diag`
//! netlink reply (the bytes `raindrops connections` decodes), compared with
//! `getsockopt(TCP_INFO)` on the same socket.
//!
//! The request is a minimal, netlink-library-free exact lookup
//! (`SOCK_DIAG_BY_FAMILY` without `NLM_F_DUMP`) of one loopback socket,
//! built by hand; raindrops-diag has the real codec.
#![cfg(feature = "std")]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use common::{loopbacks, pair, transfer, wait_until};
use raindrops_tcpinfo::{TcpInfo, TcpState, tcp_info};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const INET_DIAG_INFO: u16 = 2;
const NLMSG_HDRLEN: usize = 16;
/// `struct inet_diag_msg`: family, state, timer, retrans, sockid (48),
/// expires, rqueue, wqueue, uid, inode.
const INET_DIAG_MSG_LEN: usize = 72;

/// The `INET_DIAG_INFO` attribute of the socket whose local address is
/// `local` and peer `peer`, as the kernel sends it.
fn inet_diag_info(local: SocketAddr, peer: SocketAddr) -> Vec<u8> {
    // struct nlmsghdr + struct inet_diag_req_v2 (56 bytes).
    let mut req = Vec::with_capacity(NLMSG_HDRLEN + 56);
    req.extend_from_slice(&((NLMSG_HDRLEN + 56) as u32).to_ne_bytes()); // nlmsg_len
    req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes()); // nlmsg_type
    req.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes()); // nlmsg_flags
    req.extend_from_slice(&1u32.to_ne_bytes()); // nlmsg_seq
    req.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid
    let family = if local.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    req.push(family as u8); // sdiag_family
    req.push(libc::IPPROTO_TCP as u8); // sdiag_protocol
    req.push(1 << (INET_DIAG_INFO - 1)); // idiag_ext: ask for INET_DIAG_INFO
    req.push(0); // pad
    req.extend_from_slice(&u32::MAX.to_ne_bytes()); // idiag_states: any
    req.extend_from_slice(&local.port().to_be_bytes()); // idiag_sport
    req.extend_from_slice(&peer.port().to_be_bytes()); // idiag_dport
    for a in [local.ip(), peer.ip()] {
        // idiag_src, idiag_dst: 16 bytes each, IPv4 in the first 4.
        let mut b = [0u8; 16];
        match a {
            IpAddr::V4(v4) => b[..4].copy_from_slice(&v4.octets()),
            IpAddr::V6(v6) => b.copy_from_slice(&v6.octets()),
        }
        req.extend_from_slice(&b);
    }
    req.extend_from_slice(&0u32.to_ne_bytes()); // idiag_if
    req.extend_from_slice(&[0xff; 8]); // idiag_cookie: INET_DIAG_NOCOOKIE
    assert_eq!(req.len(), NLMSG_HDRLEN + 56);

    // SAFETY: socket(2) returns a new descriptor or -1 (checked).
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    assert!(
        raw >= 0,
        "netlink socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `raw` is a new, open descriptor owned by nothing else.
    let nl = unsafe { OwnedFd::from_raw_fd(raw) };
    // The kernel is the default destination of an unbound netlink socket.
    // SAFETY: `req` is valid for reads of its length during the call.
    let sent = unsafe { libc::send(nl.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
    assert_eq!(
        sent,
        req.len() as isize,
        "{}",
        std::io::Error::last_os_error()
    );

    let mut buf = vec![0u8; 64 * 1024];
    // SAFETY: `buf` is valid for writes of its length during the call.
    let n = unsafe { libc::recv(nl.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    assert!(n > 0, "recv: {}", std::io::Error::last_os_error());
    let msg = &buf[..n as usize];
    let u16_at = |b: &[u8], i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
    let u32_at = |b: &[u8], i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().unwrap());
    let len = u32_at(msg, 0) as usize;
    let ty = u16_at(msg, 4);
    if ty == NLMSG_ERROR {
        let errno = -i32::from_ne_bytes(msg[16..20].try_into().unwrap());
        panic!("sock_diag: {}", std::io::Error::from_raw_os_error(errno));
    }
    assert_eq!(ty, SOCK_DIAG_BY_FAMILY);
    assert!(len <= msg.len());
    // Walk the attributes after struct inet_diag_msg.
    let mut at = NLMSG_HDRLEN + INET_DIAG_MSG_LEN;
    while at + 4 <= len {
        let alen = usize::from(u16_at(msg, at));
        let aty = u16_at(msg, at + 2);
        assert!(alen >= 4 && at + alen <= len, "bad attribute at {at}");
        if aty == INET_DIAG_INFO {
            return msg[at + 4..at + alen].to_vec();
        }
        at += (alen + 3) & !3;
    }
    panic!("no INET_DIAG_INFO in the reply");
}

#[test]
fn the_diag_attribute_decodes_like_getsockopt() {
    for addr in loopbacks() {
        let mut p = pair(addr);
        transfer(&mut p.client, &mut p.server, 50_000);
        wait_until("everything acknowledged", || {
            tcp_info(&p.client).unwrap().bytes_acked() == Some(50_001)
        });
        let local = p.client.local_addr().unwrap();
        let peer = p.client.peer_addr().unwrap();
        let attr = inet_diag_info(local, peer);
        let sockopt = tcp_info(&p.client).unwrap();
        // The kernel fills the attribute with the same struct, its whole
        // size; we keep what we know.
        assert!(attr.len() >= sockopt.len(), "{} bytes", attr.len());
        let diag = TcpInfo::parse(&attr);
        assert_eq!(diag.len(), sockopt.len());
        assert_eq!(diag.state(), Some(TcpState::Established));
        // The connection is idle: everything but the ages is the same in
        // both reads.
        for (d, s) in diag.fields().zip(sockopt.fields()) {
            assert_eq!(d.name, s.name);
            if d.name.starts_with("last_") {
                assert!(
                    d.value <= s.value,
                    "{}: {} then {}",
                    d.name,
                    d.value,
                    s.value
                );
            } else {
                assert_eq!(d.value, s.value, "{addr}: {}", d.name);
            }
        }
        assert_eq!(diag.fields().count(), sockopt.fields().count());
        assert_eq!(diag.options(), sockopt.options());
        assert_eq!(diag.snd_wscale(), sockopt.snd_wscale());
        assert_eq!(diag.rcv_wscale(), sockopt.rcv_wscale());
        assert_eq!(diag.bytes_acked(), Some(50_001));
    }
}
