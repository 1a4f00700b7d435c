//! Differential test against Ruby raindrops' `Raindrops::TCP_Info` on the
//! same socket: the descriptor is passed to a Ruby child as fd 3.
//!
//! Our read happens before and after Ruby's, so for every field Ruby's
//! value must lie between our two (the `last_*` ages grow with time and are
//! monotonic while the connection is idle). The connection is made idle
//! first (every byte read and acknowledged), and every other field is
//! checked to be unchanged between our two reads, so for them the
//! comparison is exact.
#![cfg(feature = "std")]

mod common;

use std::collections::BTreeMap;
use std::os::fd::BorrowedFd;

use common::{fd, loopbacks, pair, pass_fds, transfer, wait_until};
use raindrops_tcpinfo::{TcpInfo, tcp_info};

/// Every field Ruby's `Raindrops::TCP_Info` has (raindrops 0.20; its
/// `snd_wscale`/`rcv_wscale` raise NotImplementedError on Linux: C bit
/// fields).
const RUBY_FIELDS: &[&str] = &[
    "state",
    "ca_state",
    "retransmits",
    "probes",
    "backoff",
    "options",
    "rto",
    "ato",
    "snd_mss",
    "rcv_mss",
    "unacked",
    "sacked",
    "lost",
    "retrans",
    "fackets",
    "last_data_sent",
    "last_ack_sent",
    "last_data_recv",
    "last_ack_recv",
    "pmtu",
    "rcv_ssthresh",
    "rtt",
    "rttvar",
    "snd_ssthresh",
    "snd_cwnd",
    "advmss",
    "reordering",
    "rcv_rtt",
    "rcv_space",
    "total_retrans",
];

/// Fields that grow with time on an idle connection.
const AGES: &[&str] = &[
    "last_data_sent",
    "last_ack_sent",
    "last_data_recv",
    "last_ack_recv",
];

const SCRIPT: &str = r##"
io = IO.for_fd(3, autoclose: false)
info = Raindrops::TCP_Info.new(io)
exposed = Raindrops::TCP_Info.instance_methods(false).map(&:to_s) - ["get!"]
exposed.sort.each do |m|
  v = begin
    info.public_send(m)
  rescue NotImplementedError
    "unimplemented"
  end
  puts "#{m}=#{v}"
end
"##;

/// Our value of a Ruby field, by name.
fn ours(info: &TcpInfo, name: &str) -> Option<u64> {
    match name {
        "state" => info.state().map(|s| u64::from(u8::from(s))),
        "ca_state" => info.ca_state().map(|s| u64::from(u8::from(s))),
        "options" => info.options().map(|o| u64::from(o.bits())),
        "snd_wscale" => info.snd_wscale().map(u64::from),
        "rcv_wscale" => info.rcv_wscale().map(u64::from),
        _ => info.fields().find(|m| m.name == name).map(|m| m.value),
    }
}

/// Runs the Ruby script on `sock`; returns Ruby's fields and our reads
/// before and after it, or `None` when the oracle is skipped.
fn ruby_view(sock: BorrowedFd<'_>) -> Option<(BTreeMap<String, String>, TcpInfo, TcpInfo)> {
    let mut cmd = raindrops_testutil::ruby_command(&["raindrops"], SCRIPT, &[])?;
    pass_fds(&mut cmd, &[sock]);
    let before = tcp_info(sock).unwrap();
    let out = raindrops_testutil::expect_success(cmd.output(), SCRIPT);
    let after = tcp_info(sock).unwrap();
    let fields = out
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some((fields, before, after))
}

#[test]
fn every_field_ruby_exposes_matches_on_the_same_socket() {
    for addr in loopbacks() {
        let mut p = pair(addr);
        transfer(&mut p.client, &mut p.server, 100_000);
        transfer(&mut p.server, &mut p.client, 1_000);
        // Idle: everything read and acknowledged both ways.
        wait_until("idle connection", || {
            let c = tcp_info(&p.client).unwrap();
            let s = tcp_info(&p.server).unwrap();
            c.bytes_acked() == Some(100_001)
                && s.bytes_acked() == Some(1_000)
                && c.unacked() == Some(0)
                && s.unacked() == Some(0)
        });
        for (who, sock) in [
            ("client", fd(&p.client)),
            ("server", fd(&p.server)),
            ("listener", fd(&p.listener)),
        ] {
            let Some((ruby, before, after)) = ruby_view(sock) else {
                return;
            };
            let exposed: Vec<&str> = ruby
                .iter()
                .filter(|(_, v)| *v != "unimplemented")
                .map(|(k, _)| k.as_str())
                .collect();
            let mut want: Vec<&str> = RUBY_FIELDS.to_vec();
            want.sort_unstable();
            assert_eq!(exposed, want, "the fields Ruby exposes changed");

            for &name in RUBY_FIELDS {
                let r: u64 = ruby[name].parse().unwrap_or_else(|e| {
                    panic!("{who} {addr}: Ruby's {name} = {:?}: {e}", ruby[name])
                });
                let b = ours(&before, name).unwrap();
                let a = ours(&after, name).unwrap();
                if AGES.contains(&name) {
                    assert!(b <= a, "{who} {addr}: {name} went back: {b} -> {a}");
                } else {
                    assert_eq!(b, a, "{who} {addr}: {name} changed while idle");
                }
                assert!(
                    (b..=a).contains(&r),
                    "{who} {addr}: {name}: Ruby {r}, ours {b} before and {a} after"
                );
            }
        }
    }
}
