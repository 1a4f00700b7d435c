//! Listener queries under load, side by side with their baselines:
//!
//! - `tcp_active_queued`: one listener's active+queued with 10,000
//!   established connections on another port, ours (with and without the
//!   `drops` attribute), a bare netlink round trip (hand-written request,
//!   replies only walked for `NLMSG_DONE`), and the Ruby gem;
//! - `tcp_queued_only`: ours LISTEN-only, the bare LISTEN-only round trip,
//!   and the Ruby gem's (only) query;
//! - `unix_10k`: one Unix listener with 10,000 connections, ours, a bare
//!   unix_diag dump with the same request, the default query (with the
//!   backlog) against the one without, and the Ruby gem.
//!
//! The load comes from forked holder processes (each under the descriptor
//! limit). Ruby is timed inside one Ruby process per sample (a loop of
//! `iters` queries with a monotonic clock), so its startup is not counted.
//! Ratios are printed at the end. Run: `cargo bench -p raindrops-diag
//! --bench listeners`.

mod common;
use common::{INTERLEAVED, paired};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, black_box};
use raindrops_diag::{Diag, TcpQuery, UnixQuery};
use raindrops_testutil::holders::Holders;
use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Command;
use std::time::Duration;
use std::time::Instant;

const PROCS: usize = 10;
const PER: usize = 1000;

/// A bare netlink client: one socket, a fixed request, replies walked only
/// to find `NLMSG_DONE`.
struct Bare {
    fd: OwnedFd,
    req: Vec<u8>,
    buf: Vec<u8>,
    seq: u32,
}

impl Bare {
    fn new(req: Vec<u8>) -> Self {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            Some(netlink::SOCK_DIAG),
        )
        .unwrap();
        Bare {
            fd,
            req,
            buf: vec![0; 32768],
            seq: 0,
        }
    }

    /// One round trip; returns the number of reply messages.
    fn run(&mut self) -> usize {
        self.seq += 1;
        self.req[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        let kernel = SocketAddrNetlink::new(0, 0);
        rustix::net::sendto(&self.fd, &self.req, SendFlags::empty(), &kernel).unwrap();
        let mut msgs = 0;
        loop {
            let (_, n) =
                rustix::net::recv(&self.fd, &mut self.buf[..], RecvFlags::empty()).unwrap();
            let mut at = 0;
            while at + 16 <= n {
                let len = u32::from_ne_bytes(self.buf[at..at + 4].try_into().unwrap()) as usize;
                let ty = u16::from_ne_bytes(self.buf[at + 4..at + 6].try_into().unwrap());
                if ty == 3 || ty == 2 {
                    return msgs;
                }
                msgs += 1;
                at += (len + 3) & !3;
                if len < 16 {
                    break;
                }
            }
        }
    }
}

/// The legacy inet_diag request (`TCPDIAG_GETSOCK`), written byte by byte:
/// states, local port in the header, and an `INET_DIAG_BC_S_COND` filter
/// on 127.0.0.1:port.
fn bare_tcp_request(states: u32, port: u16) -> Vec<u8> {
    let mut r = Vec::new();
    let total = 16 + 60 + 4 + 16;
    r.extend_from_slice(&(total as u32).to_ne_bytes());
    r.extend_from_slice(&18u16.to_ne_bytes()); // TCPDIAG_GETSOCK
    r.extend_from_slice(&(0x1u16 | 0x300).to_ne_bytes()); // REQUEST | DUMP
    r.extend_from_slice(&0u32.to_ne_bytes()); // seq
    r.extend_from_slice(&0u32.to_ne_bytes()); // pid
    r.extend_from_slice(&[0, 0, 0, 0]); // family, src_len, dst_len, ext
    r.extend_from_slice(&port.to_be_bytes()); // sport
    r.extend_from_slice(&[0; 2 + 16 + 16 + 4]); // dport, src, dst, if
    r.extend_from_slice(&[0xff; 8]); // cookie
    r.extend_from_slice(&states.to_ne_bytes());
    r.extend_from_slice(&0u32.to_ne_bytes()); // dbs
    r.extend_from_slice(&20u16.to_ne_bytes()); // rta_len
    r.extend_from_slice(&1u16.to_ne_bytes()); // INET_DIAG_REQ_BYTECODE
    r.extend_from_slice(&[7, 16, 20, 0, 2, 32, 0, 0]); // S_COND, AF_INET /32
    r.extend_from_slice(&i32::from(port).to_ne_bytes());
    r.extend_from_slice(&[127, 0, 0, 1]);
    assert_eq!(r.len(), total);
    r
}

