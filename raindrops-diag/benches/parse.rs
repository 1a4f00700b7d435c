//! Parsing one captured dump (4,000 established TCP sockets with
//! `tcp_info`, congestion control, shutdown and socket memory attributes)
//! with this crate's codec and with netlink-packet-sock-diag, reading the
//! same fields from every message; and the same with the reply walker the
//! queries use (`Reply`: sequence, sender and `NLMSG_*` checks) instead of
//! the bare message iterator. Ratios measured interleaved (each round times
//! every parser back to back, so all see the same machine load) are
//! printed at the end. Run: `cargo bench -p raindrops-diag --bench parse`.

use criterion::{Criterion, black_box};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::inet::nlas::Nla;
use raindrops_diag::wire::request::{InetRequest, inet_dump};
use raindrops_diag::wire::{
    Extensions, InetDiagAttr, InetDiagMsg, InetDiagReqV2, NlMsgType, NlMsgs, Reply, SockId,
    TcpStates,
};
use raindrops_testutil::holders::Holders;
use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// The sequence number of the captured dump's request.
const SEQ: u32 = 1;

/// Dumps every established IPv4 TCP socket with attributes and returns
/// the datagrams as received.
fn capture() -> Vec<Vec<u8>> {
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        Some(netlink::SOCK_DIAG),
    )
    .unwrap();
    let req = InetRequest::V2(InetDiagReqV2 {
        family: 2,
        protocol: 6,
        ext: Extensions::INFO | Extensions::CONG | Extensions::SKMEMINFO | Extensions::SHUTDOWN,
        pad: 0,
        states: TcpStates::ESTABLISHED,
        id: SockId::any(),
    });
    let mut buf = vec![0u8; 32768];
    let n = inet_dump(&mut buf, SEQ, &req, &[]).unwrap();
    rustix::net::sendto(
        &fd,
        &buf[..n],
        SendFlags::empty(),
        &SocketAddrNetlink::new(0, 0),
    )
    .unwrap();
    let mut out = Vec::new();
    loop {
        let (_, n) = rustix::net::recv(&fd, &mut buf[..], RecvFlags::empty()).unwrap();
        let d = buf[..n].to_vec();
        let done = NlMsgs::new(&d)
            .flatten()
            .any(|m| matches!(m.msg_type(), NlMsgType::Done | NlMsgType::Error));
        out.push(d);
        if done {
            return out;
        }
    }
}

/// What both parsers extract from a message.
#[derive(Default, Debug, PartialEq)]
struct Sum {
    msgs: u64,
    ports: u64,
    inodes: u64,
    rqueue: u64,
    info_bytes: u64,
    cong: u64,
    mem: u64,
}

/// A parser of the captured datagrams.
type Parser = fn(&[Vec<u8>]) -> Sum;

/// Reads the fields of one inet_diag message into `s`.
#[inline]
fn add(s: &mut Sum, payload: &[u8]) {
    let msg = InetDiagMsg::new_checked(payload).unwrap();
    s.msgs += 1;
    let (l, r) = (msg.local().unwrap(), msg.remote().unwrap());
    s.ports += u64::from(l.port()) + u64::from(r.port()) + u64::from(msg.state().to_u8());
    s.inodes += u64::from(msg.inode()) + u64::from(msg.uid());
    s.rqueue += u64::from(msg.rqueue()) + u64::from(msg.wqueue());
    for a in msg.attrs() {
        match a.unwrap() {
            InetDiagAttr::Info(b) => s.info_bytes += b.len() as u64,
            InetDiagAttr::Cong(c) => s.cong += c.len() as u64,
            InetDiagAttr::SkMemInfo(m) => s.mem += u64::from(m.rcvbuf().unwrap_or(0)),
            _ => {}
        }
    }
}

fn ours(datagrams: &[Vec<u8>]) -> Sum {
    let mut s = Sum::default();
    for d in datagrams {
        for m in NlMsgs::new(d) {
            let m = m.unwrap();
            if m.msg_type() != NlMsgType::SockDiagByFamily {
                continue;
            }
            add(&mut s, m.payload());
        }
    }
    s
}

