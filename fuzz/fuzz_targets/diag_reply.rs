#![no_main]
//! A dump's reply as it reaches the queries: the reply walker
//! (`wire::nlmsg::Reply`, what `DiagSocket::dump` and `Connections` run)
//! over a sequence of received datagrams, each with what `recvfrom`
//! reported (length, sender), feeding the counting code of the queries
//! (`TcpCounter`/`UnixCounter`, the attribution rules the socket queries
//! call, with the accept-queue waits read from `tcp_info`).
//!
//! Input: the request's sequence number (`u32`, little-endian), then each
//! datagram as `ctl: u8`, `len: u16` (little-endian) and `len` bytes.
//! `ctl` bit 0: sent by a foreign netlink port; bit 1: no sender
//! reported; bits 2-7: how many bytes more than `len` `recvfrom`
//! reported (`MSG_TRUNC`). The seeds in corpus/diag_reply are real
//! replies captured by raindrops-diag's `capture` test, as received and
//! interrupted, truncated, after a foreign or a stale datagram.
//!
//! Checked: nothing panics; the walker hands out only data messages of
//! the request's sequence, from the kernel, from datagrams that fit; a
//! complete unflagged reply is `Ok`; the tables stay within capacity and
//! keep their order rules; and two code paths that must agree do: TCP
//! "every listener" and "these listeners" give the same stats, and so do
//! the Unix "every listener" path and the requested-name fast path.
use libfuzzer_sys::fuzz_target;
use raindrops_diag::wire::{InetDiagMsg, NlMsg, NlMsgType, NlMsgs, Reply, UnixDiagMsg};
use raindrops_diag::{
    Error, TcpCounter, TcpQuery, TcpTable, UnixCounter, UnixName, UnixQuery, UnixTable,
};
use std::net::SocketAddr;

/// One datagram as `recvfrom` delivered it.
struct Frame<'a> {
    bytes: &'a [u8],
    reported: usize,
    sender: Option<u32>,
}

impl Frame<'_> {
    fn walked(&self) -> bool {
        self.reported <= self.bytes.len() && self.sender.is_none_or(|p| p == 0)
    }
}

fn frames(mut data: &[u8]) -> (u32, Vec<Frame<'_>>) {
    let Some((seq, rest)) = data.split_first_chunk::<4>() else {
        return (0, Vec::new());
    };
    data = rest;
    let mut out = Vec::new();
    while let [ctl, a, b, rest @ ..] = data {
        let len = usize::from(u16::from_le_bytes([*a, *b])).min(rest.len());
        let (bytes, rest) = rest.split_at(len);
        out.push(Frame {
            bytes,
            reported: len + usize::from(ctl >> 2),
            sender: match ctl & 3 {
                0 => Some(0),
                2 => None,
                _ => Some(4242),
            },
        });
        data = rest;
        if out.len() == 64 {
            break;
        }
    }
    (u32::from_le_bytes(*seq), out)
}

/// How a walk ended.
#[derive(Debug, PartialEq)]
enum End {
    /// `Reply::finish`'s verdict on a complete reply.
    Done(Result<(), Error>),
    /// The walker (or the counting code, `by_each`) failed.
    Failed { by_each: bool },
    /// The datagrams ran out before `NLMSG_DONE`.
    Incomplete,
}

