//! Beyond Ruby (docs/listener-stats.md): accept-queue overflow drops and
//! half-open handshakes per listener, compared with `ss -ltm`.

mod common;
use common::*;
use raindrops_diag::{Diag, ListenStats, TcpQuery};
use std::time::Duration;

/// Our stats, `ss`'s view and our stats again, until the two queries
/// agree (a retransmitted SYN may land in between): `(ours, ss drops, ss
/// queued sum)`.
fn stable_sample(d: &mut Diag, key: &str) -> Option<(ListenStats, u64, u32)> {
    let port: u16 = key.rsplit(':').next().unwrap().parse().unwrap();
    for _ in 0..50 {
        let a = *d.tcp_listener_stats(&[key]).unwrap().get(key).unwrap();
        let ss = raindrops_testutil::diag::ss_tcp_listeners(port)?;
        let b = *d.tcp_listener_stats(&[key]).unwrap().get(key).unwrap();
        if a == b {
            let drops = ss.iter().map(|l| l.drops.expect("ss -m shows d<N>")).sum();
            let queued = ss.iter().map(|l| l.queued).sum();
            return Some((a, drops, queued));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("drops kept changing between two queries");
}

#[test]
fn overflowing_listener_reports_drops_like_ss() {
    let l = listen(sa("127.0.0.1:0"), 2, false);
    let addr = l.local_addr().unwrap();
    let key = addr.to_string();
    let _clients = flood(addr, 12);
    let mut d = Diag::new().unwrap();
    assert!(eventually(|| d
        .tcp_listener_stats(&[&key])
        .unwrap()
        .get(&key)
        .unwrap()
        .queued
        == 3));
    let Some((s, ss_drops, ss_queued)) = stable_sample(&mut d, &key) else {
        return;
    };
    eprintln!("ours {s:?}, ss drops {ss_drops} queued {ss_queued}");
    // The queue holds backlog + 1 connections; the rest were dropped.
    assert_eq!((s.queued, s.backlog), (3, Some(2)));
    assert_eq!(ss_queued, 3);
    let drops = s.drops.unwrap();
    assert!(drops > 0, "{s:?}");
    assert_eq!(drops, ss_drops);
    // Reading does not reset it; queued-only reads it too.
    let q = d
        .tcp_listener_stats_with(&[&key], &TcpQuery::queued_only())
        .unwrap();
    assert!(q.get(&key).unwrap().drops.unwrap() >= drops);
    let all = d.tcp_listener_stats_all().unwrap();
    assert!(all.get(&key).unwrap().drops.unwrap() >= drops);
}

#[test]
fn reuseport_group_sums_drops() {
    let first = listen(sa("127.0.0.1:0"), 1, true);
    let addr = first.local_addr().unwrap();
    let _group: Vec<_> = (0..3).map(|_| listen(addr, 1, true)).collect();
    let key = addr.to_string();
    let _clients = flood(addr, 40);
    let mut d = Diag::new().unwrap();
    assert!(eventually(|| d
        .tcp_listener_stats(&[&key])
        .unwrap()
        .get(&key)
        .unwrap()
        .queued
        == 8));
    let Some((s, ss_drops, ss_queued)) = stable_sample(&mut d, &key) else {
        return;
    };
    eprintln!("group {s:?}, ss drops {ss_drops} queued {ss_queued}");
    assert_eq!((s.queued, s.backlog), (ss_queued, Some(4)));
    assert_eq!(s.drops, Some(ss_drops));
    assert!(ss_drops > 0);
    drop(first);
}

#[test]
fn half_open_handshakes_are_counted_on_request() {
    use std::io::Write;
    let l = listen(sa("0.0.0.0:0"), 10, false);
    // With TCP_DEFER_ACCEPT the final ACK without data leaves the
    // connection a request socket (SYN_RECV) until data arrives.
    defer_accept(&l, 30);
    let p = port(&l);
    let mut clients = connect(sa(&format!("127.0.0.1:{p}")), 3);
    let key = format!("0.0.0.0:{p}");
    let mut d = Diag::new().unwrap();
    let q = TcpQuery::new().with_syn_recv(true);
    let syn = |d: &mut Diag| {
        *d.tcp_listener_stats_with(&[&key], &q)
            .unwrap()
            .get(&key)
            .unwrap()
    };
    assert!(
        eventually(|| syn(&mut d).syn_recv == Some(3)),
        "{:?}",
        syn(&mut d)
    );
    assert_eq!(syn(&mut d).queued, 0);
    clients[0].write_all(b"x").unwrap();
    assert!(eventually(|| {
        let s = syn(&mut d);
        (s.queued, s.syn_recv) == (1, Some(2))
    }));
    // Attributed in "all" mode too, and absent unless asked.
    let all = d.tcp_listener_stats_addrs(&[], &q).unwrap();
    assert_eq!(all.get(&key).unwrap().syn_recv, Some(2));
    let plain = d.tcp_listener_stats(&[&key]).unwrap();
    assert_eq!(plain.get(&key).unwrap().syn_recv, None);
}

/// On a `TCP_DEFER_ACCEPT` listener the kernel discards the final ACK of
/// each handshake that carries no data and counts it in `sk_drops`: the
/// documented caveat of `ListenStats::drops`.
#[test]
fn defer_accept_counts_each_bare_handshake_ack_as_a_drop() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    defer_accept(&l, 30);
    let addr = l.local_addr().unwrap();
    let key = addr.to_string();
    let mut d = Diag::new().unwrap();
    let before = d
        .tcp_listener_stats(&[&key])
        .unwrap()
        .get(&key)
        .unwrap()
        .drops;
    assert_eq!(before, Some(0));
    // Blocking connects: each handshake completes on the client side.
    let clients: Vec<_> = (0..5)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let mut drops = None;
    for _ in 0..100 {
        drops = d
            .tcp_listener_stats(&[&key])
            .unwrap()
            .get(&key)
            .unwrap()
            .drops;
        if drops == Some(5) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(drops, Some(5), "one drop per handshake ACK without data");
    drop(clients);
}
