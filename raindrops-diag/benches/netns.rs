//! Many network namespaces, side by side with their baselines: 50
//! namespaces of 10 listeners each (forked holders that `unshare`), 10,000
//! accepted connections on one listener of the first.
//!
//! - `sample`: one full sample of the 50 namespaces by [`NsSampler`]
//!   (workers in parallel: TCP active, queued, backlog, drops and Unix
//!   listeners) against the sum of the same queries run one namespace
//!   after the other on [`Diag`] handles opened in each namespace (the
//!   bare per-namespace dumps, without threads or channels);
//! - `attribution`: a sample with owners from a warm cache against one
//!   without attribution; a cold attribution (a full `/proc` scan) and a
//!   cold sample with attribution against `ss -ltnp` run as a command;
//!   discovery of every namespace against `lsns -t net`.
//!
//! Every ratio is measured interleaved (each iteration times both, back to
//! back) and printed at the end. Needs root. Run: `cargo bench -p
//! raindrops-diag --bench netns`.

mod common;
#[path = "../tests/ns_common/mod.rs"]
mod ns_common;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, black_box};
use ns_common::{HolderSpec, in_netns, spawn_holder};
use raindrops_diag::{
    Diag, NsDiscovery, NsQuery, NsSampler, NsScope, NsSpec, Owners, TcpQuery, UnixQuery,
};
use std::net::SocketAddrV4;
use std::process::Command;
use std::time::{Duration, Instant};

const NAMESPACES: usize = 50;
const LISTENERS: u16 = 10;
const CONNECTIONS: usize = 10_000;
const BASE_PORT: u16 = 20_000;

static RATIOS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Benchmarks `names[0]` (the baseline, `run(false)`) and `names[1]`
/// (ours, `run(true)`), each iteration timing both back to back; records
/// the ratio ours / baseline of the totals.
fn paired(
    g: &mut BenchmarkGroup<'_, WallTime>,
    what: &str,
    names: [&str; 2],
    target: &str,
    run: impl FnMut(bool),
) {
    let [b, o] = common::paired_totals(g, names, run);
    RATIOS.lock().unwrap().push(format!(
        "{what:<46} {:>22} / {:<26} = {:.3}x (target {target})",
        names[1],
        names[0],
        o.as_secs_f64() / b.as_secs_f64()
    ));
}

