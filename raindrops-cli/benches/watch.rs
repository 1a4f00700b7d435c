//! `raindrops watch -d 0 -n 2000 ADDR` against the same 2000 queries (and
//! lines) in a Ruby loop with the raindrops gem, with 10,000 established
//! connections on another listener of the machine: each side is a whole
//! process, startup included, measured in the same run.
//!
//! Run: `cargo bench -p raindrops-cli --bench watch`

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use raindrops_testutil::holders::Holders;

const SAMPLES: &str = "2000";
const CONNECTIONS: usize = 10_000;
const HOLDERS: usize = 4;

fn run(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run the command");
    assert!(status.success(), "{cmd:?}");
    start.elapsed()
}

fn watch(c: &mut Criterion) {
    // The watched listener, idle; the load on another one.
    let watched = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = watched.local_addr().unwrap().to_string();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap();
    let holders = Holders::spawn(
        HOLDERS,
        CONNECTIONS / HOLDERS,
        || OwnedFd::from(TcpStream::connect(busy_addr).expect("connect")),
        || OwnedFd::from(busy.accept().expect("accept").0),
    );

    let ruby = raindrops_testutil::ruby_command(
        &["raindrops"],
        // What linux-listener-stats.rb does per sample, 2000 times.
        r#"require "time"
           addr, n = ARGV[0], ARGV[1].to_i
           sock = Raindrops::InetDiagSocket.new
           len = [addr.size, 7].max
           fmt = "%20s % #{len}s % 10u % 10u\n"
           n.times do
             Raindrops::Linux.tcp_listener_stats([addr], sock).each do |a, s|
               printf fmt, Time.now.utc.iso8601, a, s.active, s.queued
             end
           end"#,
        &[&addr, SAMPLES],
    );

    let mut g = c.benchmark_group(format!(
        "watch {SAMPLES} samples, {CONNECTIONS} connections"
    ));
    g.sample_size(10).measurement_time(Duration::from_secs(40));
    g.bench_function("raindrops watch -d 0 -n 2000", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    run(Command::new(env!("CARGO_BIN_EXE_raindrops"))
                        .args(["watch", "-d", "0", "-n", SAMPLES, &addr]))
                })
                .sum()
        })
    });
    if let Some(mut ruby) = ruby {
        g.bench_function("ruby raindrops loop", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run(&mut ruby)).sum())
        });
    }
    g.finish();
    drop(holders);
}

criterion_group!(benches, watch);
criterion_main!(benches);