/// Walks the reply to `seq` as `DiagSocket::dump` does, handing every
/// data message to `each`, and checks what the walker hands out.
fn walk(
    seq: u32,
    frames: &[Frame<'_>],
    mut each: impl FnMut(NlMsg<&[u8]>) -> Result<(), Error>,
) -> End {
    let mut reply = Reply::new(seq);
    let mut by_each = false;
    for f in frames {
        let walked = f.walked();
        let r = reply.feed(f.bytes, f.reported, f.sender, &mut |m| {
            assert!(walked, "a message from a datagram that must be skipped");
            assert_eq!(m.seq(), seq);
            assert!(!matches!(
                m.msg_type(),
                NlMsgType::Done | NlMsgType::Error | NlMsgType::Noop | NlMsgType::Overrun
            ));
            assert_eq!(m.payload().len() + 16, m.len() as usize);
            each(m).inspect_err(|_| by_each = true)
        });
        match r {
            Ok(true) => {
                let v = reply.finish();
                assert_eq!(v.is_ok(), !reply.is_interrupted());
                return End::Done(v);
            }
            Ok(false) => {}
            Err(e) => {
                if f.reported > f.bytes.len() {
                    assert_eq!(
                        e,
                        Error::Truncated {
                            len: f.reported,
                            capacity: f.bytes.len()
                        }
                    );
                }
                return End::Failed { by_each };
            }
        }
    }
    assert_eq!(reply.finish(), Err(Error::Protocol));
    End::Incomplete
}

/// The TCP query for `addrs` over the reply, used as a LISTEN dump and
/// then as a connections dump: its table, or `None` if the walk failed.
fn tcp<const N: usize>(
    seq: u32,
    frames: &[Frame<'_>],
    addrs: &[SocketAddr],
) -> Option<TcpTable<N>> {
    let query = TcpQuery::new().with_syn_recv(true).with_queue_wait(true);
    let counter = TcpCounter::new(addrs, &query);
    let mut t = TcpTable::<N>::new();
    counter.start(&mut t).ok()?;
    let a = walk(seq, frames, |m| {
        counter.listener(&mut t, &InetDiagMsg::new_checked(m.into_payload())?)
    });
    let b = walk(seq, frames, |m| {
        counter.connection(&mut t, &InetDiagMsg::new_checked(m.into_payload())?);
        Ok(())
    });
    counter.finish(&mut t);
    assert!(t.len() <= N);
    // The accept-queue waits were asked for: every row knows its oldest.
    assert!(t.iter().all(|(_, s)| s.queue_wait_oldest_ms.is_some()));
    let ok = |e: &End| !matches!(e, End::Failed { .. });
    (ok(&a) && ok(&b)).then_some(t)
}

/// The Unix query for `names` over the reply: its table, or `None` if
/// the walk failed.
fn unix<const N: usize>(
    seq: u32,
    frames: &[Frame<'_>],
    names: &[UnixName],
) -> Option<UnixTable<N>> {
    let counter = UnixCounter::new(names, &UnixQuery::new());
    let mut t = UnixTable::<N>::new();
    counter.start(&mut t).ok()?;
    let end = walk(seq, frames, |m| {
        counter.message(&mut t, &UnixDiagMsg::new_checked(m.into_payload())?)
    });
    counter.finish(&mut t);
    assert!(t.len() <= N);
    (!matches!(end, End::Failed { .. })).then_some(t)
}

fuzz_target!(|data: &[u8]| {
    let (seq, frames) = frames(data);
    // The message stream of each datagram, unfiltered.
    for f in &frames {
        let mut end = 0;
        for m in NlMsgs::new(f.bytes) {
            let Ok(m) = m else { break };
            let len = m.len() as usize;
            assert!(len >= 16 && len <= f.bytes.len() - end);
            end += (len + 3) & !3;
        }
    }

    // TCP: every listener, then the same listeners by name, then one.
    if let Some(all) = tcp::<64>(seq, &frames, &[]) {
        let keys: Vec<SocketAddr> = all.iter().map(|(k, _)| *k).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "sorted, unique");
        if keys.len() >= 2 {
            if let Some(some) = tcp::<64>(seq, &frames, &keys) {
                assert_eq!(some.len(), keys.len());
                for (k, s) in all.iter() {
                    assert_eq!(some.get(k), Some(s), "{k}");
                }
            }
        }
        if let Some(first) = keys.first() {
            if let Some(one) = tcp::<1>(seq, &frames, &[*first]) {
                assert_eq!(one.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [*first]);
            }
        }
    }

    // Unix: every listener, then the same names (the fast path for
    // connected sockets) plus one that does not listen.
    if let Some(all) = unix::<64>(seq, &frames, &[]) {
        let keys: Vec<UnixName> = all.iter().map(|(k, _)| *k).take(4).collect();
        assert!(
            all.iter()
                .collect::<Vec<_>>()
                .windows(2)
                .all(|w| w[0].0 < w[1].0),
            "sorted, unique"
        );
        let absent = UnixName::new(b"@raindrops-fuzz-absent").unwrap();
        let mut names = keys.clone();
        if !names.contains(&absent) {
            names.push(absent);
        }
        if let Some(some) = unix::<8>(seq, &frames, &names) {
            let got: Vec<UnixName> = some.iter().map(|(k, _)| *k).collect();
            assert_eq!(got, names, "the requested names, in order");
            for k in &keys {
                assert_eq!(some.get(k), all.get(k), "{k:?}");
            }
        }
    }
});