fn main() {
    if !ns_common::root_or_skip("bench netns") {
        return;
    }
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .sample_size(10);

    // The namespaces, each held by a forked child that unshares.
    let started = Instant::now();
    let holders: Vec<_> = (0..NAMESPACES)
        .map(|i| {
            let mut spec = HolderSpec::new("rd-bench-ns");
            spec.new_netns = true;
            spec.tcp = (0..LISTENERS)
                .map(|j| {
                    let n = if i == 0 && j == 0 { CONNECTIONS } else { 0 };
                    (
                        SocketAddrV4::new([127, 0, 0, 1].into(), BASE_PORT + j),
                        128,
                        n,
                        n,
                    )
                })
                .collect();
            if i == 0 {
                // Under the descriptor limit: 2,000 connections each.
                spec.workers = 5;
            }
            spawn_holder(&spec)
        })
        .collect();
    eprintln!(
        "{NAMESPACES} namespaces x {LISTENERS} listeners, {CONNECTIONS} connections: set up in {:?}",
        started.elapsed()
    );
    let specs: Vec<NsSpec> = holders.iter().map(|h| NsSpec::Pid(h.pid)).collect();

    // Baseline handles: a Diag opened inside each namespace.
    let mut diags: Vec<Diag> = holders
        .iter()
        .map(|h| in_netns(&h.ns_path(), || Diag::new().unwrap()))
        .collect();
    let tcp = TcpQuery::new();
    let unix = UnixQuery::new();
    let mut bare = move || {
        let mut n = 0;
        for d in &mut diags {
            n += d.tcp_listener_stats_with::<&str>(&[], &tcp).unwrap().len();
            n += d
                .unix_listener_stats_with::<&str>(&[], &unix)
                .unwrap()
                .len();
        }
        n
    };
    assert_eq!(bare(), NAMESPACES * usize::from(LISTENERS));

    let mut plain = NsSampler::new(NsScope::Only(specs.clone()))
        .with_query(NsQuery::new())
        .with_discovery_interval(Duration::from_secs(3600))
        .with_timeout(Duration::from_secs(30));
    let first = plain.sample();
    assert!(first.skipped.is_empty(), "{:?}", first.skipped);
    assert_eq!(first.namespaces.len(), NAMESPACES);
    let loaded = first
        .get(raindrops_diag::NsId::of_path(holders[0].ns_path()).unwrap())
        .unwrap();
    let l0 = loaded
        .listeners
        .iter()
        .find(|l| l.listener.name == format!("127.0.0.1:{BASE_PORT}"))
        .unwrap();
    assert_eq!(l0.listener.stats.active, CONNECTIONS as u32);
    for n in &first.namespaces {
        assert_eq!(n.listeners.len(), usize::from(LISTENERS));
    }

    let mut g = c.benchmark_group("sample");
    paired(
        &mut g,
        "full sample, 50 namespaces (<= 1.3 wanted)",
        ["sum_of_bare_dumps", "ns_sampler"],
        "<= 1.3",
        |ours| {
            if ours {
                black_box(plain.sample());
            } else {
                black_box(bare());
            }
        },
    );
    g.finish();

    let mut owned = NsSampler::new(NsScope::Only(specs.clone()))
        .with_owners(true)
        .with_discovery_interval(Duration::from_secs(3600))
        .with_timeout(Duration::from_secs(30));
    let warm = owned.sample();
    assert!(warm.skipped.is_empty(), "{:?}", warm.skipped);
    let inodes: Vec<u64> = warm
        .namespaces
        .iter()
        .flat_map(|n| n.listeners.iter().flat_map(|l| l.inodes.iter().copied()))
        .collect();
    assert_eq!(inodes.len(), NAMESPACES * usize::from(LISTENERS));
    for n in &warm.namespaces {
        for l in &n.listeners {
            let o = l.main_owner().expect("each listener has its holder");
            assert_eq!(o.process.comm, "rd-bench-ns");
        }
    }
    let mut g = c.benchmark_group("attribution");
    paired(
        &mut g,
        "second sample with owners (cache) vs none",
        ["sample_without_owners", "sample_with_owners"],
        "<= 1.1",
        |ours| {
            if ours {
                let s = owned.sample();
                assert_eq!(s.rescan, Some(raindrops_diag::owner::Rescan::No));
                black_box(s);
            } else {
                black_box(plain.sample());
            }
        },
    );
    let mut dumps = NsSampler::new(NsScope::Only(specs.clone()))
        .with_query(NsQuery::new().with_sockets(true))
        .with_discovery_interval(Duration::from_secs(3600))
        .with_timeout(Duration::from_secs(30));
    black_box(dumps.sample());
    paired(
        &mut g,
        "of which: socket lists (inodes, cgroup ids)",
        ["plain_sample", "sample_with_socket_lists"],
        "—",
        |ours| {
            if ours {
                black_box(dumps.sample());
            } else {
                black_box(plain.sample());
            }
        },
    );
    g.finish();
    // The cache check alone: one small read per owning process.
    let mut cache = Owners::new().unwrap();
    cache.update(inodes.iter().copied()).unwrap();
    let n = 200;
    let t = Instant::now();
    for _ in 0..n {
        assert_eq!(
            cache.update(inodes.iter().copied()).unwrap(),
            raindrops_diag::owner::Rescan::No
        );
    }
    RATIOS.lock().unwrap().push(format!(
        "{:<46} {:.1} us per update ({} owning processes, {} sockets)",
        "of which: owner cache check",
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n),
        NAMESPACES + 5,
        inodes.len()
    ));
    let ss = || {
        let out = Command::new("ss").arg("-ltnp").output().unwrap();
        assert!(out.status.success());
        out.stdout.len()
    };
    let mut owners = Owners::new().unwrap();
    let mut g = c.benchmark_group("attribution_scan");
    paired(
        &mut g,
        "owner scan (cold cache) vs ss -ltnp",
        ["ss_ltnp", "owner_scan"],
        "<= 1.0",
        |ours| {
            if ours {
                owners.clear();
                owners.update(inodes.iter().copied()).unwrap();
                black_box(owners.owners_of(&inodes[..1]));
            } else {
                black_box(ss());
            }
        },
    );
    g.finish();
    let mut g = c.benchmark_group("attribution_cold_sample");
    paired(
        &mut g,
        "cold sample with owners vs ss -ltnp",
        ["ss_ltnp", "cold_sample_with_owners"],
        "<= 1.0",
        |ours| {
            if ours {
                owned.clear_owner_cache();
                black_box(owned.sample());
            } else {
                black_box(ss());
            }
        },
    );
    let lsns = Command::new("lsns")
        .args(["-t", "net", "-n"])
        .output()
        .is_ok_and(|o| o.status.success());
    g.finish();
    if lsns {
        let mut g = c.benchmark_group("discovery");
        let discovery = NsDiscovery::new();
        paired(
            &mut g,
            "discovery of every namespace vs lsns -t net",
            ["lsns_t_net", "ns_discovery"],
            "—",
            |ours| {
                if ours {
                    black_box(discovery.all().unwrap());
                } else {
                    black_box(
                        Command::new("lsns")
                            .args(["-t", "net", "-n"])
                            .output()
                            .unwrap(),
                    );
                }
            },
        );
        g.finish();
    }
    c.final_summary();
    drop(holders);
    eprintln!("\nratios (ours / baseline, interleaved):");
    for r in RATIOS.lock().unwrap().iter() {
        eprintln!("  {r}");
    }
}
