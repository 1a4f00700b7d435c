//! Uses raindrops-diag without std: the whole codec (views, reprs,
//! bytecode with its checker, attribute iterators, the reply walker), the
//! /proc/net/unix parser and the fixed-capacity tables with the
//! attribution rules.

use core::net::SocketAddr;
use raindrops_diag::proc_unix::ProcNetUnix;
use raindrops_diag::wire::bytecode::{Bytecode, Entry, local_addr_filter, local_ports_filter};
use raindrops_diag::wire::request::{InetRequest, inet_dump, unix_dump};
use raindrops_diag::wire::{
    Extensions, InetDiagAttr, InetDiagMsg, InetDiagMsgRepr, InetDiagReq, NlMsgs, SockId, TcpStates,
    UnixDiagAttr, UnixDiagMsg, UnixDiagReq, UnixShow,
};
use raindrops_diag::wire::nlmsg::Reply;
use raindrops_diag::{
    TcpCounter, TcpQuery, TcpTable, UnixCounter, UnixName, UnixQuery, UnixTable,
};

/// Builds a filtered dump request, validates its bytecode and runs it;
/// returns the request length (0 on any error).
#[unsafe(no_mangle)]
pub extern "C" fn raindrops_nostd_diag_request(port: u16) -> usize {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut bc = [0u8; 64];
    let Ok(n) = local_addr_filter(&mut bc, &addr) else {
        return 0;
    };
    let prog = Bytecode::new(&bc[..n]);
    if prog.validate().is_err() || !prog.run(&Entry::new(&addr, &addr)) {
        return 0;
    }
    let mut ports = [0u8; 64];
    if local_ports_filter(&mut ports, &[port, 443]).is_err() {
        return 0;
    }
    let mut id = SockId::any();
    id.sport = port;
    let req = InetRequest::Legacy(InetDiagReq {
        family: 0,
        src_len: 0,
        dst_len: 0,
        ext: Extensions::SKMEMINFO,
        id,
        states: TcpStates::LISTEN | TcpStates::ESTABLISHED,
        dbs: 0,
    });
    let mut buf = [0u8; 160];
    let u = UnixDiagReq {
        family: 1,
        protocol: 0,
        pad: 0,
        states: TcpStates::LISTEN,
        ino: 0,
        show: UnixShow::NAME | UnixShow::RQLEN,
        cookie: [!0, !0],
    };
    let mut ubuf = [0u8; 40];
    match (
        inet_dump(&mut buf, 1, &req, &bc[..n]),
        unix_dump(&mut ubuf, 2, &u),
    ) {
        (Ok(len), Ok(_)) => len,
        _ => 0,
    }
}

/// Parses a received datagram (inet_diag or unix_diag replies) and counts
/// listeners into fixed tables; returns the number of listeners found.
///
/// # Safety
///
/// `data` must point to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn raindrops_nostd_diag_parse(
    data: *const u8,
    len: usize,
    unix: bool,
) -> usize {
    // SAFETY: the caller promises `len` readable bytes at `data`.
    let bytes = unsafe { core::slice::from_raw_parts(data, len) };
    let tcp = TcpCounter::new(&[], &TcpQuery::new());
    let mut t = TcpTable::<16>::new();
    let un = UnixCounter::new(&[], &UnixQuery::new());
    let mut u = UnixTable::<16>::new();
    if tcp.start(&mut t).is_err() || un.start(&mut u).is_err() {
        return 0;
    }
    // The reply to the request of the first message, from the kernel.
    let seq = NlMsgs::new(bytes).flatten().next().map_or(0, |m| m.seq());
    let mut reply = Reply::new(seq);
    if reply.datagram(bytes.len(), len, Some(0)).is_err() {
        return 0;
    }
    for m in reply.msgs(bytes).flatten() {
        if unix {
            if let Ok(d) = UnixDiagMsg::new_checked(m.payload()) {
                for a in d.attrs().flatten() {
                    if let UnixDiagAttr::Name(n) = a {
                        let _ = UnixName::from_sun_path(n);
                    }
                }
                let _ = un.message(&mut u, &d);
            }
        } else if let Ok(d) = InetDiagMsg::new_checked(m.payload()) {
            for a in d.attrs().flatten() {
                if let InetDiagAttr::SkMemInfo(s) = a {
                    let _ = s.drops();
                }
            }
            let _ = InetDiagMsgRepr::parse(&d);
            let _ = tcp.listener(&mut t, &d);
            tcp.connection(&mut t, &d);
        }
    }
    tcp.finish(&mut t);
    un.finish(&mut u);
    for l in ProcNetUnix::new(bytes).flatten() {
        let _ = un.proc_line(&mut u, &l);
    }
    t.len() + u.len()
}