/// [`ours`] through the reply walker of the queries.
fn ours_reply(datagrams: &[Vec<u8>]) -> Sum {
    let mut s = Sum::default();
    let mut reply = Reply::new(SEQ);
    for d in datagrams {
        let done = reply
            .feed(d, d.len(), Some(0), &mut |m| {
                add(&mut s, m.payload());
                Ok(())
            })
            .unwrap();
        if done {
            break;
        }
    }
    reply.finish().unwrap();
    s
}

fn theirs(datagrams: &[Vec<u8>]) -> Sum {
    let mut s = Sum::default();
    for d in datagrams {
        let mut at = 0;
        while at < d.len() {
            let len = u32::from_ne_bytes(d[at..at + 4].try_into().unwrap()) as usize;
            let msg = NetlinkMessage::<SockDiagMessage>::deserialize(&d[at..at + len]).unwrap();
            at += (len + 3) & !3;
            let NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) = msg.payload else {
                continue;
            };
            s.msgs += 1;
            let h = &r.header;
            s.ports += u64::from(h.socket_id.source_port)
                + u64::from(h.socket_id.destination_port)
                + u64::from(h.state);
            s.inodes += u64::from(h.inode) + u64::from(h.uid);
            s.rqueue += u64::from(h.recv_queue) + u64::from(h.send_queue);
            for a in &r.nlas {
                match a {
                    Nla::TcpInfo(b) => s.info_bytes += b.len() as u64,
                    Nla::Congestion(c) => s.cong += c.len() as u64,
                    Nla::MemInfo(m) => s.mem += u64::from(m.receive_queue_max),
                    _ => {}
                }
            }
        }
    }
    s
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let lr = &l;
    let holders = Holders::spawn(
        2,
        1000,
        || OwnedFd::from(TcpStream::connect(addr).expect("connect")),
        || OwnedFd::from(lr.accept().expect("accept").0),
    );
    let dump = capture();
    drop(holders);
    let a = ours(&dump);
    let b = theirs(&dump);
    assert_eq!(a, b, "both parsers must read the same values");
    assert_eq!(ours_reply(&dump), a);
    assert!(a.msgs >= 4000, "{a:?}");
    println!(
        "captured {} messages in {} datagrams ({} bytes)",
        a.msgs,
        dump.len(),
        dump.iter().map(Vec::len).sum::<usize>()
    );
    let mut g = c.benchmark_group("parse_dump");
    g.bench_function("raindrops_diag", |b| {
        b.iter(|| black_box(ours(black_box(&dump))))
    });
    g.bench_function("netlink_packet_sock_diag", |b| {
        b.iter(|| black_box(theirs(black_box(&dump))))
    });
    g.bench_function("raindrops_diag_reply", |b| {
        b.iter(|| black_box(ours_reply(black_box(&dump))))
    });
    g.finish();
    c.final_summary();

    // Interleaved: every round times each parser once, back to back.
    let parsers: [Parser; 3] = [theirs, ours, ours_reply];
    let mut total = [Duration::ZERO; 3];
    for _ in 0..300 {
        for (t, parse) in total.iter_mut().zip(parsers) {
            let start = Instant::now();
            black_box(parse(black_box(&dump)));
            *t += start.elapsed();
        }
    }
    let per = |t: Duration| t.as_secs_f64() * 1e6 / 300.0;
    println!(
        "\ninterleaved (300 rounds): netlink-packet-sock-diag {:.0} us, NlMsgs {:.0} us, Reply {:.0} us",
        per(total[0]),
        per(total[1]),
        per(total[2])
    );
    println!(
        "netlink-packet-sock-diag / NlMsgs = {:.2}x, netlink-packet-sock-diag / Reply = {:.2}x, NlMsgs / Reply = {:.3}x",
        total[0].as_secs_f64() / total[1].as_secs_f64(),
        total[0].as_secs_f64() / total[2].as_secs_f64(),
        total[1].as_secs_f64() / total[2].as_secs_f64()
    );
}
