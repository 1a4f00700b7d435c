//! More than 16,000 sockets across forked holder processes: multi-part
//! dumps of many datagrams give exact counts.

mod common;
use common::*;
use raindrops_diag::{ConnQuery, Diag, TcpQuery};
use raindrops_testutil::holders::Holders;
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;

#[test]
fn seventeen_thousand_connections() {
    const PROCS: usize = 16;
    const PER: usize = 1100;
    let l = listen(sa("127.0.0.1:0"), 4096, false);
    let addr = l.local_addr().unwrap();
    let listener: &TcpListener = &l;
    let holders = Holders::spawn(
        PROCS,
        PER,
        || OwnedFd::from(TcpStream::connect(addr).expect("connect")),
        || OwnedFd::from(listener.accept().expect("accept").0),
    );
    let total = (PROCS * PER) as u32;
    let key = addr.to_string();
    let mut d = Diag::new().unwrap();
    // One address (kernel filter), several, all: the same exact counts.
    let one = d.tcp_listener_stats(&[&key]).unwrap();
    let s = one.get(&key).unwrap();
    assert_eq!((s.active, s.queued, s.backlog), (total, 0, Some(4096)));
    let several = d.tcp_listener_stats(&[&key, "127.0.0.1:1"]).unwrap();
    assert_eq!(several.get(&key), Some(s));
    let all = d.tcp_listener_stats_all().unwrap();
    assert_eq!(all.get(&key).unwrap().active, total);
    // The dump itself: both ends of every connection (> 35,000 sockets).
    let mut both = 0usize;
    d.for_each_tcp_connection(&ConnQuery::new(), |m| {
        let local = m.local().unwrap();
        let remote = m.remote().unwrap();
        if local == addr || remote == addr {
            both += 1;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(both, 2 * total as usize);
    let listed = d
        .tcp_connections(&ConnQuery::new().with_local(addr))
        .unwrap()
        .filter(|c| c.as_ref().unwrap().inode != 0)
        .count();
    assert_eq!(listed, total as usize);
    let q = d
        .tcp_listener_stats_with(&[&key], &TcpQuery::queued_only())
        .unwrap();
    assert_eq!(q.get(&key).unwrap().queued, 0);
    // The Ruby gem agrees on the same state.
    if let Some(rb) = ruby_stats("tcp_listener_stats", &[&key]) {
        assert_eq!(rb, ours(&one));
    }
    drop(holders);
    assert!(eventually(|| d
        .tcp_listener_stats(&[&key])
        .unwrap()
        .get(&key)
        .unwrap()
        .active
        == 0));
}