/// A unix_diag dump request with `show` flags (`NAME|ICONS` = 1|8 is the
/// Unix query's; `NAME|RQLEN` = 1|16 adds queue lengths to every socket),
/// byte by byte.
fn bare_unix_request(show: u32) -> Vec<u8> {
    bare_unix_request_states((1u32 << 10) | (1 << 1), show) // LISTEN | ESTABLISHED
}

/// [`bare_unix_request`] for the sockets in `states`.
fn bare_unix_request_states(states: u32, show: u32) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&40u32.to_ne_bytes());
    r.extend_from_slice(&20u16.to_ne_bytes()); // SOCK_DIAG_BY_FAMILY
    r.extend_from_slice(&(0x1u16 | 0x300).to_ne_bytes());
    r.extend_from_slice(&[0; 8]);
    r.extend_from_slice(&[1, 0, 0, 0]); // AF_UNIX
    r.extend_from_slice(&states.to_ne_bytes());
    r.extend_from_slice(&0u32.to_ne_bytes()); // ino
    r.extend_from_slice(&show.to_ne_bytes());
    r.extend_from_slice(&[0xff; 8]);
    r
}

/// Times `iters` calls of a Ruby expression inside one Ruby process.
fn ruby_time(setup: &str, expr: &str, arg: &str, iters: u64) -> Duration {
    let script = format!(
        "require 'raindrops'; {setup}; a = ARGV[0]; n = ARGV[1].to_i; {expr}; \
         t = Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond); \
         n.times {{ {expr} }}; \
         print Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond) - t"
    );
    let out = Command::new("ruby")
        .args(["-e", &script, arg, &iters.to_string()])
        .output()
        .expect("ruby");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Duration::from_nanos(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
}

/// Ruby and ours in alternating chunks of `k` queries, `rounds` times:
/// the mean time per query of each, from the same stretches of machine
/// load.
fn ruby_vs_ours(
    setup: &str,
    expr: &str,
    arg: &str,
    mut ours: impl FnMut(),
    rounds: usize,
    k: u64,
) -> (Duration, Duration) {
    let (mut tr, mut to) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        tr += ruby_time(setup, expr, arg, k);
        let s = Instant::now();
        for _ in 0..k {
            ours();
        }
        to += s.elapsed();
    }
    let n = (rounds as u32) * (k as u32);
    (tr / n, to / n)
}

fn record_ruby(what: &str, ruby: Duration, ours: Duration) {
    INTERLEAVED.lock().unwrap().push(format!(
        "{what:<34} ruby {:>9.1}us / ours {:>9.1}us = {:.2}x (chunks of queries alternated)",
        ruby.as_secs_f64() * 1e6,
        ours.as_secs_f64() * 1e6,
        ruby.as_secs_f64() / ours.as_secs_f64()
    ));
}

/// The Ruby gem's query `expr` next to ours: a criterion function timing
/// Ruby alone in `g`, and the ratio of the two measured in alternating
/// chunks of `chunk` queries, recorded for the summary as `what`.
fn against_ruby(
    g: &mut BenchmarkGroup<'_, WallTime>,
    what: &str,
    (setup, expr): (&str, &str),
    key: &str,
    chunk: u64,
    ours: impl FnMut(),
) {
    g.bench_function("ruby_raindrops", |b| {
        b.iter_custom(|n| ruby_time(setup, expr, key, n))
    });
    let (r, o) = ruby_vs_ours(setup, expr, key, ours, 10, chunk);
    record_ruby(what, r, o);
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let ruby = match raindrops_testutil::ruby_missing(&["raindrops"]) {
        None => true,
        Some(why) => {
            eprintln!("Ruby baselines skipped: {why}");
            false
        }
    };
    const RUBY_TCP: (&str, &str) = (
        "s = Raindrops::InetDiagSocket.new",
        "Raindrops::Linux.tcp_listener_stats([a], s)",
    );

    // The target listener: 10 accepted, 5 waiting.
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let taddr = target.local_addr().unwrap();
    let _tc: Vec<_> = (0..15)
        .map(|_| TcpStream::connect(taddr).unwrap())
        .collect();
    let _ts: Vec<_> = (0..10).map(|_| target.accept().unwrap().0).collect();
    let tkey = taddr.to_string();

    // The load: 10,000 established connections on another port.
    let load = TcpListener::bind("127.0.0.1:0").unwrap();
    let laddr: SocketAddr = load.local_addr().unwrap();
    let load_ref = &load;
    let tcp_holders = Holders::spawn(
        PROCS,
        PER,
        || OwnedFd::from(TcpStream::connect(laddr).expect("connect")),
        || OwnedFd::from(load_ref.accept().expect("accept").0),
    );

    let mut diag = Diag::new().unwrap();
    let s = *diag
        .tcp_listener_stats(&[&tkey])
        .unwrap()
        .get(&tkey)
        .unwrap();
    assert_eq!((s.active, s.queued), (10, 5));

    let mut g = c.benchmark_group("tcp_active_queued");
    let plain = TcpQuery::new().with_drops(false);
    let with_drops = TcpQuery::new();
    let mut bare = Bare::new(bare_tcp_request((1 << 10) | (1 << 1), taddr.port()));
    assert_eq!(bare.run(), 16);
    paired(
        &mut g,
        "tcp one listener, 10k conns elsewhere",
        ["bare_netlink", "raindrops_diag"],
        |ours| {
            if ours {
                black_box(diag.tcp_listener_stats_with(&[&tkey], &plain).unwrap());
            } else {
                black_box(bare.run());
            }
        },
    );
    paired(
        &mut g,
        "cost of drops (>= 0.95 wanted)",
        ["raindrops_diag_no_drops", "raindrops_diag_with_drops"],
        |drops| {
            let q = if drops { &with_drops } else { &plain };
            black_box(diag.tcp_listener_stats_with(&[&tkey], q).unwrap());
        },
    );
    if ruby {
        against_ruby(
            &mut g,
            "tcp active+queued+drops vs Ruby",
            RUBY_TCP,
            &tkey,
            200,
            || {
                black_box(diag.tcp_listener_stats(&[&tkey]).unwrap());
            },
        );
    }
    g.finish();

    let mut g = c.benchmark_group("tcp_queued_only");
    let q = TcpQuery::queued_only();
    let mut bare_listen = Bare::new(bare_tcp_request(1 << 10, taddr.port()));
    assert_eq!(bare_listen.run(), 1);
    paired(
        &mut g,
        "tcp queued-only (LISTEN dump)",
        ["bare_netlink", "raindrops_diag"],
        |ours| {
            if ours {
                black_box(diag.tcp_listener_stats_with(&[&tkey], &q).unwrap());
            } else {
                black_box(bare_listen.run());
            }
        },
    );
    if ruby {
        against_ruby(
            &mut g,
            "tcp queued-only vs Ruby",
            RUBY_TCP,
            &tkey,
            200,
            || {
                black_box(diag.tcp_listener_stats_with(&[&tkey], &q).unwrap());
            },
        );
    }
    g.finish();
    drop(tcp_holders);

    // Unix: one listener with 10,000 connections.
    let path = std::env::temp_dir().join(format!("rd-bench-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let ul = UnixListener::bind(&path).unwrap();
    let ul_ref = &ul;
    let p2 = path.clone();
    let unix_holders = Holders::spawn(
        PROCS,
        PER,
        || OwnedFd::from(UnixStream::connect(&p2).expect("connect")),
        || OwnedFd::from(ul_ref.accept().expect("accept").0),
    );
    let ukey = path.to_str().unwrap().to_string();
    let s = *diag
        .unix_listener_stats(&[&ukey])
        .unwrap()
        .get(&ukey)
        .unwrap();
    assert_eq!((s.active, s.queued), ((PROCS * PER) as u32, 0));
    let mut g = c.benchmark_group("unix_10k");
    let mut bare_unix = Bare::new(bare_unix_request(1 | 8));
    assert!(bare_unix.run() > PROCS * PER);
    let no_backlog = UnixQuery::new().with_backlog(false);
    paired(
        &mut g,
        "unix, same request (NAME|ICONS)",
        ["bare_unix_diag", "raindrops_diag"],
        |ours| {
            if ours {
                black_box(
                    diag.unix_listener_stats_with(&[&ukey], &no_backlog)
                        .unwrap(),
                );
            } else {
                black_box(bare_unix.run());
            }
        },
    );
    // Issue 14: the default query now reports the backlog. Today's
    // request (one NAME|ICONS dump, no backlog) against the default (the
    // same dump with remembered backlogs, and a NAME|RQLEN dump every
    // eighth query), interleaved.
    let default = UnixQuery::new();
    let mut check = Diag::new().unwrap();
    let s = check.unix_listener_stats(&[&ukey]).unwrap();
    assert!(s.get(&ukey).unwrap().backlog.is_some());
    paired(
        &mut g,
        "unix default (with backlog) vs without",
        ["raindrops_diag_no_backlog", "raindrops_diag_backlog"],
        |backlog| {
            let q = if backlog { &default } else { &no_backlog };
            black_box(diag.unix_listener_stats_with(&[&ukey], q).unwrap());
        },
    );
    // The other ways to get the backlog, as bare requests: a LISTEN-only
    // NAME|RQLEN dump plus an ESTABLISHED-only NAME dump (the kernel walks
    // every Unix socket twice), against the default query.
    let mut bare_listen = Bare::new(bare_unix_request_states(1 << 10, 1 | 16));
    let mut bare_conns = Bare::new(bare_unix_request_states(1 << 1, 1));
    paired(
        &mut g,
        "unix, two dumps (LISTEN RQLEN + EST)",
        ["bare_unix_two_dumps", "raindrops_diag_3"],
        |ours| {
            if ours {
                black_box(diag.unix_listener_stats(&[&ukey]).unwrap());
            } else {
                black_box(bare_listen.run() + bare_conns.run());
            }
        },
    );
    let mut bare_rqlen = Bare::new(bare_unix_request(1 | 16));
    paired(
        &mut g,
        "unix, naive request (NAME|RQLEN)",
        ["bare_unix_diag_rqlen", "raindrops_diag_2"],
        |ours| {
            if ours {
                black_box(diag.unix_listener_stats(&[&ukey]).unwrap());
            } else {
                black_box(bare_rqlen.run());
            }
        },
    );
    if ruby {
        g.sample_size(20);
        against_ruby(
            &mut g,
            "unix 10k vs Ruby",
            ("", "Raindrops::Linux.unix_listener_stats([a])"),
            &ukey,
            10,
            || {
                black_box(diag.unix_listener_stats(&[&ukey]).unwrap());
            },
        );
    }
    g.finish();
    drop(unix_holders);
    let _ = std::fs::remove_file(&path);

    c.final_summary();
    println!("\ninterleaved ratios (baseline time / our time; > 1 means ours is faster):");
    for l in INTERLEAVED.lock().unwrap().iter() {
        println!("{l}");
    }
}
